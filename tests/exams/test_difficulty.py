"""Equal difficulty: the difficulty measure against a recount by hand, `saturated` as a distance, difficulty bands,
and layer types dealt out evenly over an exam's variants."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import numpy as np
import pytest

from stepper.core.errors import StepperError
from stepper.core.evaluate import trace
from stepper.core.load import loads
from stepper.exams.fairness import Difficulty, difficulty, judge
from stepper.exams.generate import candidate_seed, generate, stress, stress_report
from stepper.exams.variants import load_template, loads_template
from stepper.interop.dump import dumps
from tests.helpers import ROOT

TEMPLATE = ROOT / "examples" / "tutorial-exam.toml"
TUTORIAL = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")


# ---- the default `saturated`: no sigmoid value within 0.01 of 0 or 1, over 200 variants ----


def sigmoid_values_as_written(v) -> list[Decimal]:
    """The sigmoid layer's values as the key writes them, read from the variant's trace (not the measure)."""
    found = []
    for record, layer in zip(v.trace.layers, v.problem.layers):
        if layer.kind == "sigmoid":
            found += [Decimal(f"{x:.4f}") for x in record.output.floats().ravel()]
    return found


def test_no_accepted_variant_of_200_has_a_sigmoid_value_near_0_or_1():
    template = load_template(TEMPLATE)
    variants = generate(template, 200, 1)
    values = [x for v in variants for x in sigmoid_values_as_written(v)]
    assert len(values) == 200 * 4
    assert all(Decimal("0.01") < x < Decimal("0.99") for x in values), min(min(x, 1 - x) for x in values)
    # the 200-candidate stress run: every candidate it accepts passes the same check
    result = stress(template, 200, 1)
    accepted = 0
    for n in range(1, 201):
        verdict = judge(template.draw(candidate_seed(template, 1, n, 0)), template.constraints)
        if verdict.trace is not None and "saturated" not in verdict.failures:
            y = np.round(verdict.trace.layers[4].output.floats(), 4)
            assert np.all(np.minimum(y, 1 - y) > 0.01 + 1e-12), n
        accepted += not verdict.failures
    assert 0 < result.accepted <= accepted
    report = stress_report(result, template.constraints)
    assert "saturated (no sigmoid, tanh or softmax value within 0.01 of 0 or 1)" in report
    for measure in Difficulty._fields:
        assert f"\n  {measure} (" in report.split("Difficulty of the accepted variants")[1], measure


def test_saturated_takes_a_distance_and_a_count():
    template = loads_template(TUTORIAL + '\n[random]\ninput = "0..4"\n[constraints]\nsaturated = 0.2\n', name="t")
    verdict = judge(template.base, template.constraints)  # the tutorial: sigmoid values 0.9997, 0.7311, ...
    assert "layer5.map has" in verdict.failures["saturated"] and "within 0.2 of 0 or 1" in verdict.failures["saturated"]
    loose = loads_template(
        TUTORIAL + '\n[random]\ninput = "0..4"\n[constraints]\nsaturated = { within = 0.2, at_most = 4 }\n', name="t"
    )
    assert "saturated" not in judge(loose.base, loose.constraints).failures
    for bad in ('"yes"', "0.5", "-0.1", "{ within = 0.01, at_most = -1 }", "{ width = 0.1 }"):
        with pytest.raises(StepperError, match="saturated"):
            loads_template(TUTORIAL + f'\n[random]\ninput = "0..4"\n[constraints]\nsaturated = {bad}\n', name="t")


# ---- the measure against a recount by hand, on a small problem ----

SMALL = '''title = "small"
input = """
1 2 0 3
0 1 2 1
3 0 1 2
2 1 0 1
"""
[settings]
terms = "{terms}"
[[layers]]
type = "conv2d"
filters = ["1 0 -1\\n0 1 0\\n-1 0 1", "0 1 0\\n1 1 1\\n0 1 0"]
[[layers]]
type = "relu"
[[layers]]
type = "maxpool"
size = 2
[[layers]]
type = "dense"
weights = [[0.5, -0.5], [0.1, 0.2], [-0.3, 0.4]]
[[layers]]
type = "{squash}"
[[layers]]
type = "dense"
weights = [[1, -1, 0.5], [0.5, 0.5, -1]]
[[layers]]
type = "softmax"
'''


def recount(terms: str, squash: str) -> Difficulty:
    """The small problem worked by hand in numpy: products counted from the shapes (2 filters x 4 windows x 9,
    then 3 x 2 and 2 x 3 weights), exponentials from the layer kinds (one per sigmoid value, two per tanh value,
    one per softmax input)."""
    x = np.array([[1, 2, 0, 3], [0, 1, 2, 1], [3, 0, 1, 2], [2, 1, 0, 1]], dtype=float)
    k = [np.array([[1, 0, -1], [0, 1, 0], [-1, 0, 1]]), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])]
    r = lambda a: np.sign(a) * np.floor(np.abs(a) * 1e4 + 0.5 + 1e-9) / 1e4  # noqa: E731
    windows = [x[i : i + 3, j : j + 3] for i in range(2) for j in range(2)]
    products = [w * f for f in k for w in windows]  # 8 windows of 9 products
    sums = np.array([p.sum() for p in products]).reshape(2, 2, 2)
    relu = np.maximum(sums, 0)
    pooled = relu.reshape(2, 4).max(axis=1)
    ties = sum(int(np.count_nonzero(relu[c] == relu[c].max()) > 1) for c in range(2))
    w1 = np.array([[0.5, -0.5], [0.1, 0.2], [-0.3, 0.4]])
    z1 = w1 @ pooled
    a = r(1 / (1 + np.exp(-z1)) if squash == "sigmoid" else np.tanh(z1))
    w2 = np.array([[1, -1, 0.5], [0.5, 0.5, -1]])
    z2 = r(w2 @ a)
    e = r(np.exp(z2))
    p = r(e / r(e.sum()))
    written = [*products, sums, relu, pooled, w1 * pooled, z1, a, w2 * a, z2, e, [e.sum()], p]
    all_products = [*products, w1 * pooled, w2 * a]
    count = sum(int(np.count_nonzero(q)) if terms == "nonzero" else q.size for q in all_products)
    near = np.minimum(p, 1 - p) if squash == "tanh" else np.concatenate([np.minimum(a, 1 - a), np.minimum(p, 1 - p)])
    return Difficulty(
        products=count,
        magnitude=max(float(np.abs(np.asarray(v)).max()) for v in written),
        exponentials=(3 if squash == "sigmoid" else 6) + 2,
        exponent=float(max(np.abs(z1).max(), np.abs(z2).max())),
        saturation=float(min(near.min(), (1 - np.abs(a)).min()) if squash == "tanh" else near.min()),
        ties=ties + int(z2[0] == z2[1]),
    )


@pytest.mark.parametrize("terms, squash", [("all", "sigmoid"), ("nonzero", "sigmoid"), ("all", "tanh")])
def test_the_measure_equals_a_recount_by_hand(terms, squash):
    measured = difficulty(trace(loads(SMALL.replace("{terms}", terms).replace("{squash}", squash))))
    expected = recount(terms, squash)
    if terms == "all":
        assert measured.products == 2 * 4 * 9 + 3 * 2 + 2 * 3 == expected.products
    assert measured.products == expected.products
    assert measured.exponentials == expected.exponentials == (5 if squash == "sigmoid" else 8)
    assert measured.ties == expected.ties
    for field in ("magnitude", "exponent", "saturation"):
        assert getattr(measured, field) == pytest.approx(getattr(expected, field), abs=1e-4), field


def test_a_max_pooling_tie_and_equal_softmax_inputs_are_counted():
    text = (
        SMALL.replace("{terms}", "all")
        .replace("{squash}", "sigmoid")
        .replace("weights = [[1, -1, 0.5], [0.5, 0.5, -1]]", "weights = [[1, 1, 1], [1, 1, 1]]")
    )
    text = text.replace('"0 1 0\\n1 1 1\\n0 1 0"', '"0 0 0\\n0 0 0\\n0 0 0"')  # filter 2: a map of zeros, all tied
    assert difficulty(trace(loads(text))).ties == 2  # the all-zero pooling window, and z1 = z2


# ---- a difficulty band rejects a candidate outside it ----


def test_a_band_rejects_an_out_of_band_candidate():
    base = TUTORIAL + '\n[random]\ninput = "0..4"\n[constraints]\nsaturated = false\n'
    measured = difficulty(trace(loads(TUTORIAL)))
    assert measured.exponent == 3  # the tutorial's sigmoid needs e^-3
    narrow = loads_template(base + "difficulty = { exponent = 2, products = [1, 1000] }\n", name="t")
    verdict = judge(narrow.base, narrow.constraints)
    assert verdict.failures["difficulty"].startswith(f"exponent is {measured.exponent:g}, outside its band (at most 2)")
    assert verdict.difficulty == measured
    wide = loads_template(
        base + f"[constraints.difficulty]\nexponent = 20\nproducts = [{measured.products}, {measured.products}]\n",
        name="t",
    )
    assert "difficulty" not in judge(wide.base, wide.constraints).failures
    # a band on products alone: every accepted variant within it, and the stress report counts the rest
    template = load_template(TEMPLATE)
    spread = stress(template, 100, 2).difficulty
    low, middle, high = next((lo, mid, hi) for m, lo, mid, hi in spread if m == "products")
    text = TEMPLATE.read_text(encoding="utf-8").replace(
        "[constraints]\n", f"[constraints]\ndifficulty = {{ products = [{int(low)}, {int(middle)}] }}\n", 1
    )
    banded = loads_template(text, name="banded")
    result = stress(banded, 100, 2)
    assert 0 < result.outside["products"] < 100 and result.passed["difficulty"] == 100 - result.outside["products"]
    assert all(low <= d.products <= middle for d in (difficulty(v.trace) for v in generate(banded, 10, 2)))
    report = stress_report(result, banded.constraints)
    assert f"  outside its band: products (from {int(low)} to {int(middle)})" in report


@pytest.mark.parametrize(
    "bad, needle",
    [
        ('"hard"', "expected a table of measures"),
        ("{ product = 3 }", "did you mean 'products'"),
        ("{ products = [60, 40] }", "expected the most allowed"),
        ("{ exponent = -1 }", "expected the most allowed"),
    ],
)
def test_a_bad_band_is_refused(bad, needle):
    with pytest.raises(StepperError, match=needle):
        loads_template(TUTORIAL + f'\n[random]\ninput = "0..4"\n[constraints]\ndifficulty = {bad}\n', name="t")


# ---- layer types dealt out evenly, or fixed for the exam ----

TYPES = (
    TUTORIAL
    + """
