"""The Beamer deck (stepper.writing.slides): it compiles, its pages are the frames and overlays the trace asks for,
its numbers are the trace's, a hostile title is escaped, and the same trace gives the same deck."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from stepper import load, trace
from stepper.writing.latex import typeset
from stepper.writing.slides import render_slides, slide_count
from tests.helpers import ROOT

TOOLS = ("pdflatex", "pdfinfo", "pdftotext", "kpsewhich")


def _beamer_installed() -> bool:
    if any(shutil.which(tool) is None for tool in TOOLS):
        return False
    found = subprocess.run(["kpsewhich", "beamer.cls"], capture_output=True, text=True).stdout
    return bool(found.strip())


needs_tex = pytest.mark.skipif(not _beamer_installed(), reason="needs pdflatex with beamer, and poppler-utils")

WINDOW_KINDS = {"conv2d", "maxpool", "avgpool", "globalavgpool"}


def pages_expected(t, detail) -> int:
    """The deck's pages, counted here from the trace's shapes: a title and the problem; per convolution or pooling
    layer a frame introducing it, then per map (filter or channel) one overlay per window worked and one for the
    rest; one frame for every other layer; the answer."""
    pages = 1 + 1 + 1
    for record in t.layers:
        if record.layer.kind not in WINDOW_KINDS:
            pages += 1
            continue
        maps, height, width = record.output.shape
        windows = height * width
        shown = windows if detail == "all" else min(detail, windows)
        pages += 1 + maps * (shown + (1 if shown < windows else 0))
    return pages


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))


def page_text(pdf: Path, page: int) -> str:
    """A page's text, its minus signs as hyphens and its whitespace single spaces."""
    text = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return " ".join(text.replace("\u2212", "-").split())


def typeset_to(tmp: Path, tex: str, name: str) -> Path:
    pdf = tmp / f"{name}.pdf"
    pdf.write_bytes(typeset(tex, name))
    return pdf


@pytest.fixture(scope="module")
def tutorial_deck(tutorial, tmp_path_factory) -> Path:
    return typeset_to(tmp_path_factory.mktemp("deck"), render_slides(tutorial), "tutorial")


def test_tutorial_count_from_its_shapes(tutorial):
    # title, problem; convolution: a frame, then 2 filters of 16 windows; ReLU; max pooling: a frame, then
    # 2 channels of 4 windows; 1x1 filter, sigmoid, dense, softmax; answer
    assert pages_expected(tutorial, "all") == 1 + 1 + (1 + 2 * 16) + 1 + (1 + 2 * 4) + 4 + 1 == 50
    assert slide_count(tutorial) == 50
    detail_2 = replace(tutorial.settings, detail=2)
    assert (
        slide_count(tutorial, detail_2) == pages_expected(tutorial, 2) == 1 + 1 + (1 + 2 * 3) + 1 + (1 + 2 * 3) + 4 + 1
    )


@needs_tex
def test_tutorial_deck_compiles_to_its_count(tutorial, tutorial_deck):
    assert page_count(tutorial_deck) == slide_count(tutorial) == pages_expected(tutorial, "all")


@needs_tex
def test_each_window_overlay_shows_the_trace_numbers(tutorial, tutorial_deck):
    conv = tutorial.layers[0]
    height, width = conv.output.shape[1:]
    for f in range(2):
        first = 3 + f * height * width  # title, problem, the layer's frame, then the frames of the filters before
        for k, w in enumerate(conv.windows(f)):
            text = page_text(tutorial_deck, first + k + 1)
            assert f"Layer 1: convolution, filter {f + 1}" in text
            assert f"Output row {w.row + 1}, column {w.col + 1}" in text
            assert f"z{w.row + 1},{w.col + 1} =" in text
            assert f"= {w.total.numbers()} " in text + " ", text  # the sum's result, the window's total


@needs_tex
def test_window_1_2_of_filter_1_has_its_total_and_the_map_fills_in(tutorial, tutorial_deck):
    total = tutorial.layers[0].window(0, 0, 1).total.numbers()
    assert total == -6
    page = page_text(tutorial_deck, 5)  # title, problem, layer 1's frame, window (1, 1), window (1, 2)
    assert "Output row 1, column 2 (padded rows 1–3, columns 3–5)" in page
    assert "z1,2 = 2 - 1 - 5 - 2 = -6" in page
    assert "-7 -6 ? ?" in page  # the map so far: windows (1, 1) and (1, 2), the rest to come
    # one overlay earlier, the cell is not computed yet: no 6 anywhere (the input and filter hold none)
    before = page_text(tutorial_deck, 4)
    assert "-7 ? ? ?" in before and "6" not in before


