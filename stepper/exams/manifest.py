"""An exam's manifest, written (`manifest_json`) and read back: each variant's problem, so a student's working is
marked against their own.

`stepper exam` writes manifest.json; `stepper check manifest.json WORKING` reads
the working file's `variant = "007"` and marks it against that variant's problem.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ..core.errors import StepperError
from ..core.load import loads, read_text, read_toml, shown
from ..core.spec import Problem
from ..core.text import plain_text
from ..interop.dump import dumps
from .fairness import answers
from .generate import MANIFEST_FORMAT, Variant
from .variants import Template

# A manifest holds every variant's problem file and answers: about 2 KB a variant for the tutorial's exam, so
# 10,000 variants of a larger network still fit. The same bound as an exam folder's own reading of it.
MAX_MANIFEST_BYTES = 256 * 2**20
# A variant typed as a number: ASCII digits only (str.isdigit also takes '²'), and few enough for int().
_VARIANT_NUMBER = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Manifest:
    source: str
    title: str
    problems: dict[str, Problem]  # variant id -> its problem

    def problem_for(self, variant: str | None, file: str) -> Problem:
        """The problem a working file answers, by the variant it names."""
        ids = list(self.problems)
        span = f"{ids[0]} to {ids[-1]}" if len(ids) > 1 else ids[0]
        if variant is None:
            raise StepperError(
                f'names no variant: add variant = "{ids[0]}" (the variant on the question sheet, {span})',
                file=file,
                place="field 'variant'",
            )
        if variant not in self.problems and _VARIANT_NUMBER.fullmatch(variant):  # 7 for 007
            variant = next((i for i in ids if _VARIANT_NUMBER.fullmatch(i) and int(i) == int(variant)), variant)
        if variant not in self.problems:
            quoted = repr(variant) if len(variant) <= 30 else repr(variant[:20] + "...")  # one short line
            raise StepperError(
                f"no variant {quoted} in {self.source}: expected one of {span}", file=file, place="field 'variant'"
            )
        return self.problems[variant]


def is_manifest(path: Path) -> bool:
    return path.suffix == ".json"


def load_manifest(path: Path) -> Manifest:
    name = str(path)
    text = read_text(path, name, MAX_MANIFEST_BYTES)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise StepperError(f"not valid JSON: {e}", file=name) from None
    except RecursionError:
        raise StepperError("not valid JSON: arrays or objects are nested too deeply", file=name) from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise StepperError(f'not a stepper exam manifest: expected "format": "{MANIFEST_FORMAT}"', file=name)
    variants = data.get("variants")
    if not isinstance(variants, list) or not variants:
        raise StepperError("expected a list of variants", file=name, place="field 'variants'")
    problems = {}
    for n, v in enumerate(variants, 1):
        place = f"variant {n}"
        if not isinstance(v, dict) or not isinstance(v.get("id"), str) or not isinstance(v.get("problem"), str):
            raise StepperError("expected an id and a problem file (text)", file=name, place=place)
        if v["id"] in problems:
            raise StepperError(f"the id {v['id']!r} is used twice", file=name, place=place)
        try:
            problems[v["id"]] = loads(v["problem"], name=f"{name}, variant {v['id']}")
        except StepperError as e:
            raise StepperError(e.message, file=e.file, place=e.place) from None
    return Manifest(name, str(data.get("template", "")), problems)


def working_variant(path: Path) -> str | None:
    """The variant a working file names. A file that cannot be read is reported here, as its own reader
    would report it: otherwise it would seem to name no variant."""
    data = read_toml(read_text(path, str(path)), str(path))
    variant = data.get("variant")
    if isinstance(variant, int) and not isinstance(variant, bool):
        if not 0 <= variant < 10**9:  # no variant's number, and str() of a huge one would fail
            raise StepperError(
                f'expected the variant on the question sheet, such as "001", found {shown(variant)}',
                file=str(path),
                place="field 'variant'",
            )
        return str(variant)
    return variant.strip() if isinstance(variant, str) else None


# ---- the manifest written ----


def manifest_json(template: Template, seed: int, variants: list[Variant], files: dict[str, str] | None = None) -> str:
    """JSON: each variant's id, seed, problem file and answers by stage; `stepper check` marks against it.
    `files` (name -> SHA-256) lists every other file of the exam, so a folder can be told whole."""
    rows: list[list[str]] = []  # each stage's answers, printed on one line in the end

    def one_line(values: list[str]) -> str:
        rows.append(values)
        return f"\0{len(rows) - 1}\0"

    data = {
        "format": MANIFEST_FORMAT,
        "template": plain_text(template.base.title),
        "seed": seed,
        "variants": [
            {
                "id": v.id,
                "seed": v.seed,
                "answers": {k: one_line(a) for k, a in answers(v.trace, v.training).items()},
                "problem": dumps(v.problem),
            }
            for v in variants
        ],
    }
    if files is not None:
        data["files"] = dict(sorted(files.items()))
    text = json.dumps(data, indent=1, ensure_ascii=False)
    return re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: json.dumps(rows[int(m[1])], ensure_ascii=False), text) + "\n"


# ---- what made the exam, so that it can be made again ----

# Where the record of what made the exam goes in the manifest's text: before the variants, at the top level.
_VARIANTS_KEY = '\n "variants": ['


def stepper_version() -> str:
    """The version of stepper installed, as `stepper --version` says it."""
    try:
        return metadata.version("stepper")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Made:
    """What an exam was made from and how, as its manifest records it: enough to make the same files again."""

    template: Path  # the template file, as the manifest names it (relative to the manifest's folder)
    template_sha256: str
    stepper: str
    seed: int
    variants: int
    formats: tuple[str, ...]
    templates: Path | None  # a folder of the user's templates, if one was used
    files: dict[str, str] = field(default_factory=dict)  # as read back: each other file of the exam and its SHA-256

    def fields(self, folder: Path) -> dict[str, object]:
        """The manifest's fields, with paths relative to the exam's `folder` where they can be."""
        return {
            "stepper": self.stepper,
            "template_file": _relative(self.template, folder),
            "template_sha256": self.template_sha256,
            "formats": list(self.formats),
            "templates": None if self.templates is None else _relative(self.templates, folder),
        }


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(folder))).as_posix()


def stamped(text: str, made: Made, folder: Path) -> str:
    """The manifest's text (manifest_json) with what made the exam recorded in it, before its variants."""
    at = text.index(_VARIANTS_KEY)
    pairs = made.fields(folder).items()
    fields = "".join(f"\n {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in pairs)
    return text[:at] + fields + text[at:]


def read_made(path: Path) -> Made:
    """What made the exam whose manifest is at `path`, its paths resolved from the manifest's folder."""
    name = str(path)
    try:
        data = json.loads(read_text(path, name, MAX_MANIFEST_BYTES))
    except (json.JSONDecodeError, RecursionError) as e:
        raise StepperError(f"not valid JSON: {e}", file=name) from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise StepperError(f'not a stepper exam manifest: expected "format": "{MANIFEST_FORMAT}"', file=name)
    if not isinstance(data.get("template_file"), str) or not isinstance(data.get("template_sha256"), str):
        raise StepperError(
            "records no template file and hash (made by an earlier stepper): make the exam again from its template",
            file=name,
        )
    formats, variants, seed = data.get("formats"), data.get("variants"), data.get("seed")
    templates = data.get("templates")
    if (
        not isinstance(formats, list)
        or not all(isinstance(f, str) for f in formats)
        or not isinstance(variants, list)
        or not isinstance(seed, int)
        or not (templates is None or isinstance(templates, str))
    ):
        raise StepperError("expected its formats, variants, seed and templates as stepper writes them", file=name)
    folder = path.parent
    return Made(
        Path(os.path.normpath(folder / data["template_file"])),
        data["template_sha256"],
        str(data.get("stepper", "unknown")),
        seed,
        len(variants),
        tuple(formats),
        None if templates is None else folder / templates,
        {k: v for k, v in files.items() if isinstance(v, str)} if isinstance(files := data.get("files"), dict) else {},
    )
