"""The evaluator against an independent forward pass, on randomly generated networks."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from stepper import loads, trace
from tests.helpers.problems import problems, to_toml
from tests.helpers import ROOT
from tests.helpers.reference import forward


def as_fractions(values) -> np.ndarray:
    return np.array(values.numbers(), dtype=object)


def assert_close(ours: np.ndarray, theirs: np.ndarray, where: str) -> None:
    assert ours.shape == theirs.shape, where
    for idx, a in np.ndenumerate(ours):
        b = theirs[idx]
        if isinstance(a, float) or isinstance(b, float):
            assert abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b))), f"{where} at {idx}: {a} != {b}"
        else:
            assert Fraction(a) == Fraction(b), f"{where} at {idx}: {a} != {b}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_every_layer_matches_the_reference(problem):
    result = trace(loads(to_toml(problem)))
    expected = forward(problem, problem["settings"]["rounding"], problem["settings"]["decimals"])
    assert len(result.layers) == len(expected)
    for record, theirs in zip(result.layers, expected):
        ours = as_fractions(record.output).reshape(theirs.shape) if record.output.data.size == theirs.size else None
        assert ours is not None, f"layer {record.number}: shape {record.output.shape} vs {theirs.shape}"
        assert_close(ours, theirs, f"layer {record.number} ({record.layer.kind})")


@pytest.mark.parametrize("rounding", ["carry", "full"])
def test_tutorial_matches_the_reference(rounding):
    import tomllib
    from pathlib import Path

    text = (ROOT / "examples" / "tutorial.toml").read_text()
    data = tomllib.loads(text, parse_float=lambda s: s)  # decimals as their written text
    result = trace(loads(text.replace('rounding = "carry"', f'rounding = "{rounding}"')))
    expected = forward(data, rounding, 4)
    for record, theirs in zip(result.layers, expected):
        assert_close(as_fractions(record.output).reshape(theirs.shape), theirs, f"layer {record.number}")
