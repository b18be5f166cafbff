"""`=` only before exact values: e^x, σ(x) and tanh(x) of a rational x are exact only at x = 0 (Lindemann),
and a softmax output only when all its exponents are equal (each 1/n, written in full). The expected signs
and values below are worked out here from the inputs, never copied from stepper's output."""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest

from stepper import loads, render, trace

APPROX = "\\approx"


def problem(values: list[int], layers: str, rounding: str, decimals: int = 4) -> str:
    row = ", ".join(map(str, values))
    return (
        f'title = "signs"\ninput = [[{row}]]\n[settings]\ndecimals = {decimals}\nrounding = "{rounding}"\n'
        f'detail = "all"\n{layers}'
    )


def md(values: list[int], kind: str, rounding: str, decimals: int = 4, more: str = "") -> str:
    return render(trace(loads(problem(values, f'[[layers]]\ntype = "{kind}"\n{more}', rounding, decimals))), "md")


def rounded(x: float | Fraction, places: int) -> str:
    """x to `places` decimals, halves away from zero, as the README says values are written."""
    text = format(Decimal(x.numerator) / Decimal(x.denominator) if isinstance(x, Fraction) else Decimal(x), "f")
    return format(Decimal(text).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")


def sigmoid(x: int) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def sign_before(text: str, start: str) -> tuple[str, str]:
    """The relation and the value after the working of the displayed line that begins `start`."""
    m = re.search(re.escape(start) + r".*? (=|\\approx) (\S+)\n", text)
    assert m, (start, text)
    return m[1], m[2]


ROUNDINGS = ["carry", "full"]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("x", [40, -40, 0, 3, -20])
def test_sigmoid_is_exact_only_at_zero(x, rounding):
    text = md([x], "sigmoid", rounding)
    relation, value = sign_before(text, f"a_{{1,1}} = \\sigma({x}) = ")
    assert value == rounded(sigmoid(x), 4)
    assert relation == ("=" if x == 0 else APPROX)


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("x", [20, -20, 0, 1])
def test_tanh_is_exact_only_at_zero(x, rounding):
    text = md([x], "tanh", rounding)
    relation, value = sign_before(text, f"a_{{1,1}} = \\tanh({x}) = ")
    assert value == rounded(math.tanh(x), 4)
    assert relation == ("=" if x == 0 else APPROX)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_a_map_of_curves_is_exact_only_when_every_argument_is_zero(rounding):
    mixed = md([40, -40, 0], "sigmoid", rounding)
    assert f"\\end{{array}}\\right] {APPROX} \\left[" in mixed
    zeros = md([0, 0], "sigmoid", rounding)
    assert "\\end{array}\\right] = \\left[\\begin{array}{rr} 0.5000 & 0.5000" in zeros
    tanh_big = md([20], "tanh", rounding)
    assert f"\\tanh\\left[\\begin{{array}}{{r}} 20 \\end{{array}}\\right] {APPROX} " in tanh_big


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_sigmoid_of_zero_is_rounded_when_one_half_does_not_fit(rounding):
    """With no decimals, σ(0) = 1/2 is written 1 (half away from zero), so it follows ≈."""
    text = md([0], "sigmoid", rounding, decimals=0)
    assert sign_before(text, "a_{1,1} = \\sigma(0) = ") == (APPROX, "1")


def exponent_lines(text: str) -> list[tuple[str, str, str]]:
    """(exponent, relation, value) of each e^{...} line of the softmax working."""
    block = re.search(r"\\begin\{aligned\} (e\^.*?)\\end\{aligned\}", text, re.S)[1]  # one row a line
    return re.findall(r"e\^\{([^}]*)\} &(=|\\approx) (\S+) \\\\", block)


def outputs(text: str) -> list[tuple[str, str]]:
    return re.findall(r"\\hat\{y\}_\{\d+\} = \\frac\{[^}]*\}\{[^}]*\} (=|\\approx) (\S+)\n", text)


def denominator(text: str) -> tuple[str, str]:
    m = re.search(r"\\textstyle\\sum_j e\^\{z_j[^}]*\} &= .*? (=|\\approx) (\S+) \\end\{aligned\}", text, re.S)
    return m[1], m[2]


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_softmax_of_minus_1000_and_0(rounding):
    """The largest z (0) is subtracted: e^{0 - m} = e^0 = 1 is exact; e^{-1000} is not 0, however small,
    so neither output is exactly 0 or 1."""
    z = [-1000, 0]
    text = md(z, "softmax", rounding)
    m = max(z)
    assert exponent_lines(text) == [(f"{x} - m", "=" if x == m else APPROX, rounded(math.exp(x - m), 4)) for x in z]
    # kept in full, the terms are e^{-1000} and 1, and their sum is not exactly 1; carried, the terms are
    # the written 0.0000 and 1.0000, whose sum is exactly 1
    assert denominator(text) == ("=" if rounding == "carry" else APPROX, "1.0000")
    total = sum(math.exp(x - m) for x in z)
    assert outputs(text) == [(APPROX, rounded(math.exp(x - m) / total, 4)) for x in z]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize(
    "z,decimals", [([3, 3], 4), ([3, 3, 3], 4), ([3, 3, 3, 3], 2), ([3, 3, 3, 3], 1), ([0, 0], 4), ([3, 4], 4)]
)
def test_softmax_output_is_exact_only_when_all_exponents_are_equal(z, decimals, rounding):
    text = md(z, "softmax", rounding, decimals)
    n = len(z)
    every_equal = len(set(z)) == 1
    for x, (relation, value) in zip(z, outputs(text)):
        exact = Fraction(1, n)
        assert value == rounded(math.exp(x) / sum(math.exp(y) for y in z), decimals)
        assert relation == ("=" if every_equal and Fraction(value) == exact else APPROX), (x, value)
    assert [r for _, r, _ in exponent_lines(text)] == ["=" if x == 0 else APPROX for x in z]


def test_equal_softmax_is_exact_where_one_over_n_ends():
    """Spelled out: 1/2 and 1/4 end within the decimals, 1/3 does not, and 1/4 to 1 place is 0.3."""
    assert outputs(md([3, 3], "softmax", "carry")) == [("=", "0.5000")] * 2
    assert outputs(md([3, 3, 3], "softmax", "carry")) == [(APPROX, "0.3333")] * 3
    assert outputs(md([3, 3, 3, 3], "softmax", "carry", 2)) == [("=", "0.25")] * 4
    assert outputs(md([3, 3, 3, 3], "softmax", "carry", 1)) == [(APPROX, "0.3")] * 4


def test_softmax_of_zeros_sums_exactly_in_full():
    """Kept in full, a sum of exponentials is exact only when every term is e^0 = 1."""
    assert denominator(md([0, 0], "softmax", "full")) == ("=", "2.0000")
    assert denominator(md([0, 1], "softmax", "full"))[0] == APPROX


def test_the_largest_of_values_kept_in_full_is_no_more_exact_than_they_are():
    """σ(40) kept in full is a float 1.0 but not 1: a max pool over it writes ≈."""
    text = md([40, 0], "sigmoid", "full", more='[[layers]]\ntype = "maxpool"\nsize = [1, 2]\n')
    assert re.search(r"\\max\(1\.0000, 0\.5000\) \\approx 1\.0000", text), text
