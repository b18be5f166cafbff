"""Marking rules a careful human marker would insist on, each found by trying real students' habits:
follow-through after a wrong-shaped or degenerate answer, rounding to too few places, vectors written down
the page, factored written sums, and what the report says when a total is right but its terms are not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stepper.marking.marker import Marker
from stepper.cli import main
from stepper.core.errors import StepperError
from stepper.core.load import load, loads
from stepper.writing.documents import render_feedback
from stepper.marking.working import loads_working
from tests.helpers import ROOT

TUTORIAL = load(ROOT / "examples" / "tutorial.toml")
MARKER = Marker(TUTORIAL)
NO_PADDING = (ROOT / "examples" / "tutorial-working-no-padding.toml").read_text(encoding="utf-8")


def mark(text: str, marker: Marker = MARKER):
    fb = marker.check(loads_working(text, marker.problem, name="w.toml"))
    return fb, {r.stage.key: r for r in fb.stages}


def test_a_wrong_shape_a_known_mistake_gives_still_carries_follow_through():
    """No padding gives 3x3 maps; one slip on top of it must not make the 3x3 answer 'degenerate'."""
    slipped = NO_PADDING.replace(" 3 -1  0\n-3 -7  1", " 5 -1  0\n-3 -7  1", 1)
    assert slipped != NO_PADDING
    clean, _ = mark(NO_PADDING)
    fb, by = mark(slipped)
    assert by["layer1.filter1"].verdict == "wrong" and not by["layer1.filter1"].degenerate
    assert by["layer2.channel2"].verdict == "follow-through"  # ReLU of the student's own 3x3 map of filter 2
    assert by["layer1.filter1"].diagnosis.name == "no padding (padding 1 was asked)"
    assert fb.marks >= clean.marks - 3  # the slipped cell's own consequences (ReLU, pooling) lose marks, no more


ZERO_FILTER = '''student = "Zero filter 2"
[layer1]
filter1 = """
-7 -6 -5 -9
 0  6 -1 -1
-3  4  4  0
-6 -4 -4  3
"""
filter2 = "0 0 0 0\\n0 0 0 0\\n0 0 0 0\\n0 0 0 0"
[layer2]
channel1 = "0 0 0 0\\n0 6 0 0\\n0 4 4 0\\n0 0 0 3"
channel2 = "0 0 0 0\\n0 0 0 0\\n0 0 0 0\\n0 0 0 0"
[layer5]
map = "0.9256 0.5000\\n0.8808 0.8808"
[layer6]
z1 = 0.5068
'''


def test_a_degenerate_answer_stops_follow_through_only_until_the_student_is_back_on_track():
    """Filter 2 all zeros is degenerate, but ReLU zeroes that channel anyway: with layer 2 right, a later
    slip (a sigmoid cell) and a z worked from it are marked as any other student's."""
    _, by = mark(ZERO_FILTER)
    assert by["layer1.filter2"].degenerate == "every value is 0"
    assert by["layer2.channel2"].verdict == "correct"
    assert by["layer6.z1"].verdict == "follow-through" and by["layer6.z1"].marks == 1


def test_values_that_follow_from_a_degenerate_answer_say_so_and_name_no_mistake():
    problem = loads(
        'title = "small"\ninput = "1 0 2 1\\n0 3 1 0\\n2 1 0 1\\n1 0 1 2"\n[[layers]]\ntype = "conv2d"\n'
        'padding = 1\nfilters = ["0 1 0\\n1 -1 1\\n0 1 0"]\n[[layers]]\ntype = "relu"\n[[layers]]\n'
        'type = "maxpool"\nsize = 2\n'
    )
    copy = "1 0 2 1\\n0 3 1 0\\n2 1 0 1\\n1 0 1 2"
    fb, by = mark(
        f'student = "Copier"\n[layer1]\nfilter1 = "{copy}"\n[layer2]\nmap = "{copy}"\n[layer3]\nmap = "3 2\\n2 2"\n',
        Marker(problem),
    )
    assert by["layer1.filter1"].degenerate == "a copy of the input image"
    pooled = by["layer3.map"]
    assert pooled.verdict == "wrong" and pooled.diagnosis is None and pooled.marks == 0
    assert "a copy of the input image" in pooled.refused
    assert "it follows from your own earlier values, but earns no follow-through" in render_feedback(fb, "md")


def test_a_vector_written_down_the_page_is_read_as_the_vector():
    _, by = mark('[layer7]\nvalues = """\n0.4337\n0.5663\n"""\n')
    assert by["layer7.values"].verdict == "correct"


