"""The command line: `stepper solve [PROBLEM ...]`, `stepper check PROBLEM WORKING` and `stepper exam TEMPLATE`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from . import __version__
from .core.errors import StepperError
from .core.load import load
from .core.spec import ROUNDING, TERMS
from .core.text import plain_text
from .marking.classroom import PROGRESS_FROM
from .writing.documents import builtin_templates
from .writing.output import (
    TEX_INSTALL,
    check_writable,
    marked,
    pdflatex_available,
    tex_timeout,
)
from .writing.solution import SolveOptions, check_sizes, plan, write_solutions

FORMATS = ("md", "tex", "pdf")
SOLVE_FORMATS = FORMATS + ("docx",)  # Word, through pandoc from the Markdown
EXAM_FORMATS = FORMATS + ("moodle",)
DEFAULT_FORMATS = "md,tex,pdf"


def tutorial_path() -> Path:
    """The built-in tutorial: inside the installed package, or in the source tree's examples/."""
    package = builtin_templates().parent
    for candidate in (package / "examples" / "tutorial.toml", package.parent / "examples" / "tutorial.toml"):
        if candidate.is_file():
            return candidate
    raise StepperError("the built-in tutorial is missing from this installation")


def _formats(text: str, known: tuple[str, ...] = FORMATS) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    for f in chosen:
        if f not in known:
            raise argparse.ArgumentTypeError(f"unknown format {f!r}: choose from {', '.join(known)}")
    if not chosen:
        raise argparse.ArgumentTypeError(f"expected one or more of {', '.join(known)}")
    return list(dict.fromkeys(chosen))


def _detail(text: str) -> str | int:
    if text in ("all", "answers", "shapes"):
        return text
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected 'all', 'answers', 'shapes' or a number of windows, found {text!r}")


