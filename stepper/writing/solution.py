"""A problem's worked solution as files: every target checked and every size judged before any work, then each
document (md, tex, pdf, docx) made and all written together. A document LaTeX cannot typeset loses neither the
others nor its own Markdown and LaTeX: they are written, with the LaTeX log, and the failure is returned."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.errors import StepperError
from ..core.evaluate import trace
from ..core.spec import Problem, Settings
from ..core.text import plain_text
from ..core.trace import Trace
from .documents import escape_tex, render, render_pieces
from .estimate import ANNOUNCE_FROM, PDF_LIMIT, TEXT_LIMIT, byte_size, estimate
from .latex import EarlyTypeset, TypesetError, tex_engine, typeset
from .output import check_writable, marked, remove_stale_log, write_files

# How a format's file is named after the problem file's stem, where not `.<format>`: the slide deck is LaTeX too,
# and its PDF (asked for as "beamer-pdf", see cli/solve.py) sits beside it.
FILE_ENDINGS = {"beamer": "-slides.tex", "beamer-pdf": "-slides.pdf"}
# The trace's data (json, and the page that embeds it) against the Markdown, byte for byte: measured 2.6 for the
# tutorial, 5.2 for LeNet at --detail 2 and 8.5 for all of LeNet (its arrays written three ways).
DATA_PER_TEXT_BYTE = 9
# The most steps a slide deck shows one click at a time (a page each); LeNet worked whole would be 7,895 pages.
DECK_PAGES = 2000
PDFS = ("pdf", "beamer-pdf")  # the formats LaTeX typesets, each of which may fail and leave its log


@dataclass(frozen=True)
class SolveOptions:
    """What to write and where. `overrides` are settings given for every problem (their names as in
    Settings), each checked as its flag, `--NAME`."""

    formats: tuple[str, ...]
    out: Path
    templates: Path | None = None
    force: bool = False
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """One problem to solve: the file it came from (its stem names the documents), its settings with the
    overrides, and the file each format goes to."""

    path: Path
    problem: Problem
    settings: Settings
    targets: dict[str, Path]


def plan(loaded: list[tuple[Path, Problem]], options: SolveOptions) -> list[Job]:
    """Each problem with its settings and the files it writes, every file checked before anything is written."""
    jobs: list[Job] = []
    claimed: dict[Path, str] = {}
    for path, problem in loaded:
        name = problem.source
        targets = {f: options.out / f"{path.stem}{FILE_ENDINGS.get(f, '.' + f)}" for f in options.formats}
        for target in targets.values():
            if target in claimed:
                raise StepperError(
                    f"both {claimed[target]} and {name} would write it; solve them into different --out folders",
                    file=str(target),
                )
            claimed[target] = name
            check_writable(target, options.force)
        jobs.append(Job(path, problem, overridden(problem.settings, options.overrides), targets))
    return jobs


def overridden(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    """`settings` with the overrides, each checked as its flag."""
    for name, value in overrides.items():
        try:
            settings = replace(settings, **{name: value})
        except StepperError as e:
            raise StepperError(e.message, place=f"--{name}") from None
    return settings


def check_sizes(jobs: list[Job], options: SolveOptions) -> list[str]:
    """Before any work: a document too large is refused (unless forced), and the lines that announce those that
    take a while are returned, so that a long wait is not silent."""
    lines = [check_size(job.problem, job.settings, options.formats, options.force) for job in jobs]
    return [line for line in lines if line]


def check_size(problem: Problem, settings: Settings, formats: tuple[str, ...], force: bool) -> str | None:
    """Refuse, in one line that names the figure and the ways out, a document beyond stepper's limits (unless
    forced); the line that announces one that takes a while, so that a long wait is not silent."""
    size = estimate(problem, settings)
    text = [f for f in formats if f in ("md", "tex")]
    data = [f for f in formats if f in ("json", "html")]
    engine = tex_engine(escape_tex(problem.title))  # the only text of a solution that is not stepper's own
    why = None
    if size.bytes > TEXT_LIMIT and text:
        why = (
            f"its worked solution would be {size.describe()} of {' and '.join(text)}, more than the "
            f"{byte_size(TEXT_LIMIT)} stepper writes: work fewer windows with --detail N (N of each map) or "
            "give a table of sizes with --detail shapes; or pass --force to write it anyway"
        )
    elif size.bytes * DATA_PER_TEXT_BYTE > TEXT_LIMIT and data:
        why = (
            f"its {' and '.join(data)} would be about {byte_size(size.bytes * DATA_PER_TEXT_BYTE)}, more than the "
            f"{byte_size(TEXT_LIMIT)} stepper writes: work fewer windows with --detail N, or pass --force"
        )
    elif size.windows > DECK_PAGES and "beamer" in formats:
        why = (
            f"its slide deck would show about {size.windows:,} steps one click at a time, more than the "
            f"{DECK_PAGES:,} pages stepper makes: show fewer windows one by one with --detail N, or pass --force"
        )
    elif size.bytes > PDF_LIMIT[engine] and "pdf" in formats:
        needs = " with LuaLaTeX, which its title needs" if engine == "lualatex" else ""
        why = (
            f"its worked solution would be {size.describe()} of LaTeX, more than the "
            f"{byte_size(PDF_LIMIT[engine])} stepper typesets{needs}: work fewer windows with --detail N "
            "(N of each map), give a table of sizes with --detail shapes, or leave the PDF out with "
            "--format md; or pass --force to make it anyway"
        )
    if why and not force:
        raise StepperError(why, file=problem.source)
    if why or size.bytes >= ANNOUNCE_FROM:
        return plain_text(f"stepper: {problem.source}: {size.describe()}")
    return None


def write_solutions(
    jobs: list[Job],
    options: SolveOptions,
    extra: Mapping[Path, bytes] | None = None,
    early: EarlyTypeset | None = None,
) -> tuple[list[Path], list[str]]:
    """Every document rendered and typeset first, then all written together with `extra` (written first): an
    error tracing or rendering any problem means nothing is written. Returns the files written and, for each
    document LaTeX could not typeset, why and what was written of it. `early`, a pdflatex started before the
    work, typesets the first PDF."""
    files: dict[Path, bytes] = dict(extra or {})
    failures: list[str] = []
    for job in jobs:
        made, failed = documents(job, options, early)
        files.update(made)
        for key, failure in failed.items():
            log = log_file(failure, job.targets[key], job.path.name, options.force, files)
            written = [t for f, t in job.targets.items() if f not in failed]
            failures.append(f"{failure}; {what_was_written(written, log)}")
    write_files(files, options.force)
    for job in jobs:
        for key in PDFS:
            if key in job.targets and job.targets[key] in files:
                remove_stale_log(job.targets[key].with_suffix(".log"))
    return list(files), failures


def documents(
    job: Job, options: SolveOptions, early: EarlyTypeset | None = None
) -> tuple[dict[Path, bytes], dict[str, TypesetError]]:
    """One problem's documents, by the file each goes to, and the failure to typeset each PDF that failed, by
    its format (the other documents are there all the same). The LaTeX is made first, so that pdflatex reads it
    while the Markdown is made."""
    formats, settings, targets = options.formats, job.settings, job.targets
    result = trace(job.problem, settings)
    made: dict[str, bytes] = {}
    typesetter = None
    if "pdf" in formats:
        typesetter = early if early is not None and early.free else EarlyTypeset.later()
    for fmt in ("tex", "md"):
        if fmt in formats or (fmt == "tex" and "pdf" in formats) or (fmt == "md" and "docx" in formats):
            if fmt == "tex" and typesetter is not None:  # pdflatex reads the pages as they are made
                pieces = render_pieces(result, fmt, settings, options.templates)
                text = typesetter.stream(itertools.chain([marked("", ".tex", job.path.name)], pieces))
            else:
                text = marked(render(result, fmt, settings, options.templates), f".{fmt}", job.path.name)
            made[fmt] = text.encode("utf-8")
    if "docx" in formats:
        from .docx import to_docx

        made["docx"] = to_docx(made["md"].decode("utf-8"), str(targets["docx"]))
    made.update(lecture_files(result, job, options))
    failed: dict[str, TypesetError] = {}
    if typesetter is not None:
        try:
            made["pdf"] = typesetter.pdf(str(targets["pdf"]))
        except TypesetError as e:
            failed["pdf"] = e
    if "beamer-pdf" in targets:
        try:
            made["beamer-pdf"] = typeset(made["beamer"].decode("utf-8"), str(targets["beamer-pdf"]))
        except TypesetError as e:
            failed["beamer-pdf"] = e
    return {targets[fmt]: made[fmt] for fmt in targets if fmt in made}, failed


def lecture_files(result: Trace, job: Job, options: SolveOptions) -> dict[str, bytes]:
    """The files for teaching from: the interactive page (html), the slide deck's LaTeX (beamer) and the trace as
    data (json), each as asked for."""
    made: dict[str, bytes] = {}
    name, settings, templates = job.path.name, job.settings, options.templates
    if "html" in options.formats:
        from .page import render_page

        made["html"] = marked(render_page(result, settings, templates), ".html", name).encode("utf-8")
    if "beamer" in options.formats:
        from .slides import render_slides

        made["beamer"] = marked(render_slides(result, settings, templates), ".tex", name).encode("utf-8")
    if "json" in options.formats:
        from .data import trace_json

        made["json"] = trace_json(result, settings).encode("utf-8")
    return made


def log_file(failure: TypesetError, pdf: Path, source: str, force: bool, files: dict) -> Path | str | None:
    """The LaTeX log of a document that did not typeset, added to `files` beside the PDF it was for (NAME.log);
    why it is not, when a file of that name is there that stepper did not write (the user's own LaTeX run's);
    None when there is no log."""
    log = pdf.with_suffix(".log")
    if not failure.log:
        return None
    try:
        check_writable(log, force)
    except StepperError:
        return f"its LaTeX log is not written, as {log} is there and not stepper's"
    files[log] = marked(failure.log.decode("utf-8", "replace"), ".log", source).encode("utf-8")
    return log


def what_was_written(written: list[Path], log: Path | str | None) -> str:
    """What remains of a document that did not typeset: its other files and its log, or why the log is not."""
    names = [str(p) for p in written] + ([f"the LaTeX log {log}"] if isinstance(log, Path) else [])
    said = "written: " + ", ".join(names) if names else "no other file was asked for"
    return said + (f"; {log}" if isinstance(log, str) else "")
