"""An exam template with [train]: its variants' keys, answer sheets and Moodle, QTI and Canvas answers hold the
backward pass (the loss, every gradient, the updated weights), each number equal to a plain numpy computation of
the same network written here; [marks] weighs backward stages in the quiz; the same seed writes the same bytes; a
student's backward working is marked against their variant through the manifest."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from stepper.core.stages import backward_stages
from stepper.exams.generate import generate, stress
from stepper.exams.moodle import stage_answers, stage_marks
from stepper.exams.sheets import InMemory, write_exam
from stepper.exams.variants import load_template
from stepper.marking.moodle_responses import cloze
from stepper.marking.working import dumps_working
from tests.helpers import ROOT
from tests.helpers.one_line import run_stepper

TEMPLATE = ROOT / "examples" / "tutorial-exam.toml"
TRAIN = '[train]\ntarget = 1\nloss = "cross_entropy"\nlearning_rate = 0.1\n\n'
MARKS = '[marks]\nloss = 2\n"layer6.dw" = 3\n\n'
BLANK = re.compile(r"\{([0-9]*):NUMERICAL:=([^:{}]*):([^{}]*)\}")
FORMATS = ["md", "tex", "moodle", "qti", "canvas"]


def template_file(folder, rounding: str = "carry"):
    """The tutorial's exam template trained one step towards class 1, with marks for two backward stages."""
    text = TEMPLATE.read_text(encoding="utf-8")
    at = text.index("\n[random]\n") + 1
    text = text[:at] + TRAIN + MARKS + text[at:]
    if rounding == "full":
        text = text.replace('rounding = "carry"', 'rounding = "full"', 1)
    path = folder / f"train-exam-{rounding}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("train-exam")


@pytest.fixture(scope="module")
def carried(folder):
    return generate(load_template(template_file(folder)), 3, seed=5)


@pytest.fixture(scope="module")
def in_full(folder):
    return generate(load_template(template_file(folder, "full")), 3, seed=5)


@pytest.fixture(scope="module")
def written(folder, carried):
    sink = InMemory()
    path = template_file(folder)
    write_exam(sink, load_template(path), carried, 5, FORMATS, source=path.name)
    return sink


# ---- the network, forward and back, in plain numpy ----


def plain_numpy(problem) -> dict[str, np.ndarray]:
    """The tutorial's network (convolution, ReLU, 2x2 pooling, 1x1 filter, sigmoid, dense, softmax) trained one
    step with cross-entropy, in float64 with no rounding: every backward stage's values by its key."""
    image = problem.input.floats().astype(float)[0]
    conv, _, pool, mix, _, dense, _ = problem.layers
    filters = conv.filters.floats().astype(float)[:, 0]  # (2, 3, 3)
    padded = np.pad(image, 1)
    z1 = np.array(
        [
            [[(padded[2 * i : 2 * i + 3, 2 * j : 2 * j + 3] * k).sum() for j in range(4)] for i in range(4)]
            for k in filters
        ]
    )
    a2 = np.maximum(z1, 0)
    windows = a2.reshape(2, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4).reshape(2, 2, 2, 4)  # channel, row, col, cell
    a3 = windows.max(-1) if pool.kind == "maxpool" else windows.mean(-1)
    w4 = mix.weights.floats().astype(float)
    a4 = (w4[:, None, None] * a3).sum(0)
    a5 = 1 / (1 + np.exp(-a4))
    w6 = np.stack([w.floats().astype(float).ravel() for w in dense.weights])
    z6 = w6 @ a5.ravel()
    p = np.exp(z6) / np.exp(z6).sum()
    y = np.array([1.0, 0.0])
    found = {"loss": np.array(-np.log(p[0]))}
    dz6 = p - y
    found["layer6.grad.z1"], found["layer6.grad.z2"] = dz6[0], dz6[1]
    dw6 = np.outer(dz6, a5.ravel())
    found["layer6.dw.neuron1"], found["layer6.dw.neuron2"] = dw6[0].reshape(2, 2), dw6[1].reshape(2, 2)
    da5 = (w6.T @ dz6).reshape(2, 2)
    found["layer5.grad.map"] = da5
    da4 = da5 * a5 * (1 - a5)
    found["layer4.grad.map"] = da4
    found["layer4.dw.values"] = np.array([(da4 * a3[c]).sum() for c in range(2)])
    da3 = w4[:, None, None] * da4
    found["layer3.grad.channel1"], found["layer3.grad.channel2"] = da3[0], da3[1]
    if pool.kind == "maxpool":  # each window's gradient to its (single: no_ties) largest cell
        share = (windows == windows.max(-1, keepdims=True)).astype(float)
    else:
        share = np.full(windows.shape, 0.25)
    da2 = (share * da3[..., None]).reshape(2, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4).reshape(2, 4, 4)
    found["layer2.grad.channel1"], found["layer2.grad.channel2"] = da2[0], da2[1]
    dz1 = da2 * (z1 > 0)
    found["layer1.grad.filter1"], found["layer1.grad.filter2"] = dz1[0], dz1[1]
    dk = np.array(
        [
            [[(dz1[f] * padded[u : u + 7 : 2, v : v + 7 : 2]).sum() for v in range(3)] for u in range(3)]
            for f in range(2)
        ]
    )
    found["layer1.dw.filter1"], found["layer1.dw.filter2"] = dk[0], dk[1]
    found["layer1.new.filter1"], found["layer1.new.filter2"] = filters[0] - 0.1 * dk[0], filters[1] - 0.1 * dk[1]
    found["layer4.new.values"] = w4 - 0.1 * found["layer4.dw.values"]
    new6 = w6 - 0.1 * dw6
    found["layer6.new.neuron1"], found["layer6.new.neuron2"] = new6[0].reshape(2, 2), new6[1].reshape(2, 2)
    return found


