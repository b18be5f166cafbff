r"""`stepper.solve`: a problem's worked solution as one object, for scripts and notebooks.

    solution = stepper.solve("examples/tutorial.toml", detail=2)
    solution.markdown()        # the Markdown document, as `stepper solve` writes it (without its file mark)
    solution.latex()           # the LaTeX document
    solution.pdf()             # its PDF, typeset as `stepper solve` typesets it
    solution.html()            # the interactive page (stepper.writing.page), one self-contained HTML document
    solution.trace             # every step, as plain frozen records

Each document is made when asked for, from the one trace.

A `Solution` left as the last line of a notebook cell shows itself (Jupyter, JupyterLab, VS Code, Colab): the
notebook asks for every form below and shows the richest it can.

- `_repr_html_`: the interactive page, in an `<iframe srcdoc>` with `sandbox="allow-scripts"`. Notebooks do not run
  scripts in output HTML as it is (JupyterLab only in trusted notebooks; VS Code and Colab put output in iframes of
  their own), but they do show an iframe, and the page's inline scripts run inside it, in an origin of their own
  (no cookies, storage or access to the notebook). `allow="fullscreen"` lets the page go full screen.
- `_repr_markdown_`: the Markdown document, exactly `markdown()`, its maths in `$...$` and `$$...$$`.
- `_repr_latex_`: not the document (a notebook cannot take a preamble) but its answer in one displayed formula,
  `$\displaystyle \begin{aligned} ... \end{aligned}$` (VS Code drops `\[...\]`): the input and each layer's
  output, one row a layer, the last named as the Answer names it (`\hat{y}` after a softmax) and, after a softmax,
  the class given the highest probability. Maps of more than `SUMMARY_CELLS` cells are named by their size only.
  Every number is written by the document's own maths writers (stepper.writing.maths) from the trace.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..core.errors import StepperError, suggestion
from ..core.evaluate import trace as trace_problem
from ..core.load import load, loads
from ..core.numbers import Values
from ..core.spec import Problem, Settings
from ..core.text import plain_text
from ..core.trace import Trace
from .documents import render
from .formats import FORMATS
from .latex import typeset
from .maths import Maths

# The notebook's summary formula writes out maps of up to this many cells; larger ones it names by their size.
SUMMARY_CELLS = 100
# The iframe the notebook shows the interactive page in.
FRAME = (
    '<iframe srcdoc="{page}" title="{title}" width="100%" height="600" style="border: 0; width: 100%; height: 600px" '
    'sandbox="allow-scripts" allow="fullscreen"></iframe>'
)


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

    def html(self) -> str:
        """The interactive page: one self-contained HTML document, its scripts inline."""
        from .page import render_page  # the page's writer loads only when a page is asked for

        return render_page(self.trace, self.settings, self.templates)

    def _repr_html_(self) -> str:
        """The page for a notebook: in an iframe of its own, where its scripts may run (see the module's notes)."""
        name = plain_text(self.problem.title)  # no control or bidi character reaches the notebook's attribute
        title = f"Worked solution: {name}" if name else "Worked solution"
        return FRAME.format(page=html.escape(self.html(), quote=True), title=html.escape(title, quote=True))

    def _repr_markdown_(self) -> str:
        """The Markdown document, as `markdown()` gives it."""
        return self.markdown()

    def _repr_latex_(self) -> str:
        """The answer in one displayed formula: the input, each layer's output and the prediction."""
        return f"$\\displaystyle {summary(self.trace)}$"


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


def summary(trace: Trace) -> str:
    """The trace's answer as one aligned block: a row for the input and one for each layer, naming its output as the
    document does (the input `X`; layer k's maps `A^{[k]}`, its vector `a^{[k]}`; the last as the Answer names it,
    `\\hat{y}` after a softmax), and after a softmax the class it gives the highest probability."""
    m = Maths(trace.settings, FORMATS["md"].highlight)
    rows = [("Input", _maps(m, "X", trace.problem.input))]
    records = trace.layers
    for record in records:
        vector = record.output.data.ndim == 1
        if record is not records[-1]:
            name = f"{'a' if vector else 'A'}^{{[{record.number}]}}"
        else:
            name = ("\\hat{y}" if record.layer.kind == "softmax" else "y") if vector else "Y"
        # a title is stepper's own words, or an unknown kind's name, whose _ text mode would refuse
        rows.append(
            (f"{record.number}. {m.layer_title(record.layer).replace('_', ' ')}", _maps(m, name, record.output))
        )
    if records and records[-1].layer.kind == "softmax":
        top = m.winners(trace.output)
        rows.append(("Prediction", f"\\text{{class{'es' * (len(top) > 1)} {m.classes(top)}}}"))
    body = " \\\\ ".join(f"\\text{{{label}}} &\\quad {maths}" for label, maths in rows)
    return f"\\begin{{aligned}} {body} \\end{{aligned}}"


def _maps(m: Maths, name: str, v: Values) -> str:
    """`v` named: a vector whole, a map's channels side by side (`name_1`, `name_2`, ...), or only its size when it
    holds more than SUMMARY_CELLS cells."""
    if v.data.size > SUMMARY_CELLS:
        return f"{name}: {m.dims(v.shape)} \\text{{ values (in the document)}}"
    if v.data.ndim < 3:
        return m.named_map(name, v)
    channels = v.shape[0]
    return m.fit([m.named_map(m.sub(name, c) if channels > 1 else name, v[c]) for c in range(channels)])
