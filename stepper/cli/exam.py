"""`stepper exam TEMPLATE`: fair variants of an exam template, each with its question sheet and answer key, made
by stepper.exams.command; or, with --stress, the template tested and nothing written."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..core.errors import StepperError
from ..core.text import plain_text
from ..exams.command import Exam, ExamOptions, ExamProgress, made_from, make_exam, read_template, regenerate
from ..exams.manifest import read_made
from ..exams.variants import Template
from ..marking.classroom import PROGRESS_FROM, ProgressBar
from .arguments import default_formats

DEFAULT_SEED = 1


def run(args: argparse.Namespace) -> int:
    if args.regenerate is not None:
        return _regenerate(args)
    if args.template is None:
        raise StepperError("expected TEMPLATE, an exam template (TOML), or --regenerate DIR/manifest.json")
    template, sha256 = read_template(args.template)
    if args.stress is not None:
        return _stress(template, args)
    options = ExamOptions(
        variants=10 if args.variants is None else args.variants,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        formats=tuple(default_formats() if args.format is None else args.format),
        out=Path("exam") if args.out is None else args.out,
        templates=args.templates,
        force=args.force,
    )
    made = make_exam(
        template, options, args.template.name, _progress(args, options), made_from(args.template, sha256, options)
    )
    _said(made, f"{made.variants} variants of {args.template.name} (seed {options.seed})", options.out)
    return 0


def _progress(args: argparse.Namespace, options: ExamOptions) -> ExamProgress:
    show = args.progress or (options.variants >= PROGRESS_FROM and sys.stderr.isatty())
    return ExamProgress(
        drawing=ProgressBar(label="drawing") if show else None,
        writing=ProgressBar(label="writing") if show else None,
        typesetting=ProgressBar(label="typesetting") if show and "pdf" in options.formats else None,
        attempts=_attempts_note(args.progress or sys.stderr.isatty()),
    )


def _said(made: Exam, what: str, out: Path, extra: str = "") -> None:
    for line in made.warnings:
        print(plain_text(line), file=sys.stderr)
    removed = f"; removed {len(made.removed)} files of an earlier exam there" if made.removed else ""
    print(plain_text(f"{what}: {made.files} files in {out}{removed}{extra}"))


def _regenerate(args: argparse.Namespace) -> int:
    """`--regenerate DIR/manifest.json`: the exam made again from what its manifest records."""
    given = [
        flag
        for flag, value in (
            ("TEMPLATE", args.template),
            ("--variants", args.variants),
            ("--seed", args.seed),
            ("--format", args.format),
            ("--out", args.out),
            ("--stress", args.stress),
            ("--templates", args.templates),
        )
        if value is not None
    ]
    if given:
        raise StepperError(
            f"--regenerate takes what it needs from the manifest: leave out {', '.join(given)}", place="--regenerate"
        )
    recorded = read_made(args.regenerate)
    options = ExamOptions(recorded.variants, recorded.seed, recorded.formats, args.regenerate.parent)
    made = regenerate(args.regenerate, args.force, _progress(args, options))
    differ = sorted(n for n in set(made.hashes) | set(recorded.files) if made.hashes.get(n) != recorded.files.get(n))
    same = f"; {len(differ)} differ from before: {', '.join(differ[:5])}" if differ else "; every file as before"
    what = f"{made.variants} variants of {recorded.template.name} (seed {recorded.seed}) made again"
    _said(made, what, args.regenerate.parent, same)
    return 0


def _stress(template: Template, args: argparse.Namespace) -> int:
    """`--stress N`: the template tested, nothing written."""
    from ..exams.generate import stress, stress_report

    result = stress(template, args.stress, DEFAULT_SEED if args.seed is None else args.seed)  # checks the count
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
