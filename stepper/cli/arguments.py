"""The command line's grammar: one argparse parser, with one function per command adding that command's
arguments. A command's arguments are added only when that command is chosen (or its help asked for), so that
`stepper --help` imports nothing the other commands' help texts need."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from .. import __version__

FORMATS = ("md", "tex", "pdf")
# Word (through pandoc from the Markdown); for teaching from: an interactive page, a slide deck (its LaTeX and PDF)
# and the trace as data
SOLVE_FORMATS = FORMATS + ("docx", "html", "beamer", "json")
EXAM_FORMATS = FORMATS + ("moodle", "qti", "canvas")  # a Moodle quiz, an IMS QTI 2.1 package, a Canvas package
DEFAULT_FORMATS = "md,tex,pdf"  # the documents every command writes when --format is not given
_DEFAULT_HELP = f"default: {DEFAULT_FORMATS}; pdf needs pdflatex and is left out with a note when it is missing"


def default_formats() -> list[str]:
    """The formats `solve`, `check` and `exam` write when --format is not given: md, tex and pdf, without pdf (and
    a note on stderr saying so) when pdflatex is missing."""
    from ..writing.latex import pdflatex_available

    formats = format_list(DEFAULT_FORMATS)
    if not pdflatex_available():
        formats.remove("pdf")
        print("stepper: note: pdflatex is not installed, so no PDF is made (md and tex are)", file=sys.stderr)
    return formats


def format_list(text: str, known: tuple[str, ...] = FORMATS) -> list[str]:
    """`md,tex` as ["md", "tex"]: each format known, none twice."""
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


def _seed(text: str) -> int:
    if not text.isdigit() or int(text) >= 2**63:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2^63 - 1, found {text!r}")
    return int(text)


class _Parser(argparse.ArgumentParser):
    """Mistakes on the command line are reported in one line, like mistakes in a problem file. `arguments`, if
    given, adds this parser's arguments the first time they are needed."""

    def __init__(self, *args: Any, arguments: Callable[[argparse.ArgumentParser], None] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self._arguments = arguments

    def _add_arguments(self) -> None:
        if self._arguments is not None:
            add, self._arguments = self._arguments, None
            add(self)

    def parse_known_args(self, *args: Any, **kw: Any) -> Any:
        self._add_arguments()
        return super().parse_known_args(*args, **kw)

    def format_usage(self) -> str:
        self._add_arguments()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_arguments()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """`stepper [--version] COMMAND ...`, COMMAND one of solve, check and exam."""
    top = _Parser(
        prog="stepper", description="Turn a small neural network and its input into a step-by-step worked solution."
    )
    top.add_argument("--version", action="version", version=f"stepper {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    sub.add_parser(
        "solve",
        help="write the worked solution of a problem file",
        description="Trace the forward pass of each PROBLEM file and write its worked solution.",
        epilog="Settings given here override the problem file's [settings].",
        arguments=_solve,
    )
    sub.add_parser(
        "check",
        help="mark a student's working against a problem",
        description="Mark WORKING (a working file, a folder of them, or a class's spreadsheet with one student "
        "a row) against PROBLEM: marks per stage, follow-through, the likely mistake, and a feedback report for "
        "each student.",
        epilog="Exit status: 0 when every working file (or row) was marked, 2 when one could not be read (the "
        "rest are still marked) or on bad input.",
        arguments=_check,
    )
    sub.add_parser(
        "exam",
        help="draw exam variants of a template, each with its question sheet and answer key",
        description="Draw fair variants of TEMPLATE (a problem file with a [random] part) and write, per "
        "variant, a question sheet and an answer key, one combined key, a manifest for "
        "`stepper check`, and a Moodle quiz; or, with --stress, test the template.",
        epilog="The same template and seed always give the same files.",
        arguments=_exam,
    )
    return top


def _solve(solve: argparse.ArgumentParser) -> None:
    """`stepper solve [PROBLEM ...]`."""
    solve.add_argument(
        "problems",
        nargs="*",
        metavar="PROBLEM",
        type=Path,
        help="problem files (TOML); with none, the built-in CNN tutorial",
    )
    solve.add_argument(
        "--format",
        type=lambda t: format_list(t, SOLVE_FORMATS),
        default=None,
        metavar="LIST",
        help=f"comma-separated formats from {', '.join(SOLVE_FORMATS)} ({_DEFAULT_HELP}; docx needs pandoc)",
    )
    solve.add_argument(
        "--torch",
        metavar="MODULE:NAME",
        help="solve a PyTorch model instead of a problem file: NAME in MODULE (importable from the "
        "current folder) is a (model, input) pair, or a function returning one; its problem "
        "file is written too (needs the torch extra)",
    )
    _out(solve, "documents", "output", Path("output"))
    _settings(solve)
    _templates(solve)
    solve.add_argument(
        "--force",
        action="store_true",
        help="replace files in --out even if stepper did not write them, and make documents "
        "larger than stepper's limits (see the estimate it gives)",
    )


def _settings(solve: argparse.ArgumentParser) -> None:
    """The flags that override a problem file's [settings]."""
    from ..core.choices import ROUNDING, TERMS

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


def _check(check: argparse.ArgumentParser) -> None:
    """`stepper check PROBLEM WORKING ...`."""
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
        nargs="*",
        help="a working file (TOML); several, or a folder of them, are marked as a class: one "
        "report each and a class summary. A spreadsheet (.csv, or .xlsx with the xlsx extra) is a class, one "
        "student a row, its columns those of --answer-sheet",
    )
    check.add_argument(
        "--answer-sheet",
        action="store_true",
        help="write the blank answer sheet of PROBLEM (a CSV: student, variant for an exam, one column per "
        "cell, layer1.filter1[1,2], and per written sum, sum:layer1.filter1[1,2]) into --out, and mark nothing",
    )
    check.add_argument(
        "--format",
        type=format_list,
        default=None,
        metavar="LIST",
        help=f"comma-separated formats from {', '.join(FORMATS)} for the reports ({_DEFAULT_HELP})",
    )
    _out(check, "reports", "feedback", Path("feedback"))
    _templates(check)
    _progress(check, "files")
    _force(check)