class _Parser(argparse.ArgumentParser):
    """Mistakes on the command line are reported in one line, like mistakes in a problem file."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="stepper", description="Turn a small neural network and its input into a step-by-step worked solution."
    )
    top.add_argument("--version", action="version", version=f"stepper {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    solve = sub.add_parser(
        "solve",
        help="write the worked solution of a problem file",
        description="Trace the forward pass of each PROBLEM file and write its worked solution.",
        epilog="Settings given here override the problem file's [settings].",
    )
    solve.add_argument(
        "problems",
        nargs="*",
        metavar="PROBLEM",
        type=Path,
        help="problem files (TOML); with none, the built-in CNN tutorial",
    )
    solve.add_argument(
        "--format",
        type=lambda t: _formats(t, SOLVE_FORMATS),
        default=None,
        metavar="LIST",
        help=f"comma-separated formats from {', '.join(SOLVE_FORMATS)} (default: {DEFAULT_FORMATS}; "
        "pdf needs pdflatex and is left out with a note when it is missing; docx needs pandoc)",
    )
    solve.add_argument(
        "--torch",
        metavar="MODULE:NAME",
        help="solve a PyTorch model instead of a problem file: NAME in MODULE (importable from the "
        "current folder) is a (model, input) pair, or a function returning one; its problem "
        "file is written too (needs the torch extra)",
    )
    solve.add_argument(
        "--out",
        type=Path,
        default=Path("output"),
        metavar="DIR",
        help="folder for the documents, made if missing (default: ./output)",
    )
    solve.add_argument(
        "--detail",
        type=_detail,
        metavar="all|answers|N",
        help="work every window in full (all), the first N windows of each map, or results only",
    )
    solve.add_argument(
        "--terms", choices=TERMS, help="write only the nonzero products (= -2 - 5 = -7) or every product as a . b"
    )
    solve.add_argument(
        "--rounding",
        choices=ROUNDING,
        help="carry rounded values forward as by hand (carry) or keep full precision (full)",
    )
    solve.add_argument(
        "--decimals",
        type=int,
        metavar="N",
        help="decimal places for sigmoid, exponentials and other rounded values (default 4)",
    )
    solve.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="a folder whose template files override the built-in ones, file by file",
    )
    solve.add_argument(
        "--force",
        action="store_true",
        help="replace files in --out even if stepper did not write them, and make documents "
        "larger than stepper's limits (see the estimate it gives)",
    )
    check = sub.add_parser(
        "check",
        help="mark a student's working against a problem",
        description="Mark WORKING (a working file, or a folder of them) against PROBLEM: marks per stage, "
        "follow-through, the likely mistake, and a feedback report for each student.",
        epilog="Exit status: 0 when every working file was marked, 2 when one could not be read (the rest are "
        "still marked) or on bad input.",
    )
    check.add_argument(
        "problem",
        metavar="PROBLEM",
        type=Path,
        help="the problem file (TOML), or an exam's manifest.json: each working file is then "
        'marked against the variant it names (variant = "007")',
    )
    check.add_argument(
        "working",
        metavar="WORKING",
        type=Path,
        nargs="+",
        help="a working file (TOML); several, or a folder of them, are marked as a class: one "
        "report each and a class summary",
    )
    check.add_argument(
        "--format",
        type=_formats,
        default=["md"],
        metavar="LIST",
        help=f"comma-separated formats from {', '.join(FORMATS)} for the reports (default: md)",
    )
    check.add_argument(
        "--out",
        type=Path,
        default=Path("feedback"),
        metavar="DIR",
        help="folder for the reports, made if missing (default: ./feedback)",
    )
    check.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="a folder whose template files override the built-in ones, file by file",
    )
    check.add_argument(
        "--progress",
        action="store_true",
        help=f"show a progress bar even when not on a terminal (it shows by itself on a "
        f"terminal for {PROGRESS_FROM} files or more)",
    )
    check.add_argument("--force", action="store_true", help="replace files in --out even if stepper did not write them")
    exam = sub.add_parser(
        "exam",
        help="draw exam variants of a template, each with its question sheet and answer key",
        description="Draw fair variants of TEMPLATE (a problem file with a [random] part) and write, per "
        "variant, a question sheet and an answer key, one combined key, a manifest for "
        "`stepper check`, and a Moodle quiz; or, with --stress, test the template.",
        epilog="The same template and seed always give the same files.",
    )
    exam.add_argument("template", metavar="TEMPLATE", type=Path, help="the exam template (TOML)")
    exam.add_argument("--variants", type=int, default=None, metavar="N", help="how many variants (default 10)")
    exam.add_argument("--seed", type=_seed, default=1, metavar="S", help="the seed, a whole number (default 1)")
    exam.add_argument(
        "--format",
        type=lambda t: _formats(t, EXAM_FORMATS),
        default=None,
        metavar="LIST",
        help=f"comma-separated formats from {', '.join(EXAM_FORMATS)} (default: md,tex)",
    )
    exam.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for the documents, made if missing (default: ./exam)",
    )
    exam.add_argument(
        "--stress",
        type=int,
        metavar="N",
        help="draw N candidates and report how often each constraint holds, the range and spread "
        "of each answer, the time per variant and answers that repeat; writes nothing",
    )
    exam.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="a folder whose template files override the built-in ones, file by file",
    )
    exam.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar even when not on a terminal (it shows by itself on a terminal "
        f"for {PROGRESS_FROM} variants or more)",
    )
    exam.add_argument("--force", action="store_true", help="replace files in --out even if stepper did not write them")
    return top


def _seed(text: str) -> int:
    if not text.isdigit() or int(text) >= 2**63:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2^63 - 1, found {text!r}")
    return int(text)


def exam(args: argparse.Namespace) -> int:
    from .exams.command import ExamOptions, ExamProgress, make_exam
    from .exams.variants import load_template
    from .marking.classroom import ProgressBar

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
    print(
        plain_text(
            f"{made.variants} variants of {args.template.name} (seed {options.seed}): {made.files} files in "
            f"{options.out}" + (f"; removed {len(made.removed)} files of an earlier exam there" if made.removed else "")
        )
    )
    return 0


def _stress(template, args: argparse.Namespace) -> int:
    """`--stress N`: the template tested, nothing written."""
    from .exams.generate import stress, stress_report

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


def _attempts_note(show: bool):
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


def solve(args: argparse.Namespace) -> int:
    formats = args.format
    if formats is None:
        formats = _formats(DEFAULT_FORMATS)
        if not pdflatex_available():
            formats.remove("pdf")
            print("stepper: note: pdflatex is not installed, so no PDF is made (md and tex are)", file=sys.stderr)
    elif "pdf" in formats and not pdflatex_available():
        raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}")
    if "docx" in formats:
        from .writing.docx import PANDOC_INSTALL, pandoc_available

        if not pandoc_available():
            raise StepperError(f"pandoc is not installed: {PANDOC_INSTALL}", place="--format docx")
    if args.templates is not None and not args.templates.is_dir():
        raise StepperError("no such folder", file=str(args.templates), place="--templates")
    if args.torch and args.problems:
        raise StepperError("give problem files or --torch, not both", place="--torch")
    if args.torch:
        problem, path = _from_torch(args.torch)
        loaded = [(path, problem)]
        check_writable(args.out / path.name, args.force)
    else:
        sources = args.problems or [tutorial_path()]
        names = [str(p) for p in args.problems] or ["the built-in tutorial"]
        loaded = [(path, load(path, name=name)) for path, name in zip(sources, names)]
    if "pdf" in formats:
        tex_timeout()  # a bad STEPPER_TEX_TIMEOUT is found before any work
    overrides = {
        n: getattr(args, n) for n in ("detail", "terms", "rounding", "decimals") if getattr(args, n) is not None
    }
    options = SolveOptions(tuple(formats), args.out, args.templates, args.force, overrides)
    jobs = plan(loaded, options)
    for line in check_sizes(jobs, options):  # before any work: too large refused, a long wait announced
        print(line, file=sys.stderr, flush=True)
    extra = {}
    if args.torch:
        from .interop.dump import dumps

        extra[args.out / path.name] = marked(dumps(loaded[0][1]), ".toml", args.torch).encode("utf-8")
    written, failures = write_solutions(jobs, options, extra)
    for target in written:
        print(plain_text(target))
    for failure in failures:
        print(plain_text(f"stepper: error: {failure}"), file=sys.stderr)
    return 2 if failures else 0


def _from_torch(spec: str):
    """The Problem of the (model, input) pair named MODULE:NAME, and the problem file it would be."""
    import importlib

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise StepperError(f"expected MODULE:NAME, found {spec!r}", place="--torch")
    sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the user's module: any failure there is theirs to see, in one line
        raise StepperError(f"cannot import {module_name}: {type(e).__name__}: {e}", place="--torch") from None
    finally:
        sys.path.pop(0)
    found = getattr(module, attribute, None)
    if found is None:
        raise StepperError(f"{module_name} has no {attribute}", place="--torch")
    try:
        pair = found() if callable(found) and not hasattr(found, "forward") else found
    except Exception as e:  # the user's function: its failure is theirs to see, in one line
        raise StepperError(f"{attribute}() failed: {type(e).__name__}: {e}", place="--torch") from None
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise StepperError(f"expected {spec} to be a (model, input) pair, or a function returning one", place="--torch")
    from .interop.pytorch import from_torch

    try:
        problem = from_torch(*pair, title=f"{attribute} from {module_name}")
    except StepperError as e:
        raise e.located(place=f"--torch {spec}") from None
    return replace(problem, source=spec), Path(f"{attribute}.toml")


def check(args: argparse.Namespace) -> int:
    from .marking.classroom import ProgressBar, common_mistakes
    from .marking.reports import ReportOptions, mark_paths, marking_source, working_paths, write_summary

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
    skipped, no_pdf = outcome.skipped, outcome.no_pdf
    if skipped or odd or no_pdf:
        counts = [f"{len(skipped)} of {len(paths)} working files skipped"] if skipped else []
        counts += [f"{len(odd)} folder entr{'y' if len(odd) == 1 else 'ies'} skipped"] if odd else []
        counts += [f"{len(no_pdf)} PDF report{'s' * (len(no_pdf) != 1)} not made"] if no_pdf else []
        print(f"stepper: {'; '.join(counts)} (see above)", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"check": check, "exam": exam, "solve": solve}[args.command](args)
    except StepperError as e:
        print(plain_text(f"stepper: error: {e}"), file=sys.stderr)
        return 2
    except OSError as e:  # a fault no check foresaw (a folder that cannot be read): one line, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        print(plain_text(f"stepper: error: {where}{e.strerror or e}"), file=sys.stderr)
        return 2
    except (RecursionError, MemoryError) as e:  # input that no limit foresaw: one line, not a traceback
        what = "input nested too deeply" if isinstance(e, RecursionError) else "out of memory"
        print(f"stepper: error: {what}: make the problem smaller", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