def test_rounding_to_fewer_places_is_docked_once_then_followed():
    """Sigmoid to 2 places, then z and softmax worked on at 2 places from those values."""
    fb, by = mark(
        '[layer5]\nmap = "0.95 0.50\\n0.88 0.88"\n[layer6]\nz1 = 0.51\nz2 = 0.78\n[layer7]\nvalues = "0.43 0.57"\n'
    )
    assert by["layer5.map"].diagnosis.name == "rounded to 2 decimal places instead of 4"
    assert by["layer5.map"].marks == 0
    assert [by[k].verdict for k in ("layer6.z1", "layer6.z2", "layer7.values")] == ["follow-through"] * 3


def test_rounding_only_the_last_stage_is_named_there():
    fb, by = mark(
        '[layer5]\nmap = "0.9526 0.5\\n0.8808 0.8808"\n[layer6]\nz1 = 0.5095\nz2 = 0.7762\n'
        '[layer7]\nvalues = "0.43 0.57"\n'
    )
    d = by["layer7.values"].diagnosis
    assert d.name == "rounded to 2 decimal places instead of 4" and d.layer == 7
    assert "(in layer 5" not in render_feedback(fb, "md")


def sums_report(sum_text: str, layer: int = 6, extra: str = "neuron = 1") -> str:
    fb, _ = mark(f'[[window]]\nlayer = {layer}\n{extra}\nsum = "{sum_text}"\n')
    return render_feedback(fb, "md")


def test_a_factored_term_is_matched_term_by_term():
    """The tutorial itself writes 0.8808 (0.2 + 0.1) for two inputs that are equal."""
    report = sums_report("0.1 × 0.9526 + 0.3 × 0.500 + 0.8808 (0.2 + 0.1) = 0.5095")
    assert "The sum is right." in report and "wrong" not in report.split("## Written sums")[1]
    assert "(its term 2 of 2) | right |" in report


def test_symbolic_sums_collected_by_weight_and_written_with_underscores():
    problem = load(ROOT / "examples" / "volumetric-symbols.toml")
    marker = Marker(problem)
    for text in (
        "w1(3 + c) + w2(4 + d) + w3(7 + g) + w4(8 + h)",
        "(w_1 · 3) + (w_2 · 4) + (w_3 · 7) + (w_4 · 8) + (w_{1} · c) + (w_2 · d) + (w_3 · g) + (w_4 · h)",
    ):
        fb, _ = mark(f'[[window]]\nlayer = 1\nrow = 1\ncolumn = 3\nsum = "{text}"\n', marker)
        assert fb.sums[0].check.correct and {t.verdict for t in fb.sums[0].check.terms} == {"right"}, text


def test_a_right_total_from_wrong_terms_is_not_called_right():
    report = sums_report("3*0 + 2*(-1) + 4*0 + 5*0 - 2*(-1)*3 = -8", layer=1, extra="filter = 2\nrow = 1\ncolumn = 1")
    assert "The sum is right." not in report
    assert "Your total is right, but not every term above is" in report


def test_written_sum_table_wraps_in_latex(tmp_path):
    fb, _ = mark(
        '[[window]]\nlayer = 1\nfilter = 1\nrow = 2\ncolumn = 2\nsum = "5*1 + 2*1 + 4*1 - 1*1 - 1*1 - 1*1 = 8"\n'
    )
    tex = render_feedback(fb, "tex")
    assert re.search(r"\\begin\{tabular\}\{(>\{\\raggedright\\arraybackslash\}p\{0\.\d+\\linewidth\}){3}\}", tex)


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            '[layer5]\nmap = """\n0,9526 0,5000\n0,8808 0,8808\n"""\n',
            r"\[layer5\] map, row 1: '0,9526' looks like a decimal comma",
        ),
        ('[[window]]\nlayer = 6\nneuron = 1\nsum = "0.1 x 0.9526"\n', r"write \* or × for times"),
    ],
)
def test_habits_from_paper_get_a_helpful_error(text, needle):
    with pytest.raises(StepperError) as caught:
        loads_working(text, TUTORIAL, name="w.toml") if "window" not in text else mark(text)
    assert re.search(needle, str(caught.value)), str(caught.value)


def test_an_empty_working_file_says_nothing_was_answered(tmp_path, capsys):
    (tmp_path / "empty.toml").write_text('student = "Nobody"\n', encoding="utf-8")
    assert (
        main(
            [
                "check",
                str(ROOT / "examples" / "tutorial.toml"),
                str(tmp_path / "empty.toml"),
                "--out",
                str(tmp_path / "fb"),
            ]
        )
        == 0
    )
    assert "Nobody: 0 / 11: no stage answered" in capsys.readouterr().out


def test_uneven_padding_is_named_side_by_side():
    problem = load(ROOT / "examples" / "strides-and-pooling.toml")
    names = [m.name for m in Marker(problem).mistakes]
    assert not any("asked was asked" in n or "of the padding asked" in n for n in names)
    assert any(re.search(r"\d above, \d below, \d left, \d right", n) for n in names) or all(
        "padding" not in n or re.search(r"padding \d", n) for n in names
    )
