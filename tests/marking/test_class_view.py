"""The class summary: who made which mistake, each stage across the class, the stage the class went wrong at most,
what was skipped; in Markdown and as a one-page PDF for the marker."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from stepper import load
from stepper.marking import check_working, load_working
from stepper.marking.class_view import class_view
from stepper.marking.classroom import Skipped, summary_md, summary_tex
from stepper.writing.latex import typeset
from tests.helpers import ROOT

WORKINGS = sorted((ROOT / "examples").glob("tutorial-working-*.toml"))
needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")


@pytest.fixture(scope="module")
def problem():
    return load(ROOT / "examples" / "tutorial.toml")


@pytest.fixture(scope="module")
def marked(problem):
    return [(path, check_working(problem, load_working(path, problem))) for path in WORKINGS]


def test_each_planted_mistake_is_grouped_with_its_student(marked):
    view = class_view("t", marked, [])
    who = {name: set(g.students) for g in view.mistakes for name in [g.name]}
    planted = {
        "relu-forgotten": "ReLU forgotten",
        "stride-1": "stride 1 instead of 2",
        "average-pooling": "average pooling instead of max pooling",
    }
    for stem, mistake in planted.items():
        student = next(fb.working.student for path, fb in marked if path.stem.endswith(stem))
        assert student in who[mistake], (mistake, who.get(mistake))
    assert [len(g.students) for g in view.mistakes] == sorted((len(g.students) for g in view.mistakes), reverse=True)
    relu = next(g for g in view.mistakes if g.name == "ReLU forgotten")
    assert relu.stages == ("Layer 2 (ReLU): channel 1, channel 2",)  # both channels, gathered under their layer


def test_stage_tallies_and_the_hardest_stage(marked):
    view = class_view("t", marked, [])
    wrong = Counter(r.stage.key for _, fb in marked for r in fb.stages if r.verdict == "wrong")
    missing = Counter(r.stage.key for _, fb in marked for r in fb.stages if r.verdict == "missing")
    assert {t.key: t.wrong for t in view.stages} == {k: wrong.get(k, 0) for k in (t.key for t in view.stages)}
    assert {t.key: t.missing for t in view.stages} == {k: missing.get(k, 0) for k in (t.key for t in view.stages)}
    assert view.hardest is not None and view.hardest.wrong == max(wrong.values())
    for t in view.stages:
        marks = [r.marks for _, fb in marked for r in fb.stages if r.stage.key == t.key]
        assert t.mean == sum(marks) / len(marks)
    assert view.mean == sum(fb.marks for _, fb in marked) / len(marked)


def test_the_markdown_says_it_all(problem, marked):
    skipped = [Skipped(Path("broken.toml"), "not UTF-8")]
    md = summary_md(problem, marked, skipped)
    view = class_view(problem.title, marked, skipped)
    assert f"{len(marked)} students marked" in md
    assert "Skipped, not marked: broken\\.toml (not UTF\\-8)." in md
    assert "The class went wrong most at Layer" in md and f"{view.hardest.wrong} of {len(marked)} students" in md
    for g in view.mistakes:
        assert str(len(g.students)) in md
    assert md.count("\n| ") >= len(marked) + len(view.mistakes) + len(view.stages)


@needs_tex
@pytest.mark.parametrize("copies", [1, 14])
def test_the_pdf_is_one_page_even_for_a_large_class(problem, marked, copies, tmp_path):
    many = [
        (path, replace(fb, working=replace(fb.working, student=f"{fb.working.student} {n}")))
        for n in range(copies)
        for path, fb in marked
    ]
    skipped = [Skipped(Path(f"odd-{n}.toml"), "not a working file") for n in range(40 if copies > 1 else 0)]
    pdf = tmp_path / "summary.pdf"
    pdf.write_bytes(typeset(summary_tex(problem, many, skipped), "summary.tex"))
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Pages:           1" in info
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert f"{len(many)} students marked" in text
    if copies > 1:
        assert "and 34 more" in text  # 6 of the 40 skipped files named, the rest counted


@needs_tex
def test_hostile_names_are_escaped_in_both(problem, marked):
    hostile = "\\input{/etc/passwd} $x$ | <b>bold</b> & 50% # _ ~ ^"
    path, fb = marked[0]
    bad = [(path, replace(fb, working=replace(fb.working, student=hostile)))] + marked[1:]
    md = summary_md(problem, bad, [Skipped(Path("<i>x</i>.toml"), "why <b>")])
    assert "<b>" not in md and "<i>" not in md
    pdf = typeset(summary_tex(problem, bad, [Skipped(Path("a%b.toml"), "50% & more")]), "summary.tex")
    assert pdf.startswith(b"%PDF")


def test_two_students_of_one_name_count_twice_and_totals_that_differ_are_a_range(marked):
    path, fb = next((p, f) for p, f in marked if p.stem.endswith("relu-forgotten"))
    twin = (path.with_name("twin.toml"), fb)
    richer = (path.with_name("richer.toml"), replace(fb, out_of=fb.out_of + 3))
    view = class_view("t", [*marked, twin, richer], [])
    relu = next(g for g in view.mistakes if g.name == "ReLU forgotten")
    assert len(relu.students) == 3 and set(relu.students) == {fb.working.student}
    assert view.out_of == (fb.out_of, fb.out_of + 3)
    md = summary_md(load(ROOT / "examples" / "tutorial.toml"), [*marked, twin, richer], [])
    assert f"out of {fb.out_of} to {fb.out_of + 3}," in md
