"""The trace as JSON data (stepper.writing.data): it validates against the shipped schema, the tutorial's numbers can
be rebuilt from it alone, every number the tutorial's Markdown prints is in it, and it is safe to embed in HTML."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from fractions import Fraction
from importlib import resources

import numpy as np
import pytest

from stepper import load, loads, trace
from stepper.core.errors import StepperError
from stepper.exams.variants import load_template
from stepper.writing.data import embeddable, trace_data, trace_json
from tests.helpers import ROOT
from tests.helpers.katex import markdown_formulas, node_katex_available, render_errors

jsonschema = pytest.importorskip("jsonschema")

# Every example problem and exam template (students' working files are not problems).
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.toml") if "-working-" not in p.name)
HOSTILE_TITLE = 'He said "</script><!-- \\ \\u2028 & <b>" \u2028\u2029 ünïcødé 𝔁 \u202e'


def schema() -> dict:
    """The schema as the package ships it."""
    return json.loads(resources.files("stepper.writing").joinpath("trace.schema.json").read_text(encoding="utf-8"))


def validator():
    jsonschema.Draft202012Validator.check_schema(schema())
    return jsonschema.Draft202012Validator(schema())


def problem_or_none(path):
    """The example as a problem; an exam template gives its first variant; a student's working file gives None."""
    try:
        return load(path)
    except StepperError:
        try:
            return load_template(path).draw(1)
        except StepperError:
            return None


@pytest.fixture(scope="module")
def data(tutorial) -> dict:
    return json.loads(trace_json(tutorial))


def fr(number: dict) -> Fraction:
    return Fraction(number["exact"])


def fractions(array: dict) -> np.ndarray:
    """An Array's exact values as an object array of Fractions, in its shape."""
    flat = [Fraction(x) for x in np.array(array["exact"], dtype=object).ravel()]
    return np.array(flat, dtype=object).reshape(array["shape"])


# ---- the schema ----


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_validates(path):
    problem = problem_or_none(path)
    assert problem is not None, f"{path.name} is neither a problem nor an exam template"
    t = trace(problem)
    check = validator()
    settings = [replace(t.settings, detail=1, terms="all")]
    if problem.input.data.size < 256:  # a large problem (LeNet) once: the validator takes 10 s over its arrays
        settings += [None, replace(t.settings, detail="answers"), replace(t.settings, transposed="convolution")]
    for s in settings:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in check.iter_errors(json.loads(trace_json(t, s)))]
        assert errors == [], errors[:5]


def test_full_rounding_and_fractions_validate():
    """Exact fractions that do not end, floats kept in full, and a max pool's padding (-∞, no float)."""
    text = """
title = "Thirds"
input = "1 -2 3\\n4 5 -6\\n7 8 9"
[settings]
rounding = "full"
[[layers]]
type = "conv2d"
filters = ["1/3 0\\n0 -1/3"]
padding = 1
[[layers]]
type = "maxpool"
size = 2
padding = 1
[[layers]]
type = "tanh"
[[layers]]
type = "flatten"
[[layers]]
type = "softmax"
"""
    d = trace_data(trace(loads(text)))
    assert list(validator().iter_errors(d)) == []
    assert d["layers"][0]["windows"][0]["total"]["exact"] == "-1/3"
    pool = d["layers"][1]
    padding = pool["padded"]["text"][0][0][0]
    assert (padding, pool["padded"]["value"][0][0][0], pool["padded"]["exact"][0][0][0]) == ("-\\infty", None, "-inf")


def test_schema_requires_the_contract():
    d = trace_data(trace(load(ROOT / "examples" / "tutorial.toml")))
    del d["layers"][0]["windows"][0]["working"]
    del d["layers"][2]["windows"][0]["winner"]
    d["layers"][5]["neurons"][0]["terms"][0]["x"]["value"] = "0.5"
    assert len(list(validator().iter_errors(d))) == 3


def test_detail_limits_what_is_listed(tutorial):
    assert tutorial.settings.detail == "all"
    lenet = trace(load(ROOT / "examples" / "lenet.toml"))
    d = trace_data(lenet, replace(lenet.settings, detail=2))
    for layer in d["layers"]:
        listed = layer.get("windows") or layer.get("elements") or layer.get("neurons") or []
        per_map = {w.get("filter", w.get("channel")) for w in listed if "index" not in w}
        assert len(listed) <= 2 * max(len(per_map), 1)
    assert len(trace_json(lenet, replace(lenet.settings, detail="answers"))) < len(
        trace_json(lenet, replace(lenet.settings, detail=2))
    )


# ---- the tutorial rebuilt from the JSON alone ----


