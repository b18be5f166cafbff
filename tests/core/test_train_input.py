"""Bad [train] tables: one located line naming [train] and the field, in the library and on the command line.

Each case is a small valid problem with exactly one thing wrong in its [train] table (or in the network it
trains). `loads` raises a StepperError whose one line reads `FILE: [train] ...` and names the field;
`stepper solve FILE --format md --out DIR` exits with 2, prints that line alone with no traceback, and writes
nothing.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction

import pytest

from stepper.core.errors import StepperError
from stepper.core.load import loads

INPUT = '''input = """
1 2 0
0 1 3
2 1 1
"""
'''
CONV = """[[layers]]
type = "conv2d"
filters = '''
1 0
0 -1
'''
"""
DENSE = """[[layers]]
type = "flatten"
[[layers]]
type = "dense"
weights = [[0.1, 0.2, 0.3, 0.4], [0.5, -0.1, 0.2, 0.0]]
bias = [0.1, -0.1]
"""
SOFTMAX = '[[layers]]\ntype = "softmax"\n'
NETWORK = INPUT + CONV + DENSE + SOFTMAX  # a 3x3 image, a 2x2 map, two outputs and their softmax


def problem(train: str, network: str = NETWORK) -> str:
    return network + "[train]\n" + train + "\n"


@dataclass
class Case:
    id: str
    text: str
    needles: tuple[str, ...]  # what the message must hold besides "[train]"

    def __str__(self) -> str:
        return self.id


CASES = [
    Case(
        "unknown field", problem("target = 1\nlerning_rate = 0.1"), ("'lerning_rate'", "did you mean 'learning_rate'")
    ),
    Case("unknown table", problem("target = 1\n[train.extra]"), ("'extra'", "unknown field")),
    Case(
        "loss misspelt", problem('target = 1\nloss = "crossentropy"'), ("field 'loss'", "did you mean 'cross_entropy'")
    ),
    Case("loss unknown", problem('target = 1\nloss = "hinge"'), ("field 'loss'", "expected one of 'cross_entropy'")),
    Case("loss a number", problem("target = 1\nloss = 2"), ("field 'loss'", "expected one of")),
    Case(
        "cross_entropy without softmax",
        problem("target = 1", INPUT + CONV + DENSE),
        ("field 'loss'", "cross_entropy expects the network to end with a softmax layer", "last layer is dense"),
    ),
    Case(
        "binary_cross_entropy without sigmoid",
        problem('target = 1\nloss = "binary_cross_entropy"'),
        ("field 'loss'", "end with a sigmoid layer", "last layer is softmax"),
    ),
    Case("target class 0", problem("target = 0"), ("field 'target'", "a class from 1 to 2", "found 0")),
    Case("target class too large", problem("target = 3"), ("field 'target'", "a class from 1 to 2", "found 3")),
    Case("target true", problem("target = true"), ("field 'target'", "expected a class number")),
    Case("target too short", problem("target = [1.0]"), ("field 'target'", "expected 2 numbers", "found 1")),
    Case(
        "target too long", problem('target = [0.2, 0.3, 0.5]\nloss = "mse"'), ("field 'target'", "expected 2 numbers")
    ),
    Case("target not adding to 1", problem("target = [0.5, 0.6]"), ("field 'target'", "add up to 1", "1.1")),
    Case("target below 0", problem("target = [1.5, -0.5]"), ("field 'target'", "from 0 to 1")),
    Case("target a symbol", problem('target = ["a", 1]\nloss = "mse"'), ("field 'target'", "symbol")),
    Case("target missing", problem('loss = "mse"'), ("missing field 'target'",)),
    Case("learning_rate 0", problem("target = 1\nlearning_rate = 0"), ("field 'learning_rate'", "above 0", "found 0")),
    Case("learning_rate negative", problem("target = 1\nlearning_rate = -0.5"), ("field 'learning_rate'", "above 0")),
    Case("learning_rate text", problem('target = 1\nlearning_rate = "fast"'), ("field 'learning_rate'", "fast")),
    Case("learning_rate true", problem("target = 1\nlearning_rate = true"), ("field 'learning_rate'",)),
    Case("steps 0", problem("target = 1\nsteps = 0"), ("field 'steps'", "from 1 to 1000", "found 0")),
    Case("steps 1.5", problem("target = 1\nsteps = 1.5"), ("field 'steps'", "whole number", "1.5")),
    Case("steps true", problem("target = 1\nsteps = true"), ("field 'steps'", "whole number", "true")),
    Case(
        "update_bias yes", problem('target = 1\nupdate_bias = "yes"'), ("field 'update_bias'", "true or false", "yes")
    ),
    Case("ties last", problem('target = 1\nties = "last"'), ("field 'ties'", "'first'", "'all'", "last")),
    Case(
        "network ending in maps",
        problem('target = [0, 1, 0, 1]\nloss = "mse"', INPUT + CONV),
        ("end in a vector", "2x2 maps", "add a flatten"),
    ),
    Case(
        "symbols in the network",
        problem("target = 1", NETWORK.replace("[0.1, 0.2, 0.3, 0.4]", '["w1", 0.2, 0.3, 0.4]')),
        ("training needs numbers", "symbols"),
    ),
    Case(
        "symbols in the input",
        problem("target = 1", NETWORK.replace("1 2 0\n", "a 2 0\n")),
        ("training needs numbers", "symbols"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_bad_train_table_is_one_located_line(case):
    with pytest.raises(StepperError) as raised:
        loads(case.text, name="bad.toml")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("bad.toml: [train]"), message
    for needle in case.needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_the_train_table_must_be_a_table():
    with pytest.raises(StepperError) as raised:
        loads(NETWORK.replace("input =", "train = 3\ninput ="), name="bad.toml")
    assert "expected a [train] table" in str(raised.value) and "field 'train'" in str(raised.value)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_command_line_exits_2_with_the_line_alone(case, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(case.text, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "stepper", "solve", "bad.toml", "--format", "md", "--out", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("stepper: error: bad.toml: [train]"), lines[0]
    for needle in case.needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert not (tmp_path / "out").exists()


def test_a_good_train_table_and_its_defaults():
    """What a [train] table that gives only its target means: cross-entropy, a rate of 1/10, one step, the
    biases updated, ties to the first maximum."""
    train = loads(problem("target = 2")).train
    assert train is not None
    assert (train.loss, train.learning_rate, train.steps, train.update_bias, train.ties) == (
        "cross_entropy",
        Fraction(1, 10),
        1,
        True,
        "first",
    )
    assert train.target_class == 2 and train.target.floats().tolist() == [0, 1]
    given = loads(
        problem('target = "0.25 0.75"\nlearning_rate = "1/3"\nsteps = 4\nupdate_bias = false\nties = "all"')
    ).train
    assert given is not None and given.target_class is None and given.target.floats().tolist() == [0.25, 0.75]
    assert (given.learning_rate, given.steps, given.update_bias, given.ties) == (Fraction(1, 3), 4, False, "all")
    assert loads(problem('target = [0.1, 0.9]\nloss = "binary_cross_entropy"', NETWORK.replace("softmax", "sigmoid")))
