"""`stepper check` of the backward pass: a working file of gradients (a problem with [train]) marked stage by stage
with follow-through, each known slip of the backward pass named, [marks] for backward stages, and bad working files
refused in one line.

The students' working here is made independently of the checker: core's forward trace and its one-layer backward
step (`back_step`) worked from whatever gradient the student had, the update worked with numpy, each planted slip
written out by hand in numpy (`planted`). The example working files examples/tutorial-train-working-*.toml are
made the same way; `python -m tests.marking.test_backward_marking` writes them again.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from stepper.core.backward import back_step, loss_of
from stepper.core.evaluate import trace
from stepper.core.load import load, loads
from stepper.core.numbers import Values, floats
from stepper.core.spec import Dense, Problem
from stepper.core.stages import Stage, backward_stages, stages
from stepper.marking.marker import Marker
from stepper.marking.working import dumps_working, loads_working
from tests.helpers import ROOT
from tests.helpers.one_line import assert_one_error, run_stepper

TUTORIAL_TRAIN = ROOT / "examples" / "tutorial-train.toml"
MAZUR = ROOT / "examples" / "mazur-backprop.toml"
TUTORIAL = load(TUTORIAL_TRAIN)
MARKER = Marker(TUTORIAL)

# A convolution above another, so that a convolution's dL/d(input) is asked; a mean squared error of 4 outputs.
CONVS = """
title = "Two convolutions"
input = '''
1 2 0 1
0 1 3 1
2 0 1 2
1 1 0 1
'''
[settings]
decimals = 4
rounding = "carry"

[[layers]]
type = "conv2d"
filters = ['''
1  0
0 -1
''']

[[layers]]
type = "conv2d"
filters = ['''
1  2
0 -1
''']

[[layers]]
type = "flatten"

[train]
target = [1, 0, 0, 1]
loss = "mse"
learning_rate = 0.1
"""

# Two sigmoid outputs with the binary cross-entropy: (yhat - y) / n at the dense layer's output.
BINARY = """
title = "Two sigmoid outputs"
input = "0.5 -1"
[settings]
decimals = 4
rounding = "carry"

[[layers]]
type = "dense"
weights = [[0.2, -0.4], [0.6, 0.1]]
bias = [0.1, -0.2]

[[layers]]
type = "sigmoid"

[train]
target = [1, 0]
loss = "binary_cross_entropy"
learning_rate = 0.5
"""


# ---- a student's backward pass, worked independently of the checker ----


def kept(data, problem: Problem) -> Values:
    """Values as the problem carries them: rounded to its places when rounding is carried, as on paper (a float
    within a hair of a half, 0.24605 held as 0.246049999..., is the half it stands for, and goes up)."""
    x = np.asarray(data, dtype=np.float64)
    if problem.settings.rounding != "carry":
        return floats(x)
    unit = Decimal(1).scaleb(-problem.settings.decimals)
    cells = [float(Decimal(f"{c:.12g}").quantize(unit, rounding=ROUND_HALF_UP)) for c in x.ravel().tolist()]
    return floats(np.array(cells).reshape(x.shape), problem.settings.decimals)


def parameters(problem: Problem, number: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Layer `number`'s weights as its gradient is shaped (a dense layer's rows, filters, 1x1 weights) and bias."""
    layer = problem.layers[number - 1]
    if isinstance(layer, Dense):
        weights = np.stack([w.floats().ravel() for w in layer.weights])
    else:
        weights = (layer.filters if hasattr(layer, "filters") else layer.weights).floats()
    bias = getattr(layer, "bias", None)
    return weights.astype(float), (bias.floats().astype(float) if bias is not None else None)


def stage_part(s: Stage, array: Values) -> Values:
    """A parameter stage's part of a layer's whole gradient (a neuron's row as its grid; a bias whole)."""
    if s.part in ("db", "new_bias"):
        return array
    return (array[s.index] if s.index else array).reshape(*s.shape)


