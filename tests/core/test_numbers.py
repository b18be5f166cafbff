"""How numbers are written and rounded, and the numerically delicate layers."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from stepper import loads, render, trace
from stepper.writing.maths import signed_join
from stepper.core.numbers import from_numbers, round_half_away, write_exact, write_float


@pytest.mark.parametrize(
    "value,places,expected",
    [
        (Fraction(-7), None, "-7"),
        (Fraction(0), None, "0"),
        (Fraction(1, 2), None, "0.5"),
        (Fraction(1, 2), 4, "0.5000"),
        (Fraction(-1, 8), None, "-0.125"),
        (Fraction(1, 3), None, "\\frac{1}{3}"),
        (Fraction(-4, 3), None, "-\\frac{4}{3}"),
        (Fraction(77618, 100000), None, "0.77618"),
        (Fraction(3), 4, "3.0000"),
    ],
)
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
    f = from_numbers([0.125, -0.375], (2,))  # floats exactly on a tie
    assert round_half_away(f, 2).numbers() == [Fraction(13, 100), Fraction(-38, 100)]
    # The double nearest 0.0045 lies just below it, but 0.0045 * 1000 rounds to exactly 4.5 in floats:
    # rounding must follow the double's exact value, down to 0.004, as the reference does.
    assert Fraction(0.0045) < Fraction(45, 10000) and 0.0045 * 1000 == 4.5
    assert round_half_away(from_numbers([0.0045, -0.0045], (2,)), 3).numbers() == [
        Fraction(4, 1000),
        Fraction(-4, 1000),
    ]


def small(layers: str, values: str) -> str:
    return f'input = [[{values}]]\n[settings]\ndetail = "all"\n{layers}'


@pytest.mark.parametrize("rounding", ["carry", "full"])
def test_sigmoid_and_softmax_are_stable_for_huge_inputs(rounding):
    text = small(
        '[[layers]]\ntype = "sigmoid"\n[[layers]]\ntype = "dense"\nweights = [[1000, 0], [0, -1000]]\n'
        '[[layers]]\ntype = "softmax"\n',
        "1000, -1000",
    ).replace('detail = "all"', f'rounding = "{rounding}"')
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


def test_huge_products_never_wrap_around():
    """Past 2^53 sums are computed (and marked) as floats rather than overflowing int64."""
    result = trace(
        loads(
            'input = [[1000000000, 2000000000, 3000000000]]\n[[layers]]\ntype = "dense"\n'
            "weights = [[3000000000, 3000000000, 3000000000]]\n"
        )
    )
    dense = result.layers[0]
    assert not dense.output.exact
    assert dense.output.floats()[0] == pytest.approx(1.8e19)
    assert np.allclose(dense.neuron(0).products.floats(), [3e18, 6e18, 9e18])
    md = render(result, "md")
    assert "1.8000 \\times 10^{19}" in md and "-" not in md.split("## Layer 1")[1].split("## Answer")[0]


def test_rounding_large_exact_values_keeps_the_sign():
    text = 'input = [[10000000, 1]]\n[settings]\ndecimals = 12\n[[layers]]\ntype = "conv1x1"\nweights = ["1/3"]\n'
    out = trace(loads(text)).layers[0].output.numbers()[0][0]
    assert out[0] == pytest.approx(10000000 / 3) and out[0] > 0
