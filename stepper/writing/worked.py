"""`stepper.solve`: a problem's worked solution as one object, for scripts and notebooks.

    solution = stepper.solve("examples/tutorial.toml", detail=2)
    solution.markdown()        # the Markdown document, as `stepper solve` writes it (without its file mark)
    solution.latex()           # the LaTeX document
    solution.pdf()             # its PDF, typeset as `stepper solve` typesets it
    solution.trace             # every step, as plain frozen records

Each document is made when asked for, from the one trace.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..core.errors import StepperError, suggestion
from ..core.evaluate import trace as trace_problem
from ..core.load import load, loads
from ..core.spec import Problem, Settings
from ..core.trace import Trace
from .documents import render
from .latex import typeset


@dataclass(frozen=True)
class Solution:
    """A problem's worked solution: its trace, and the documents written from it when asked for."""

    trace: Trace
    settings: Settings
    templates: Path | None = None

    @property
    def problem(self) -> Problem:
        return self.trace.problem

    def markdown(self) -> str:
        return render(self.trace, "md", self.settings, self.templates)

    def latex(self) -> str:
        return render(self.trace, "tex", self.settings, self.templates)

    def pdf(self) -> bytes:
        return typeset(self.latex(), self.problem.source or "the problem")


def solve(problem: Problem | str | Path, *, templates: str | Path | None = None, **settings: Any) -> Solution:
    """The worked solution of `problem`: a Problem, a problem file's path, or the text of one (a string that
    holds a line break or `=` and names no file). Keyword arguments override the problem's [settings]
    (`detail=2`, `rounding="full"`); `templates` is a folder searched before the built-in templates, as
    `--templates`."""
    if isinstance(problem, Problem):
        given = problem
    elif isinstance(problem, str) and ("\n" in problem or "=" in problem) and not _names_a_file(problem):
        given = loads(problem)
    else:
        given = load(problem)
    if templates is not None and not Path(templates).is_dir():
        raise StepperError("no such folder", file=str(templates), place="templates")
    known = {f.name for f in fields(Settings)}
    for name in settings:
        if name not in known:
            raise StepperError(
                f"unknown setting {name!r}: {suggestion(name, known)}expected one of {', '.join(sorted(known))}"
            )
    chosen = replace(given.settings, **settings) if settings else given.settings
    return Solution(trace_problem(given, chosen), chosen, Path(templates) if templates is not None else None)


def _names_a_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a TOML text is often too long, or holds a NUL, to be a file's name
        return False