def test_layers_chain(data):
    assert [layer["stage"] for layer in data["layers"]] == [f"layer{n}" for n in range(1, 8)]
    assert data["layers"][0]["input"] == data["input"]
    for before, after in zip(data["layers"], data["layers"][1:]):
        assert after["input"] == before["output"]
    assert data["output"] == data["layers"][-1]["output"]
    assert data["layers"][0]["heading"] == "Layer 1: convolution"
    assert data["source"] == "tutorial.toml"


def test_conv_windows_add_up(data):
    conv = data["layers"][0]
    padded, output = fractions(conv["padded"]), fractions(conv["output"])
    assert len(conv["windows"]) == 2 * 16
    for w in conv["windows"]:
        assert len(w["cells"]) == len(w["terms"])
        total = Fraction(0) if w["bias"] is None else fr(w["bias"])
        for (c, r, k), term in zip(w["cells"], w["terms"]):
            assert w["rows"][0] <= r <= w["rows"][1] and w["cols"][0] <= k <= w["cols"][1]
            assert padded[c - 1, r - 1, k - 1] == fr(term["x"])
            assert fr(term["x"]) * fr(term["w"]) == fr(term["product"])
            total += fr(term["product"])
        assert total == fr(w["total"])
        assert fr(w["value"]) == output[w["filter"] - 1, w["row"] - 1, w["col"] - 1]
        assert w["working"].startswith(f"z_{{{w['row']},{w['col']}}} = ")
        assert w["working"].endswith(f"= {w['total']['text']}")


def test_conv_maps_recomputed_with_numpy(data):
    """Pad, slide and multiply from the JSON's input, filters, stride and padding: the JSON's sums."""
    conv = data["layers"][0]
    x, filters, p = fractions(conv["input"]), fractions(conv["filters"]), conv["padding"]
    padded = np.pad(x, ((0, 0), (p["top"], p["bottom"]), (p["left"], p["right"])), constant_values=Fraction(0))
    assert (padded == fractions(conv["padded"])).all()
    (sh, sw), (_, kh, kw) = conv["stride"], filters.shape[1:]
    oh, ow = (padded.shape[1] - kh) // sh + 1, (padded.shape[2] - kw) // sw + 1
    sums = np.array(
        [
            [[(padded[:, i * sh : i * sh + kh, j * sw : j * sw + kw] * f).sum() for j in range(ow)] for i in range(oh)]
            for f in filters
        ],
        dtype=object,
    )
    assert (sums == fractions(conv["sums"])).all()
    assert (np.maximum(sums, 0) == fractions(data["layers"][1]["output"])).all()


def test_pools_are_the_max_of_their_cells(data):
    pool = data["layers"][2]
    padded = fractions(pool["padded"])
    for w in pool["windows"]:
        cells = [padded[c - 1, r - 1, k - 1] for c, r, k in w["cells"]]
        assert cells == [fr(v) for v in w["values"]]
        assert fr(w["value"]) == max(cells)
        assert padded[w["channel"] - 1, w["winner"][0] - 1, w["winner"][1] - 1] == max(cells)
        assert fr(w["value"]) == fractions(pool["output"])[w["channel"] - 1, w["row"] - 1, w["col"] - 1]


def test_mix_sigmoid_dense_softmax_recomputed(data):
    mix, sigmoid, dense, softmax = data["layers"][3:7]
    y = np.tensordot(fractions(mix["weights"]), fractions(mix["input"]), axes=1)
    assert (y == fractions(mix["output"])[0]).all()
    for cell in mix["cells"]:
        assert sum(fr(t["x"]) * fr(t["w"]) for t in cell["terms"]) == fr(cell["total"])
    for e in sigmoid["elements"]:
        assert round(1 / (1 + math.exp(-e["x"]["value"])), 4) == e["y"]["value"]
    x = np.array(dense["input"]["value"], dtype=float).ravel()
    assert np.allclose(np.array(dense["weights"]["value"]) @ x, dense["sums"]["value"], atol=1e-12)
    for neuron in dense["neurons"]:
        assert sum(fr(t["product"]) for t in neuron["terms"]) == fr(neuron["total"])
    z = np.array(softmax["input"]["value"])
    assert np.allclose(np.round(np.exp(z), 4), softmax["exps"]["value"], atol=1e-12)
    assert fr(softmax["total"]) == sum(Fraction(e) for e in softmax["exps"]["exact"])
    assert np.allclose(
        np.array(softmax["exps"]["value"]) / softmax["total"]["value"], softmax["output"]["value"], atol=5e-5
    )


def all_texts(item, found: set[str]) -> set[str]:
    """Every Number.text and Array text cell of the data."""
    if isinstance(item, dict):
        if isinstance(item.get("text"), str):
            found.add(item["text"])
        elif isinstance(item.get("text"), list):
            found.update(str(t) for t in np.array(item["text"], dtype=object).ravel())
        for value in item.values():
            all_texts(value, found)
    elif isinstance(item, list):
        for value in item:
            all_texts(value, found)
    return found


