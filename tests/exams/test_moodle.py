"""The Moodle XML quiz: its structure against documented Moodle questions, its answers against an
independent forward pass, its cloze blanks, escaping and determinism."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from stepper.exams.generate import generate
from stepper.exams.moodle import _cdata, answer, category_name, mark_scale, moodle_xml, to_html
from stepper.core.numbers import Values
from stepper.writing.documents import render_layer, render_question
from stepper.core.stages import stages
from stepper.exams.variants import load_template

FIXTURE = Path(__file__).parent / "fixtures" / "moodle" / "documented.xml"
TEMPLATE = """
[random]
input = "0..4"
"layer1.filters" = [-1, 0, 1]
"layer3.type" = ["maxpool", "avgpool"]
"layer6.weights" = "0..0.5 by 0.1"
[constraints]
integers = ["layer1"]
"""
# Moodle's own patterns (question/type/multianswer/questiontype.php): a number, and a NUMERICAL blank.
NUMBER = r"-?(?:[0-9]+[.,]?[0-9]*|[.,][0-9]+)(?:[eE][-+]?[0-9]+)?"
BLANK = re.compile(r"\{([0-9]*):(?:NUMERICAL|NM):=(" + NUMBER + r"):(" + NUMBER + r")\}")
ANY_BLANK = re.compile(r"\{[0-9]*:[A-Z_]+:")
TITLE = "Week 3 / CNN <quiz> & ]]> test"


@pytest.fixture(scope="module")
def variants(root, tmp_path_factory):
    path = tmp_path_factory.mktemp("moodle") / "exam.toml"
    path.write_text((root / "examples" / "tutorial.toml").read_text() + TEMPLATE)
    made = generate(load_template(path), 3, seed=1)
    assert {v.problem.layers[2].kind for v in made} == {"maxpool", "avgpool"}  # the forward pass meets both
    return made


@pytest.fixture(scope="module")
def sheets(variants):
    # A sheet with maths, raw HTML, a CDATA end and text that looks like a cloze blank: all must stay inert.
    return {
        v.id: f"# {v.problem.title}\n\nCompute $\\sigma(x)$ for <script>alert(1)</script> ]]> "
        "{1:NUMERICAL:=9:0}.\n\n$$\n\\begin{bmatrix} 1 & 2 \\end{bmatrix}\n$$\n"
        for v in variants
    }


@pytest.fixture(scope="module")
def keys(variants):
    return {v.id: {n: render_layer(v.trace, n, "md") for n in range(1, len(v.trace.layers) + 1)} for v in variants}


@pytest.fixture(scope="module")
def quiz(variants, sheets, keys) -> str:
    return moodle_xml(TITLE, variants, sheets, keys)


@pytest.fixture(scope="module")
def root_element(quiz):
    return ET.fromstring(quiz.encode("utf-8"))


def questions(root, kind=None):
    return [q for q in root.findall("question") if kind is None or q.get("type") == kind]


def text(q, path):
    return q.find(path).text or ""


# ---- structure, against documented Moodle questions ----


def paths(element, prefix="") -> set[str]:
    """Every element path below a question, with the attributes (and their values) each carries."""
    found = set()
    for child in element:
        attrs = ",".join(f"{k}={v}" for k, v in sorted(child.attrib.items()))
        path = f"{prefix}/{child.tag}" + (f"[{attrs}]" if attrs else "")
        found.add(path)
        found |= paths(child, path)
    return found


# What Moodle's importer cannot do without, for each type (question/format/xml/format.php).
REQUIRED = {
    "category": {"/category", "/category/text"},
    "numerical": {
        "/name/text",
        "/questiontext[format=html]/text",
        "/answer[format=moodle_auto_format,fraction=100]",
        "/answer[format=moodle_auto_format,fraction=100]/text",
        "/answer[format=moodle_auto_format,fraction=100]/tolerance",
    },
    "cloze": {"/name/text", "/questiontext[format=html]/text"},
}


def test_the_fixture_is_the_documented_format():
    root = ET.parse(FIXTURE).getroot()
    assert root.tag == "quiz"
    assert [q.get("type") for q in questions(root)] == ["category", "numerical", "cloze"]
    cloze = questions(root, "cloze")[0]
    assert len(BLANK.findall(text(cloze, "questiontext/text"))) == 3


@pytest.mark.parametrize("kind", ["category", "numerical", "cloze"])
def test_each_question_has_the_structure_of_the_documented_one(root_element, kind):
    documented = paths(questions(ET.parse(FIXTURE).getroot(), kind)[0])
    assert REQUIRED[kind] <= documented
    ours = questions(root_element, kind)
    assert ours
    for q in ours:
        assert paths(q) == documented, text(q, "name/text") if kind != "category" else kind


def test_the_file_starts_as_moodle_expects_and_holds_each_variant_in_order(quiz, root_element, variants):
    assert quiz.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n')
    assert root_element.tag == "quiz"
    expected = []
    for v in variants:
        expected.append("category")
        expected += ["cloze" if s.shape else "numerical" for s in stages(v.problem)]
    assert [q.get("type") for q in questions(root_element)] == expected


def test_names_idnumbers_and_grades(root_element, variants):
    named = [q for q in questions(root_element) if q.get("type") != "category"]
    wanted = [(f"Variant {v.id}: {s.title(v.problem)}", f"{v.id}-{s.key}") for v in variants for s in stages(v.problem)]
    assert [(text(q, "name/text"), text(q, "idnumber")) for q in named] == wanted
    for q in named:
        assert text(q, "penalty") == "0" and text(q, "hidden") == "0"
        # A numerical question's grade is its stage's marks (1 by default) times the quiz's scale; a cloze
        # question's is the sum of its blanks' weights (tests/exams/test_moodle_marks.py).
        scale = mark_scale(v.problem for v in variants)
        assert q.find("defaultgrade") is None if q.get("type") == "cloze" else text(q, "defaultgrade") == str(scale)
        assert q.find("generalfeedback").get("format") == "html"


# ---- categories ----


def moodle_split(path: str) -> list[str]:
    """Moodle's split_category_path (question/format.php): a lone / separates, // is a / in a name."""
    return [name.replace("//", "/").strip() for name in re.split(r"(?<!/)/(?!/)", path)]