def planted(
    problem: Problem,
    *,
    loss: Callable[[float], float] | None = None,
    yhat: Values | None = None,
    top: Callable[[np.ndarray], np.ndarray] | None = None,
    below: dict[int, Callable] | None = None,
    update: Callable[[np.ndarray, np.ndarray, float], np.ndarray] | None = None,
) -> dict[Stage, Values]:
    """Every backward stage as a student works it, one slip planted and everything after it worked from their own
    values: `loss(L)` the loss written; `yhat` their own network output (cross-entropy after softmax); `top(g)` the
    first gradient; `below[n](record, grad)` layer n's dL/d(input) from its forward and backward records;
    `update(old, g, rate)` the new weights."""
    train, settings = problem.train, problem.settings
    assert train is not None
    forward = trace(problem, settings)
    right = loss_of(forward, train, settings)
    value, grad = float(right.value.floats()), right.grad.floats()
    if yhat is not None:  # cross-entropy after softmax, from their own output
        p, y = yhat.floats().astype(float).ravel(), train.target.floats().astype(float)
        value, grad = float(-(y * np.log(p)).sum()), p - y
    stages_ = backward_stages(problem)
    worked: dict[Stage, Values] = {stages_[0]: kept(loss(value) if loss else value, problem)}
    start = len(problem.layers) - (1 if train.combined else 0)
    g = np.asarray(grad, dtype=float).reshape(forward.layers[start - 1].output.shape)
    g = kept(top(g) if top else g, problem)
    grads = {}
    for n in range(start, 0, -1):
        record = forward.layers[n - 1]
        step = back_step(record, g, train, settings)
        grads[n] = step
        for s in stages_:
            if s.layer == n and s.part.startswith("grad."):
                worked[s] = s.of(step.upstream)
            elif s.layer == n and s.part.startswith("dw."):
                worked[s] = stage_part(s, step.weights)
            elif s.layer == n and s.part == "db":
                worked[s] = step.bias
        g = kept(below[n](record, step), problem) if below and n in below else step.input
    rate = float(train.learning_rate)
    move = update or (lambda old, g, r: old - r * g)
    for s in stages_:
        if s.part.startswith("new.") or s.part == "new_bias":
            weights, bias = parameters(problem, s.layer)
            step = grads[s.layer]
            if s.part == "new_bias":
                worked[s] = kept(move(bias, step.bias.floats(), rate), problem)
            else:
                worked[s] = stage_part(s, kept(move(weights, step.weights.floats(), rate), problem))
    return worked


def working_text(problem: Problem, backward: dict[Stage, Values], comment: str = "", outputs=None) -> str:
    """A working file of the whole forward pass (as worked, or `outputs`) and the backward stages given."""
    outputs = outputs if outputs is not None else [r.output for r in trace(problem).layers]
    return dumps_working(outputs, problem, "A. Student", problem.settings.decimals, comment, backward=backward)


def check(problem: Problem, backward: dict[Stage, Values], marker: Marker | None = None, outputs=None):
    marker = marker or Marker(problem)
    return marker.check(loads_working(working_text(problem, backward, outputs=outputs), problem))


def every_cell(g: np.ndarray) -> np.ndarray:
    """A 2x2, stride-2 pooling's gradient given to every cell of its window."""
    return np.kron(g, np.ones((1, 2, 2)))


def unturned(record, step) -> np.ndarray:
    """A one-channel, stride-1, unpadded convolution's dL/dX slid under the kernel as it is, not turned."""
    k = record.layer.filters.floats()[0, 0].astype(float)
    g = step.upstream.floats()[0].astype(float)
    kh, kw = k.shape
    out = np.zeros((1, g.shape[0] + kh - 1, g.shape[1] + kw - 1))
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            out[0, i : i + kh, j : j + kw] += g[i, j] * k[::-1, ::-1]
    return out


def tutorial_with(old: str, new: str) -> Problem:
    return loads(TUTORIAL_TRAIN.read_text(encoding="utf-8").replace(old, new, 1))


def sigmoid_of_z(record, step) -> np.ndarray:
    x = record.input.floats().astype(float)
    return step.upstream.floats() * x * (1 - x)


