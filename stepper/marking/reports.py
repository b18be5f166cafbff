"""Working files marked and reported: the problem (or an exam's manifest) they are marked against, the working
files found in the folders given, one feedback report per student in each format, and the class summary. A
class's spreadsheet (`spreadsheet`) is marked the same way, a row standing for a working file: `mark_scripts`
marks either.

A report LaTeX cannot typeset keeps its other formats, with the LaTeX log beside them. In a class, a report that
cannot be written is passed over and the others are still written. Lines for the terminal go out through `tell`
(the results) and `warn` (what was skipped)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import StepperError
from ..core.load import load
from ..core.spec import Problem
from ..core.stages import every_stage
from ..core.text import plain_text
from ..writing.documents import points, render_feedback
from ..writing.latex import TypesetError, typeset
from ..writing.output import check_writable, marked, remove_stale_log, write_files
from ..writing.solution import log_file, what_was_written
from .classroom import (
    Markers,
    Script,
    Skipped,
    file_script,
    mark_all,
    scan_folder,
    summary_csv,
    summary_md,
    summary_tex,
    why,
)
from .marker import EMPTY, Feedback

if TYPE_CHECKING:
    from ..exams.manifest import Manifest
    from .spreadsheet import Row

SUMMARY = ("class-summary.csv", "class-summary.md")  # written beside the reports when a class is marked
SUMMARY_PDF = "class-summary.pdf"  # and, with pdf among the formats, the summary as one page for the marker

Say = Callable[[str], None]


@dataclass(frozen=True)
class ReportOptions:
    """Where the reports go and in which formats; user templates; whether to replace others' files."""

    formats: tuple[str, ...]
    out: Path
    templates: Path | None = None
    force: bool = False


@dataclass(frozen=True)
class Marked:
    """What marking came to: each working file with its feedback, those skipped (unreadable, or whose reports
    could not be written), the folder entries passed over, and the students whose PDF report was not made."""

    results: list[tuple[Path, Feedback]]
    skipped: list[Skipped]
    odd: list[Skipped]
    no_pdf: list[Skipped]


def marking_source(path: Path) -> tuple[Problem | Manifest, Problem]:
    """What working files are marked against (a problem, or an exam's variants, each working file naming its
    own) and the problem the class summary is titled by."""
    from ..exams.manifest import is_manifest, load_manifest

    if is_manifest(path):
        source = load_manifest(path)
        return source, replace(next(iter(source.problems.values())), title=source.title)
    problem = load(path)
    return problem, problem


def working_paths(given: list[Path], problem_path: Path) -> tuple[list[Path], list[Skipped]]:
    """The working files given or found in the folders given, and the folder entries that look like working
    files but cannot be marked."""
    paths: list[Path] = []
    odd: list[Skipped] = []
    for entry in given:
        if entry.is_dir():
            found, passed = scan_folder(entry, problem_path)
            if not found:
                also = "; ".join(f"{s.path.name} ({s.why})" for s in passed)
                raise StepperError(
                    "holds no working files (*.toml)" + (f"; skipped: {also}" if also else ""), file=str(entry)
                )
            paths += found
            odd += passed
        elif entry.exists():
            paths.append(entry)
        else:
            raise StepperError("no such file or folder", file=str(entry))
    return list(dict.fromkeys(paths)), odd


def mark_paths(
    source: Problem | Manifest,
    paths: list[Path],
    odd: list[Skipped],
    options: ReportOptions,
    *,
    folder: bool,
    progress: Callable[[int, int], None] | None = None,
    tell: Say = print,
    warn: Say = print,
) -> Marked:
    """Each working file marked and its reports written: `mark_scripts` for working files."""
    scripts = [file_script(p) for p in paths]
    return mark_scripts(source, scripts, odd, options, folder=folder, progress=progress, tell=tell, warn=warn)


def mark_scripts(
    source: Problem | Manifest,
    scripts: list[Script],
    odd: list[Skipped],
    options: ReportOptions,
    *,
    folder: bool,
    progress: Callable[[int, int], None] | None = None,
    tell: Say = print,
    warn: Say = print,
) -> Marked:
    """Each working file or spreadsheet row marked and its reports written, every report's file checked before
    any is marked. One file alone (`folder` false) that cannot be read or written is an error; in a class it is
    skipped."""
    targets = _report_targets(scripts, options, folder)
    for entry in odd:
        warn(f"stepper: skipped: {entry.path}: {entry.why}")
    skipped: list[Skipped] = []
    if not folder:  # one file: a bad one is simply an error
        results = [(scripts[0].path, scripts[0].mark(Markers(source)))]
    else:
        results, skipped = mark_all(source, scripts, progress, warn)
    no_pdf, unwritten = _write_reports(results, targets, options, folder, tell, warn)
    return Marked(results, skipped + unwritten, odd, no_pdf)


def row_scripts(rows: list[Row], sheet: Path, taken: set[str]) -> list[Script]:
    """A spreadsheet's rows to mark, each named `answers.csv, row 14` and reported under its student's name
    made safe for a file name, none the same as another's or one in `taken` (which grows by theirs)."""
    from .spreadsheet import unique_stems

    stems = unique_stems(rows, taken)
    taken.update(stems)
    return [
        Script(Path(f"{sheet.name}, {row.place.split(' (')[0]}"), stem, _row_marker(row, sheet.name))
        for row, stem in zip(rows, stems)
    ]


def _row_marker(row: Row, sheet: str) -> Callable[[Markers], Feedback]:
    return lambda markers: markers.check_row(row, sheet)


