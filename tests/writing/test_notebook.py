"""A Solution shows itself in a notebook: the interactive page in a sandboxed iframe, the Markdown document, and the
answer as one LaTeX formula whose numbers an independent forward pass (tests/helpers/reference.py) confirms.

First through IPython's own display formatter, without a kernel; then in a real kernel, a notebook of the README's
three lines run by nbclient; and the iframe itself in Chromium (Debian's, never a downloaded one), where the page's
scripts must run and may go full screen.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from dataclasses import replace
from fractions import Fraction
from html.parser import HTMLParser

import numpy as np
import pytest

import stepper
from stepper.writing.worked import Solution
from tests.helpers import ROOT, reference
from tests.helpers.katex import node_katex_available, render_errors

TUTORIAL = ROOT / "examples" / "tutorial.toml"
MIME = ("text/html", "text/markdown", "text/latex")


@pytest.fixture(scope="module")
def solution() -> Solution:
    return stepper.solve(TUTORIAL)


@pytest.fixture(scope="module")
def shown(solution) -> dict:
    """What IPython's display formatter makes of the solution, as a notebook receives it."""
    formatters = pytest.importorskip("IPython.core.formatters")
    data, _ = formatters.DisplayFormatter().format(solution)
    return data


class _Tags(HTMLParser):
    """Every start tag with its attributes, the values unescaped as a browser reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def frame(shown_html: str) -> dict[str, str | None]:
    """The one iframe the HTML is made of, by its attributes."""
    parser = _Tags()
    parser.feed(shown_html)
    parser.close()
    assert [tag for tag, _ in parser.tags] == ["iframe"], shown_html[:200]
    assert shown_html.strip().endswith("</iframe>")
    return parser.tags[0][1]


class Probe(Solution):
    """A solution whose page is a script that marks that it ran, so that the frame is tested without the page."""

    PAGE = "<!doctype html><html><body><script>document.body.dataset.ran = 'yes';</script></body></html>"

    def html(self) -> str:
        return self.PAGE


def expected_page(solution: Solution) -> str:
    from stepper.writing.page import render_page

    return render_page(solution.trace, solution.settings, solution.templates)


def rows(latex: str) -> dict[str, str]:
    """The summary's rows by their label: `\\text{7. Softmax} &\\quad \\hat{y} = ...` gives {"7. Softmax": "..."}."""
    found = re.findall(r"\\text\{([^{}]*)\} &\\quad (.*?)(?= \\\\ \\text\{| \\end\{aligned\}\$$)", latex)
    return dict(found)


def matrix_numbers(maths: str) -> list[Fraction]:
    """Every number inside the matrices of a row, in order (the names' indices left out)."""
    bodies = re.findall(r"\\begin\{array\}\{r+\}(.*?)\\end\{array\}", maths)
    return [Fraction(t) for body in bodies for t in re.findall(r"-?\d+(?:\.\d+)?", body)]


# (a) without a kernel: what IPython's formatter makes of it


def test_the_formatter_gives_html_markdown_and_latex(shown):
    assert set(MIME) <= set(shown)


def test_the_markdown_is_the_document(shown, solution):
    assert shown["text/markdown"] == solution.markdown()


def test_the_latex_is_one_displayed_formula_that_katex_renders(shown, solution):
    latex = shown["text/latex"]
    assert latex == solution._repr_latex_()
    assert latex.startswith("$\\displaystyle ") and latex.endswith("$")
    inner = latex[1:-1]
    assert "$" not in inner  # one formula: a notebook ends the maths at the next dollar
    assert inner.removeprefix("\\displaystyle ").startswith("\\begin{aligned}")
    if not node_katex_available():
        pytest.skip("node and KaTeX (npm ci) are needed to render it")
    assert render_errors([(inner, False)]) == []


