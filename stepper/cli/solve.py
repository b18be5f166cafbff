"""`stepper solve [PROBLEM ...]`: the worked solution of each problem file (or of a PyTorch model, --torch), in
the formats asked for; the documents are planned, sized and written by stepper.writing.solution."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import StepperError
from ..core.text import plain_text
from ..writing.latex import TEX_INSTALL, EarlyTypeset, pdflatex_available, tex_timeout
from .arguments import default_formats

if TYPE_CHECKING:
    from ..core.spec import Problem

SETTINGS = ("detail", "terms", "rounding", "decimals")  # the flags that override a problem file's [settings]


def run(args: argparse.Namespace) -> int:
    formats = _formats(args.format)
    if args.templates is not None and not args.templates.is_dir():
        raise StepperError("no such folder", file=str(args.templates), place="--templates")
    if args.torch and args.problems:
        raise StepperError("give problem files or --torch, not both", place="--torch")
    if "pdf" in formats:
        tex_timeout()  # a bad STEPPER_TEX_TIMEOUT is found before any work
    # pdflatex loads its format while the problem is read, traced and written (stepper.writing.latex); numpy,
    # Jinja and the rest are imported after it has started.
    with EarlyTypeset(start="pdf" in formats) as early:
        return _solve(args, formats, early)


def _solve(args: argparse.Namespace, formats: list[str], early: EarlyTypeset) -> int:
    if early.run is not None and len(args.problems) <= 1 and not args.torch:
        from ..writing.opening import latex_opening  # Jinja alone: pdflatex reads its packages while numpy loads

        early.send_opening(latex_opening((args.problems or [tutorial_path()])[0].name, args.templates))
    from ..writing.solution import SolveOptions, check_sizes, plan, write_solutions

    loaded = _from_torch(args.torch, args.out, args.force) if args.torch else _problems(args.problems)
    overrides = {name: getattr(args, name) for name in SETTINGS if getattr(args, name) is not None}
    options = SolveOptions(tuple(formats), args.out, args.templates, args.force, overrides)
    jobs = plan(loaded, options)
    for line in check_sizes(jobs, options):  # before any work: a document too large refused, a long one announced
        print(line, file=sys.stderr, flush=True)
    written, failures = write_solutions(jobs, options, _problem_file(loaded, args) if args.torch else None, early)
    for target in written:
        print(plain_text(target))
    for failure in failures:
        print(plain_text(f"stepper: error: {failure}"), file=sys.stderr)
    return 2 if failures else 0


def _formats(given: list[str] | None) -> list[str]:
    """The formats asked for, each available; by default md, tex and pdf, without pdf when pdflatex is missing."""
    formats = given
    if formats is None:
        formats = default_formats()
    elif "pdf" in formats and not pdflatex_available():
        raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}")
    if "beamer" in formats:  # the deck's PDF beside its LaTeX, as the document's beside its own
        if pdflatex_available():
            formats = [*formats, "beamer-pdf"]
        else:
            print("stepper: note: pdflatex is not installed, so the slides are LaTeX only", file=sys.stderr)
    if "docx" in formats:
        from ..writing.docx import PANDOC_INSTALL, pandoc_available

        if not pandoc_available():
            raise StepperError(f"pandoc is not installed: {PANDOC_INSTALL}", place="--format docx")
    return formats


def _problems(given: list[Path]) -> list[tuple[Path, Problem]]:
    """Each problem file given, loaded; with none, the built-in tutorial."""
    from ..core.load import load

    sources = given or [tutorial_path()]
    names = [str(p) for p in given] or ["the built-in tutorial"]
    return [(path, load(path, name=name)) for path, name in zip(sources, names)]


def tutorial_path() -> Path:
    """The built-in tutorial: inside the installed package, or in the source tree's examples/."""
    from ..writing.templating import builtin_templates

    package = builtin_templates().parent
    for candidate in (package / "examples" / "tutorial.toml", package.parent / "examples" / "tutorial.toml"):
        if candidate.is_file():
            return candidate
    raise StepperError("the built-in tutorial is missing from this installation")


def _problem_file(loaded: list[tuple[Path, Problem]], args: argparse.Namespace) -> dict[Path, bytes]:
    """The problem file of a PyTorch model, written beside its documents."""
    from ..interop.dump import dumps
    from ..writing.output import marked

    path, problem = loaded[0]
    return {args.out / path.name: marked(dumps(problem), ".toml", args.torch).encode("utf-8")}


def _from_torch(spec: str, out: Path, force: bool) -> list[tuple[Path, Problem]]:
    """The Problem of the (model, input) pair named MODULE:NAME, with the problem file it is written as (checked
    writable)."""
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
    from ..interop.pytorch import from_torch

    try:
        problem = from_torch(*pair, title=f"{attribute} from {module_name}")
    except StepperError as e:
        raise e.located(place=f"--torch {spec}") from None
    from ..writing.output import check_writable

    path = Path(f"{attribute}.toml")
    check_writable(out / path.name, force)
    return [(path, replace(problem, source=spec))]
