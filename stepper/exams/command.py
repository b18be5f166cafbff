"""An exam from its template, as a folder: the options checked, the variants drawn, every file written into
staging and the whole exam swapped into place at the end, so the earlier exam stays whole until the new one is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import StepperError
from ..writing.latex import TEX_INSTALL, pdflatex_available
from .folder import ExamFolder
from .generate import generate
from .sheets import file_names, write_exam
from .variants import Template

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


def check_options(options: ExamOptions) -> None:
    """Options no exam could be made with, refused before any work."""
    if "pdf" in options.formats and not pdflatex_available():
        raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}")
    if options.templates is not None and not options.templates.is_dir():
        raise StepperError("no such folder", file=str(options.templates), place="--templates")
    if not 1 <= options.variants <= 10_000:
        raise StepperError(f"expected from 1 to 10,000 variants, found {options.variants}", place="--variants")


def make_exam(template: Template, options: ExamOptions, source: str, progress: ExamProgress | None = None) -> Exam:
    """The exam of `template` (read from the file named `source`) written into `options.out`."""
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
        if "moodle" in formats:
            from .moodle import check_tolerances  # markdown-it, only for a Moodle quiz

            check_tolerances(variants, template.source)
        write_exam(
            folder,
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
        removed = folder.commit()
    return Exam(len(variants), files, removed)
