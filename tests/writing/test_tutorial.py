"""The handwritten tutorial's numbers, from the trace and in the rendered solution."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from stepper import render

FEATURE_MAPS = [
    [[-7, -6, -5, -9], [0, 6, -1, -1], [-3, 4, 4, 0], [-6, -4, -4, 3]],
    [[-8, -5, -6, -3], [-9, -3, -9, -10], [-1, -10, -1, -8], [-4, -8, -3, -10]],
]


def values(v) -> np.ndarray:
    return np.array(v.numbers(), dtype=object)


def matrix_tex(rows, fmt: str = "tex") -> str:
    """A matrix's rows as written: in Markdown each row separator ends its line (GitHub keeps a `\\\\` only
    there), in LaTeX the rows run on one line."""
    return (" \\\\\n" if fmt == "md" else " \\\\ ").join(" & ".join(str(x) for x in row) for row in rows)


def test_feature_maps(tutorial):
    assert values(tutorial.layers[0].output).tolist() == FEATURE_MAPS


def test_relu_pool_average(tutorial):
    relu = np.maximum(np.array(FEATURE_MAPS), 0)
    assert values(tutorial.layers[1].output).tolist() == relu.tolist()
    assert values(tutorial.layers[2].output).tolist() == [[[6, 0], [4, 4]], [[0, 0], [0, 0]]]
    assert values(tutorial.layers[3].output).tolist() == [[[3, 0], [2, 2]]]


def test_sigmoid_dense_softmax_as_carried_by_hand(tutorial):
    assert values(tutorial.layers[4].output).ravel().tolist() == [
        Fraction(x) for x in ("0.9526", "0.5", "0.8808", "0.8808")
    ]
    assert values(tutorial.layers[5].sums).tolist() == [Fraction("0.5095"), Fraction("0.77618")]
    assert values(tutorial.layers[5].output).tolist() == [Fraction("0.5095"), Fraction("0.7762")]
    assert values(tutorial.layers[6].exps).tolist() == [Fraction("1.6645"), Fraction("2.1732")]
    # The handwritten tutorial prints 0.3963 and 0.6037 here: a slip, since
    # e^0.5095 / (e^0.5095 + e^0.7762) = 1 / (1 + e^0.2667) = 0.4337.
    assert values(tutorial.layers[6].output).tolist() == [Fraction("0.4337"), Fraction("0.5663")]
    z = np.array([0.5095, 0.7762])
    assert np.allclose(np.exp(z) / np.exp(z).sum(), [0.4337, 0.5663], atol=5e-5)


@pytest.mark.parametrize("fmt", ["md", "tex"])
def test_rendered_solution_holds_every_stage(tutorial, fmt):
    text = render(tutorial, fmt)
    for fmap in FEATURE_MAPS:
        assert matrix_tex(fmap, fmt) in text
    relu1 = np.maximum(np.array(FEATURE_MAPS[0]), 0).tolist()
    assert matrix_tex(relu1, fmt) in text
    assert matrix_tex([[0] * 4] * 4, fmt) in text
    assert matrix_tex([[6, 0], [4, 4]], fmt) in text and matrix_tex([[0, 0], [0, 0]], fmt) in text
    assert matrix_tex([[3, 0], [2, 2]], fmt) in text
    assert matrix_tex([["0.9526", "0.5000"], ["0.8808", "0.8808"]], fmt) in text
    assert "= 0.5095" in text and "0.77618 \\approx 0.7762" in text
    assert "\\frac{1.6645}{3.8377} \\approx 0.4337" in text and "\\frac{2.1732}{3.8377} \\approx 0.5663" in text
    assert "\\sigma(0) = \\frac{1}{1 + e^{0}} = 0.5000" in text  # exact, so "=" rather than "\\approx"
    assert "0.3963" not in text
    assert "\\left\\lfloor \\frac{8 + 2 \\cdot 1 - 3}{2} \\right\\rfloor + 1 = \\lfloor 3.5 \\rfloor + 1 = 4" in text
    assert "row 10" in text and "column 10" in text  # the stride leaves the last padded row and column unused


def window_sums(text: str) -> dict[str, list[tuple[str, str]]]:
    """Every conv window's written sum, by filter: [(lhs, right-hand side), ...]."""
    found: dict[str, list] = {}
    for filt, body in re.findall(r"### Filter (\d+)\n(.*?)(?=\n### |\n## )", text, re.S):
        found[filt] = re.findall(r"(z_\{\d+,\d+\}) = ([^$]*?)\n", body)
    return found


def test_every_window_sum_is_written_at_detail_all(tutorial_md, tutorial):
    sums = window_sums(tutorial_md)
    assert sorted(sums) == ["1", "2"]
    for f, written in sums.items():
        assert len(written) == 16
        fmap = FEATURE_MAPS[int(f) - 1]
        for lhs, rhs in written:
            i, j = map(int, re.findall(r"\d+", lhs))
            assert rhs.split(" = ")[-1].strip() == str(fmap[i - 1][j - 1])
    # the tutorial's first window: = 0 - 2 - 5 = -7, written with the nonzero products only
    assert sums["1"][0] == ("z_{1,1}", "-2 - 5 = -7")
    assert sums["1"][5] == ("z_{2,2}", "5 + 2 + 4 - 1 - 1 - 3 = 6")


def test_detail_n_and_answers(tutorial):
    from dataclasses import replace

    settings = tutorial.problem.settings
    eight = render(tutorial, "md", replace(settings, detail=8))
    counts = {f: len(w) for f, w in window_sums(eight).items()}
    assert counts == {"1": 8, "2": 8}
    assert "The other 8 windows are worked the same way." in eight
    answers = render(tutorial, "md", replace(settings, detail="answers"))
    assert all(len(w) == 0 for w in window_sums(answers).values())
    assert matrix_tex(FEATURE_MAPS[1], "md") in answers and "0.5663" in answers


def test_terms_all_writes_every_product(tutorial):
    from dataclasses import replace

    text = render(tutorial, "md", replace(tutorial.problem.settings, terms="all"))
    # window (1,1) of filter 1: 0*1 + 0*0 + 0*1 + 0*1 + 3*0 + 2*(-1) + 0*(-1) + 4*0 + 5*(-1)
    # one kernel row a line; in Markdown each line of the aligned block ends with its \\
    assert (
        "z_{1,1} &= 0 \\cdot 1 + 0 \\cdot 0 + 0 \\cdot 1 \\\\\n&\\quad + 0 \\cdot 1 + 3 \\cdot 0 + 2 \\cdot (-1) "
        "\\\\\n&\\quad + 0 \\cdot (-1) + 4 \\cdot 0 + 5 \\cdot (-1)"
    ) in text
    assert "+ -" not in text and "- -" not in text


@pytest.mark.parametrize("terms", ["nonzero", "all"])
def test_document_working_matches_each_window_record(tutorial, terms):
    """The document writes windows in bulk; each must read exactly as its own window record does."""
    from dataclasses import replace

    from stepper.writing.documents import portable_maths
    from stepper.writing.maths import Maths, sub

    settings = replace(tutorial.problem.settings, terms=terms)
    text = render(tutorial, "md", settings)
    maths = Maths(settings, "%s")
    conv = tutorial.layers[0]
    for f in range(2):
        for w in conv.windows(f):
            assert f"$$\n{portable_maths(maths.window_equation(sub('z', w.row, w.col), w))}\n$$" in text