def _exam(exam: argparse.ArgumentParser) -> None:
    """`stepper exam TEMPLATE`."""
    exam.add_argument(
        "template", metavar="TEMPLATE", type=Path, nargs="?", help="the exam template (TOML); none with --regenerate"
    )
    exam.add_argument("--variants", type=int, default=None, metavar="N", help="how many variants (default 10)")
    exam.add_argument("--seed", type=_seed, default=None, metavar="S", help="the seed, a whole number (default 1)")
    exam.add_argument(
        "--format",
        type=lambda t: format_list(t, EXAM_FORMATS),
        default=None,
        metavar="LIST",
        help=f"comma-separated formats from {', '.join(EXAM_FORMATS)} ({_DEFAULT_HELP})",
    )
    exam.add_argument(
        "--regenerate",
        type=Path,
        metavar="MANIFEST",
        help="make an exam again, byte for byte, into the folder of its MANIFEST (DIR/manifest.json), from the "
        "template, seed, variants and formats it records; when the template or stepper's version changed since, "
        "say what changed and write nothing (unless --force)",
    )
    _out(exam, "documents", "exam", None)  # the default is given later: --stress names the flags it ignores
    exam.add_argument(
        "--stress",
        type=int,
        metavar="N",
        help="draw N candidates and report how often each constraint holds, the range and spread "
        "of each answer, the time per variant and answers that repeat; writes nothing",
    )
    _templates(exam)
    _progress(exam, "variants")
    _force(exam)


def _out(command: argparse.ArgumentParser, what: str, folder: str, default: Path | None) -> None:
    command.add_argument(
        "--out",
        type=Path,
        default=default,
        metavar="DIR",
        help=f"folder for the {what}, made if missing (default: ./{folder})",
    )


def _templates(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="a folder whose template files override the built-in ones, file by file",
    )


def _progress(command: argparse.ArgumentParser, what: str) -> None:
    from ..marking.classroom import PROGRESS_FROM

    command.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar even when not on a terminal (it shows by itself on a terminal "
        f"for {PROGRESS_FROM} {what} or more)",
    )


def _force(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--force", action="store_true", help="replace files in --out even if stepper did not write them"
    )