def test_every_backward_number_of_the_keys_is_the_plain_numpy_one(in_full, written, folder):
    """With rounding = "full", the keys write the backward pass worked in full: each number is numpy's to the
    template's 4 places (the manifest's answers, which are the keys' numbers, and the keys' own text)."""
    sink = InMemory()
    path = template_file(folder, "full")
    write_exam(sink, load_template(path), in_full, 5, ["md"], source=path.name)
    manifest = json.loads(sink.files["manifest.json"])
    keys = sink.read_text("keys.md")
    for v, entry in zip(in_full, manifest["variants"]):
        reference = plain_numpy(v.problem)
        assert [s.key for s in backward_stages(v.problem)] == list(reference)
        for key, values in reference.items():
            answers = [float(x) for x in entry["answers"][key]]
            assert np.allclose(answers, np.ravel(values), rtol=0, atol=0.5e-4 + 1e-9), (v.id, key, answers, values)
        loss = entry["answers"]["loss"][0]
        assert loss in sink.read_text(f"variant-{v.id}-key.md") and loss in keys


def test_a_student_working_in_full_is_within_every_backward_answers_tolerance(carried):
    """Rounding carried, the quiz's tolerance takes in the backward pass worked in full too, and is never 0."""
    for v in carried:
        reference = plain_numpy(v.problem)
        found = {a.stage.key: a for a in stage_answers(v) if a.stage.backward}
        assert list(found) == list(reference)
        for key, values in reference.items():
            for (answer, tolerance), x in zip(found[key].cells, np.ravel(values)):
                assert Decimal(tolerance) > 0
                assert abs(Decimal(answer) - Decimal(float(x))) <= Decimal(tolerance), (v.id, key, answer, x)


# ---- the quiz, the sheets and the keys ----


def moodle_questions(sink) -> dict[str, ET.Element]:
    root = ET.fromstring(sink.files["moodle.xml"])
    return {q.find("name/text").text: q for q in root.findall("question") if q.get("type") != "category"}


def grade(q) -> int:
    if q.get("type") == "numerical":
        return int(q.find("defaultgrade").text)
    return sum(int(w or 1) for w, _, _ in BLANK.findall(q.find("questiontext/text").text))