# ---- right, and following through ----


def test_a_right_working_of_the_forward_and_backward_pass_gets_full_marks():
    fb = check(TUTORIAL, planted(TUTORIAL), MARKER)
    assert fb.marks == fb.out_of == len(stages(TUTORIAL)) + len(backward_stages(TUTORIAL))
    assert all(r.verdict == "correct" for r in fb.stages)
    assert [r.stage for r in fb.stages if r.stage.backward] == list(backward_stages(TUTORIAL))


def test_mazurs_network_worked_right_to_nine_places_gets_full_marks():
    problem = load(MAZUR)
    fb = check(problem, planted(problem))
    assert fb.marks == fb.out_of and all(r.verdict == "correct" for r in fb.stages)
    assert {"layer3.db", "layer1.db"} <= {r.stage.key for r in fb.stages}


def test_a_backward_value_rounded_early_to_three_figures_is_right_and_noted():
    """As in the forward pass: a new weight written 1.00 (3 significant figures, 2 places) for 0.9996 is within
    half a unit of its own last place, so it is right "rounded early"; 1.0 (2 figures) is not; with `figures = 0`
    the allowance is off."""
    text = working_text(TUTORIAL, planted(TUTORIAL))
    at = text.index("[layer1.new]")
    assert text.count("0.9996", at) == 1
    for written, figures, right in (("1.00", 3, True), ("1.0", 3, False), ("1.00", 0, False)):
        problem = tutorial_with("[train]\n", f"[marks]\nfigures = {figures}\n\n[train]\n") if figures != 3 else TUTORIAL
        assert problem.marks.figures == figures
        changed = text[:at] + text[at:].replace("0.9996", written, 1)
        fb = Marker(problem).check(loads_working(changed, problem))
        (new,) = [r for r in fb.stages if r.stage.key == "layer1.new.filter1"]
        if right:
            assert new.verdict == "correct" and new.early == ((1, 0),), new
            assert new.early_why == "written to 3 or more significant figures"
        else:
            assert new.verdict == "wrong" and new.wrong == ((1, 0),) and not new.early, new
        others = [r for r in fb.stages if r.stage.key != "layer1.new.filter1"]
        assert all(r.verdict == "correct" for r in others)


def test_early_rounding_in_the_backward_pass_is_measured_from_the_value_in_full():
    """dL/dw for neuron 1's first weight is -0.53942 in full (-0.5395 carried): -0.539 is it to 3 figures and
    right "rounded early", but -0.540 is 0.00058 from it, more than half a unit of its last place, so it is
    wrong (measured from the carried -0.5395 it would pass: a half unit allowed twice). A stage wrong elsewhere
    still says which cells it accepted as rounded early."""
    right = (ROOT / "examples" / "tutorial-train-working-right.toml").read_text(encoding="utf-8")
    assert right.count("\n-0.5395 -0.2832\n") == 1
    full = MARKER.check(loads_working(right, TUTORIAL))
    carried = [r.right for r in full.stages if r.stage.key == "layer6.dw.neuron1"][0]
    assert abs(float(carried.floats().ravel()[0]) + 0.5395) < 1e-9

    def neuron1(row: str):
        fb = MARKER.check(loads_working(right.replace("\n-0.5395 -0.2832\n", f"\n{row}\n"), TUTORIAL))
        return next(r for r in fb.stages if r.stage.key == "layer6.dw.neuron1")

    good = neuron1("-0.539 -0.2832")
    assert good.verdict == "correct" and good.early == ((0, 0),), good
    doubled = neuron1("-0.540 -0.2832")
    assert doubled.verdict == "wrong" and doubled.wrong == ((0, 0),) and not doubled.early, doubled
    mixed = neuron1("-0.539 -0.2900")
    assert mixed.verdict == "wrong" and mixed.wrong == ((0, 1),) and mixed.early == ((0, 0),), mixed
    assert mixed.early_why == "written to 3 or more significant figures"


