"""Every name comes out right in the PDF: titles, student names and exam titles in any script (Latin, Greek,
Cyrillic, CJK) and emoji are printed as themselves, by LuaLaTeX with fallback fonts, and pdftotext gives them
back exactly. A document that pdflatex's standard fonts can print still goes to pdflatex, the faster engine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from stepper.writing.latex import tex_engine, typeset
from tests.helpers import ROOT
from tests.helpers.one_line import run_stepper

TUTORIAL = ROOT / "examples" / "tutorial.toml"
NAME = "Łukasz 王小明 Ærø «x» ðþ 🙂"
MORE = "Ελληνικά Кириллица Ünïcödé"

pytestmark = pytest.mark.skipif(
    shutil.which("lualatex") is None or shutil.which("pdftotext") is None,
    reason="needs lualatex (texlive-luatex) and pdftotext (poppler-utils)",
)


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def titled(source: Path, title: str, folder: Path) -> Path:
    """A copy of a problem file (or exam template) under another title, as a TOML basic string."""
    text = source.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("title = "))
    copy = folder / source.name
    copy.write_text(text.replace(old, f'title = "{title}"'), encoding="utf-8")
    return copy


def test_a_title_in_any_script_is_in_the_solution_pdf(capsys, tmp_path):
    problem = titled(TUTORIAL, f"{NAME} {MORE}", tmp_path)
    out = tmp_path / "out"
    code, _, err = run_stepper(capsys, "solve", problem, "--out", out)
    assert code == 0, err
    text = pdf_text(out / "tutorial.pdf")
    assert f"{NAME} {MORE}" in text.splitlines()[0], text[:200]
    assert f"{NAME} {MORE}" in (out / "tutorial.md").read_text(encoding="utf-8")  # the Markdown as it was too


def test_a_student_name_in_any_script_is_in_the_report_pdf(capsys, tmp_path):
    working = tmp_path / "wang.toml"
    working.write_text(f'student = "{NAME}"\n\n[dense]\nz1 = 0.5095\n', encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run_stepper(capsys, "check", TUTORIAL, working, "--format", "pdf", "--out", out)
    assert code == 0, err
    assert f"Feedback for {NAME}" in pdf_text(out / "wang-feedback.pdf")


def test_an_exam_title_in_any_script_is_in_the_key_pdf(capsys, tmp_path):
    template = titled(ROOT / "examples" / "tutorial-exam.toml", NAME, tmp_path)
    out = tmp_path / "exam"
    code, _, err = run_stepper(capsys, "exam", template, "--variants", "1", "--format", "pdf", "--out", out)
    assert code == 0, err
    title = pdf_text(out / "variant-001-key.pdf").splitlines()[0]
    assert title.startswith(NAME) and title.endswith("answer key"), title
    assert pdf_text(out / "keys.pdf").startswith(NAME)
    # the question sheet is an answer sheet: every page opens with its variant and QR code, then the title
    assert f"\n{NAME}: variant 001\n" in pdf_text(out / "variant-001-question.pdf")


def test_the_engine_follows_the_text():
    """pdflatex for ASCII and the Latin-1 letters its fonts print (in a comment, anything); LuaLaTeX for the rest.
    The test can fail: a document of Latin letters only would go to LuaLaTeX if the choice ignored them."""
    assert tex_engine("\\title{Jos\u00e9 M\u00fcller}\n% from \u738b.toml\n") == "pdflatex"
    for text in ("\u0141ukasz", "\u00f0", "\u00ab", "\u738b", "\U0001f642", "\u0395\u03bb"):
        assert tex_engine(f"\\title{{{text}}}\n") == "lualatex", text
    assert tex_engine("100\\% \u738b\n") == "lualatex"  # \% is no comment, so the name counts...
    assert tex_engine("100\\\\% \u738b\n") == "pdflatex"  # ...and after \\ a % starts one


def test_a_character_no_font_has_is_a_mark_not_a_failure():
    """A private-use character: no font has it, so it is drawn as the replacement character, and the document
    still typesets; the same PDF bytes come out twice (LuaLaTeX's dates and IDs are fixed as pdflatex's are)."""
    from dataclasses import replace

    from stepper import load, render, trace

    problem = load(TUTORIAL)
    tex = render(trace(replace(problem, title="Ada \ue000 Byron \u738b")), "tex")
    pdf = typeset(tex, "mark.pdf")
    assert pdf == typeset(tex, "mark.pdf")
    assert b"/Creator (stepper)" in pdf  # what tells stepper's PDFs from a user's
    first = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "Ada \ufffd" in first and "\u738b" in first, first[:100]
