"""Partial and blank answers: a cell typed `?` or `_` is unanswered (never wrong, earning nothing), a map typed by
some of its rows says which (`rows = "1"`, `filter2_rows = "3-4"`), and what follows a partly answered stage takes
the student's values where given and the values their earlier working gives elsewhere.

Every expected value comes from the independent reference forward pass (tests/helpers/reference.py)."""

from __future__ import annotations

import tomllib
from fractions import Fraction

import numpy as np
import pytest

from stepper.core.errors import StepperError
from stepper.core.load import load
from stepper.marking.marker import Marker
from stepper.marking.working import loads_working, working_from_table
from stepper.writing.documents import render_feedback
from tests.helpers import ROOT, reference

TUTORIAL = ROOT / "examples" / "tutorial.toml"
DATA = tomllib.loads(TUTORIAL.read_text(encoding="utf-8"))
PROBLEM = load(TUTORIAL)
MARKER = Marker(PROBLEM)
TRUTH = reference.forward(DATA)
CONV = np.asarray(TRUTH[0], dtype=object)  # (2, 4, 4), whole numbers
HEIGHT, WIDTH = CONV.shape[1:]


def row_text(cells) -> str:
    return " ".join(str(int(x)) for x in cells)


def mark(text: str):
    fb = MARKER.check(loads_working(text, PROBLEM, name="w.toml"))
    return fb, {r.stage.key: r for r in fb.stages}


def test_the_first_row_of_a_map_alone_is_marked_on_that_row():
    fb, by = mark(f'[layer1]\nfilter1 = "{row_text(CONV[0, 0])}"\nrows = "1"\n')
    r = by["layer1.filter1"]
    assert r.verdict == "correct" and r.wrong == ()
    assert r.cells_right == WIDTH and r.blank == (HEIGHT - 1) * WIDTH
    assert r.marks == Fraction(WIDTH, HEIGHT * WIDTH)  # the row's share of the stage's one point
    assert "not answered" in render_feedback(fb, "md")


@pytest.mark.parametrize("rows, picked", [('"1,3"', [0, 2]), ('"1-2"', [0, 1]), ("[2, 4]", [1, 3]), ("3", [2])])
def test_rows_name_the_rows_typed_in_every_spelling(rows, picked):
    typed = "\n".join(row_text(CONV[1, i]) for i in picked)
    _, by = mark(f'[layer1]\nfilter2 = """\n{typed}\n"""\nrows = {rows}\n')
    r = by["layer1.filter2"]
    assert r.verdict == "correct" and r.cells_right == len(picked) * WIDTH
    assert r.blank == (HEIGHT - len(picked)) * WIDTH


def test_a_stage_of_its_own_rows_wins_over_the_tables_rows():
    text = (
        f'[layer1]\nfilter1 = "{row_text(CONV[0, 0])}"\nfilter2 = "{row_text(CONV[1, 3])}"\n'
        'rows = "1"\nfilter2_rows = "4"\n'
    )
    _, by = mark(text)
    assert by["layer1.filter1"].verdict == by["layer1.filter2"].verdict == "correct"
    assert by["layer1.filter2"].cells_right == WIDTH


@pytest.mark.parametrize("blank", ["?", "_"])
def test_a_blank_cell_is_never_wrong_and_earns_nothing(blank):
    cells = [[str(int(x)) for x in row] for row in CONV[0]]
    cells[1][2] = blank
    cells[3][0] = str(int(CONV[0, 3, 0]) + 1)  # one slip
    text = '[layer1]\nfilter1 = """\n' + "\n".join(" ".join(r) for r in cells) + '\n"""\n'
    _, by = mark(text)
    r = by["layer1.filter1"]
    assert r.verdict == "wrong" and r.wrong == ((3, 0),)
    assert r.blank == 1 and r.cells_right == HEIGHT * WIDTH - 2
    assert r.marks == Fraction(HEIGHT * WIDTH - 2, HEIGHT * WIDTH)


def test_a_stage_of_blanks_only_is_not_answered():
    _, by = mark('[layer6]\nz1 = "?"\nz2 = "_"\n')
    assert by["layer6.z1"].verdict == by["layer6.z2"].verdict == "missing"


def test_a_spreadsheet_row_with_blank_cells_reads_as_a_working():
    grid = "\n".join(
        " ".join("?" if (i + j) % 3 == 0 else str(int(x)) for j, x in enumerate(row)) for i, row in enumerate(CONV[0])
    )
    w = working_from_table({"student": "Row 2", "layer1": {"filter1": grid}}, PROBLEM, name="class.csv, row 2")
    fb = MARKER.check(w)
    r = fb.stages[0]
    blanks = sum(1 for i in range(HEIGHT) for j in range(WIDTH) if (i + j) % 3 == 0)
    assert r.verdict == "correct" and r.blank == blanks and r.cells_right == HEIGHT * WIDTH - blanks


def test_follow_through_from_a_partly_answered_stage_takes_the_worked_solutions_values_where_blank():
    """A slip in row 1 of channel 1, the only row given: max pooling of the student's row 1 with the worked
    solution's other rows is right by follow-through."""
    relu = np.asarray(TRUTH[1], dtype=object)
    theirs = relu.copy()
    theirs[0, 0, 2] += 8  # the slip
    assert (theirs != relu).any()
    pooled = reference.pool(theirs, DATA["layers"][2])
    assert (pooled != np.asarray(TRUTH[2], dtype=object)).any()
    pool_rows = "\n".join(row_text(r) for r in pooled[0])
    text = f'[layer2]\nchannel1 = "{row_text(theirs[0, 0])}"\nrows = "1"\n[layer3]\nchannel1 = """\n{pool_rows}\n"""\n'
    _, by = mark(text)
    assert by["layer2.channel1"].verdict == "wrong" and by["layer2.channel1"].blank == (HEIGHT - 1) * WIDTH
    assert by["layer3.channel1"].verdict == "follow-through" and by["layer3.channel1"].follows_from == 2


@pytest.mark.parametrize(
    "table, needles",
    [
        (f'filter1 = "{row_text(CONV[0, 0])}"\nrows = "1,2"', ["1 row typed but 2 named"]),
        ('filter1 = "1 2 3"\nrows = "1"', ["3 numbers", "4 wide"]),
        (f'filter1 = "{row_text(CONV[0, 0])}"\nrows = "5"', ["row 5 is outside"]),
        (f'filter1 = "{row_text(CONV[0, 0])}"\nrows = "2-1"', ['expected rows such as "1"']),
        (f'filter1 = "{row_text(CONV[0, 0])}"\nfilter3_rows = "1"', ["'filter3' is not a map"]),
    ],
)
def test_rows_that_do_not_fit_are_refused_with_where(table, needles):
    with pytest.raises(StepperError) as e:
        loads_working(f"[layer1]\n{table}\n", PROBLEM, name="w.toml")
    message = str(e.value)
    assert "[layer1]" in message and all(n in message for n in needles), message


def test_rows_in_a_layer_without_maps_are_refused():
    with pytest.raises(StepperError, match="no map"):
        loads_working('[layer6]\nz1 = 0.5\nrows = "1"\n', PROBLEM, name="w.toml")