def test_the_moodle_quiz_holds_every_backward_answer_with_its_marks_and_a_tolerance(carried, written):
    questions = moodle_questions(written)
    v = carried[0]
    marks = stage_marks(v.problem)
    assert marks["loss"] == 2 and marks["layer6.dw.neuron1"] == Fraction(3, 2) and marks["layer5.grad.map"] == 1
    answers = {a.stage.key: a for a in stage_answers(v)}
    scale = grade(questions[f"Variant {v.id}: Layer 1 (convolution), filter 1"])  # 1 mark
    for s in backward_stages(v.problem):
        q = questions[f"Variant {v.id}: {s.title(v.problem)}"]
        assert q.find("idnumber").text == f"{v.id}-{s.key}"
        assert grade(q) == pytest.approx(float(marks[s.key]) * scale, abs=len(answers[s.key].cells))
        if q.get("type") == "numerical":
            assert q.find("answer/text").text == answers[s.key].cells[0][0]
            assert Decimal(q.find("answer/tolerance").text) > 0
        else:
            blanks = BLANK.findall(q.find("questiontext/text").text)
            assert [(a, t) for _, a, t in blanks] == answers[s.key].cells
            assert all(Decimal(t) > 0 for _, _, t in blanks)
        assert "Answer: the backward pass" in q.find("generalfeedback/text").text
    assert questions[f"Variant {v.id}: Loss"].get("type") == "numerical"
    assert grade(questions[f"Variant {v.id}: Loss"]) == 2 * scale


def test_a_whole_variant_question_and_the_responses_reader_agree_on_the_backward_blanks(carried):
    found = cloze(carried[1].problem, carried[1].id)
    assert "loss" in found.cells and "layer6.new.neuron2[2,2]" in found.cells
    assert found.cells.index("loss") > found.cells.index("layer7.values[2]")


def test_the_answer_sheets_ask_for_the_training_step_and_have_boxes_for_each_backward_stage(carried, written):
    v = carried[0]
    md = written.read_text(f"variant-{v.id}-question.md")
    tex = written.read_text(f"variant-{v.id}-question.tex")
    assert "train the network one step of gradient descent" in md and "(class 1)" in md
    assert "learning rate $\\eta = 0.1$" in md
    for s in backward_stages(v.problem):
        assert f"`{s.key}`" in md, s.key
        assert f"\\answerbox{{{s.key}}}" in tex, s.key
    assert "Layer 6 (dense), dL/dz1 and dL/dz2" in md  # a layer's single values share a block
    assert "Total: **" + str(int(sum(stage_marks(v.problem).values()))) in md.replace(" marks", "")


def test_the_platform_packages_hold_the_backward_items(carried, written):
    with zipfile.ZipFile(io.BytesIO(written.files["qti.zip"])) as z:
        names = set(z.namelist())
    assert {f"items/v{carried[0].id}-loss.xml", f"items/v{carried[0].id}-layer6.dw.neuron1.xml"} <= names
    with zipfile.ZipFile(io.BytesIO(written.files["canvas.zip"])) as z:
        text = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))
    assert f"v{carried[0].id}-layer1.new.filter1-3-3" in text and f"v{carried[0].id}-loss" in text


def test_the_same_seed_writes_the_same_bytes(folder, carried, written):
    again = InMemory()
    path = template_file(folder)
    write_exam(again, load_template(path), generate(load_template(path), 3, seed=5), 5, FORMATS, source=path.name)
    assert again.files.keys() == written.files.keys()
    for name, data in written.files.items():
        assert again.files[name] == data, name


def test_the_stress_report_spreads_the_backward_answers(folder):
    result = stress(load_template(template_file(folder)), 30, 2)
    assert {"loss", "layer6.dw.neuron1", "layer1.new.filter2"} <= {key for key, *_ in result.spreads}


# ---- marked against the manifest ----