def test_a_wrong_first_gradient_carried_on_correctly_earns_follow_through_on_every_later_stage():
    fb = check(TUTORIAL, planted(TUTORIAL, top=lambda g: g * 1.5), MARKER)  # no known slip: a wrong yhat - y
    by_key = {r.stage.key: r for r in fb.stages}
    assert by_key["layer6.grad.z1"].verdict == "wrong" and by_key["layer6.grad.z1"].diagnosis is None
    first = ("loss", "layer6.grad.z1", "layer6.grad.z2")
    later = [r for r in fb.stages if r.stage.backward and r.stage.key not in first]
    assert all(r.verdict in ("correct", "follow-through") for r in later)
    assert by_key["layer6.dw.neuron1"].verdict == "follow-through"
    assert by_key["layer6.dw.neuron1"].follows_what == "your dL/d(output) of layer 6"
    assert by_key["layer6.new.neuron1"].follows_what == "your dL/dW of layer 6"
    assert by_key["layer1.dw.filter1"].verdict == "follow-through"
    assert fb.marks == fb.out_of - 2  # the two gradients of layer 6 alone


def test_new_weights_follow_from_the_students_own_weight_gradient_even_when_that_is_wrong():
    worked = planted(TUTORIAL)
    dw = next(s for s in worked if s.key == "layer6.dw.neuron1")
    new = next(s for s in worked if s.key == "layer6.new.neuron1")
    worked[dw] = floats(worked[dw].floats() + 0.1)  # a slip in their dL/dW alone
    weights, _ = parameters(TUTORIAL, 6)
    worked[new] = kept(weights[0].reshape(2, 2) - 0.1 * worked[dw].floats(), TUTORIAL)
    by_key = {r.stage.key: r for r in check(TUTORIAL, worked, MARKER).stages}
    assert by_key["layer6.dw.neuron1"].verdict == "wrong"
    assert by_key["layer6.new.neuron1"].verdict == "follow-through"
    assert by_key["layer6.new.neuron2"].verdict == "correct"


def test_the_loss_and_first_gradient_follow_from_the_students_own_forward_output():
    (values,) = [v for m, v in zip(MARKER.mistakes, MARKER.mistaken) if m.name.startswith("softmax without")]
    fb = check(TUTORIAL, planted(TUTORIAL, yhat=values[-1]), MARKER, outputs=values)
    by_key = {r.stage.key: r for r in fb.stages}
    assert by_key["layer7.values"].diagnosis.name.startswith("softmax without")
    assert by_key["loss"].verdict == "follow-through" and by_key["loss"].follows_what == "your layer 7 values"
    assert by_key["layer6.grad.z1"].verdict == "follow-through"
    assert all(r.verdict in ("correct", "follow-through") for r in fb.stages if r.stage.backward)


def test_no_follow_through_when_the_scheme_gives_none():
    problem = loads(TUTORIAL_TRAIN.read_text(encoding="utf-8") + "\n[marks]\nfollow_through = false\n")
    fb = check(problem, planted(problem, top=lambda g: g * 1.5))
    dw = next(r for r in fb.stages if r.stage.key == "layer6.dw.neuron1")
    assert dw.verdict == "wrong" and dw.refused == "the marking scheme gives no follow-through marks"


def test_an_all_zero_gradient_earns_nothing_after_it():
    worked = planted(TUTORIAL, top=lambda g: g * 0)
    by_key = {r.stage.key: r for r in check(TUTORIAL, worked, MARKER).stages}
    assert by_key["layer6.grad.z1"].verdict == "wrong"
    for key in ("layer6.dw.neuron1", "layer5.grad.map", "layer6.new.neuron1"):
        assert by_key[key].verdict == "wrong" and by_key[key].marks == 0, by_key[key]
    # Cells right in themselves still earn their share (most of this gradient is 0), as in the forward pass.
    assert by_key["layer1.grad.filter1"].verdict == "wrong" and by_key["layer1.grad.filter1"].marks == Fraction(13, 16)
    assert "layer 6 is 0 everywhere, which is not an answer to follow from" in by_key["layer5.grad.map"].refused


