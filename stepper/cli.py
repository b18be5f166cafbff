"""The command line: `stepper solve [PROBLEM ...]`."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from . import __version__
from .errors import StepperError
from .evaluate import trace
from .load import load
from .output import TEX_INSTALL, check_writable, marked, pdflatex_available, typeset, write_file
from .render import builtin_templates, render
from .spec import ROUNDING, TERMS, Settings

FORMATS = ("md", "tex", "pdf")
DEFAULT_FORMATS = "md,tex,pdf"


def tutorial_path() -> Path:
    """The built-in tutorial: inside the installed package, or in the source tree's examples/."""
    package = builtin_templates().parent
    for candidate in (package / "examples" / "tutorial.toml", package.parent / "examples" / "tutorial.toml"):
        if candidate.is_file():
            return candidate
    raise StepperError("the built-in tutorial is missing from this installation")


def _formats(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    for f in chosen:
        if f not in FORMATS:
            raise argparse.ArgumentTypeError(f"unknown format {f!r}: choose from {', '.join(FORMATS)}")
    if not chosen:
        raise argparse.ArgumentTypeError(f"expected one or more of {', '.join(FORMATS)}")
    return list(dict.fromkeys(chosen))


def _detail(text: str) -> str | int:
    if text in ("all", "answers"):
        return text
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected 'all', 'answers' or a number of windows, found {text!r}")


class _Parser(argparse.ArgumentParser):
    """Mistakes on the command line are reported in one line, like mistakes in a problem file."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="stepper",
        description="Turn a small neural network and its input into a step-by-step worked solution.")
    top.add_argument("--version", action="version", version=f"stepper {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    solve = sub.add_parser(
        "solve", help="write the worked solution of a problem file",
        description="Trace the forward pass of each PROBLEM file and write its worked solution.",
        epilog="Settings given here override the problem file's [settings].")
    solve.add_argument("problems", nargs="*", metavar="PROBLEM", type=Path,
                       help="problem files (TOML); with none, the built-in CNN tutorial")
    solve.add_argument("--format", type=_formats, default=None, metavar="LIST",
                       help=f"comma-separated formats from {', '.join(FORMATS)} (default: {DEFAULT_FORMATS}; "
                            "pdf needs pdflatex and is left out with a note when it is missing)")
    solve.add_argument("--torch", metavar="MODULE:NAME",
                       help="solve a PyTorch model instead of a problem file: NAME in MODULE (importable from the "
                            "current folder) is a (model, input) pair, or a function returning one; its problem "
                            "file is written too (needs the torch extra)")
    solve.add_argument("--out", type=Path, default=Path("output"), metavar="DIR",
                       help="folder for the documents, made if missing (default: ./output)")
    solve.add_argument("--detail", type=_detail, metavar="all|answers|N",
                       help="work every window in full (all), the first N windows of each map, or results only")
    solve.add_argument("--terms", choices=TERMS,
                       help="write only the nonzero products (= -2 - 5 = -7) or every product as a . b")
    solve.add_argument("--rounding", choices=ROUNDING,
                       help="carry rounded values forward as by hand (carry) or keep full precision (full)")
    solve.add_argument("--decimals", type=int, metavar="N",
                       help="decimal places for sigmoid, exponentials and other rounded values (default 4)")
    solve.add_argument("--templates", type=Path, metavar="DIR",
                       help="a folder whose template files override the built-in ones, file by file")
    solve.add_argument("--force", action="store_true",
                       help="replace files in --out even if stepper did not write them")
    return top


def solve(args: argparse.Namespace) -> int:
    formats = args.format
    if formats is None:
        formats = _formats(DEFAULT_FORMATS)
        if not pdflatex_available():
            formats.remove("pdf")
            print("stepper: note: pdflatex is not installed, so no PDF is made (md and tex are)", file=sys.stderr)
    elif "pdf" in formats and not pdflatex_available():
        raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}")
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
    # Check every file each problem would write before writing anything.
    jobs, claimed = [], {}
    for path, problem in loaded:
        name = problem.source
        targets = {f: args.out / f"{path.stem}.{f}" for f in formats}
        for target in targets.values():
            if target in claimed:
                raise StepperError(f"both {claimed[target]} and {name} would write it; "
                                   "solve them into different --out folders", file=str(target))
            claimed[target] = name
            check_writable(target, args.force)
        jobs.append((path, problem, _settings(problem.settings, args), targets))
    if args.torch:
        from .dump import dumps
        write_file(args.out / path.name, marked(dumps(loaded[0][1]), ".toml", args.torch).encode("utf-8"), args.force)
        print(args.out / path.name)
    for path, problem, settings, targets in jobs:
        result = trace(problem, settings)
        documents = {}
        for fmt in ("md", "tex"):
            if fmt in formats or (fmt == "tex" and "pdf" in formats):
                documents[fmt] = marked(render(result, fmt, settings, args.templates), f".{fmt}", path.name)
        if "pdf" in formats:
            documents["pdf"] = typeset(documents["tex"], str(targets["pdf"]))
        for fmt in formats:
            data = documents[fmt]
            write_file(targets[fmt], data if isinstance(data, bytes) else data.encode("utf-8"), args.force)
            print(targets[fmt])
    return 0


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
        raise StepperError(f"expected {spec} to be a (model, input) pair, or a function returning one",
                           place="--torch")
    from .pytorch import from_torch
    try:
        problem = from_torch(*pair, title=f"{attribute} from {module_name}")
    except StepperError as e:
        raise e.located(place=f"--torch {spec}") from None
    return replace(problem, source=spec), Path(f"{attribute}.toml")


def _settings(settings: Settings, args: argparse.Namespace) -> Settings:
    """The problem's settings with the command line's overrides, each checked as its flag."""
    for name in ("detail", "terms", "rounding", "decimals"):
        value = getattr(args, name)
        if value is not None:
            try:
                settings = replace(settings, **{name: value})
            except StepperError as e:
                raise StepperError(e.message, place=f"--{name}") from None
    return settings


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return solve(args)
    except StepperError as e:
        print(f"stepper: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
