"""`stepper check PROBLEM WORKING ...`: each working file marked against the problem (or the exam variant it
names), with a feedback report for each student and, for a class, a summary; see stepper.marking.reports. With
[train] the backward pass is marked too (the loss, `[layer6.grad]`, `[layer6.dw]`, `[layer6.new]`: see
stepper.marking.working and stepper.marking.backward). A class's spreadsheet (or a Moodle quiz's responses
report) is marked a row at a time, as a class; `--answer-sheet` writes the blank sheet to fill in."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..core.errors import StepperError
from ..core.spec import Problem
from ..core.text import plain_text
from ..marking.classroom import PROGRESS_FROM, ProgressBar, Script, Skipped, common_mistakes, file_script
from ..marking.reports import (
    Marked,
    ReportOptions,
    mark_scripts,
    marking_source,
    row_scripts,
    working_paths,
    write_summary,
)
from ..marking.spreadsheet import (
    STUDENT,
    SUM,
    VARIANT,
    Row,
    answer_sheet,
    check_columns,
    duplicates,
    is_sheet,
    read_answers,
    read_header,
    sheet_columns,
)
from ..writing.latex import TEX_INSTALL, pdflatex_available, tex_timeout
from ..writing.output import write_files
from .arguments import default_formats

if TYPE_CHECKING:
    from ..exams.manifest import Manifest

ANSWER_SHEET = "answer-sheet.csv"


def run(args: argparse.Namespace) -> int:
    if args.answer_sheet:
        return _answer_sheet(args)
    if not args.working:
        raise StepperError(
            "expected WORKING: working files, a folder of them or a class's spreadsheet (.csv, .xlsx); "
            "or --answer-sheet to write a blank sheet",
            place="stepper check",
        )
    if args.format is None:  # the documents every command writes by default
        args.format = default_formats()
    if "pdf" in args.format:
        if not pdflatex_available():
            raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}")
        tex_timeout()  # a bad STEPPER_TEX_TIMEOUT is found before any work
    if args.templates is not None and not args.templates.is_dir():
        raise StepperError("no such folder", file=str(args.templates), place="--templates")
    source, problem = marking_source(args.problem)
    scripts, odd, sheets = _scripts(args.working, args.problem, source)
    folder = len(scripts) > 1 or sheets or any(given.is_dir() for given in args.working)  # a class
    progress = args.progress or (len(scripts) >= PROGRESS_FROM and sys.stderr.isatty())
    bar = ProgressBar() if folder and progress else None

    def warn(line: str) -> None:
        if bar:
            bar.interrupt()
        print(plain_text(line), file=sys.stderr)

    options = ReportOptions(tuple(args.format), args.out, args.templates, args.force)
    outcome = mark_scripts(source, scripts, odd, options, folder=folder, progress=bar, tell=print, warn=warn)
    if not folder and outcome.no_pdf:
        return 2  # its one line is said
    failure = None
    if folder:
        failure = write_summary(problem, outcome, options, args.problem.name)
        if failure:
            warn(f"stepper: error: {failure}")
        print(plain_text(f"{len(outcome.results)} marked; reports and the class summary are in {args.out}"))
        for name, n in common_mistakes(outcome.results)[:5]:
            print(f"  {n} x {name}")
    status = _passed_over(outcome, len(scripts), "students" if sheets else "working files")
    return 2 if failure else status


def _scripts(
    given: list[Path], problem_path: Path, source: Problem | Manifest
) -> tuple[list[Script], list[Skipped], bool]:
    """What to mark: the working files given or found in folders, and each spreadsheet's rows (a student's
    report named after them, none overwriting another's); the folder entries passed over; whether a
    spreadsheet was given."""
    sheets = [entry for entry in given if is_sheet(entry) and not entry.is_dir()]
    files = [entry for entry in given if entry not in sheets]
    paths, odd = working_paths(files, problem_path) if files else ([], [])
    scripts = [file_script(p) for p in paths]
    taken = {p.stem for p in paths}
    for sheet in dict.fromkeys(sheets):
        rows = sheet_rows(sheet, source, odd)
        for name, same in duplicates(rows):
            where = " and ".join(row.place.split(" (")[0] for row in same)
            print(
                plain_text(
                    f'stepper: {sheet}: {where} all name the student "{name}": each is marked, with its own report'
                ),
                file=sys.stderr,
            )
        scripts += row_scripts(rows, sheet, taken)
    return scripts, odd, bool(sheets)


def sheet_rows(sheet: Path, source: Problem | Manifest, passed_over: list[Skipped]) -> list[Row]:
    """A spreadsheet's rows: a Moodle quiz's responses report (a CSV whose header says so), or a class's
    answers with stepper's columns, each column checked against the problem. A report's attempts that were not
    finished are added to `passed_over`, with why, so that the summary lists them."""
    if sheet.suffix.lower() == ".csv":
        moodle = _moodle_responses()
        if moodle is not None and moodle.looks_like_responses(read_header(sheet)):
            unfinished: list = []
            rows = moodle.read_responses(sheet, source, unfinished)
            passed_over += [Skipped(Path(f"{sheet.name}, {u.place}"), u.why) for u in unfinished]
            return rows
    rows = read_answers(sheet)
    check_columns(rows[0].cells, source, str(sheet))
    return rows


def _moodle_responses() -> ModuleType | None:
    """The reader of Moodle's responses report, where it is installed."""
    name = "stepper.marking.moodle_responses"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        return None


def _answer_sheet(args: argparse.Namespace) -> int:
    """The blank answer sheet of the problem, or of an exam's every variant, written into --out."""
    if args.working:
        raise StepperError("--answer-sheet writes a blank sheet and marks nothing: give PROBLEM alone", place="WORKING")
    source, _ = marking_source(args.problem)
    target = args.out / ANSWER_SHEET
    write_files({target: answer_sheet(source).encode("utf-8")}, args.force)
    columns = sheet_columns(source)
    sums = sum(c.startswith(SUM) for c in columns)
    cells = len(columns) - sums - len([c for c in columns if c in (STUDENT, VARIANT)])
    print(plain_text(f"answer sheet: {target}: one student a row, {cells} cells and {sums} written sums"))
    return 0


def _passed_over(outcome: Marked, given: int, what: str) -> int:
    """2, with a line that counts them, when anything was skipped or a PDF not made; else 0."""
    skipped, odd, no_pdf = outcome.skipped, outcome.odd, outcome.no_pdf
    if not (skipped or odd or no_pdf):
        return 0
    counts = [f"{len(skipped)} of {given} {what} skipped"] if skipped else []
    counts += [f"{len(odd)} folder entr{'y' if len(odd) == 1 else 'ies'} skipped"] if odd else []
    counts += [f"{len(no_pdf)} PDF report{'s' * (len(no_pdf) != 1)} not made"] if no_pdf else []
    print(f"stepper: {'; '.join(counts)} (see above)", file=sys.stderr)
    return 2