# ---- the named slips of the backward pass ----

# id, the problem, the slip planted (keyword arguments of `planted`), the stage it first shows in, the name's start.
SLIPS = [
    ("sign", TUTORIAL, {"top": lambda g: -g}, "layer6.grad.z1", "the gradient's sign turned"),
    (
        "sigmoid-derivative",
        TUTORIAL,
        {"below": {5: lambda r, s: s.upstream.floats()}},
        "layer4.grad.map",
        "the sigmoid's derivative a(1 - a) left out",
    ),
    (
        "sigmoid-of-z",
        TUTORIAL,
        {"below": {5: sigmoid_of_z}},
        "layer4.grad.map",
        "the sigmoid's derivative worked from its input",
    ),
    (
        "relu-derivative",
        TUTORIAL,
        {"below": {2: lambda r, s: s.upstream.floats()}},
        "layer1.grad.filter1",
        "ReLU's derivative left out",
    ),
    (
        "maxpool-every-cell",
        TUTORIAL,
        {"below": {3: lambda r, s: every_cell(s.upstream.floats())}},
        "layer2.grad.channel1",
        "max pooling's gradient sent to every cell",
    ),
    (
        "maxpool-shared",
        TUTORIAL,
        {"below": {3: lambda r, s: every_cell(s.upstream.floats()) / 4}},
        "layer2.grad.channel1",
        "max pooling's gradient shared out equally",
    ),
    (
        "avgpool-not-divided",
        tutorial_with('type = "maxpool"', 'type = "avgpool"'),
        {"below": {3: lambda r, s: every_cell(s.upstream.floats())}},
        "layer2.grad.channel1",
        "average pooling's gradient not divided",
    ),
    (
        "tanh-derivative",
        tutorial_with('type = "sigmoid"', 'type = "tanh"'),
        {"below": {5: lambda r, s: s.upstream.floats()}},
        "layer4.grad.map",
        "tanh's derivative 1 - a^2 left out",
    ),
    (
        "dense-not-transposed",
        load(MAZUR),
        {"below": {3: lambda r, s: r.weights.floats() @ s.upstream.floats()}},
        "layer2.grad.values",
        "the weights not transposed",
    ),
    (
        "kernel-not-turned",
        loads(CONVS),
        {"below": {2: unturned}},
        "layer1.grad.filter1",
        "the kernel not turned 180 degrees",
    ),
    ("update-added", TUTORIAL, {"update": lambda o, g, r: o + r * g}, "layer1.new.filter1", "the update added"),
    (
        "learning-rate-left-out",
        TUTORIAL,
        {"update": lambda o, g, r: o - g},
        "layer1.new.filter1",
        "the learning rate left out",
    ),
    ("step-alone", TUTORIAL, {"update": lambda o, g, r: -r * g}, "layer1.new.filter1", "the step -rate × dL/dW"),
    ("log-base-10", TUTORIAL, {"loss": lambda v: v / np.log(10)}, "loss", "the logarithm taken to base 10"),
    ("half-left-out", load(MAZUR), {"loss": lambda v: 2 * v}, "loss", "the 1/2 of 1/2 sum"),
    ("squares-added", loads(CONVS), {"loss": lambda v: 4 * v}, "loss", "the squared errors added up"),
    ("mse-factor-left-out", loads(CONVS), {"top": lambda g: g * 2}, "layer3.grad.values", "the 2/n of the mean"),
    ("binary-mean-left-out", loads(BINARY), {"top": lambda g: g * 2}, "layer1.grad.z1", "the 1/n of the mean"),
]


