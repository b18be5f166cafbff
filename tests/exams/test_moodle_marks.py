"""Moodle marks and tolerances: each stage weighs what `[marks]` says (cloze blanks weighted, a numerical question's
<defaultgrade>), every rounded stage's tolerance takes in both ways of rounding and is never 0, and a Moodle file
larger than many sites take is announced."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest

import stepper.exams.command as command
from stepper.cli import main
from stepper.core.evaluate import trace
from stepper.core.numbers import fixed
from stepper.core.stages import stages
from stepper.exams.generate import generate
from stepper.exams.moodle import mark_scale, moodle_xml, stage_answers, stage_marks
from stepper.exams.variants import load_template
from tests.helpers import ROOT

TEMPLATE = ROOT / "examples" / "tutorial-exam.toml"
BLANK = re.compile(r"\{([0-9]*):NUMERICAL:=([^:{}]*):([^{}]*)\}")
# Points by stage and by layer: the softmax worth 4, layer 1's 3 points shared by its two filters, a neuron 2.5.
MARKS = '\n[marks]\n"layer7.values" = 4\nlayer1 = 3\n"layer6.z1" = 2.5\ndefault = 1\n'


@pytest.fixture(scope="module")
def marked(tmp_path_factory):
    text = TEMPLATE.read_text(encoding="utf-8")
    at = text.index("\n[random]\n") + 1
    path = tmp_path_factory.mktemp("marks") / "exam.toml"
    path.write_text(text[:at] + MARKS + text[at:], encoding="utf-8")
    return generate(load_template(path), 4, seed=3)


@pytest.fixture(scope="module")
def fifty():
    return generate(load_template(TEMPLATE), 50, seed=1)


def quiz(variants, layout):
    sheets = {v.id: "Sheet" for v in variants}
    keys = {v.id: {n: "" for n in range(1, len(v.trace.layers) + 1)} for v in variants}
    return ET.fromstring(moodle_xml("Marks", variants, sheets, keys, layout).encode("utf-8"))


def question_marks(q) -> int:
    if q.get("type") == "numerical":
        return int(q.find("defaultgrade").text)
    return sum(int(w or 1) for w, _, _ in BLANK.findall(q.find("questiontext/text").text))  # Moodle's own sum


def test_marks_follow_the_marking_scheme(marked):
    want = {
        "layer1.filter1": Fraction(3, 2),
        "layer1.filter2": Fraction(3, 2),
        "layer6.z1": Fraction(5, 2),
        "layer6.z2": 1,
        "layer7.values": 4,
        "layer2.channel1": 1,
    }
    marks = stage_marks(marked[0].problem)
    assert {k: marks[k] for k in want} == want


def test_each_stage_question_weighs_its_marks_times_one_scale(marked):
    scale = mark_scale(v.problem for v in marked)
    assert scale > 1 and all(scale * m == int(scale * m) for m in stage_marks(marked[0].problem).values())
    root = quiz(marked, "stages")
    asked = [q for q in root.findall("question") if q.get("type") != "category"]
    by_id = {q.find("idnumber").text: q for q in asked}
    for v in marked:
        for s, m in stage_marks(v.problem).items():
            q = by_id[f"{v.id}-{s}"]
            assert question_marks(q) == scale * m, (v.id, s)
            weights = {w for w, _, _ in BLANK.findall(q.find("questiontext/text").text)}
            assert len(weights) <= 1  # a stage's cells share its marks equally


def test_a_whole_variant_weighs_its_stages_as_marks_say(marked):
    root = quiz(marked, "whole")
    scale = mark_scale(v.problem for v in marked)
    for q, v in zip(root.findall("question")[1:], marked):
        blanks = BLANK.findall(q.find("questiontext/text").text)
        at = 0
        for s in stages(v.problem):
            cells = [int(w) for w, _, _ in blanks[at : at + math.prod(s.shape)]]  # prod(()) is 1: a single value
            at += len(cells)
            assert sum(cells) == scale * stage_marks(v.problem)[s.key], s.key
        assert at == len(blanks)
        # The softmax's 2 blanks (4 marks) weigh more than a 16-cell filter map (3/2), not 2 blanks against 16.
        assert question_marks(q) == scale * sum(stage_marks(v.problem).values())


def test_the_default_marks_make_every_stage_weigh_one(fifty):
    root = quiz(fifty[:3], "whole")
    scale = mark_scale(v.problem for v in fifty[:3])
    assert scale == 16  # a 4x4 map's cell is 1/16 of a mark
    assert all(question_marks(q) == 11 * scale for q in root.findall("question")[1:])  # 11 stages of 1 mark


def test_no_rounded_stage_has_a_tolerance_of_0(fifty):
    widened = 0
    for v in fifty:
        full = trace(v.problem, replace(v.trace.settings, rounding="full"))
        rounded_before = False
        for a in stage_answers(v):
            tolerances = [Decimal(t) for _, t in a.cells]
            kind = v.problem.layers[a.stage.layer - 1].kind
            rounded_here = rounded_before or kind in ("sigmoid", "softmax", "dense")
            if rounded_here:
                assert all(t >= Decimal("0.00005") for t in tolerances), (v.id, a.stage.key)
                # the key's carried answer and the full-precision one rounded alike are both within it
                truth = a.stage.of(full.layers[a.stage.layer - 1].output).floats().ravel()
                for (value, t), x in zip(a.cells, truth):
                    assert abs(Decimal(value) - Decimal(fixed(float(x), 4))) <= Decimal(t)
                widened += any(t > Decimal("0.00005") for t in tolerances)
            else:
                assert set(tolerances) == {0}, (v.id, a.stage.key)  # whole numbers and exact halves
            rounded_before = rounded_here
    assert widened  # some carried answers differ from the full-precision ones, and their tolerance says so


def test_the_tolerances_in_the_xml_are_never_0_for_a_rounded_stage(fifty):
    root = quiz(fifty, "stages")
    for q in root.findall("question"):
        key = (q.findtext("idnumber") or "").split("-", 1)[-1]
        if not key.startswith(("layer5", "layer6", "layer7")):
            continue
        found = (
            [q.findtext("answer/tolerance")]
            if q.get("type") == "numerical"
            else [t for _, _, t in BLANK.findall(q.findtext("questiontext/text"))]
        )
        assert found and all(Decimal(t) >= Decimal("0.00005") for t in found), key


def test_a_large_moodle_file_is_announced_with_the_ways_out(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(command, "MOODLE_UPLOAD_LIMIT", 1000)
    code = main(["exam", str(TEMPLATE), "--variants", "2", "--format", "md,moodle", "--out", str(tmp_path / "e")])
    assert code == 0
    size = (tmp_path / "e" / "moodle.xml").stat().st_size
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"stepper: warning: moodle.xml is {size / 10**6:.1f} MB, more than the 2 MB many Moodle sites take in one "
        'upload; [exam] key = "answers" (results only in the feedback) or moodle = "whole" (the sheet once a '
        "variant, not once a stage) makes it smaller"
    ]


def test_a_moodle_file_within_the_limit_says_nothing(tmp_path, capsys):
    assert main(["exam", str(TEMPLATE), "--variants", "2", "--format", "md,moodle", "--out", str(tmp_path / "e")]) == 0
    assert capsys.readouterr().err == ""