def test_every_variant_gets_its_own_category_under_the_title(root_element, variants):
    cats = [text(q, "category/text") for q in questions(root_element, "category")]
    assert [moodle_split(c) for c in cats] == [["$course$", "top", TITLE, f"Variant {v.id}"] for v in variants]


@pytest.mark.parametrize("title", ["a/b", "/lead", "trail/", "x//y", "  spaced   out ", "", "a///b/"])
def test_a_slash_in_the_title_makes_no_subcategory(title):
    path = f"$course$/top/{category_name(title)}/Variant 001"
    names = moodle_split(path)
    assert len(names) == 4 and names[3] == "Variant 001"
    assert names[2] == (" ".join(title.split()) or "Exam")


# ---- answers, against an independent forward pass ----


def forward(problem) -> list[np.ndarray]:
    """Each layer's output of the tutorial network, in plain numpy, carrying any value of more than 4
    decimal places rounded to 4, as the tutorial does."""
    x = problem.input.floats()[0]
    conv = problem.layers[0]
    filters = conv.filters.floats()[:, 0]
    bias = conv.bias.floats() if conv.bias is not None else np.zeros(len(filters))
    padded = np.pad(x, 1)
    n = (padded.shape[0] - 3) // 2 + 1
    out1 = np.array(
        [
            [[np.sum(padded[2 * i : 2 * i + 3, 2 * j : 2 * j + 3] * f) + b for j in range(n)] for i in range(n)]
            for f, b in zip(filters, bias)
        ]
    )
    out2 = np.maximum(out1, 0)
    c, h, w = out2.shape
    windows = out2.reshape(c, h // 2, 2, w // 2, 2)
    out3 = windows.max(axis=(2, 4)) if problem.layers[2].kind == "maxpool" else windows.mean(axis=(2, 4))
    out4 = np.tensordot(problem.layers[3].weights.floats(), out3, axes=1)
    r = lambda a: np.sign(a) * np.floor(np.abs(a) * 1e4 + 0.5 + 1e-6) / 1e4  # halves away from zero
    out5 = r(1 / (1 + np.exp(-out4)))
    out6 = r(np.array([np.sum(weights.floats() * out5) for weights in problem.layers[5].weights]))
    exps = r(np.exp(out6))
    out7 = r(exps / r(exps.sum()))
    return [out1, out2, out3, out4, out5, out6, out7]


def expected(outputs, key: str) -> np.ndarray:
    layer, part = key.split(".")
    out = outputs[int(layer[len("layer") :]) - 1]
    number = re.search(r"\d+$", part)
    return np.atleast_1d(out[int(number.group()) - 1] if number else out)


def test_every_answer_is_the_forward_pass_within_its_tolerance(root_element, variants):
    by_id = {v.id: v for v in variants}
    checked = 0
    for q in questions(root_element):
        if q.get("type") == "category":
            continue
        vid, key = text(q, "idnumber").split("-", 1)
        want = expected(forward(by_id[vid].problem), key).ravel()
        if q.get("type") == "numerical":
            got = [(text(q, "answer/text"), text(q, "answer/tolerance"))]
        else:
            got = [(a, t) for _, a, t in BLANK.findall(text(q, "questiontext/text"))]
        assert len(got) == len(want), key
        for (value, tolerance), truth in zip(got, want):
            assert re.fullmatch(NUMBER, value) and re.fullmatch(NUMBER, tolerance)
            assert abs(float(value) - truth) <= 1e-9, (vid, key, value, truth)  # the key value itself is exact
            assert rounded_tolerance(tolerance), (vid, key, tolerance)
            checked += 1
    assert checked == sum(int(np.prod(s.shape or (1,))) for v in variants for s in stages(v.problem))


def rounded_tolerance(tolerance: str, exact: bool = True) -> bool:
    """0 (an exact value, when allowed), or half a unit in the 4th place, widened by whole units to take in the
    full-precision answer: 0.00005, 0.00015, ..."""
    if exact and tolerance == "0":
        return True
    return float(tolerance) >= 5e-5 and abs(float(tolerance) * 1e4 - 0.5) % 1 < 1e-6


def test_cloze_blanks_are_laid_out_like_the_values(root_element, variants):
    cloze = iter(questions(root_element, "cloze"))
    for v in variants:
        for s in (s for s in stages(v.problem) if s.shape):
            body = text(next(cloze), "questiontext/text")
            table = body[body.index('<table class="stepper-answer">') :]
            rows = re.findall(r"<tr>(.*?)</tr>", table)
            height, width = (1, s.shape[0]) if len(s.shape) == 1 else s.shape
            assert len(rows) == height and all(len(BLANK.findall(r)) == width for r in rows)
            # Moodle finds blanks anywhere in the text: the sheet's look-alike must not be one.
            assert len(ANY_BLANK.findall(body)) == len(BLANK.findall(body)) == height * width


def test_exact_values_are_exact_and_rounded_ones_carry_a_tolerance(root_element):
    numerical = questions(root_element, "numerical")
    # dense: from sigmoid's rounded values, so half a unit at least, never 0
    assert numerical and all(rounded_tolerance(text(q, "answer/tolerance"), exact=False) for q in numerical)
    first = questions(root_element, "cloze")[0]  # layer 1: whole numbers, exact
    assert {t for _, _, t in BLANK.findall(text(first, "questiontext/text"))} == {"0"}


@pytest.mark.parametrize(
    "cell, want",
    [
        (Values(np.array([27]), 8), ("3.375", "0")),  # exact, ends: written in full, no tolerance
        (Values(np.array([-1]), 3), ("-0.3333", "0.00005")),  # exact, does not end: to `decimals` places, ± half a unit
        (Values(np.array([5000]), 10000, 4), ("0.5000", "0.00005")),  # rounded: the key's value, never 0 though exact
        (Values(np.array([-0.00001]), 0), ("0.0000", "0.00005")),  # a float: never -0
        (Values(np.array([12]), 1), ("12", "0")),
    ],
)
def test_answer(cell, want):
    assert answer(cell, cell.data[0], 4) == want


def test_no_decimals_gives_half_a_whole_tolerance():
    assert answer(Values(np.array([2]), 3), 2, 0) == ("1", "0.5")


# ---- text: HTML, maths, escaping ----


def test_markdown_becomes_html_with_mathjax_delimiters():
    out = to_html("Let $a < b$ and\n\n$$\n\\begin{bmatrix} 1 & 2 \\end{bmatrix}\n$$\n\n<b>raw</b>")
    assert "\\(a &lt; b\\)" in out
    assert "\\[\\begin{bmatrix} 1 &amp; 2 \\end{bmatrix}\\]" in out
    assert "<b>" not in out and "&lt;b&gt;raw&lt;/b&gt;" in out  # raw HTML is shown, not run
    assert "$" not in out


def test_question_text_is_the_sheet_then_the_stage_and_feedback_the_key(root_element, variants, keys):
    q = questions(root_element, "numerical")[0]
    body = text(q, "questiontext/text")
    assert body.startswith("<h1>") and "\\(\\sigma(x)\\)" in body and "&lt;script&gt;" in body
    assert "<script>" not in body and "]]&gt;" in body
    assert "Layer 6 (dense), z1</strong>" in body
    assert text(q, "generalfeedback/text") == to_html(keys[variants[0].id][6])  # the dense layer's working
    assert "Layer 6: dense" in text(q, "generalfeedback/text")


def test_the_real_question_sheet_keeps_all_its_maths_for_mathjax(variants, keys):
    sheets = {v.id: render_question(v.trace, "md", v.id) for v in variants[:1]}
    root = ET.fromstring(moodle_xml("Exam", variants[:1], sheets, keys).encode("utf-8"))
    for q in questions(root)[1:]:
        for part in ("questiontext/text", "generalfeedback/text"):
            body = text(q, part)
            outside = re.sub(r"\\\((.*?)\\\)|\\\[(.*?)\\\]", "", body, flags=re.S)
            assert "$" not in outside and "math block" in body
            assert "math inline" in body or part == "generalfeedback/text"  # a ReLU's working has no inline maths
            assert body.count("\\(") == body.count("\\)") and body.count("\\[") == body.count("\\]")


def test_untrusted_title_and_sheets_stay_well_formed(variants):
    nasty = "<&>]]>\"' /\x00\x1f\ufffe \u2603"
    sheets = {v.id: nasty + " $x]]>y$ ]]]]> ]]>" for v in variants}
    keys = {v.id: {n: sheets[v.id] for n in range(1, len(v.trace.layers) + 1)} for v in variants}
    out = moodle_xml(nasty, variants[:1], sheets, keys)
    root = ET.fromstring(out.encode("utf-8"))
    assert "\u2603" in text(questions(root, "category")[0], "category/text")
    assert "\\(x]]&gt;y\\)" in text(questions(root, "cloze")[0], "questiontext/text")


@pytest.mark.parametrize("raw", ["a]]>b", "]]>", "]]]]>>", "plain", "x\x01y"])
def test_cdata_keeps_any_text(raw):
    assert ET.fromstring(f"<t>{_cdata(raw)}</t>").text == raw.replace("\x01", "")


def test_the_same_input_gives_the_same_bytes(variants, sheets, keys, quiz):
    assert moodle_xml(TITLE, variants, sheets, keys) == quiz
    assert quiz.encode("utf-8").decode("utf-8") == quiz


# ---- the "whole" layout: one cloze question per variant, for a quiz's random question ----


def test_whole_layout_gives_one_cloze_question_per_variant(variants, keys):
    sheets = {v.id: render_question(v.trace, "md", v.id) for v in variants}
    root = ET.fromstring(moodle_xml(TITLE, variants, sheets, keys, "whole").encode("utf-8"))
    found = questions(root)
    assert [q.get("type") for q in found] == ["category"] + ["cloze"] * len(variants)
    assert text(found[0], "category/text") == f"$course$/top/{category_name(TITLE)}"
    documented = paths(questions(ET.parse(FIXTURE).getroot(), "cloze")[0])
    for q, v in zip(found[1:], variants):
        assert paths(q) == documented
        assert text(q, "name/text") == f"Variant {v.id}" and text(q, "idnumber") == v.id
        blanks = BLANK.findall(text(q, "questiontext/text"))
        outputs = forward(v.problem)
        want = np.concatenate([expected(outputs, s.key).ravel() for s in stages(v.problem)])
        assert len(blanks) == len(want)
        for (_, value, tolerance), truth in zip(blanks, want):
            assert abs(float(value) - truth) <= 1e-9 and rounded_tolerance(tolerance)
        feedback = text(q, "generalfeedback/text")
        assert "Layer 1: convolution" in feedback and "Layer 7: softmax" in feedback
