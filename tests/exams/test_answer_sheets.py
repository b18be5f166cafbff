"""An exam's question sheets are answer sheets: a grid of boxes per stage shaped like the stage, its marks, space for
working, and on every page the variant's id and a QR code that decodes to the exam, seed and variant.

The grids are read back from the LaTeX (each box is `\\answerbox{stage}{row}{column}`) and from the PDF's text
(pdftotext); the codes are read from each page rendered by pdftoppm, decoded by zxing-cpp.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from stepper import __version__
from stepper.cli import main
from stepper.core.load import loads
from stepper.core.stages import Stage, stage_points, stages
from stepper.exams import qr
from stepper.exams.sheets import MOST_COLUMNS, NARROWEST_MM, answer_sheet, grid
from stepper.exams.variants import load_template
from stepper.writing.documents import render_question
from stepper.writing.latex import typeset
from tests.helpers import ROOT

TEMPLATE = ROOT / "examples" / "tutorial-exam.toml"
TOOLS = all(shutil.which(t) for t in ("pdflatex", "pdftotext", "pdftoppm"))
needs_tools = pytest.mark.skipif(not TOOLS, reason="pdflatex and poppler's pdftotext and pdftoppm are needed")
BOX = re.compile(r"\\answerbox\{([^{}]*)\}\{(\d+)\}\{(\d+)\}")


# ---- reading a sheet back ----


def boxes(tex: str) -> dict[str, set[tuple[int, int]]]:
    """Each stage's boxes in a sheet's LaTeX, as (row, column) counted from 1."""
    found: dict[str, set[tuple[int, int]]] = {}
    for key, row, column in BOX.findall(tex):
        place = (int(row), int(column))
        assert place not in found.setdefault(key, set()), f"{key} has box {place} twice"
        found[key].add(place)
    return found


def expected(stage: Stage) -> set[tuple[int, int]]:
    """The boxes a stage should have: a map's rows and columns, a vector's one row, a value's one box."""
    rows, columns = (1, 1) if not stage.shape else (1, stage.shape[0]) if len(stage.shape) == 1 else stage.shape
    return {(i, j) for i in range(1, rows + 1) for j in range(1, columns + 1)}


