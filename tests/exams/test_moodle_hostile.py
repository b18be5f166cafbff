"""The Moodle quiz against hostile text and coarse settings: a title that MathJax, the cloze importer or an
XML parser would read as something else, highlights MathJax 2.7 can draw, tolerances that mean something,
and the quiz written a question at a time."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from stepper.cli import main
from stepper.core.errors import StepperError
from stepper.exams.generate import generate
from stepper.exams.moodle import DECLARATION, bboxed, check_tolerances, moodle_chunks, moodle_xml, to_html
from stepper.writing.documents import render_layer, render_question
from stepper.exams.variants import load_template

HOSTILE = r"Quiz \(x^2\) \[z\] $$y$$ {#1} { open ]]> </p><script>alert(1)</script> [TeX]w[/tex] \begin{a}b\end{a}"

# Moodle's cloze importer (question/type/multianswer/questiontype.php, ANSWER_REGEX), in Python:
# PHP's look-behind (?<!\\|&|&amp;) becomes three, since Python's must each have one width.
_FRACTION = r"=|%(-?[0-9]+(?:[.,][0-9]*)?)%"
_ANSWER = r".+?(?<!\\)(?<!&)(?<!&amp;)(?=[~#}]|$)"
_FEEDBACK = r".*?(?<!\\)(?=[~}]|$)"
_ALTERNATIVE = f"({_FRACTION})?({_ANSWER})(#({_FEEDBACK}))?"
_TYPES = (
    "(NUMERICAL|NM)|(MULTICHOICE|MC)|(MULTICHOICE_V|MCV)|(MULTICHOICE_H|MCH)|(SHORTANSWER|SA|MW)|"
    "(SHORTANSWER_C|SAC|MWC)|(MULTICHOICE_S|MCS)|(MULTICHOICE_VS|MCVS)|(MULTICHOICE_HS|MCHS)|"
    "(MULTIRESPONSE|MR)|(MULTIRESPONSE_H|MRH)|(MULTIRESPONSE_S|MRS)|(MULTIRESPONSE_HS|MRHS)"
)
ANSWER_REGEX = re.compile(r"\{([0-9]*):(" + _TYPES + "):(" + _ALTERNATIVE + "(~" + _ALTERNATIVE + r")*)\}", re.S)
# What the importer leaves in place of each blank, and the renderer replaces with blank N's input box.
PLACEHOLDER = re.compile(r"\{#(\d+)\}")
# Stepper's own maths, as its Markdown renderer wraps it.
OWN_MATHS = re.compile(
    r'<span class="math inline">\\\(.*?\\\)</span>|<div class="math block">\s*\\\[.*?\\\]\s*</div>', re.S
)
# What Moodle's MathJax and TeX filters take for maths in text.
DELIMITERS = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\[tex\]|\\begin", re.I)
# The tutorial exam's stages, worked out from the template (8x8 input, 3x3 filters, stride 2, padding 1 -> 4x4;
# 2x2 pooling -> 2x2; two dense neurons; a softmax of two): values per stage, 0 for a one-value question.
CELLS = [16, 16, 16, 16, 4, 4, 4, 4, 0, 0, 2]


def template_text(root: Path, title: str = HOSTILE, layout: str = "stages", decimals: int = 4) -> str:
    """The tutorial exam with another title, layout and decimals (to few decimals many sigmoid maps round to
    0s and 1s and many pooling windows tie, so those constraints are off there)."""
    text = (root / "examples" / "tutorial-exam.toml").read_text()
    relaxed = "[constraints]\nsaturated = false\nno_ties = false\n" if decimals < 2 else "[constraints]\n"
    for old, new in [
        ('title = "CNN forward pass by hand"', f"title = '''{title}'''"),
        ('moodle = "stages"', f'moodle = "{layout}"'),
        ("decimals = 4 ", f"decimals = {decimals} "),
        ("[constraints]\n", relaxed),
    ]:
        assert old in text
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module", params=["stages", "whole"])
def quiz(request, root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "exam.toml").write_text(template_text(root, layout=request.param))
    status = main(
        ["exam", str(folder / "exam.toml"), "--variants", "2", "--format", "moodle", "--out", str(folder / "out")]
    )
    assert status == 0
    raw = (folder / "out" / "moodle.xml").read_text(encoding="utf-8")
    return request.param, raw, ET.fromstring(raw.encode("utf-8"))  # parses: the file is well-formed


def outside_maths(html_text: str) -> str:
    return OWN_MATHS.sub(" ", html_text)


def test_the_cloze_importer_finds_exactly_the_blanks(quiz):
    layout, _, root = quiz
    found = [q for q in root.iter("question") if q.get("type") != "category"]
    cells = [len(ANSWER_REGEX.findall(q.find("questiontext/text").text)) for q in found]
    assert cells == (CELLS * 2 if layout == "stages" else [sum(CELLS) + 2] * 2)  # + the two dense neurons
    for q in found:
        body = q.find("questiontext/text").text
        assert not PLACEHOLDER.search(body) and "{#" not in body  # no second copy of a blank
        # every brace left outside maths belongs to a blank
        assert not re.search(r"[{}]", ANSWER_REGEX.sub("", outside_maths(body)))


def test_no_maths_delimiters_outside_stepper_maths(quiz):
    _, _, root = quiz
    fields = [e.text or "" for e in root.iter("text")]  # names and categories too: filters run on them
    assert len(fields) >= 8
    for text in fields:
        outside = outside_maths(text)
        assert not DELIMITERS.search(outside), outside[:300]
    html_fields = [
        e.find("text").text or "" for e in root.iter() if e.get("format") == "html" and e.find("text") is not None
    ]
    assert len(html_fields) >= 5
    for text in html_fields:
        assert "<script>" not in text and "</p><script>" not in text  # shown as text, never run


def test_the_title_is_still_all_there_for_the_reader(quiz):
    """Broken for MathJax, but the same characters on the page: word joiners are invisible, entities decode."""
    _, _, root = quiz
    info = root.find("question/info/text").text
    shown = html.unescape(info).replace("\u2060", "")
    assert " ".join(HOSTILE.split()) in shown
    category = root.find("question/category/text").text.replace("\u2060", "")
    assert HOSTILE.replace("/", "//") in category


def test_highlights_are_bboxes_in_moodle(quiz):
    layout, raw, root = quiz
    assert "\\colorbox" not in raw
    feedback = [e.text or "" for q in root.iter("question") for e in q.findall("generalfeedback/text")]
    assert any("\\bbox[yellow]{" in f for f in feedback)  # the full keys' convolution windows


@pytest.mark.parametrize(
    "tex, want",
    [
        ("\\colorbox{yellow}{$3$} & 4", "\\bbox[yellow]{3} & 4"),
        ("\\colorbox{yellow}{$-\\frac{4}{3}$}", "\\bbox[yellow]{-\\frac{4}{3}}"),
        (
            "a \\colorbox{yellow}{${x}_{1}$} b \\colorbox{yellow}{$\\{2\\}$}",
            "a \\bbox[yellow]{{x}_{1}} b \\bbox[yellow]{\\{2\\}}",
        ),
        ("\\colorbox{yellow}{$x", "\\colorbox{yellow}{$x"),  # unbalanced: left alone
    ],
)
def test_bboxed(tex, want):
    assert bboxed(tex) == want


def test_a_key_highlight_as_the_md_renderer_writes_it_becomes_a_bbox(root):
    """The real md highlight (render.FORMATS["md"]) goes through to_html as a bbox, its braces kept."""
    from stepper.writing.documents import FORMATS

    cell = "\\frac{1}{2}"
    out = to_html("$$\n" + FORMATS["md"].highlight % cell + " + 1\n$$")
    assert "\\bbox[yellow]{\\frac{1}{2}} + 1" in out and "colorbox" not in out


def test_text_outside_maths_is_inert_and_maths_is_not():
    out = to_html("Title \\\\(a\\\\) \\$\\$b\\$\\$ \\{\\#1\\} and $\\frac{1}{2}$")
    assert "\\\u2060(a\\\u2060)" in out and "$\u2060$b$\u2060$" in out and "&#123;#1&#125;" in out
    assert "\\(\\frac{1}{2}\\)" in out


# ---- tolerances ----

POOLING = '"layer3.type" = ["maxpool", "avgpool"]'


def max_pooled(text: str) -> str:
    """Max pooling only, so the maps stay whole numbers up to the 1x1 filter's halves."""
    assert POOLING in text
    return text.replace(POOLING, "")