# What the Markdown's maths holds that is not a value of the trace, and so is taken out before its numbers are read:
# subscripts (z_{1,2}, K_{1}: positions, not values); the size formulas (\lfloor: n, k, s and padding are shapes and
# settings); the layers' own formulas with their constants (\max(0, z), 1 / (1 + e^{-z}), e^{z_i}); a sigmoid's
# working's constant 1 in \frac{1}{1 + e^{..}}; and array column specs ({rrr}).
_NOT_VALUES = [
    re.compile(r"_\{[^{}]*\}|_[0-9a-z]"),
    re.compile(r"\\frac\{1\}\{1 \+ "),
    re.compile(r"\\begin\{array\}\{[rlc]*\}"),
]
_FORMULAS = re.compile(r"\\lfloor|\(z\)|e\^\{z|\\max\(0, z\)|w_1|x_\{")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def test_every_number_in_the_markdown_is_in_the_json(tutorial, tutorial_md, data):
    texts = {t.lstrip("-") for t in all_texts(data, set())}
    missing = set()
    for tex, _ in markdown_formulas(tutorial_md):
        if _FORMULAS.search(tex):
            continue
        for pattern in _NOT_VALUES:
            tex = pattern.sub(" ", tex)
        # signs are read apart from their numbers: the working subtracts (2 - 1 - 5) where the values are negative
        missing |= {n for n in _NUMBER.findall(tex) if n not in texts}
    assert missing == set()


# ---- bytes, hostile text and HTML ----


def test_same_bytes_twice(tutorial):
    first = trace_json(tutorial).encode()
    assert first == trace_json(tutorial).encode()
    assert first == trace_json(trace(load(ROOT / "examples" / "tutorial.toml"))).encode()
    assert first.endswith(b"\n") and json.loads(first) == trace_data(tutorial)


def hostile_problem():
    """The tutorial's network under a title full of what breaks JSON, HTML and terminals (TOML's own escapes)."""
    text = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")
    title = json.dumps(HOSTILE_TITLE, ensure_ascii=False)  # a JSON string is a TOML basic string here
    return loads(re.sub(r"^title = .*$", lambda _: f"title = {title}", text, count=1, flags=re.MULTILINE))


def test_hostile_title_round_trips():
    problem = hostile_problem()
    assert problem.title == HOSTILE_TITLE
    text = trace_json(trace(problem))
    assert json.loads(text)["title"] == HOSTILE_TITLE
    assert json.loads(embeddable(text)) == json.loads(text)


def test_embeddable_leaves_no_markup():
    text = trace_json(trace(hostile_problem()))
    assert "</" in text and "\u2028" in text  # the plain JSON holds them, as it may
    safe = embeddable(text)
    for unsafe in ("<", ">", "&", "\u2028", "\u2029"):
        assert unsafe not in safe
    assert "\\u003c/script\\u003e" in safe
    assert embeddable('{"a": "<\\u003c&>"}') == '{"a": "\\u003c\\u003c\\u0026\\u003e"}'
    assert json.loads(embeddable(json.dumps({"k": "</script>&\u2028"}))) == {"k": "</script>&\u2028"}


# ---- the working renders ----


def workings(item, found: list[str]) -> list[str]:
    """Every `working` and `formula` string of the data."""
    if isinstance(item, dict):
        for key, value in item.items():
            if key in ("working", "formula") and isinstance(value, str):
                found.append(value)
            elif key == "working" and isinstance(value, list):
                found.extend(value)
            else:
                workings(value, found)
    elif isinstance(item, list):
        for value in item:
            workings(value, found)
    return found


@pytest.mark.skipif(not node_katex_available(), reason="node and KaTeX are not installed")
def test_working_renders_with_katex(data):
    formulas = workings(data, [])
    assert len(formulas) == 32 + 8 + 4 + 4 + 2 + 3 + 3  # windows, cells, elements, neurons, lines, formulas
    assert render_errors([(tex, True) for tex in formulas]) == []


def test_working_is_what_the_document_writes(data, tutorial_md):
    """Each window's working appears in the Markdown document (written for Markdown readers there)."""
    from stepper.writing.formats import portable_maths

    for layer in data["layers"]:
        for item in layer.get("windows", []) + layer.get("cells", []) + layer.get("neurons", []):
            assert portable_maths(item["working"]) in tutorial_md
        for e in layer.get("elements", []):
            if "working" in e:
                assert portable_maths(e["working"]) in tutorial_md
    for line in data["layers"][6]["working"]:
        assert portable_maths(line) in tutorial_md