def pdf_pages(pdf: Path) -> list[str]:
    """The PDF's text, page by page, as pdftotext -layout lays it out."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    return text.split("\f")[:-1]


def page_images(pdf: Path, folder: Path, dpi: int = 150) -> list[np.ndarray]:
    """Every page as a grey image (pdftoppm's PGM: a short text header, then one byte a pixel)."""
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", str(pdf), str(folder / "page")], check=True)
    images = []
    for path in sorted(folder.glob("page-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1])):
        data = path.read_bytes()
        magic, width, height, _, pixels = data.split(maxsplit=4)
        assert magic == b"P5"
        w, h = int(width), int(height)
        images.append(np.frombuffer(pixels[-w * h :], dtype=np.uint8).reshape(h, w))
    return images


def codes(image: np.ndarray) -> list[str]:
    """The text of every QR code found on a page."""
    import zxingcpp

    return [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]


def marks_text(points: Fraction) -> str:
    value = str(points.numerator) if points.denominator == 1 else f"{float(points):.2f}".rstrip("0").rstrip(".")
    return f"{value} mark" + ("" if points == 1 else "s")


# ---- the tutorial's exam, three variants ----


@pytest.fixture(scope="module")
def exam(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exam") / "tmp"
    formats = "tex,pdf" if TOOLS else "tex"
    args = ["exam", str(TEMPLATE), "--variants", "3", "--seed", "1", "--format", formats, "--out", str(out)]
    assert main(args) == 0
    return out


IDS = ["001", "002", "003"]


def variant_problem(exam: Path, variant: str):
    """A variant's problem, as the exam's manifest gives it."""
    manifest = json.loads((exam / "manifest.json").read_text(encoding="utf-8"))
    return loads(next(v["problem"] for v in manifest["variants"] if v["id"] == variant))


ASKED = stages(load_template(TEMPLATE).base)


@pytest.mark.parametrize("variant", IDS)
def test_every_stage_has_a_grid_shaped_like_it(exam, variant):
    tex = (exam / f"variant-{variant}-question.tex").read_text(encoding="utf-8")
    found = boxes(tex)
    assert set(found) == {s.key for s in ASKED}
    for s in ASKED:
        assert found[s.key] == expected(s), s.key
    assert "layer1.filter1" in found and max(found["layer1.filter1"]) == (4, 4)  # the tutorial's 4x4 maps
    assert found["layer7.values"] == {(1, 1), (1, 2)} and found["layer6.z1"] == {(1, 1)}
    # each stage has its working space, and boxes wide enough for "-0.1234" by hand
    assert tex.count(r"\workingspace{") == 10  # the dense layer's two neurons share theirs
    assert all(float(w) >= NARROWEST_MM for w in re.findall(r"\\setboxw\{([\d.]+)mm\}", tex))


@needs_tools
@pytest.mark.parametrize("variant", IDS)
def test_the_pdf_shows_each_stage_with_its_label_and_marks(exam, variant):
    pages = pdf_pages(exam / f"variant-{variant}-question.pdf")
    text = "\n".join(pages)
    problem = variant_problem(exam, variant)  # its pooling is max or average
    for s in ASKED:
        if s.shape:  # a stage alone: its human name, its working-file name and marks on one line
            line = rf"{re.escape(s.title(problem))}\s+{re.escape(s.key)}\s+1 mark\b"
        else:  # a dense layer's neurons: a box each, named with its file name and marks below
            line = rf"{re.escape(s.key)}, 1 mark"
        assert re.search(line, text), (s.key, line)
    assert re.search(r"Layer 6 \(dense\), z1 and z2\s+layer6\.z1 to layer6\.z2\s+2 marks", text)
    assert "Total: 11" in text and text.count("Working") == 10
    assert re.search(r"\n\s+1\s+2\s+3\s+4\s*\n", text)  # a 4x4 map's column numbers
    for n, page in enumerate(pages, 1):  # the variant's id on every page, twice: header and footer
        assert f"Variant {variant}" in page and f"Variant {variant}, page {n}" in page, n


@needs_tools
@pytest.mark.parametrize("variant", IDS)
def test_the_qr_code_on_every_page_names_exam_seed_and_variant(exam, variant, tmp_path):
    pytest.importorskip("zxingcpp")
    images = page_images(exam / f"variant-{variant}-question.pdf", tmp_path)
    assert len(images) >= 3
    want = {"t": "tutorial-exam.toml", "s": "1", "v": variant, "sv": __version__}
    for n, image in enumerate(images, 1):
        found = codes(image)
        assert len(found) == 1, f"page {n}: {found}"
        assert qr.parse(found[0]) == want, n
        assert found[0] == f"stepper:exam?t=tutorial-exam.toml&s=1&v={variant}&sv={__version__}"


def test_the_payload_is_compact_and_reads_back():
    text = qr.payload("some/folder/week 3 & co.toml", 42, "017", "1.2.3")
    assert text == "stepper:exam?t=week%203%20%26%20co.toml&s=42&v=017&sv=1.2.3"
    assert qr.parse(text) == {"t": "week 3 & co.toml", "s": "42", "v": "017", "sv": "1.2.3"}
    assert len(qr.modules(text)) <= 37 and qr.side_mm(text) <= 23  # version 5 or less: about 2 cm with its margin
    with pytest.raises(ValueError):
        qr.parse("https://example.org/?t=x")


# ---- marks ----

MARKED = """
[marks]
default = 2
layer1 = 3
"layer1.filter2" = 1
"layer7.values" = "1/2"
layer6 = 5
"""


def test_marks_are_the_markers_own():
    text = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8") + MARKED
    problem = loads(text)
    asked = stages(problem)
    points = stage_points(problem.marks, asked)
    assert points["layer1.filter1"] == 3 and points["layer1.filter2"] == 1 and points["layer6.z1"] == Fraction(5, 2)
    sheet = answer_sheet(_trace(problem), "tutorial.toml", 7, "004")
    assert sheet.total == sum(points.values())
    tex = render_question(_trace(problem), "tex", sheet.variant, sheet=sheet)
    assert r"\answerlabel{1}{Layer 1 (convolution), filter 1}{layer1.filter1}{3 marks}" in tex
    assert r"\answerlabel{10}{Layer 7 (softmax)}{layer7.values}{0.5 marks}" in tex
    assert r"{z1}{layer6.z1}{2.5 marks}" in tex and "{5 marks}" in tex


def _trace(problem):
    from stepper.core.evaluate import trace

    return trace(problem)


# ---- Markdown: a table of empty cells per stage ----


def test_the_markdown_sheet_has_a_table_per_stage_and_the_codes_text():
    problem = loads((ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8"))
    sheet = answer_sheet(_trace(problem), "tutorial.toml", 1, "002")
    md = render_question(_trace(problem), "md", sheet.variant, sheet=sheet)
    assert "`stepper:exam?t=tutorial.toml&s=1&v=002&sv=" in md
    section = md.split("### 1. Layer 1 (convolution), filter 1 · `layer1.filter1` · 1 mark", 1)[1].split("###")[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows[0].split("|")[2:-1] == [" 1 ", " 2 ", " 3 ", " 4 "]
    assert len(rows) == 2 + 4 and all(r.count("|") == 6 for r in rows)
    assert all(cell.strip() == "" for r in rows[2:] for cell in r.split("|")[2:-1])
    assert "| z1 (`layer6.z1`, 1 mark) | z2 (`layer6.z2`, 1 mark) |" in md
    assert md.count("*Working:*") == 10


def test_a_moodle_question_keeps_its_list():
    problem = loads((ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8"))
    text = render_question(_trace(problem), "md", "001")
    assert "1. Layer 1 (convolution), filter 1: a 4×4 map (`layer1.filter1`)" in text
    assert "Working" not in text and "stepper:exam" not in text


# ---- a hostile title and file name ----

HOSTILE_TITLE = r"Evil \input{/etc/hostname} $x^2$ & 50% #1 _a_ {b} ~c^ <!-- --> \\ end"


@needs_tools
def test_a_hostile_title_and_file_name_are_escaped(tmp_path):
    pytest.importorskip("zxingcpp")
    text = TEMPLATE.read_text(encoding="utf-8").replace(
        'title = "CNN forward pass by hand"', "title = '''" + HOSTILE_TITLE + "'''"
    )
    name = "week 3 & {quiz} 50%_#1~.toml"
    (tmp_path / name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    args = ["exam", str(tmp_path / name), "--variants", "1", "--seed", "5", "--format", "md,tex,pdf", "--out", str(out)]
    assert main(args) == 0
    tex = (out / "variant-001-question.tex").read_text(encoding="utf-8")
    assert r"\input{/etc/hostname}" not in tex
    pages = pdf_pages(out / "variant-001-question.pdf")
    shown = re.sub(r"\s+", " ", pages[0])  # as pdftotext reads it: ^ as a modifier letter, _ (a rule) as nothing
    assert "Evil \\input{/etc/hostname} $x\u02c62$ & 50% #1 a {b} \u02dcc\u02c6" in shown
    assert "Exam week 3 & {quiz} 50% #1~.toml, seed 5" in shown
    found = codes(page_images(out / "variant-001-question.pdf", tmp_path, 150)[-1])
    assert [qr.parse(t) for t in found] == [{"t": name, "s": "5", "v": "001", "sv": __version__}]
    md = (out / "variant-001-question.md").read_text(encoding="utf-8")
    assert "<!-- -->" not in md.split("\n", 1)[1]  # past stepper's own mark
    assert "t=week%203%20%26%20%7Bquiz%7D%2050%25_%231~.toml" in md


@needs_tools
def test_a_long_file_name_wraps_in_the_header_and_footer_rather_than_running_over(tmp_path):
    """A 32-character Chinese file name is 300 characters of the code's text, percent-encoded, with no space to
    break at: it ran off the page and over "Variant 001, page 1". Now it wraps: every word pdftotext finds on the
    first page lies within the page, and none overlaps another."""
    name = "卷积神经网络期末考试第三题手算前向传播与反向传播的完整步骤练习卷.toml"
    (tmp_path / name).write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["exam", str(tmp_path / name), "--variants", "1", "--format", "tex,pdf", "--out", str(out)]) == 0
    html = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(out / "variant-001-question.pdf"), "-"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    width = float(re.search(r'<page width="([\d.]+)"', html)[1])
    words = [
        (float(a), float(b), float(c), float(d), w)
        for a, b, c, d, w in re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<', html)
    ]
    assert any(w.startswith("stepper:exam") for *_, w in words)
    assert all(0 <= x0 and x1 <= width for x0, _, x1, _, _ in words), max(x1 for _, _, x1, _, _ in words)
    for i, (ax0, ay0, ax1, ay1, a) in enumerate(words):
        for bx0, by0, bx1, by1, b in words[i + 1 :]:
            # (a font's box reaches above and below its letters: lines overlap a little; words set over each
            # other overlap by most of their height)
            tall = min(ay1 - ay0, by1 - by0) / 2
            overlap = min(ax1, bx1) - max(ax0, bx0) > 0.5 and min(ay1, by1) - max(ay0, by0) > tall
            assert not overlap, (a, b)


# ---- many stages, wide maps ----

# LeNet-like in what matters to a sheet: 28-column maps (wider than a line of boxes), a 168-value vector, 20 neurons.
MANY = """
title = "Many stages"
input = \"\"\"
{rows}
\"\"\"

[[layers]]
type = "conv2d"
filters = ["1", "-1", "2"]

[[layers]]
type = "relu"

[[layers]]
type = "flatten"

[[layers]]
type = "dense"
weights = [{weights}]

[[layers]]
type = "softmax"
"""


def many_stages():
    rows = "\n".join(" ".join(str((i * 7 + j) % 5 - 2) for j in range(28)) for i in range(2))
    weights = ", ".join('"' + " ".join(str((k + i) % 3 - 1) for i in range(168)) + '"' for k in range(20))
    return loads(MANY.format(rows=rows, weights=weights))


def test_a_wide_map_is_printed_in_bands_of_columns():
    g = grid((28, 28))
    assert g.bands == ((1, 10), (11, 20), (21, 28)) and g.width >= NARROWEST_MM
    assert grid((4, 4)).width == 15 and grid((4, 4)).bands == ((1, 4),)
    assert grid((11,)).bands == ((1, 11),) and grid((12,)).bands == ((1, 6), (7, 12)) and len(grid((400,)).bands) == 37
    assert grid(()).kind == "value"


@needs_tools
def test_a_sheet_of_many_stages_still_fits_the_page(tmp_path):
    pytest.importorskip("zxingcpp")
    problem = many_stages()
    result = _trace(problem)
    asked = stages(problem)
    assert len(asked) == 3 + 3 + 1 + 20 + 1
    tex = render_question(result, "tex", "012", sheet=answer_sheet(result, "many.toml", 3, "012"))
    found = boxes(tex)
    for s in asked:
        assert found[s.key] == expected(s), s.key
    for line in tex.splitlines():  # no line of boxes wider than the page holds
        assert len(BOX.findall(line)) <= MOST_COLUMNS, line[:80]
    pdf = tmp_path / "many.pdf"
    pdf.write_bytes(typeset(tex, "many.pdf"))
    text = "\n".join(pdf_pages(pdf))
    assert all(s.key in text for s in asked)
    images = page_images(pdf, tmp_path, 100)
    for n, image in enumerate(images, 1):
        width = image.shape[1]
        right = image[:, int(width * 192 / 210) :]  # the right margin (2 cm) holds nothing
        assert right.min() > 200, f"page {n}: something runs into the right margin"
        assert [qr.parse(t)["v"] for t in codes(image)] == ["012"], n