@pytest.fixture(scope="module")
def coarse(root, tmp_path_factory):
    """Variants of the tutorial exam (max pooling) with 0, 1 and 2 decimals."""
    made = {}
    for decimals in (0, 1, 2):
        path = tmp_path_factory.mktemp(f"d{decimals}") / "exam.toml"
        path.write_text(max_pooled(template_text(root, "Coarse", decimals=decimals)))
        made[decimals] = generate(load_template(path), 2, seed=1)
    return made


def test_no_decimals_is_refused_at_the_first_rounded_stage(coarse):
    """With 0 decimals the 1x1 filter's halves (1/2 + 1/2 of whole numbers) are already rounded, so its
    every answer, the first cell's included, is marked within ±0.5 (half a unit: the halves round the same carried
    or not)."""
    v = coarse[0][0]
    halves = v.trace.layers[3].sums.floats().ravel()  # the exact averages, before any rounding
    assert any(x != int(x) for x in halves)
    value = int(Decimal(halves[0]).to_integral_value(rounding="ROUND_HALF_UP"))  # 2.5 -> 3, as written
    with pytest.raises(StepperError) as e:
        check_tolerances(coarse[0], "exam.toml")
    assert str(e.value) == (
        f"exam.toml: settings, field 'decimals': layer 4 (1×1 filter): with decimals = 0 "
        f"the answer {value} is marked right anywhere from {value - Decimal('0.5')} to "
        f"{value + Decimal('0.5')}; "
        "use decimals = 2 or more"
    )