@pytest.mark.parametrize("problem, slip, key, name", [case[1:] for case in SLIPS], ids=[case[0] for case in SLIPS])
def test_each_slip_of_the_backward_pass_is_named_where_it_is_made_and_followed_after(problem, slip, key, name):
    fb = check(problem, planted(problem, **slip), MARKER if problem is TUTORIAL else None)
    wrong = [r for r in fb.stages if r.verdict == "wrong"]
    assert wrong and wrong[0].stage.key == key, [(r.stage.key, r.diagnosis) for r in wrong]
    assert wrong[0].diagnosis is not None and wrong[0].diagnosis.name.startswith(name), wrong[0].diagnosis
    assert wrong[0].marks == 0  # a mistake of method, every cell of it
    # The slip's own stages are the only wrong ones: everything after it follows from the student's own values.
    for r in wrong:
        assert r.diagnosis is not None and r.diagnosis.name == wrong[0].diagnosis.name, r
    assert all(r.verdict in ("correct", "follow-through") for r in fb.stages if r.verdict != "wrong")


def test_a_slip_repeated_in_a_layer_is_charged_once():
    fb = check(TUTORIAL, planted(TUTORIAL, update=lambda o, g, r: o + r * g), MARKER)
    by_key = {r.stage.key: r for r in fb.stages}
    assert by_key["layer6.new.neuron1"].marks == 0
    assert by_key["layer6.new.neuron2"].marks == 1 and "charged once" in by_key["layer6.new.neuron2"].charged


# ---- marks ----


def test_marks_for_backward_stages_and_groups_and_a_layer_means_its_forward_stages():
    extra = '\n[marks]\nloss = 2\nlayer6 = 4\n"layer6.dw" = 3\nlayer1.new.filter1 = 5\n'
    problem = loads(TUTORIAL_TRAIN.read_text(encoding="utf-8") + extra)
    fb = check(problem, planted(problem))
    points = {r.stage.key: r.out_of for r in fb.stages}
    assert points["loss"] == 2 and points["layer6.z1"] == points["layer6.z2"] == 2
    assert points["layer6.grad.z1"] == 1 and points["layer6.dw.neuron1"] == Fraction(3, 2)
    assert points["layer1.new.filter1"] == 5 and points["layer1.new.filter2"] == 1
    assert fb.marks == fb.out_of == sum(points.values())