[random]
input = "0..4"
"layer3.type" = ["maxpool", "avgpool"]
"layer6.weights" = "0..0.5 by 0.1"
{options}
[constraints]
no_ties = false
saturated = false
"""
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_six_variants_of_a_two_way_type_get_each_type_three_times(seed):
    template = loads_template(TYPES.replace("{options}", ""), name="t")
    variants = generate(template, 6, seed)
    assert Counter(v.problem.layers[2].kind for v in variants) == {"maxpool": 3, "avgpool": 3}
    for v in variants:  # the variant's seed carries its type: it alone draws the problem again
        assert dumps(template.draw(v.seed)).split("\n", 1)[1] == dumps(v.problem).split("\n", 1)[1]
    seven = Counter(v.problem.layers[2].kind for v in generate(template, 7, seed))
    assert sorted(seven.values()) == [3, 4]


def test_a_fixed_type_is_one_for_the_exam():
    template = loads_template(TYPES.replace("{options}", 'fixed = ["layer3.type"]'), name="t")
    kinds = {seed: {v.problem.layers[2].kind for v in generate(template, 4, seed)} for seed in range(1, 7)}
    assert all(len(k) == 1 for k in kinds.values())
    assert set.union(*kinds.values()) == {"maxpool", "avgpool"}  # the seed chooses which


def test_balance_false_draws_each_variant_alone_and_bad_options_are_refused():
    template = loads_template(TYPES.replace("{options}", "balance = false"), name="t")
    assert template.deals == 1 and not template.dealt
    for options, needle in (
        ("balance = 1", "field 'balance': expected true or false"),
        ('fixed = ["layer3.typ"]', "did you mean 'layer3.type'"),
        ('fixed = "layer3.type"', "expected a list of the types"),
    ):
        with pytest.raises(StepperError, match=needle):
            loads_template(TYPES.replace("{options}", options), name="t")


# ---- determinism ----


def test_the_same_template_and_seed_give_the_same_variants_and_report():
    template = load_template(TEMPLATE)
    first, second = generate(template, 12, 7), generate(load_template(TEMPLATE), 12, 7)
    assert [dumps(v.problem) for v in first] == [dumps(v.problem) for v in second]
    assert [v.seed for v in first] == [v.seed for v in second]
    assert [difficulty(v.trace) for v in first] == [difficulty(v.trace) for v in second]
    reports = [stress_report(stress(template, 50, 7), template.constraints).split("\n", 1)[1] for _ in range(2)]
    assert reports[0] == reports[1]  # all but the timing line
