"""One mistake, charged once: a named mistake of method that explains several stages of one layer costs the
marks of its first stage only (`[marks] repeated = "once"`, the default), and the report says so; `"each"`
charges every stage."""

from __future__ import annotations

import copy
import tomllib
from fractions import Fraction

import numpy as np
import pytest

from stepper.core.errors import StepperError
from stepper.core.load import loads
from stepper.marking.marker import Marker
from stepper.marking.working import loads_working
from stepper.writing.documents import render_feedback
from tests.helpers import ROOT, reference

TEXT = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")
DATA = tomllib.loads(TEXT)
RELU_FORGOTTEN = (ROOT / "examples" / "tutorial-working-relu-forgotten.toml").read_text(encoding="utf-8")


def check(working: str, marks: str = ""):
    problem = loads(TEXT + marks)
    fb = Marker(problem).check(loads_working(working, problem, name="w.toml"))
    return fb, {r.stage.key: r for r in fb.stages}


def test_the_example_really_forgets_relu_in_both_channels():
    no_relu = copy.deepcopy(DATA)
    no_relu["layers"][1] = {"type": "identity"}
    theirs, right = reference.forward(no_relu)[1], reference.forward(DATA)[1]
    for c in range(2):
        assert np.any(np.asarray(theirs[c]) != np.asarray(right[c]))


def test_relu_forgotten_in_both_channels_costs_once_by_default():
    fb, by = check(RELU_FORGOTTEN)
    first, second = by["layer2.channel1"], by["layer2.channel2"]
    assert first.diagnosis.name == second.diagnosis.name == "ReLU forgotten"
    assert first.marks == 0 and not first.charged
    assert second.marks == second.out_of and second.charged == "the same mistake as channel 1: charged once"
    assert fb.marks == fb.out_of - first.out_of
    assert "the same mistake as channel 1: charged once" in render_feedback(fb, "md")


def test_each_charges_every_stage():
    fb, by = check(RELU_FORGOTTEN, '\n[marks]\nrepeated = "each"\n')
    wrong = [r for r in fb.stages if r.verdict == "wrong"]
    assert len(wrong) == 2 and all(r.marks == 0 and not r.charged for r in wrong)
    assert fb.marks == fb.out_of - sum((r.out_of for r in wrong), Fraction(0))


def test_a_mistake_in_one_channel_only_is_charged_as_before():
    one = RELU_FORGOTTEN.split("[layer2]")[0]  # layer 1 only, right
    right2 = reference.forward(DATA)[1]
    conv = reference.forward(DATA)[0]
    grid = lambda a: '"""\n' + "\n".join(" ".join(str(int(x)) for x in row) for row in a) + '\n"""'  # noqa: E731
    fb, by = check(one + f"[layer2]\nchannel1 = {grid(conv[0])}\nchannel2 = {grid(right2[1])}\n")
    assert by["layer2.channel1"].marks == 0 and by["layer2.channel2"].verdict == "correct"
    assert not any(r.charged for r in fb.stages)


def test_different_mistakes_in_one_layer_are_each_charged():
    """No padding in filter 1 and the kernel flipped in filter 2 are two mistakes."""
    problem = loads(TEXT)
    marker = Marker(problem)
    by_name = {m.name: v for m, v in zip(marker.mistakes, marker.mistaken)}
    flipped = next(v for n, v in by_name.items() if n.startswith("kernel flipped"))[0]
    padless = next(v for n, v in by_name.items() if n.startswith("no padding"))[0]
    grid = lambda a: '"""\n' + "\n".join(" ".join(str(int(x)) for x in row) for row in a) + '\n"""'  # noqa: E731
    fb, by = check(f"[layer1]\nfilter1 = {grid(padless.data[0])}\nfilter2 = {grid(flipped.data[1])}\n")
    assert by["layer1.filter1"].marks == by["layer1.filter2"].marks == 0
    assert not any(r.charged for r in fb.stages)


def test_a_bad_repeated_setting_is_refused():
    with pytest.raises(StepperError, match="'once' or 'each'"):
        loads(TEXT + '\n[marks]\nrepeated = "twice"\n')
