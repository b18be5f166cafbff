"""`stepper check PROBLEM WORKING ...`: each working file marked against the problem (or the exam variant it
names), with a feedback report for each student and, for a class, a summary; see stepper.marking.reports."""

from __future__ import annotations

import argparse
import sys

from ..core.errors import StepperError
from ..core.text import plain_text
from ..marking.classroom import PROGRESS_FROM, ProgressBar, common_mistakes
from ..marking.reports import Marked, ReportOptions, mark_paths, marking_source, working_paths, write_summary
from ..writing.latex import TEX_INSTALL, pdflatex_available, tex_timeout


def run(args: argparse.Namespace) -> int:
    if "pdf" in args.format:
        if not pdflatex_available():
            raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}")
        tex_timeout()  # a bad STEPPER_TEX_TIMEOUT is found before any work
    if args.templates is not None and not args.templates.is_dir():
        raise StepperError("no such folder", file=str(args.templates), place="--templates")
    source, problem = marking_source(args.problem)
    paths, odd = working_paths(args.working, args.problem)
    folder = len(paths) > 1 or any(given.is_dir() for given in args.working)  # a class
    bar = ProgressBar() if folder and (args.progress or (len(paths) >= PROGRESS_FROM and sys.stderr.isatty())) else None

    def warn(line: str) -> None:
        if bar:
            bar.interrupt()
        print(plain_text(line), file=sys.stderr)

    options = ReportOptions(tuple(args.format), args.out, args.templates, args.force)
    outcome = mark_paths(source, paths, odd, options, folder=folder, progress=bar, tell=print, warn=warn)
    if not folder and outcome.no_pdf:
        return 2  # its one line is said
    if folder:
        write_summary(problem, outcome, options, args.problem.name)
        print(plain_text(f"{len(outcome.results)} marked; reports and the class summary are in {args.out}"))
        for name, n in common_mistakes(outcome.results)[:5]:
            print(f"  {n} x {name}")
    return _passed_over(outcome, len(paths))


def _passed_over(outcome: Marked, given: int) -> int:
    """2, with a line that counts them, when anything was skipped or a PDF not made; else 0."""
    skipped, odd, no_pdf = outcome.skipped, outcome.odd, outcome.no_pdf
    if not (skipped or odd or no_pdf):
        return 0
    counts = [f"{len(skipped)} of {given} working files skipped"] if skipped else []
    counts += [f"{len(odd)} folder entr{'y' if len(odd) == 1 else 'ies'} skipped"] if odd else []
    counts += [f"{len(no_pdf)} PDF report{'s' * (len(no_pdf) != 1)} not made"] if no_pdf else []
    print(f"stepper: {'; '.join(counts)} (see above)", file=sys.stderr)
    return 2
