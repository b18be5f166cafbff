"""The tutorial's HTML page in a headless Chromium (Playwright, the system's browser: nothing downloaded): it loads
nothing, renders every formula, highlights a window and shows its working, steps by keyboard and by the Next
control, and has its present and try-it modes. With STEPPER_SCREENSHOT set to a path, a screenshot of the page with
a window open (1280x800) is saved there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt install chromium)")

CONV = 'table[data-layer="0"]'
MINUS = "\u2212"


@pytest.fixture(scope="module")
def page_file(tmp_path_factory, tutorial) -> Path:
    from stepper.writing.page import render_page

    path = tmp_path_factory.mktemp("page") / "tutorial.html"
    path.write_text(render_page(tutorial), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture
def opened(browser, page_file):
    """The page opened afresh at 1280x800, with what it logged and requested."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.problems, page.requests = [], []
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(page_file.as_uri())
    yield page
    page.close()


def window_cells(tutorial, row: int, col: int) -> set[str]:
    """The padded-input cells under output cell (row, col) of layer 1, worked out from the problem (1-based)."""
    layer = tutorial.problem.layers[0]
    (sh, sw), (kh, kw) = layer.stride, layer.kernels.shape[-2:]
    top, left = (row - 1) * sh + 1, (col - 1) * sw + 1
    return {f"1,{r},{c}" for r in range(top, top + kh) for c in range(left, left + kw)}


def highlighted(page, role: str = "padded") -> set[str]:
    return set(page.eval_on_selector_all(f'{CONV}[data-role="{role}"] td.hl', "els => els.map(e => e.dataset.at)"))


def working(page, layer: int = 0) -> str:
    """The working shown, as KaTeX's MathML annotation keeps its LaTeX, and as its visible text."""
    panel = page.locator(f'.panel[data-layer="{layer}"] .working')
    return panel.locator("annotation").text_content() + "|" + panel.inner_text().replace(MINUS, "-")


def cell(page, row: int, col: int, what: str = "filter 1"):
    return page.locator(f'{CONV} button[aria-label="Output row {row}, column {col} of {what}"]')


def test_loads_nothing_and_logs_no_error(opened, page_file):
    assert opened.problems == []
    assert [u for u in opened.requests if not u.startswith("data:")] == [page_file.as_uri()]


def test_every_formula_rendered_with_mathml(opened):
    assert opened.locator(".katex-error").count() == 0
    maths = opened.locator(".tex")
    assert maths.count() > 5
    assert opened.eval_on_selector_all(".tex", "els => els.every(e => e.querySelector('.katex'))")
    assert opened.locator(".tex math").count() == maths.count()


def test_a_window_highlighted_with_its_working(opened, tutorial):
    cell(opened, 1, 2).click()
    assert highlighted(opened) == window_cells(tutorial, 1, 2)
    assert highlighted(opened, "filter") == {f"1,1,{r},{c}" for r in (1, 2, 3) for c in (1, 2, 3)}
    text = working(opened)
    assert "2 - 1 - 5 - 2 = -6" in text and "2-1-5-2=-6" in text.replace(" ", "").replace("\n", "")
    assert opened.locator('.panel[data-layer="0"] .working math').count() == 1
    assert opened.locator('.panel[data-layer="0"] .working').get_attribute("aria-live") == "polite"
    screenshot = os.environ.get("STEPPER_SCREENSHOT")
    if screenshot:  # the stage from its heading, under the controls
        opened.mouse.move(0, 0)
        opened.evaluate("window.scrollTo(0, document.getElementById('layer1').offsetTop - 60)")
        opened.screenshot(path=screenshot)


def test_keyboard_and_next_step_through_the_windows(opened, tutorial):
    cell(opened, 1, 2).click()
    opened.keyboard.press("ArrowRight")
    assert opened.evaluate("document.activeElement.getAttribute('aria-label')") == "Output row 1, column 3 of filter 1"
    opened.keyboard.press("Enter")
    assert highlighted(opened) == window_cells(tutorial, 1, 3)
    assert "1 - 1 - 2 - 3 = -5" in working(opened)
    opened.locator("#next").click()
    assert highlighted(opened) == window_cells(tutorial, 1, 4)
    assert opened.locator("#step-label").inner_text().startswith("Step 4 of 82")
    opened.locator("#previous").click()
    assert highlighted(opened) == window_cells(tutorial, 1, 3)