@needs_tex
def test_detail_limits_the_windows_and_one_overlay_shows_the_rest(tutorial, tmp_path):
    settings = replace(tutorial.settings, detail=2)
    pdf = typeset_to(tmp_path, render_slides(tutorial, settings), "detail2")
    assert page_count(pdf) == slide_count(tutorial, settings) == pages_expected(tutorial, 2) == 22
    rest = page_text(pdf, 3 + 3)  # the third overlay of filter 1
    assert "The other 14 windows are worked the same way." in rest
    for row in tutorial.layers[0].output[0].numbers():
        assert " ".join(str(x) for x in row) in rest  # the whole map, at once
    pool_rest = page_text(pdf, 3 + 2 * 3 + 1 + 1 + 3)  # ReLU, the pooling frame, then channel 1's third overlay
    assert "The other 2 windows are worked the same way." in pool_rest


@needs_tex
def test_hostile_title_is_escaped_and_compiles(tmp_path):
    hostile = r"\input{/etc/passwd} & % $ # _ { } ~ ^"
    text = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")
    problem = tmp_path / "hostile.toml"
    problem.write_text(text.replace('title = "CNN tutorial: a forward pass by hand"', f"title = '{hostile}'"))
    t = trace(load(problem))
    assert t.problem.title == hostile
    tex = render_slides(t)
    assert r"\input{/etc/passwd}" not in tex
    assert r"\title{\textbackslash{}input\{/etc/passwd\} \& \% {\char36} \# \_ \{ \} " in tex
    pdf = typeset_to(tmp_path, tex, "hostile")
    assert page_count(pdf) == slide_count(t)
    assert r"\input{/etc/passwd} & % $ #" in page_text(pdf, 1)


def test_same_trace_same_deck(tutorial):
    settings = replace(tutorial.settings, detail=3)
    first = render_slides(tutorial, settings)
    assert render_slides(trace(load(ROOT / "examples" / "tutorial.toml")), settings).encode() == first.encode()
    assert str(ROOT) not in first


@needs_tex
def test_same_deck_same_pdf_bytes(tutorial):
    tex = render_slides(tutorial, replace(tutorial.settings, detail=1))
    assert typeset(tex, "a") == typeset(tex, "b")


@needs_tex
def test_detail_shapes_and_answers(tmp_path):
    lenet = trace(load(ROOT / "examples" / "lenet.toml"))
    shapes = replace(lenet.settings, detail="shapes")
    pdf = typeset_to(tmp_path, render_slides(lenet, shapes), "lenet")
    assert page_count(pdf) == slide_count(lenet, shapes) == 4  # title, layers, table, totals
    tutorial = trace(load(ROOT / "examples" / "tutorial.toml"))
    answers = replace(tutorial.settings, detail="answers")
    pdf = typeset_to(tmp_path, render_slides(tutorial, answers), "answers")
    assert page_count(pdf) == slide_count(tutorial, answers) == pages_expected(tutorial, 0) == 14


def test_user_templates_are_searched_first(tutorial, tmp_path):
    (tmp_path / "beamer").mkdir()
    (tmp_path / "beamer" / "deck_problem.tex").write_text("\\begin{frame}{Our own problem frame}\\end{frame}\n")
    tex = render_slides(tutorial, templates=tmp_path)
    assert "Our own problem frame" in tex and "\\begin{frame}{The problem}" not in tex


@pytest.mark.skipif(not _beamer_installed() or shutil.which("lualatex") is None, reason="needs LuaLaTeX")
def test_title_in_another_script_takes_lualatex(tmp_path):
    from stepper.writing.latex import tex_engine

    text = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")
    problem = tmp_path / "script.toml"
    problem.write_text(text.replace('"CNN tutorial: a forward pass by hand"', '"Σ 卷积"'), encoding="utf-8")
    t = trace(load(problem))
    settings = replace(t.settings, detail=0)
    tex = render_slides(t, settings)
    assert tex_engine(tex) == "lualatex"
    pdf = typeset_to(tmp_path, tex, "script")
    assert page_count(pdf) == slide_count(t, settings)
    assert "Σ 卷积" in page_text(pdf, 1)
