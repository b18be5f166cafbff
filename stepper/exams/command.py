"""An exam from its template, as a folder: the options checked, the variants drawn, every file written into
staging and the whole exam swapped into place at the end, so the earlier exam stays whole until the new one is.

The manifest records what made the exam (the template file and a SHA-256 of its bytes, stepper's version, the
seed, the number of variants, the formats and any user templates), so that `regenerate` makes the same files
again from it, byte for byte, or says what changed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import StepperError
from ..core.load import MAX_FILE_BYTES, read_regular
from ..writing.latex import TEX_INSTALL, pdflatex_available
from .folder import ExamFolder
from .generate import generate
from .manifest import Made, read_made, stamped, stepper_version
from .sheets import File, file_names, write_exam
from .variants import Template, loads_template

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class ExamOptions:
    """How many variants, from which seed, in which formats, into which folder; user templates; whether to
    replace files there that stepper did not write."""

    variants: int = 10
    seed: int = 1
    formats: tuple[str, ...] = ("md", "tex")
    out: Path = Path("exam")
    templates: Path | None = None
    force: bool = False


@dataclass(frozen=True)
class ExamProgress:
    """Who hears how the work goes: drawing, writing and typesetting, and a variant taking many candidates
    (its number, the candidates tried, and how many it may try)."""

    drawing: Progress | None = None
    writing: Progress | None = None
    typesetting: Progress | None = None
    attempts: Callable[[int, int, int], None] | None = None


@dataclass(frozen=True)
class Exam:
    """What was made: the variants drawn, the files written (the manifest included), and the files of an
    earlier exam in the folder that the new one does not have, now removed."""

    variants: int
    files: int
    removed: list[str]
    hashes: dict[str, str] = field(default_factory=dict)  # each file written but the manifest: its SHA-256
    warnings: tuple[str, ...] = ()  # lines for stderr: a Moodle file too large to upload, say


# Many Moodle sites keep PHP's and Moodle's default upload limit of 2 MB (upload_max_filesize, maxbytes).
MOODLE_UPLOAD_LIMIT = 2 * 10**6


def read_template(path: Path) -> tuple[Template, str]:
    """The exam template in the file at `path`, and the SHA-256 of the bytes it was read from."""
    name = str(path)
    data = read_regular(path, name, MAX_FILE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StepperError(f"cannot read it: {e}", file=name) from None
    return loads_template(text.removeprefix("\ufeff"), name=name), hashlib.sha256(data).hexdigest()


def made_from(path: Path, sha256: str, options: ExamOptions) -> Made:
    """What the manifest records of an exam made from the template file at `path` with `options`."""
    return Made(path, sha256, stepper_version(), options.seed, options.variants, options.formats, options.templates)


def check_options(options: ExamOptions) -> None:
    """Options no exam could be made with, refused before any work."""
    if "pdf" in options.formats and not pdflatex_available():
        raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}")
    if options.templates is not None and not options.templates.is_dir():
        raise StepperError("no such folder", file=str(options.templates), place="--templates")
    if not 1 <= options.variants <= 10_000:
        raise StepperError(f"expected from 1 to 10,000 variants, found {options.variants}", place="--variants")


def make_exam(
    template: Template,
    options: ExamOptions,
    source: str,
    progress: ExamProgress | None = None,
    made: Made | None = None,
) -> Exam:
    """The exam of `template` (read from the file named `source`) written into `options.out`; `made`, what the
    manifest records so that the exam can be made again (`made_from`)."""
    check_options(options)
    progress = progress or ExamProgress()
    formats = list(options.formats)
    drawing = progress.drawing
    with ExamFolder(options.out, file_names(options.variants, formats), options.force) as folder:
        variants = generate(
            template,
            options.variants,
            options.seed,
            (lambda n: drawing(n, options.variants)) if drawing else None,
            progress.attempts,
        )
        if {"moodle", "qti", "canvas"} & set(formats):
            from .moodle import check_tolerances  # markdown-it, only for a Moodle quiz

            check_tolerances(variants, template.source)
        write_exam(
            folder if made is None else _Stamping(folder, made, options.out),
            template,
            variants,
            options.seed,
            formats,
            options.templates,
            progress.writing,
            source=source,
            typesetting=progress.typesetting,
        )
        files = len(folder.hashes)  # the manifest included
        hashes = {name: h for name, h in folder.hashes.items() if name != "manifest.json"}
        warnings = _moodle_size(folder.staging / "moodle.xml", template) if "moodle" in formats else ()
        removed = folder.commit()
    return Exam(len(variants), files, removed, hashes, warnings)


def _moodle_size(path: Path, template: Template) -> tuple[str, ...]:
    """A line saying so when the Moodle file is larger than many Moodle sites take, with the ways to shrink it."""
    size = os.stat(path).st_size
    if size <= MOODLE_UPLOAD_LIMIT:
        return ()
    ways = []
    if template.key != "answers":
        ways.append('key = "answers" (results only in the feedback)')
    if template.moodle != "whole":
        ways.append('moodle = "whole" (the sheet once a variant, not once a stage)')
    how = f"[exam] {' or '.join(ways)} makes it smaller" if ways else "fewer --variants make it smaller"
    return (
        f"stepper: warning: moodle.xml is {size / 10**6:.1f} MB, more than the 2 MB many Moodle sites take "
        f"in one upload; {how}",
    )


class _Stamping:
    """The exam folder, through which the manifest goes with what made the exam recorded in it."""

    def __init__(self, folder: ExamFolder, made: Made, out: Path):
        self.folder, self.made, self.out = folder, made, out
        self.hashes = folder.hashes  # the same dict: the folder fills it

    def open(self, name: str) -> File:
        return self.folder.open(name)

    def write(self, name: str, data: bytes) -> None:
        if name == "manifest.json":
            data = stamped(data.decode("utf-8"), self.made, self.out).encode("utf-8")
        self.folder.write(name, data)

    def read_text(self, name: str) -> str:
        return self.folder.read_text(name)


def regenerate(manifest: Path, force: bool = False, progress: ExamProgress | None = None) -> Exam:
    """The exam whose manifest is at `manifest` made again into its folder from the template, seed, variants and
    formats it records. A template whose bytes changed since, or another version of stepper, is refused in one
    line that says what changed, and nothing is written, unless `force`."""
    made = read_made(manifest)
    template, sha256 = read_template(made.template)
    changed = []
    if sha256 != made.template_sha256:
        changed.append(
            f"the template {made.template} changed since the exam was made "
            f"(SHA-256 {made.template_sha256[:12]}... then, {sha256[:12]}... now)"
        )
    if made.stepper != stepper_version():
        changed.append(f"it was made by stepper {made.stepper}, this is stepper {stepper_version()}")
    if changed and not force:
        raise StepperError(
            f"{'; '.join(changed)}: the same files cannot be promised, so nothing is written; "
            "pass --force to make the exam again as they are now",
            file=str(manifest),
        )
    options = ExamOptions(made.variants, made.seed, made.formats, manifest.parent, made.templates, force)
    return make_exam(template, options, made.template.name, progress, made_from(made.template, sha256, options))