def test_a_students_backward_working_is_marked_against_their_variant(tmp_path, capsys, folder):
    exam = tmp_path / "exam"
    code, _, err = run_stepper(
        capsys, "exam", template_file(folder), "--variants", 2, "--seed", 5, "--out", exam, "--format", "md"
    )
    assert code == 0, err
    manifest = json.loads((exam / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["variants"][1]
    assert "[train]" in entry["problem"]
    v = generate(load_template(template_file(folder)), 2, seed=5)[1]
    training = v.training
    backward = {s: training.value(s) for s in backward_stages(v.problem)}
    text = dumps_working([r.output for r in v.trace.layers], v.problem, "B. Lee", 4, backward=backward)
    working = tmp_path / "b-lee.toml"
    working.write_text(f'variant = "{v.id}"\n' + text, encoding="utf-8")
    out = tmp_path / "marked"
    code, printed, err = run_stepper(capsys, "check", exam / "manifest.json", working, "--out", out, "--format", "md")
    assert code == 0, err
    total = int(sum(stage_marks(v.problem).values()))
    assert f"B. Lee: {total} / {total}: no wrong stage" in printed


# ---- other networks ----


def mazur_template(folder):
    """Mazur's network as an exam: the hidden layer's weights drawn, the biases kept and not updated."""
    text = (ROOT / "examples" / "mazur-backprop.toml").read_text(encoding="utf-8")
    text = text.replace('rounding = "full"', 'rounding = "carry"').replace("decimals = 9", "decimals = 4")
    path = folder / "mazur-exam.toml"
    path.write_text(text + '\n[random]\n"layer1.weights" = "0.1..0.5 by 0.05"\n', encoding="utf-8")
    return path


def test_a_network_with_biases_asks_for_their_gradients_and_not_their_update(folder):
    variants = generate(load_template(mazur_template(folder)), 2, seed=1)
    keys = [a.stage.key for a in stage_answers(variants[0])]
    assert {"layer1.db", "layer3.db", "layer1.new.neuron1"} <= set(keys)
    assert not any(k.endswith("new_bias") for k in keys)  # update_bias = false
    sink = InMemory()
    write_exam(sink, load_template(mazur_template(folder)), variants, 1, ["md", "moodle"])
    assert f"Variant {variants[0].id}: Layer 1 (dense), dL/db" in moodle_questions(sink)


def test_the_last_layer_a_combined_loss_needs_cannot_be_drawn(tmp_path, capsys):
    text = (ROOT / "examples" / "mazur-backprop.toml").read_text(encoding="utf-8")
    text = text.replace('target = [0.01, 0.99]\nloss = "half_sse"', 'target = [0, 1]\nloss = "binary_cross_entropy"')
    path = tmp_path / "exam.toml"
    path.write_text(text + '\n[random]\n"layer4.type" = ["sigmoid", "tanh"]\n', encoding="utf-8")
    code, _, err = run_stepper(capsys, "exam", path, "--variants", 2, "--out", tmp_path / "out")
    assert code == 2 and len(err.splitlines()) == 1
    assert "[random] 'layer4.type': [train] loss = 'binary_cross_entropy' needs the last layer to stay a sigmoid" in err


def test_nonzero_judges_the_backward_stages_as_written(carried):
    """A 1x1 filter that weighs channel 2 by 0 leaves every forward stage of an accepted variant non-zero, but the
    gradient reaching channel 2 is 0 everywhere (numpy: the gradient into channel c is w_c times the upstream
    gradient, which is not 0): such a variant asks nothing of the student there, so `nonzero` refuses it."""
    from dataclasses import replace

    from stepper.core.backward import training
    from stepper.core.numbers import from_numbers
    from stepper.exams.fairness import Constraints, judge

    only_nonzero = Constraints(saturated=None, no_ties=False, largest=None, distinct=False)
    problem = carried[0].problem
    assert judge(problem, only_nonzero).failures == {}
    mix = problem.layers[3]
    cut = replace(
        problem,
        layers=problem.layers[:3] + (replace(mix, weights=from_numbers([Fraction(1, 2), 0])),) + problem.layers[4:],
    )
    verdict = judge(cut, only_nonzero)
    upstream = training(cut).grad(4).upstream.floats()  # the gradient reaching the 1x1 layer's output
    assert np.any(upstream) and not np.any(0 * upstream)
    assert verdict.failures == {"nonzero": "layer3.grad.channel2 is all zeros"}, verdict.failures


def test_the_target_class_is_drawn_for_each_variant(folder):
    """ "train.target" = [1, 2] draws the class each variant trains towards: both classes come up, and each
    variant's loss is -log of its own class's softmax output (numpy), and its first gradient yhat - onehot."""
    text = (
        template_file(folder)
        .read_text(encoding="utf-8")
        .replace("[random]\n", '[random]\n"train.target" = [1, 2]\n', 1)
    )
    path = folder / "drawn-target.toml"
    path.write_text(text, encoding="utf-8")
    variants = generate(load_template(path), 8, seed=2)
    classes = [v.problem.train.target_class for v in variants]
    assert set(classes) == {1, 2}, classes
    for v, k in zip(variants, classes):
        assert v.problem.train.target.floats().tolist() == [float(j == k) for j in (1, 2)]
        p = v.trace.output.floats()
        loss = v.training.value(next(s for s in backward_stages(v.problem) if s.key == "loss")).floats()
        assert abs(float(loss.ravel()[0]) - (-np.log(p[k - 1]))) < 1e-3
        grad = v.training.value(next(s for s in backward_stages(v.problem) if s.key == "layer6.grad.z1")).floats()
        assert abs(float(grad.ravel()[0]) - (p[0] - (k == 1))) < 1e-3


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('"train.target" = [1, 3]', r"expected classes from 1 to 2 \(the network has 2 outputs\), found 3"),
        ('"train.target" = [0, 1]', r"expected whole numbers from 1 to 100, found 0"),
        ('"train.rate" = [1, 2]', r"expected 'train.target' \(the class each variant trains towards\)"),
    ],
)
def test_a_drawn_target_that_cannot_be_is_refused_in_one_line(folder, capsys, entry, expected):
    text = template_file(folder).read_text(encoding="utf-8").replace("[random]\n", f"[random]\n{entry}\n", 1)
    path = folder / "bad-target.toml"
    path.write_text(text, encoding="utf-8")
    code, _, err = run_stepper(capsys, "exam", path, "--out", folder / "bad-out")
    assert code == 2 and len(err.splitlines()) == 1, err
    assert re.search(expected, err) and "[random]" in err and "bad-target.toml" in err, err