def test_every_number_of_the_latex_is_the_independent_forward_pass(shown, solution):
    data = tomllib.loads(TUTORIAL.read_text(encoding="utf-8"))
    settings = data["settings"]
    outputs = reference.forward(data, settings["rounding"], settings["decimals"])
    written = rows(shown["text/latex"])
    layers = solution.problem.layers
    assert list(written) == ["Input"] + [f"{k}. {t}" for k, t in enumerate(_titles(layers), 1)] + ["Prediction"]
    assert matrix_numbers(written["Input"]) == list(reference.channels(data["input"]).ravel())
    for k, expected in enumerate(outputs, 1):
        label = f"{k}. {_titles(layers)[k - 1]}"
        assert matrix_numbers(written[label]) == list(expected.ravel()), label
    # the answer, once more from the trace and from numpy alone: the softmax of the dense layer's output
    probabilities = matrix_numbers(written[f"{len(layers)}. Softmax"])
    assert written[f"{len(layers)}. Softmax"].startswith("\\hat{y} = ")
    assert np.allclose([float(p) for p in probabilities], solution.trace.output.floats(), atol=5e-5)
    z = np.array([float(v) for v in outputs[-2]])
    assert np.allclose([float(p) for p in probabilities], np.exp(z) / np.exp(z).sum(), atol=2e-4)
    best = int(np.argmax([float(p) for p in probabilities]))
    assert written["Prediction"] == f"\\text{{class {best + 1}}}"


def _titles(layers) -> list[str]:
    """Each layer's title as the worked solution's headings name it."""
    from stepper.writing.maths import Maths

    return [Maths.layer_title(layer) for layer in layers]


def test_the_html_is_the_page_in_one_sandboxed_iframe(shown, solution):
    attributes = frame(shown["text/html"])
    assert attributes["srcdoc"] == expected_page(solution) == solution.html()
    assert attributes["sandbox"] == "allow-scripts"  # scripts, in an origin of their own
    assert "fullscreen" in (attributes["allow"] or "")
    assert attributes["title"] and solution.problem.title in attributes["title"]
    assert attributes["width"] == "100%" and attributes["height"]


def test_a_title_holding_markup_stays_text_in_the_frame(solution):
    problem = replace(solution.problem, title='"><script>alert(1)</script>')
    attributes = frame(Probe(replace(solution.trace, problem=problem), solution.settings)._repr_html_())
    assert attributes["title"] == 'Worked solution: "><script>alert(1)</script>'  # as text, inside the attribute
    assert attributes["srcdoc"] == Probe.PAGE


# (b) in a real kernel: the README's three lines as a notebook


def test_a_notebook_shows_the_solution(solution):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    cells = ["import stepper", 'solution = stepper.solve("examples/tutorial.toml")', "solution"]
    cells.append("import sys; print(sys.prefix)")  # which Python the kernel is
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    kernel_prefix = "".join(o.get("text", "") for o in notebook.cells[3].outputs).strip()
    assert kernel_prefix == sys.prefix, "the python3 kernel is not this environment's Python (see .ci/setup)"
    outputs = notebook.cells[2].outputs
    results = [o for o in outputs if o.output_type == "execute_result"]
    assert len(results) == 1, outputs
    data = results[0].data
    assert set(MIME) <= set(data), [o.get("text", "") for o in outputs]
    assert data["text/markdown"] == solution.markdown()
    assert data["text/latex"] == solution._repr_latex_()
    assert frame(data["text/html"])["srcdoc"] == expected_page(solution)


# The iframe in a browser: the page's scripts run inside it, cut off from the notebook, and may go full screen


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is needed (.ci/setup installs it)")
def test_scripts_run_in_the_frame_and_it_may_go_full_screen(solution):
    sync_api = pytest.importorskip("playwright.sync_api")

    shown_html = Probe(solution.trace, solution.settings)._repr_html_()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"))
        try:
            page = browser.new_page()
            page.set_content(shown_html)
            page.wait_for_load_state()
            (inner,) = [f for f in page.frames if f is not page.main_frame]
            ran, fullscreen, origin = inner.evaluate(
                "[document.body.dataset.ran, document.fullscreenEnabled, window.origin]"
            )
            reaches_parent = inner.evaluate(
                "(() => { try { return !!parent.document; } catch (e) { return false; } })()"
            )
        finally:
            browser.close()
    assert ran == "yes"
    assert fullscreen is True
    assert origin == "null" and reaches_parent is False  # an opaque origin: the notebook is out of its reach


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is needed (.ci/setup installs it)")
def test_the_page_runs_in_the_frame_without_an_error(solution):
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"))
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: problems.append(f"error: {e}"))
            page.on("console", lambda m: m.type in ("error", "warning") and problems.append(f"{m.type}: {m.text}"))
            page.set_content(solution._repr_html_())
            page.wait_for_load_state("load")
            (inner,) = [f for f in page.frames if f is not page.main_frame]
            # the page typesets its maths with its own inline KaTeX: rendered formulas show that its scripts ran
            typeset = inner.evaluate("document.querySelectorAll('.katex').length")
        finally:
            browser.close()
    assert problems == []
    assert typeset > 0