def test_an_unknown_backward_stage_in_marks_is_one_located_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(TUTORIAL_TRAIN.read_text(encoding="utf-8") + '\n[marks]\n"layer6.dx" = 2\n', encoding="utf-8")
    working = tmp_path / "w.toml"
    working.write_text('student = "A"\n', encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", bad, working, "--out", tmp_path / "out", "--format", "md")
    assert_one_error(code, err, bad, [r"\[marks\] field 'layer6\.dx'", "did you mean 'layer6.dw'"])


# ---- what a working file may hold ----


def test_blank_cells_partial_rows_and_a_kind_named_table_in_the_backward_pass():
    text = working_text(TUTORIAL, {s: v for s, v in planted(TUTORIAL).items() if s.key == "loss"})
    right = planted(TUTORIAL)
    row2 = " ".join(f"{x:.4f}" for x in next(v for s, v in right.items() if s.key == "layer1.grad.filter1").floats()[1])
    text = text.split("[layer6]")[0] + "[layer7]" + text.split("[layer7]")[1]  # the dense layer's table left out
    text += f'\n[dense.grad]\nz1 = -0.5663\nz2 = "?"\n\n[layer1.grad]\nfilter1 = "{row2}"\nrows = "2"\n'
    fb = MARKER.check(loads_working(text, TUTORIAL))
    by_key = {r.stage.key: r for r in fb.stages}
    assert by_key["layer6.grad.z1"].verdict == "correct" and "layer6.grad.z2" not in {
        r.stage.key for r in fb.stages if r.answer is not None
    }
    filter1 = by_key["layer1.grad.filter1"]
    assert filter1.verdict == "correct" and filter1.blank == 12 and filter1.marks == Fraction(1, 4)


def test_the_bias_may_be_written_in_the_subtables_or_by_its_stage_name():
    problem = load(MAZUR)
    text = working_text(problem, planted(problem))
    before, dw = text.split("[layer3.dw]\n")
    bias = next(line for line in dw.splitlines() if line.startswith("bias = "))
    assert bias == 'bias = "0.138498562 -0.038098237"'
    moved = before.replace("[layer3]\n", "[layer3]\n" + bias.replace("bias", "db", 1) + "\n", 1)
    moved += "[layer3.dw]\n" + dw.replace(bias + "\n", "", 1)
    marker = Marker(problem)
    for t in (text, moved):
        fb = marker.check(loads_working(t, problem))
        assert next(r for r in fb.stages if r.stage.key == "layer3.db").verdict == "correct"
        assert fb.marks == fb.out_of


def test_a_spreadsheet_row_of_the_backward_pass_marks_as_its_working_file_does():
    from stepper.marking.spreadsheet import read_answers, row_of_working, sheet_of_rows, working_from_row

    working = loads_working(working_text(TUTORIAL, planted(TUTORIAL, top=lambda g: -g)), TUTORIAL)
    sheet = sheet_of_rows([row_of_working(working, TUTORIAL)], TUTORIAL)
    assert "layer6.dw.neuron1[2,2]" in sheet.splitlines()[0] and "loss" in sheet.splitlines()[0].split(",")
    path = Path(__file__).parent / "_backward_sheet.csv"
    try:
        path.write_text(sheet, encoding="utf-8")
        (row,) = read_answers(path)
    finally:
        path.unlink()
    again = MARKER.check(working_from_row(row, TUTORIAL, "sheet.csv"))
    first = MARKER.check(working)
    assert [(r.stage.key, r.verdict, r.marks) for r in again.stages] == [
        (r.stage.key, r.verdict, r.marks) for r in first.stages
    ]


# ---- bad working files: one line, exit 2, through the command ----

BAD = [
    ("misspelt-group", "[layer6.grads]\nz1 = 1\n", [r"\[layer6\]", "unknown part 'grads'", "did you mean 'grad'"]),
    ("no-gradient-above-the-start", "[layer7.grad]\nz1 = 1\n", [r"\[layer7\.grad\]", "no gradient", "layer 6"]),
    ("no-weights", "[layer2.dw]\nchannel1 = 1\n", [r"\[layer2\.dw\]", "relu", "no weights"]),
    ("no-bias", '[layer6.db]\nvalues = "1 2"\n', [r"\[layer6\.db\]", "no bias"]),
    ("loss-as-a-table", "[loss]\nvalue = 0.8\n", [r"\[loss\]", "one number at the top of the file", "loss = 0.8354"]),
    ("loss-inside-a-layer", "[layer6]\nz1 = 0.5\nloss = 0.8\n", [r"\[layer6\]", "loss goes at the top"]),
    ("unknown-part", "[layer6.grad]\nz3 = 1\n", [r"\[layer6\.grad\]", "unknown part 'z3'", "z1 or z2"]),
    ("decimal-comma", '[layer6.grad]\nz1 = "0,5"\n', [r"\[layer6\.grad\] z1", "decimal comma"]),
    ("row-outside", '[layer1.grad]\nfilter1 = "1 2 3 4"\nrows = "5"\n', [r"\[layer1\.grad\] rows", "row 5", "4 rows"]),
    ("not-a-number", '[dense.grad]\nz1 = "abc"\n', [r"\[dense\.grad\] z1", "expected a number"]),
    ("group-as-a-value", "[layer6]\ngrad = 3\n", [r"\[layer6\] grad", r"\[layer6\.grad\] with z1"]),
    ("ragged-grid", '[layer1.dw]\nfilter1 = """\n1 2 3\n4 5\n"""\n', [r"\[layer1\.dw\] filter1, row 2", "rectangular"]),
    ("bias-twice", '[layer3]\ndb = "1 2"\n\n[layer3.dw]\nbias = "1 2"\n', [r"layer3\.db is given twice"]),
]


@pytest.mark.parametrize("text, needles", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_a_bad_backward_working_file_is_one_located_line(tmp_path, capsys, text, needles):
    problem = MAZUR if "[layer3" in text else TUTORIAL_TRAIN  # Mazur's dense layers have biases
    working = tmp_path / "w.toml"
    working.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run_stepper(capsys, "check", problem, working, "--out", out, "--format", "md")
    assert_one_error(code, err, working, needles)
    assert not out.exists() or not any(out.iterdir())


def test_a_problem_without_train_refuses_gradients(tmp_path, capsys):
    working = tmp_path / "w.toml"
    working.write_text("loss = 0.8\n", encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", ROOT / "examples" / "tutorial.toml", working, "--out", tmp_path)
    assert_one_error(code, err, working, ["field 'loss'", r"no \[train\] table"])
    working.write_text("[layer6.grad]\nz1 = 1\n", encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", ROOT / "examples" / "tutorial.toml", working, "--out", tmp_path)
    assert_one_error(code, err, working, [r"\[layer6\.grad\]", r"no \[train\] table"])


# ---- reports ----


def test_the_feedback_report_names_backward_stages_and_their_slips_in_every_format(tmp_path, capsys):
    working = tmp_path / "sign.toml"
    working.write_text(working_text(TUTORIAL, planted(TUTORIAL, top=lambda g: -g)), encoding="utf-8")
    out = tmp_path / "out"
    code, printed, err = run_stepper(capsys, "check", TUTORIAL_TRAIN, working, "--out", out, "--format", "md,tex,pdf")
    assert code == 0, err
    assert "layer6.grad.z1 (the gradient's sign turned" in printed
    md = (out / "sign-feedback.md").read_text(encoding="utf-8")
    assert "| Layer 6 (dense), dL/dz1 | 0 / 1 | wrong: the gradient's sign turned" in md
    assert "correct by follow-through from your dL/d(output) of layer 6" in md
    assert "Layer 1 (convolution), updated weights of filter 1" in md
    assert (out / "sign-feedback.pdf").read_bytes().startswith(b"%PDF")


def test_the_class_summary_has_a_column_for_each_backward_stage(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "right.toml").write_text(working_text(TUTORIAL, planted(TUTORIAL)), encoding="utf-8")
    (folder / "sign.toml").write_text(working_text(TUTORIAL, planted(TUTORIAL, top=lambda g: -g)), encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run_stepper(capsys, "check", TUTORIAL_TRAIN, folder, "--out", out, "--format", "md")
    assert code == 0, err
    header = (out / "class-summary.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "loss" in header.split(",") and "layer1.new.filter2" in header.split(",")


# ---- the example working files ----

EXAMPLES = {
    "right": ({}, "right", "The tutorial trained one step, worked right (examples/tutorial-train.toml)."),
    "sign": (
        {"top": lambda g: -g},
        "the gradient's sign turned",
        "Planted: the gradient's sign turned (y - yhat instead of yhat - y) at layer 6's output; every later "
        "stage of the backward pass is worked on from these values.",
    ),
}


def example_text(name: str) -> str:
    slip, expect, said = EXAMPLES[name]
    student = "Ada Right" if name == "right" else "Student sign"
    text = working_text(TUTORIAL, planted(TUTORIAL, **slip), f"expect: {expect}\n{said}")
    return text.replace('student = "A. Student"', f'student = "{student}"', 1)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_each_example_working_file_is_current_and_diagnosed_as_its_first_line_says(name):
    path = ROOT / "examples" / f"tutorial-train-working-{name}.toml"
    text = path.read_text(encoding="utf-8")
    assert text == example_text(name), "run: python -m tests.marking.test_backward_marking"
    expect = text.splitlines()[0].removeprefix("# expect: ")
    fb = MARKER.check(loads_working(text, TUTORIAL))
    wrong = [r for r in fb.stages if r.verdict == "wrong"]
    if expect == "right":
        assert not wrong and fb.marks == fb.out_of
    else:
        assert wrong and all(r.diagnosis is not None and expect in r.diagnosis.name for r in wrong)
        assert all(r.verdict in ("correct", "follow-through") for r in fb.stages if r not in wrong)


def write_examples() -> None:
    for name in EXAMPLES:
        path = ROOT / "examples" / f"tutorial-train-working-{name}.toml"
        path.write_text(example_text(name), encoding="utf-8")
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    write_examples()
    sys.exit(0)