def test_a_drawn_target_needs_train(folder, capsys):
    text = TEMPLATE.read_text(encoding="utf-8").replace("[random]\n", '[random]\n"train.target" = [1, 2]\n', 1)
    path = folder / "no-train.toml"
    path.write_text(text, encoding="utf-8")
    code, _, err = run_stepper(capsys, "exam", path, "--out", folder / "no-train-out")
    assert code == 2 and "the problem has no [train] to vary" in err and len(err.splitlines()) == 1, err


BINARY = '''
title = "One sigmoid output"
input = """
1 2
0 1
"""
[settings]
decimals = 4

[[layers]]
type = "flatten"

[[layers]]
type = "dense"
weights = [[0.5, -0.5, 0.25, 0.1]]

[[layers]]
type = "sigmoid"

[train]
target = 1
loss = "binary_cross_entropy"

[random]
input = "0..3"
"train.target" = [0, 1]

[constraints]
distinct = false
'''


def test_a_single_output_draws_its_target_zero_or_one(tmp_path):
    """With one sigmoid output (binary cross-entropy) the target drawn is the output's own, 0 or 1: both come
    up, and each variant's first gradient is yhat - y (numpy)."""
    path = tmp_path / "binary.toml"
    path.write_text(BINARY, encoding="utf-8")
    variants = generate(load_template(path), 8, seed=3)
    targets = [float(v.problem.train.target.floats()[0]) for v in variants]
    assert set(targets) == {0.0, 1.0}, targets
    for v, y in zip(variants, targets):
        yhat = float(v.trace.output.floats()[0])
        first = next(s for s in backward_stages(v.problem) if s.key.startswith("layer2.grad"))
        assert abs(float(v.training.value(first).floats().ravel()[0]) - (yhat - y)) < 1e-3
    path.write_text(BINARY.replace("[0, 1]", "[0, 2]"), encoding="utf-8")
    with pytest.raises(Exception, match=r"expected 0 or 1 \(the network has one output: its target\), found 2"):
        load_template(path)