def _report_targets(scripts: list[Script], options: ReportOptions, folder: bool) -> dict[Path, dict[str, Path]]:
    """The report of each working file in each format, each checked, with the class summary's files."""
    counts = Counter(s.stem for s in scripts)
    twice = next((n for n, k in counts.items() if k > 1), None)
    if twice:
        raise StepperError(
            f"two working files are called {twice}.toml, so their reports would collide: "
            "mark them into different --out folders",
            place="WORKING",
        )
    targets = {s.path: {f: options.out / f"{s.stem}-feedback.{f}" for f in options.formats} for s in scripts}
    extra = [options.out / name for name in _summary_names(options)] if folder else []
    for target in [t for ts in targets.values() for t in ts.values()] + extra:
        check_writable(target, options.force)
    return targets


def _write_reports(
    results: list[tuple[Path, Feedback]],
    targets: dict[Path, dict[str, Path]],
    options: ReportOptions,
    folder: bool,
    tell: Say,
    warn: Say,
) -> tuple[list[Skipped], list[Skipped]]:
    """Each student's reports, written together, and their line through `tell`. The students whose PDF was not
    made, and those whose reports were not written, are returned."""
    no_pdf: list[Skipped] = []
    unwritten: list[Skipped] = []
    for path, fb in results:
        files, failure, log = _report_files(path, fb, targets[path], options, folder)
        if failure is not None:
            no_pdf.append(Skipped(path, why(failure)))
        try:
            write_files(files, options.force)
        except StepperError as e:
            if not folder:
                raise
            warn(f"stepper: skipped: {e}")
            unwritten.append(Skipped(path, f"marked, but its report could not be written: {why(e)}"))
            continue
        if failure is None and "pdf" in options.formats:
            remove_stale_log(targets[path]["pdf"].with_suffix(".log"))
        tell(plain_text(f"{path.name}: {summary_line(fb)}"))
        if failure is not None:
            also = f"; its LaTeX log is {log}" if isinstance(log, Path) else f"; {log}" if log else ""
            warn(
                f"stepper: skipped: {failure}{also}"
                if folder
                else f"stepper: error: {failure}; {what_was_written([t for t in files if t != log], log)}"
            )
    return no_pdf, unwritten


def _report_files(
    path: Path, fb: Feedback, targets: dict[str, Path], options: ReportOptions, folder: bool
) -> tuple[dict[Path, bytes], StepperError | None, Path | str | None]:
    """One student's reports by the file each goes to; the failure to typeset the PDF, if it failed, with its
    LaTeX log (added to the files) or why the log is not written. One student's PDF that cannot be made for want
    of time is an error; in a class it is passed over."""
    formats = options.formats
    texts: dict[str, str] = {
        fmt: marked(render_feedback(fb, fmt, options.templates), f".{fmt}", path.name)
        for fmt in ("md", "tex")
        if fmt in formats or (fmt == "tex" and "pdf" in formats)
    }
    files = {targets[fmt]: texts[fmt].encode("utf-8") for fmt in formats if fmt != "pdf"}
    failure: StepperError | None = None
    log: Path | str | None = None
    if "pdf" in formats:
        pdf = targets["pdf"]
        try:
            files[pdf] = typeset(texts["tex"], str(pdf))
        except StepperError as e:
            if not (folder or isinstance(e, TypesetError)):
                raise  # one student's report that cannot be made for want of time: a fault, nothing written
            failure = e
            log = log_file(e, pdf, path.name, options.force, files) if isinstance(e, TypesetError) else None
    return files, failure, log


def _summary_names(options: ReportOptions) -> tuple[str, ...]:
    return SUMMARY + ((SUMMARY_PDF,) if "pdf" in options.formats else ())


def write_summary(problem: Problem, outcome: Marked, options: ReportOptions, source: str) -> str | None:
    """The class summary, as CSV and Markdown beside the reports, and as a one-page PDF when PDFs are asked for;
    `source` is the problem file's name. Returns why the PDF could not be made (its CSV and Markdown are
    written all the same), or None."""
    csv_path, md_path = (options.out / name for name in SUMMARY)
    skipped = sorted(outcome.odd + outcome.skipped)
    args = (problem, outcome.results, skipped, outcome.no_pdf, options.templates)
    files = {
        csv_path: summary_csv(every_stage(problem), outcome.results).encode("utf-8"),
        md_path: marked(summary_md(*args), ".md", source).encode("utf-8"),
    }
    failure = None
    if "pdf" in options.formats:
        pdf = options.out / SUMMARY_PDF
        try:
            files[pdf] = typeset(marked(summary_tex(*args), ".tex", source), str(pdf))
        except TypesetError as e:
            failure = f"{pdf}: the class summary's PDF was not made: {e}"
    write_files(files, options.force)
    return failure


def summary_line(fb: Feedback) -> str:
    """One line: the mark, and what went wrong where."""
    wrong = [
        f"{r.stage.key} ({r.diagnosis.name if r.diagnosis else 'no follow-through' if r.refused else 'wrong'}"
        f"{', charged once' if r.charged else ''})"
        for r in fb.stages
        if r.verdict == "wrong"
    ]
    sums = sum(1 for s in fb.sums if s.credit != "right")
    answered = any(r.verdict != "missing" for r in fb.stages)
    tail = "; ".join(wrong) if wrong else "no wrong stage" if answered else EMPTY if fb.empty else "no stage answered"
    if sums:
        tail += f"; {sums} written sum{'s' * (sums != 1)} wrong"
    return f"{fb.working.student}: {points(fb.marks)} / {points(fb.out_of)}: {tail}"
