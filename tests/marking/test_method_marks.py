"""Consistent method marks: a written sum is judged against the values the student was working from, so that a
sum right for their own values is right in the marks table, the written-sums section, the class CSV and the
terminal line alike; `[marks] sums` gives written sums points, half for the right terms, half for the total.

The student's own values come from the independent reference forward pass on the problem with ReLU taken out."""

from __future__ import annotations

import copy
import csv
import io
import tomllib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from stepper.core.errors import StepperError
from stepper.core.load import loads
from stepper.marking.classroom import summary_csv
from stepper.marking.marker import Marker
from stepper.marking.reports import summary_line
from stepper.marking.working import loads_working
from stepper.writing.documents import points, render_feedback
from tests.helpers import ROOT, reference

TEXT = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")
DATA = tomllib.loads(TEXT)
NO_RELU = copy.deepcopy(DATA)
NO_RELU["layers"][1] = {"type": "identity"}
THEIRS = reference.forward(NO_RELU)  # the student who forgot ReLU, carried as by hand
RIGHT = reference.forward(DATA)
WORKING = (ROOT / "examples" / "tutorial-working-relu-forgotten.toml").read_text(encoding="utf-8")
WEIGHTS = [np.asarray(reference.channels(w), dtype=object).reshape(-1) for w in DATA["layers"][5]["weights"]]


def four(x) -> str:
    return f"{float(reference.round_half_away(Fraction(x), 4)):.4f}".rstrip("0").rstrip(".")


def neuron_sum(k: int, values, total=None) -> str:
    """Neuron k's sum as a student writes it: weight times input, term by term, and its total."""
    flat = np.asarray(values, dtype=object).reshape(-1)
    terms = " + ".join(f"{four(w)}*{four(x)}" for w, x in zip(WEIGHTS[k], flat))
    exact = sum((w * x for w, x in zip(WEIGHTS[k], flat)), Fraction(0))
    return f"{terms} = {four(exact) if total is None else total}"


def window(k: int, text: str) -> str:
    return f'\n[[window]]\nlayer = 6\nneuron = {k + 1}\nsum = "{text}"\n'


def check(text: str, marks: str = ""):
    problem = loads(TEXT + marks)
    return Marker(problem).check(loads_working(text, problem, name="w.toml"))


def test_a_sum_right_for_the_students_own_values_is_right_everywhere():
    assert np.any(np.asarray(THEIRS[4]) != np.asarray(RIGHT[4]))  # their layer 5 values are not the worked ones
    fb = check(WORKING + window(0, neuron_sum(0, THEIRS[4])))
    z1 = next(r for r in fb.stages if r.stage.key == "layer6.z1")
    assert z1.verdict == "follow-through"
    (s,) = fb.sums
    assert s.check.correct and s.credit == "right" and s.follows_from is not None
    assert {t.verdict for t in s.check.terms} <= {"right", "zero"}
    report = render_feedback(fb, "md")
    assert "wrong value" not in report and "The sum is right." in report
    assert "written sum" not in summary_line(fb)


def test_a_sum_from_the_worked_solutions_values_is_still_right_for_a_student_on_them():
    right_working = (ROOT / "examples" / "tutorial-working-right.toml").read_text(encoding="utf-8")
    fb = check(right_working + window(0, neuron_sum(0, RIGHT[4])))
    assert fb.sums[0].credit == "right" and fb.sums[0].follows_from is None


@pytest.mark.parametrize("points_each", [1, 2, 3])
def test_written_sums_carry_points_half_for_the_terms_half_for_the_total(points_each):
    own = THEIRS[4]
    right_total = sum((w * x for w, x in zip(WEIGHTS[1], np.asarray(own, dtype=object).reshape(-1))), Fraction(0))
    slipped = neuron_sum(1, own, total=four(right_total + Fraction(1, 10)))  # the right terms, added wrong
    misread = neuron_sum(0, own).replace("0.1*", "0.3*", 1)  # a weight misread, the right total kept
    wrong = misread.split("=")[0] + "= 9"  # a weight misread and a wrong total
    fb = check(
        WORKING + window(0, neuron_sum(0, own)) + window(1, slipped) + window(0, misread) + window(0, wrong),
        f"\n[marks]\nsums = {points_each}\n",
    )
    credits = [s.credit for s in fb.sums]
    # Accuracy marks follow from the method: the right total from a wrong term earns nothing.
    assert credits == ["right", "method", "total", "wrong"]
    assert [s.marks for s in fb.sums] == [points_each, Fraction(points_each, 2), 0, 0]
    stage_marks = sum((r.marks for r in fb.stages), Fraction(0))
    stage_out_of = sum((r.out_of for r in fb.stages), Fraction(0))
    assert fb.out_of == stage_out_of + 4 * points_each
    assert fb.marks == stage_marks + Fraction(3 * points_each, 2)
    # The marks table, the class CSV and the terminal line give the same total.
    report = render_feedback(fb, "md")
    assert f"**Mark: {points(fb.marks)} out of {points(fb.out_of)}**" in report
    assert report.count("| Written sum: ") == 4 and "the method marks" in report
    row = list(csv.DictReader(io.StringIO(summary_csv([r.stage for r in fb.stages], [(Path("w.toml"), fb)]))))[-1]
    assert (row["total"], row["out_of"]) == (points(fb.marks), points(fb.out_of))
    assert f"{points(fb.marks)} / {points(fb.out_of)}" in summary_line(fb)


def test_sums_points_by_layer_leave_other_layers_sums_without_marks():
    conv_sum = '\n[[window]]\nlayer = 1\nfilter = 1\nrow = 1\ncolumn = 2\nsum = "0 + 2 + 1 - 5 - 2"\n'
    fb = check(WORKING + window(0, neuron_sum(0, THEIRS[4])) + conv_sum, "\n[marks]\nsums = {layer6 = 2}\n")
    assert [s.out_of for s in fb.sums] == [2, 0]
    assert "| Written sum: Layer 1" not in render_feedback(fb, "md")


@pytest.mark.parametrize(
    "value, needle", [('"many"', "expected"), ("{layer9 = 1}", "no layer is called 'layer9'"), ("-1", "from 0 to 1000")]
)
def test_bad_sums_points_are_refused(value, needle):
    with pytest.raises(StepperError, match=needle):
        loads(TEXT + f"\n[marks]\nsums = {value}\n")
