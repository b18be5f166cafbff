"""The Markdown reads the same in every renderer: GitHub, pandoc (gfm and markdown), Jupyter, VS Code, KaTeX and
MathJax pages; and it converts to Word (.docx) with its maths as equations.

Each document's formulas are found three ways: by markdown-it-py with mdit-py-plugins' dollarmath (as VS Code and
Jupyter-like pages read them), and by pandoc reading it as GitHub Markdown (`gfm` with `tex_math_dollars`: GitHub
itself renders dollar maths, which pandoc's plain `gfm` leaves as text) and as pandoc's own `markdown`. All three
must find the same formulas, which KaTeX must render. GitHub's Markdown escaping runs before its maths, so a `\\\\`
in the middle of a line reaches the maths as `\\` (github/markup#1547): no formula may hold one.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from stepper import loads, render, trace
from stepper.core.errors import StepperError
from tests.helpers import ROOT
from tests.helpers.katex import markdown_formulas, node_katex_available, render_errors

sys.path.insert(0, str(ROOT / "tools"))
from regenerate_output import EXAM, EXAMPLES, FEEDBACK  # noqa: E402

needs_pandoc = pytest.mark.skipif(shutil.which("pandoc") is None, reason="pandoc is not installed")
PANDOC_READERS = ["gfm+tex_math_dollars", "markdown"]

# A problem whose matrices are too wide for a line (they split into column blocks) and whose dense row wraps.
WIDE = """
title = "Wide rows"
input = \"\"\"
0.1234 -0.5678 0.9123 -0.4567 0.8912 -0.3456 0.7891 -0.2345
0.6789 -0.1234 0.5678 -0.9123 0.4567 -0.8912 0.3456 -0.7891
\"\"\"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
weights = [
 [0.11, -0.22, 0.33, -0.44, 0.55, -0.66, 0.77, -0.88, 0.99, -0.12, 0.23, -0.34, 0.45, -0.56, 0.67, -0.78],
 [-0.11, 0.22, -0.33, 0.44, -0.55, 0.66, -0.77, 0.88, -0.99, 0.12, -0.23, 0.34, -0.45, 0.56, -0.67, 0.78],
]
bias = [0.125, -0.25]
[[layers]]
type = "leaky_relu"
slope = 0.1
[[layers]]
type = "softmax"
"""


def kept_documents() -> list[Path]:
    """Every worked solution in output/, every feedback report, and an exam's keys and question sheet."""
    solutions = [ROOT / "output" / (Path(e).stem + ".md") for e in EXAMPLES]
    feedback = sorted((ROOT / FEEDBACK).glob("*-feedback.md"))
    exam = [ROOT / EXAM / name for name in ("variant-001-key.md", "keys.md", "variant-001-question.md")]
    return solutions + feedback + exam


def documents() -> dict[str, str]:
    # a document missing from output/ is reported by tests/test_output_current.py
    docs = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in kept_documents() if p.exists()}
    docs["(wide rows)"] = render(trace(loads(WIDE, name="wide.toml")), "md")
    return docs


DOCUMENTS = documents()


def pandoc_ast(text: str, reader: str) -> dict:
    run = subprocess.run(
        ["pandoc", "-f", reader, "-t", "json"], input=text.encode("utf-8"), capture_output=True, check=True, timeout=120
    )
    return json.loads(run.stdout)


def nodes(tree, kind: str):
    """Every node of a pandoc AST of type `kind`, in document order."""
    if isinstance(tree, dict):
        if tree.get("t") == kind:
            yield tree
        for value in tree.values():
            yield from nodes(value, kind)
    elif isinstance(tree, list):
        for value in tree:
            yield from nodes(value, kind)


def pandoc_formulas(ast: dict) -> list[tuple[str, bool]]:
    return [(n["c"][1].strip(), n["c"][0]["t"] == "DisplayMath") for n in nodes(ast, "Math")]