def test_each_map_is_one_tab_stop_and_the_arrows_move_inside_it(opened):
    """With 82 cells that are buttons, Tab would stop 82 times: each map is one stop (a roving tabindex), its
    first cell until another is visited; Tab leaves the map, Shift+Tab comes back to the cell last visited,
    and Home and End go to the map's first and last cell."""
    maps = opened.locator("table.map")
    assert maps.count() > 1
    for k in range(maps.count()):
        stops = maps.nth(k).locator("button.cell").evaluate_all("bs => bs.filter(b => b.tabIndex === 0).length")
        assert stops == 1
    label = "document.activeElement.getAttribute('aria-label')"
    opened.locator("button.cell").first.focus()
    assert opened.evaluate(label) == "Output row 1, column 1 of filter 1"
    opened.keyboard.press("ArrowDown")
    opened.keyboard.press("ArrowRight")
    assert opened.evaluate(label) == "Output row 2, column 2 of filter 1"
    opened.keyboard.press("Tab")
    assert opened.evaluate(label) == "Output row 1, column 1 of filter 2"  # the next map, not the next cell
    opened.keyboard.press("Shift+Tab")
    assert opened.evaluate(label) == "Output row 2, column 2 of filter 1"
    opened.keyboard.press("End")
    assert opened.evaluate(label) == "Output row 4, column 4 of filter 1"
    opened.keyboard.press("Home")
    assert opened.evaluate(label) == "Output row 1, column 1 of filter 1"


def test_present_mode_one_window_a_step(opened, tutorial):
    normal = opened.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    cell(opened, 1, 2).click()
    opened.locator("#present").click()
    assert opened.evaluate("document.body.classList.contains('present')")
    assert opened.locator("#present").get_attribute("aria-pressed") == "true"
    assert opened.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") > normal
    assert [s.get_attribute("id") for s in opened.locator(".stage").all() if s.is_visible()] == ["layer1"]
    assert opened.locator('#layer1 .group[data-group="1"]').is_visible()
    assert not opened.locator('#layer1 .group[data-group="2"]').is_visible()
    assert opened.locator("#step-label").is_visible()
    assert opened.locator("#step-label").inner_text().startswith("Step 2 of 82")
    opened.keyboard.press("PageDown")
    assert opened.locator("#step-label").inner_text().startswith("Step 3 of 82")
    assert highlighted(opened) == window_cells(tutorial, 1, 3)
    assert opened.locator('.panel[data-layer="0"] .working .katex').is_visible()
    opened.keyboard.press("Escape")
    assert not opened.evaluate("document.body.classList.contains('present')")
    assert opened.locator("#layer2").is_visible()


def test_try_it_asks_then_reveals(opened, tutorial):
    opened.locator("#try").click()
    cell(opened, 1, 2).click()
    panel = opened.locator('.panel[data-layer="0"]')
    assert highlighted(opened) == window_cells(tutorial, 1, 2)
    assert panel.locator(".try input").is_visible() and not panel.locator(".working .katex").count()
    assert not cell(opened, 1, 3).locator(".v").is_visible()  # the answers are hidden too
    panel.locator(".try input").fill(f"{MINUS}6.0")
    panel.locator(".try input").press("Enter")
    assert panel.locator(".verdict.right").inner_text().startswith("\u2713 Right")
    assert "2 - 1 - 5 - 2 = -6" in working(opened)
    cell(opened, 1, 3).click()
    panel.locator(".try input").fill("5")
    panel.locator(".try button").click()
    assert "Not quite" in panel.locator(".verdict.wrong").inner_text()
    assert "= -5" in working(opened)


def test_a_transposed_convolution_worked_as_a_convolution_has_its_windows_as_steps(browser, tmp_path):
    """With transposed = "convolution" each output cell is a step, as a convolution's: choosing one highlights
    its window of the expanded input and shows its sum. Checked against numpy: the input's cells set 2 apart
    with zeros around them, and the filter turned 180 degrees, slid with stride 1."""
    import numpy as np

    from stepper import loads, trace
    from stepper.writing.page import render_page

    problem = loads(
        (Path(__file__).resolve().parents[2] / "examples" / "transposed-convolution.toml").read_text(encoding="utf-8")
        + '\n[settings]\ntransposed = "convolution"\n'
    )
    path = tmp_path / "transposed.html"
    path.write_text(render_page(trace(problem)), encoding="utf-8")
    x = np.array([[1, 2], [3, -1]])
    k = np.array([[1, 0, 1], [0, 2, 0], [-1, 0, 1]])[::-1, ::-1]
    # stride 2, padding 1, output padding 1: the input's cells 2 apart, k - 1 - p = 1 zero around, 1 more below/right
    expanded = np.zeros((6, 6), dtype=int)
    expanded[1:4:2, 1:4:2] = x
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(path.as_uri())
    table = 'table[data-layer="0"]'
    assert page.locator(f"{table} button.cell").count() == 16
    for row, col in ((1, 1), (2, 3), (4, 4)):
        page.locator(f'{table} button[aria-label="Output row {row}, column {col}"]').click()
        marked = set(page.eval_on_selector_all(f'{table}[data-role="padded"] td.hl', "els => els.map(e => e.dataset.at)"))
        assert marked == {f"1,{r},{c}" for r in range(row, row + 3) for c in range(col, col + 3)}
        value = int((expanded[row - 1 : row + 2, col - 1 : col + 2] * k).sum())
        shown = page.locator('.panel[data-layer="0"] .working').inner_text().replace(MINUS, "-").replace(" ", "")
        assert shown.endswith(f"={value}"), shown
    assert page.locator(f"{table}[data-role=\"padded\"] caption").inner_text() == "Expanded input"
    assert problems == []
    page.close()
