"""How numbers are written and rounded, and the numerically delicate layers."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from stepper import loads, render, trace
from stepper.maths import signed_join
from stepper.numbers import from_numbers, round_half_away, write_exact, write_float


@pytest.mark.parametrize("value,places,expected", [
    (Fraction(-7), None, "-7"), (Fraction(0), None, "0"), (Fraction(1, 2), None, "0.5"),
    (Fraction(1, 2), 4, "0.5000"), (Fraction(-1, 8), None, "-0.125"), (Fraction(1, 3), None, "\\frac{1}{3}"),
    (Fraction(-4, 3), None, "-\\frac{4}{3}"), (Fraction(77618, 100000), None, "0.77618"), (Fraction(3), 4, "3.0000"),
])
def test_exact_numbers(value, places, expected):
    assert write_exact(value.numerator, value.denominator, places) == expected


def test_no_negative_zero():
    assert write_float(-0.00001, 4) == "0.0000"
    assert write_float(-0.0, 2) == "0.00"
    assert write_float(2.5e300, 4).endswith("10^{300}")


def test_signs_are_merged():
    assert signed_join(["-2", "-5"]) == "-2 - 5"
    assert signed_join(["3", "-1", "\\frac{1}{2}"]) == "3 - 1 + \\frac{1}{2}"
    assert signed_join([]) == "0"


def test_rounding_is_half_away_from_zero_and_exact_at_ties():
    v = from_numbers([Fraction(5, 1000), Fraction(-5, 1000), Fraction(15, 10000)], (3,))
    assert round_half_away(v, 2).numbers() == [Fraction(1, 100), Fraction(-1, 100), Fraction(0)]
    f = from_numbers([0.125, -0.375, 0.5000015], (3,))  # floats exactly on (or near) a tie
    assert round_half_away(f, 2).numbers()[:2] == [Fraction(13, 100), Fraction(-38, 100)]


def small(layers: str, values: str) -> str:
    return f'input = [[{values}]]\n[settings]\ndetail = "all"\n{layers}'


@pytest.mark.parametrize("rounding", ["carry", "full"])
def test_sigmoid_and_softmax_are_stable_for_huge_inputs(rounding):
    text = small('[[layers]]\ntype = "sigmoid"\n[[layers]]\ntype = "dense"\nweights = [[1000, 0], [0, -1000]]\n'
                 '[[layers]]\ntype = "softmax"\n', "1000, -1000").replace('detail = "all"', f'rounding = "{rounding}"')
    result = trace(loads(text))
    sig = result.layers[0].output.floats().ravel()
    assert np.allclose(sig, [1.0, 0.0])
    out = result.layers[2].output.floats()
    assert np.all(np.isfinite(out)) and np.isclose(out.sum(), 1.0)
    assert np.allclose(out, [1.0, 0.0])
    softmax = result.layers[2]
    assert softmax.shift is not None  # the largest z is subtracted, and the working says so
    md = render(result, "md")
    assert "reduced by the largest" in md and "nan" not in md.lower() and "inf" not in md.lower()


def test_softmax_of_very_negative_inputs_still_sums_to_one():
    result = trace(loads(small('[[layers]]\ntype = "softmax"\n', "-20, -21, -25")))
    out = result.layers[0].output.numbers()
    assert sum(out) == pytest.approx(1, abs=2e-4)
    assert out[0] > out[1] > out[2]