def headings(text: str) -> list[tuple[int, str]]:
    """The headings markdown-it finds: (level, text)."""
    tokens = MarkdownIt("commonmark").enable(["table"]).parse(text)
    return [(int(t.tag[1]), tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"]


def heading_lines(text: str) -> list[str]:
    """Lines that are meant as headings: `#` to `######` and a space, outside displayed maths."""
    found, maths = [], False
    for line in text.split("\n"):
        if line == "$$":
            maths = not maths
        elif not maths and re.match(r"#{1,6} ", line):
            found.append(line)
    return found


@needs_pandoc
@pytest.mark.parametrize("reader", PANDOC_READERS)
@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_pandoc_finds_the_same_formulas_and_headings(name, reader):
    text = DOCUMENTS[name]
    ast = pandoc_ast(text, reader)
    found = [(tex.strip(), display) for tex, display in markdown_formulas(text)]
    assert pandoc_formulas(ast) == found
    # every heading written is a heading for both, at its level
    written = headings(text)
    assert len(written) == len(heading_lines(text)) > 0
    assert [h["c"][0] for h in nodes(ast, "Header")] == [level for level, _ in written]


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_no_formula_holds_what_githubs_escaping_would_change(name):
    """A `\\\\` ends its line (never mid-line), and no other backslash comes before punctuation, which Markdown
    would take as an escape (`\\,` would reach the maths as `,`)."""
    formulas = markdown_formulas(DOCUMENTS[name])
    for tex, _ in formulas:
        assert not re.search(r"\\\\[ \t]*[^\s]", tex), tex  # a row separator with more on its line
        unrowed = tex.replace("\\\\", "")
        assert not re.search(r"\\[!-/:-@\[-`{-~]", unrowed), tex  # \, \; \{ ... (ASCII punctuation)


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_blocks_have_blank_lines_around_them(name):
    """Headings, displayed formulas and tables stand apart from text, as pandoc's markdown needs."""
    lines = DOCUMENTS[name].split("\n")
    maths = False
    for i, line in enumerate(lines):
        before = lines[i - 1] if i else ""
        after = lines[i + 1] if i + 1 < len(lines) else ""
        if line == "$$":
            if not maths:
                assert before == "", (i, before, line)
            else:
                assert after == "", (i, line, after)
            maths = not maths
        elif not maths and re.match(r"#{1,6} ", line):
            assert before == "" or before.startswith("<!--"), (i, before, line)
            assert after == "", (i, line, after)
        elif not maths and line.startswith("|") and not before.startswith("|"):
            assert before == "", (i, before, line)
    assert not maths


@pytest.mark.skipif(not node_katex_available(), reason="node and KaTeX (npm ci) are needed")
def test_every_formula_renders_in_katex():
    formulas = [f for text in DOCUMENTS.values() for f in markdown_formulas(text)]
    assert len(formulas) > 500
    assert render_errors(formulas) == []


def test_matrix_rows_end_their_lines_in_markdown_only():
    """The same matrix: one row a line in Markdown, as before in LaTeX."""
    result = trace(loads('title = "t"\ninput = [[1, 2], [3, 4]]\n[[layers]]\ntype = "relu"\n', name="t.toml"))
    assert "\\left[\\begin{array}{rr} 1 & 2 \\\\\n3 & 4 \\end{array}\\right]" in render(result, "md")
    assert "\\left[\\begin{array}{rr} 1 & 2 \\\\ 3 & 4 \\end{array}\\right]" in render(result, "tex")


def test_a_wide_matrix_splits_into_column_blocks():
    """16 inputs of 7 characters do not fit one line: the flattened vector and W split into blocks whose columns,
    read in order, are the matrix's."""
    text = DOCUMENTS["(wide rows)"]
    assert "\\text{columns 1--" in text and "--16}" in text
    w = re.search(r"W = \\begin\{aligned\}(.*?)\\end\{aligned\}", text, re.S)[1]
    blocks = re.findall(r"\\begin\{array\}\{r+\}(.*?)\\end\{array\}", w, re.S)
    assert len(blocks) > 1
    rows = [[] for _ in range(2)]
    for block in blocks:
        for r, row in enumerate(block.split("\\\\")):
            rows[r] += [cell.strip() for cell in row.split("&")]
    assert rows[0] == [
        "0.11",
        "-0.22",
        "0.33",
        "-0.44",
        "0.55",
        "-0.66",
        "0.77",
        "-0.88",
        "0.99",
        "-0.12",
        "0.23",
        "-0.34",
        "0.45",
        "-0.56",
        "0.67",
        "-0.78",
    ]
    assert rows[1] == [c[1:] if c.startswith("-") else "-" + c for c in rows[0]]


# ---- Word ----


def formula_numbers(tex: str) -> list[str]:
    """The numbers of a formula, in order, signs aside: what any faithful conversion keeps."""
    return re.findall(r"\d+(?:\.\d+)?", re.sub(r"\\text\{[^}]*\}", "", tex))


DOCX_SAMPLES = [
    "output/tutorial.md",
    "output/cs231n-scores.md",
    f"{FEEDBACK}/tutorial-working-slips-feedback.md",
    f"{EXAM}/variant-001-key.md",
    "(wide rows)",
]


@needs_pandoc
@pytest.mark.parametrize("name", DOCX_SAMPLES)
def test_docx_holds_every_formula_as_an_equation(name):
    from stepper.writing.docx import to_docx

    text = DOCUMENTS[name]
    docx = to_docx(text, name)
    assert docx.startswith(b"PK")  # a zip, as every .docx is
    back = subprocess.run(
        ["pandoc", "-f", "docx", "-t", "json"], input=docx, capture_output=True, check=True, timeout=120
    )
    equations = pandoc_formulas(json.loads(back.stdout))
    written = markdown_formulas(text)
    assert len(equations) == len(written) > 0
    for (tex, _), (equation, _) in zip(written, equations):
        assert formula_numbers(equation) == formula_numbers(tex), (tex, equation)
    # and every heading is a Word heading
    assert len(list(nodes(json.loads(back.stdout), "Header"))) == len(headings(text))


@needs_pandoc
def test_docx_is_the_same_bytes_every_time():
    from stepper.writing.docx import to_docx

    text = DOCUMENTS["output/cs231n-scores.md"]
    assert to_docx(text, "cs231n-scores.md") == to_docx(text, "cs231n-scores.md")


@needs_pandoc
def test_docx_carries_steppers_mark_in_its_properties_only():
    import io
    import zipfile

    from stepper.writing.docx import marked, to_docx

    docx = to_docx(DOCUMENTS["output/cs231n-scores.md"], "cs231n-scores.md")
    with zipfile.ZipFile(io.BytesIO(docx)) as z:
        assert "<dc:subject>Written by stepper</dc:subject>" in z.read("docProps/core.xml").decode()
        assert b"Written by stepper" not in z.read("word/document.xml")
    assert marked(docx)
    assert not marked(b"PK not a zip") and not marked(b"")
    theirs = subprocess.run(
        ["pandoc", "-f", "markdown", "-t", "docx", "-o", "-"], input=b"# Mine\n", capture_output=True, check=True
    ).stdout  # a user's own document
    assert theirs.startswith(b"PK") and not marked(theirs)


def test_docx_without_pandoc_says_so_in_one_line(monkeypatch):
    from stepper.writing import docx

    monkeypatch.setattr(docx.shutil, "which", lambda name: None)
    with pytest.raises(StepperError) as caught:
        docx.to_docx("# x\n", "notes.md")
    message = str(caught.value)
    assert message.startswith("notes.md: pandoc is not installed") and "\n" not in message


def test_docx_names_the_file_when_pandoc_fails(monkeypatch, tmp_path):
    from stepper.writing import docx

    fake = tmp_path / "pandoc"
    fake.write_text("#!/bin/sh\necho '[WARNING] a warning first' >&2\necho 'Unknown reader: oops' >&2\nexit 21\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StepperError) as caught:
        docx.to_docx("# x\n", "notes.md")
    assert str(caught.value) == "notes.md: pandoc failed: Unknown reader: oops"
