"""`stepper exam TEMPLATE`: fair variants of an exam template, each with its question sheet and answer key, made
by stepper.exams.command; or, with --stress, the template tested and nothing written."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..core.text import plain_text
from ..exams.command import ExamOptions, ExamProgress, make_exam
from ..exams.variants import Template, load_template
from ..marking.classroom import PROGRESS_FROM, ProgressBar


def run(args: argparse.Namespace) -> int:
    template = load_template(args.template)
    if args.stress is not None:
        return _stress(template, args)
    options = ExamOptions(
        variants=10 if args.variants is None else args.variants,
        seed=args.seed,
        formats=("md", "tex") if args.format is None else tuple(args.format),
        out=Path("exam") if args.out is None else args.out,
        templates=args.templates,
        force=args.force,
    )
    show = args.progress or (options.variants >= PROGRESS_FROM and sys.stderr.isatty())
    progress = ExamProgress(
        drawing=ProgressBar(label="drawing") if show else None,
        writing=ProgressBar(label="writing") if show else None,
        typesetting=ProgressBar(label="typesetting") if show and "pdf" in options.formats else None,
        attempts=_attempts_note(args.progress or sys.stderr.isatty()),
    )
    made = make_exam(template, options, args.template.name, progress)
    removed = f"; removed {len(made.removed)} files of an earlier exam there" if made.removed else ""
    print(
        plain_text(
            f"{made.variants} variants of {args.template.name} (seed {options.seed}): {made.files} files in "
            f"{options.out}" + removed
        )
    )
    return 0


def _stress(template: Template, args: argparse.Namespace) -> int:
    """`--stress N`: the template tested, nothing written."""
    from ..exams.generate import stress, stress_report

    result = stress(template, args.stress, args.seed)  # checks the count first
    ignored = [
        flag
        for flag, value in (("--variants", args.variants), ("--format", args.format), ("--out", args.out))
        if value is not None
    ]
    if ignored:
        print(
            f"stepper: note: --stress writes nothing, so {', '.join(ignored)} "
            f"{'is' if len(ignored) == 1 else 'are'} ignored",
            file=sys.stderr,
        )
    print(stress_report(result, template.constraints), end="")
    return 0


def _attempts_note(show: bool) -> Callable[[int, int, int], None] | None:
    """A line on stderr now and then while one variant takes many candidates, so a hard template is not silent."""
    if not show:
        return None

    def note(number: int, tried: int, tries: int) -> None:
        print(
            f"stepper: drawing variant {number}: {tried:,} of {tries:,} candidates tried, none fair yet",
            file=sys.stderr,
            flush=True,
        )

    return note
