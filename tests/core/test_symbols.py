"""Symbols in the input, weights or bias: exact symbolic working, in the order written."""

from __future__ import annotations

import sympy

from stepper import load, loads, render, trace
from stepper.interop.dump import dumps
from tests.helpers import ROOT

w1, w2, w3, w4, a, b, e, f = sympy.symbols("w1 w2 w3 w4 a b e f")


def test_the_tutorials_volumetric_illustration():
    result = trace(load(ROOT / "examples" / "volumetric-symbols.toml"))
    first = result.layers[0].sums.data[0, 0, 0]
    assert sympy.expand(first - (w1 * 1 + w2 * 2 + w3 * 5 + w4 * 6 + w1 * a + w2 * b + w3 * e + w4 * f)) == 0
    md = render(result, "md")
    # each channel's terms in brackets (channels = "grouped"), weight first, in the order written; the window
    # holds 6, not 5
    assert (
        "z_{1,1} &= \\bigl[(w_1 \\cdot 1) + (w_2 \\cdot 2) + (w_3 \\cdot 5) + (w_4 \\cdot 6)\\bigr] + "
        "\\bigl[(w_1 \\cdot a) + (w_2 \\cdot b) + (w_3 \\cdot e) + (w_4 \\cdot f)\\bigr]"
    ) in md
    from dataclasses import replace

    flat = render(result, "md", replace(result.settings, channels="flat"))  # the tutorial's own way: one sum
    assert (
        "z_{1,1} &= (w_1 \\cdot 1) + (w_2 \\cdot 2) + (w_3 \\cdot 5) + (w_4 \\cdot 6) + (w_1 \\cdot a) + "
        "(w_2 \\cdot b) + (w_3 \\cdot e) + (w_4 \\cdot f)"
    ) in flat
    assert "w_4 \\cdot 5" not in md
    assert "&= w_1 + 2 w_2 + 5 w_3 + 6 w_4 + a w_1 + b w_2 + e w_3 + f w_4" in md


def test_numbers_and_symbols_mix():
    text = '''
input = """
1 2
3 4
"""
[[layers]]
type = "conv2d"
filters = """
1 0
0 1/2
"""
bias = ["c"]
[[layers]]
type = "avgpool"
size = 1
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
weights = [["u"]]
bias = [0.5]
'''
    result = trace(loads(text))
    c, u = sympy.symbols("c u")
    assert sympy.simplify(result.layers[0].sums.data[0, 0, 0] - (1 + sympy.Rational(1, 2) * 4 + c)) == 0
    assert sympy.simplify(result.output.data[0] - (u * (3 + c) + sympy.Rational(1, 2))) == 0
    md = render(result, "md")
    assert "c" in md and "u" in md and "\\frac{1}{2}" in md


def test_problem_files_with_symbols_read_back():
    problem = load(ROOT / "examples" / "volumetric-symbols.toml")
    again = loads(dumps(problem))
    assert (trace(again).output.data == trace(problem).output.data).all()


def test_simplify_collects_each_sum_by_the_weights():
    result = trace(load(ROOT / "examples" / "volumetric-symbols.toml"))
    assert result.settings.simplify
    md = render(result, "md")
    assert (
        "&= w_1 \\left(a + 1\\right) + w_2 \\left(b + 2\\right) + w_3 \\left(e + 5\\right) + w_4 \\left(f + 6\\right)"
    ) in md
    from dataclasses import replace

    plain = render(result, "md", replace(result.settings, simplify=False))
    assert "\\left(a + 1\\right)" not in plain


def test_symbols_go_through_padding_and_transposed_convolution():
    text = '''
input = """
a b
c d
"""
[[layers]]
type = "conv2d"
filters = [[1, 1], [1, 1]]
padding = 1
[[layers]]
type = "conv_transpose2d"
stride = 2
filters = [[1, 0], [0, 1]]
'''
    result = trace(loads(text))
    a, d = sympy.symbols("a d")
    assert result.layers[0].sums.data[0, 0, 0] == a and result.layers[0].sums.data[0, 2, 2] == d
    for fmt in ("md", "tex"):
        assert "a" in render(result, fmt)


def test_symbol_names_are_written_so_that_they_cannot_be_confused():
    from stepper import StepperError
    import pytest

    with pytest.raises(StepperError, match="'x1' and 'x_1' would be written alike"):
        loads('input = """\nx1 x_1\n"""\n')
    md = render(trace(loads('input = """\nab alpha\n"""\n[[layers]]\ntype = "conv2d"\nfilters = [[1, 2]]\n')), "md")
    assert "(1 \\cdot \\mathit{ab}) + (2 \\cdot \\alpha)" in md
