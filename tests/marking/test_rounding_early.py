"""Rounding as students round: a value worked from exponentials kept to 3 significant figures, or written to 3
significant figures, is right ("rounded early"); one that no such rounding gives is still wrong.

What each rounding gives is worked out here with Python's decimal module, independently of stepper."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import pytest

from stepper.core.load import load, loads
from stepper.marking.marker import Marker
from stepper.marking.working import loads_working
from stepper.writing.documents import render_feedback
from tests.helpers import ROOT

Z = (-1.7, -0.5, 2.4)
SOFTMAX = f'''title = "softmax to 3 places"
input = "{" ".join(map(str, Z))}"
[settings]
decimals = 3
[[layers]]
type = "flatten"
[[layers]]
type = "softmax"
'''


def places(x: float, p: int) -> Decimal:
    return Decimal(repr(x)).quantize(Decimal(1).scaleb(-p), rounding=ROUND_HALF_UP)


def figures(x: float, k: int) -> float:
    return float(
        Decimal(repr(x)).quantize(Decimal(1).scaleb(math.floor(math.log10(x)) - k + 1), rounding=ROUND_HALF_UP)
    )


def softmax(kept) -> list[Decimal]:
    e = [kept(math.exp(z)) for z in Z]
    return [places(v / sum(e), 3) for v in e]


def check(problem_text: str, values: str, marks: str = ""):
    problem = loads(problem_text + marks)
    fb = Marker(problem).check(loads_working(f'[layer2]\nvalues = "{values}"\n', problem, name="w.toml"))
    return fb, fb.stages[-1]


def test_a_probability_from_exponentials_kept_to_3_figures_is_rounded_early_not_wrong():
    exact, early = softmax(lambda e: e), softmax(lambda e: figures(e, 3))
    carried = softmax(lambda e: float(places(e, 3)))  # the worked solution, exponentials to 3 places
    assert exact[0] == carried[0] != early[0]  # 0.015 worked in full or carried; 0.016 from 3 figures
    fb, r = check(SOFTMAX, " ".join(map(str, early)))
    assert r.verdict == "correct" and r.marks == r.out_of
    assert r.early == ((0,),) and "exponentials kept to 3" in r.early_why
    report = render_feedback(fb, "md")
    assert "rounded early" in report and "wrong" not in report.split("## Marks")[1].split("Values are")[0]


def test_figures_zero_allows_no_early_rounding():
    early = softmax(lambda e: figures(e, 3))
    _, r = check(SOFTMAX, " ".join(map(str, early)), "\n[marks]\nfigures = 0\n")
    assert r.verdict == "wrong" and r.wrong == ((0,),)


def test_a_value_no_early_rounding_gives_is_still_wrong():
    given = {softmax(lambda e, k=k: figures(e, k))[0] for k in range(3, 8)} | {softmax(lambda e: e)[0]}
    slip = next(Decimal(f"0.0{n}") for n in range(10, 30) if Decimal(f"0.0{n}") not in given)
    rest = softmax(lambda e: e)[1:]
    _, r = check(SOFTMAX, " ".join(map(str, [slip, *rest])))
    assert r.verdict == "wrong" and r.wrong == ((0,),) and not r.early


def test_a_value_written_to_3_significant_figures_is_right_and_2_is_not():
    """The tutorial's sigmoid to 4 places: 0.953 (3 figures) is rounded early; 0.95 (2) is not."""
    tutorial = load(ROOT / "examples" / "tutorial.toml")
    marker = Marker(tutorial)
    right = marker.trace.layers[4].output.floats()  # layer 5, the sigmoid
    three = [[f"{float(figures(float(x), 3)):.3g}" for x in row] for row in right[0]]
    two = [[f"{float(figures(float(x), 2)):.2g}" for x in row] for row in right[0]]
    base = (ROOT / "examples" / "tutorial-working-right.toml").read_text(encoding="utf-8").split("[layer5]")[0]

    def stage(rows):
        grid = "\\n".join(" ".join(r) for r in rows)
        fb = marker.check(loads_working(base + f'[layer5]\nmap = "{grid}"\n', tutorial, name="w.toml"))
        return next(r for r in fb.stages if r.stage.layer == 5)

    r3 = stage(three)
    assert r3.verdict == "correct" and r3.early and "written to 3" in r3.early_why
    r2 = stage(two)
    assert r2.verdict == "wrong" and r2.diagnosis is not None and r2.diagnosis.name.startswith("rounded to")


@pytest.mark.parametrize("bad", ["-1", '"3"', "16", "true"])
def test_a_bad_figures_setting_is_refused(bad):
    from stepper.core.errors import StepperError

    with pytest.raises(StepperError, match="significant figures"):
        loads(SOFTMAX + f"\n[marks]\nfigures = {bad}\n")