def test_one_decimal_is_refused_and_says_how_much_a_sigmoid_answer_accepts(coarse):
    v = coarse[1][0]
    z = v.trace.layers[4].input.floats().ravel()[0]  # the first sigmoid's input, as carried
    a = Decimal(1 / (1 + np.exp(-z))).quantize(Decimal("0.1"), rounding="ROUND_HALF_UP")
    share = min(Decimal(1), a + Decimal("0.05")) - max(Decimal(0), a - Decimal("0.05"))
    with pytest.raises(StepperError) as e:
        check_tolerances(coarse[1], "exam.toml")
    assert str(e.value) == (
        f"exam.toml: settings, field 'decimals': layer 5 (sigmoid): with decimals = 1 the "
        f"tolerance ±0.05 accepts {round(share * 100)}% of the values a sigmoid can take; "
        "use decimals = 2 or more"
    )


def test_two_decimals_pass_and_whole_numbers_need_none(coarse, root, tmp_path):
    check_tolerances(coarse[2], "exam.toml")
    (tmp_path / "exact.toml").write_text(  # a convolution and ReLU: whole numbers, never rounded
        'title = "Exact"\ninput = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\n[settings]\ndecimals = 0\n'
        '[[layers]]\ntype = "conv2d"\nfilters = [[[1, 0], [0, -1]]]\n[[layers]]\ntype = "relu"\n'
        '[random]\ninput = "0..9"\n[constraints]\nnonzero = false\n'
    )
    check_tolerances(generate(load_template(tmp_path / "exact.toml"), 2, seed=1), "exact.toml")


def test_the_writer_refuses_a_meaningless_tolerance_too(coarse):
    with pytest.raises(StepperError, match="of the values a sigmoid can take|marked right anywhere"):
        moodle_xml(
            "Coarse", coarse[0], {v.id: "" for v in coarse[0]}, {v.id: {n: "" for n in range(1, 8)} for v in coarse[0]}
        )


def test_the_tolerance_check_says_how_much_of_the_range_it_covers(root, tmp_path):
    """0 decimals on a sigmoid of whole numbers (no 1x1 filter halves before it): ±0.5 takes in half of 0..1."""
    text = max_pooled(template_text(root, "Sig", decimals=0)).replace('weights = ["1/2", "1/2"]', "weights = [1, 1]")
    (tmp_path / "sig.toml").write_text(text)
    variants = generate(load_template(tmp_path / "sig.toml"), 1, seed=1)
    with pytest.raises(
        StepperError,
        match=r"layer 5 \(sigmoid\): with decimals = 0 the tolerance ±0.5 accepts "
        r"50% of the values a sigmoid can take; use decimals = 2 or more$",
    ):
        check_tolerances(variants, "sig.toml")


# ---- streaming ----


def test_chunks_come_one_variant_at_a_time_and_join_to_the_whole(coarse):
    variants = coarse[2]
    asked = []

    def question_of(v):
        asked.append(v.id)
        return render_question(v.trace, "md", v.id)

    def keys_of(v):
        return {n: render_layer(v.trace, n, "md") for n in range(1, len(v.trace.layers) + 1)}

    chunks = moodle_chunks("T", variants, question_of, keys_of)
    assert next(chunks) == DECLARATION and asked == []
    assert next(chunks) == "<quiz>\n"
    rest = [next(chunks)]  # the first variant's category
    assert asked == [variants[0].id]  # the second variant is not made yet
    rest += list(chunks)
    assert asked == [v.id for v in variants] and rest[-1] == "</quiz>\n"
    whole = moodle_xml("T", variants, {v.id: question_of(v) for v in variants}, {v.id: keys_of(v) for v in variants})
    assert whole == DECLARATION + "\n<quiz>\n" + "".join(rest[:-1]) + "</quiz>\n"
    assert ET.fromstring(whole.encode("utf-8")).tag == "quiz"


@pytest.mark.parametrize("layout", ["stages", "whole"])
def test_no_bidi_character_of_a_title_reaches_moodle_or_the_manifest(root, tmp_path, layout):
    (tmp_path / "exam.toml").write_text(
        template_text(root, "Exam \u202egnp.exe\u202c one\u2066two\u2069", layout), encoding="utf-8"
    )
    assert (
        main(
            [
                "exam",
                str(tmp_path / "exam.toml"),
                "--variants",
                "1",
                "--format",
                "moodle",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    for name in ("moodle.xml", "manifest.json"):
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert not re.search("[\u202a-\u202e\u2066-\u2069]", text), name
        assert "gnp.exe" in text  # the words themselves are kept
