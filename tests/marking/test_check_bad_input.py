"""Bad input for `stepper check`: working files, folders of them, and a problem's [marks].

The contract is the one `test_bad_input.py` sets for problem files. Each case
writes a working file for the tutorial (`examples/tutorial.toml`) in which
exactly one thing is wrong, runs `stepper.cli.main(["check", PROBLEM, WORKING,
"--out", OUT])` in-process, and checks:

* exit status 2;
* exactly one line on stderr, `stepper: error: FILE: ...`, FILE being the
  working file as given on the command line (or the problem file, for a
  mistake there);
* the line names the place (table, stage, row and column, [[window]] n) and
  what was expected (checked by the important words only);
* no traceback, and nothing is written to OUT.

A rectangular grid of the wrong shape is not bad input but a student's
mistake: it is marked like any other. Folder mode skips a bad file with one
line and marks the rest. Nothing the user owns is changed.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.one_line import Case, assert_one_error, check_needles, run_stepper
from tests.helpers import ROOT

REPO = ROOT
TUTORIAL_PATH = REPO / "examples" / "tutorial.toml"
TUTORIAL = TUTORIAL_PATH.read_text(encoding="utf-8")
MARK = "<!-- Written by stepper"

# The tutorial's worked solution as a student would write it, every stage given, with one written sum.
GOOD = '''student = "A. Student"

[layer1]
filter1 = """
-7 -6 -5 -9
 0  6 -1 -1
-3  4  4  0
-6 -4 -4  3
"""
filter2 = """
-8  -5 -6  -3
-9  -3 -9 -10
-1 -10 -1  -8
-4  -8 -3 -10
"""

[layer2]
channel1 = """
0 0 0 0
0 6 0 0
0 4 4 0
0 0 0 3
"""
channel2 = """
0 0 0 0
0 0 0 0
0 0 0 0
0 0 0 0
"""

[layer3]
channel1 = """
6 0
4 4
"""
channel2 = """
0 0
0 0
"""

[layer4]
map = """
3 0
2 2
"""

[layer5]
map = """
0.9526 0.5
0.8808 0.8808
"""

[layer6]
z1 = 0.5095
z2 = 0.7762

[layer7]
values = "0.4337 0.5663"

[[window]]
layer = 1
filter = 1
row = 1
column = 2
sum = "0 + 2 - 1 - 5 - 2"
'''

FILTER1 = '''filter1 = """
-7 -6 -5 -9
 0  6 -1 -1
-3  4  4  0
-6 -4 -4  3
"""'''
FILTER1_ROWS = FILTER1.splitlines()[1:5]  # the four rows of [layer1] filter1
WINDOW = GOOD[GOOD.index("[[window]]") :]


def edit(*pairs: str, text: str = GOOD) -> str:
    """`text` with each `old` replaced by `new`; every `old` must occur exactly once."""
    for old, new in zip(pairs[::2], pairs[1::2]):
        assert text.count(old) == 1, f"expected {old!r} exactly once"
        text = text.replace(old, new)
    return text


def filter1_row(n: int, new: str) -> str:
    """GOOD with row n (1-based) of [layer1] filter1 replaced."""
    return edit(FILTER1, FILTER1.replace(FILTER1_ROWS[n - 1], new))


def window(**fields) -> str:
    """GOOD with its [[window]] replaced by one holding `fields` (values as TOML text)."""
    body = "".join(f"{k} = {v}\n" for k, v in fields.items())
    return edit(WINDOW, "[[window]]\n" + body)


def run(capsys, *args) -> tuple[int, str, str]:
    return run_stepper(capsys, "check", *args)


# ---- the working file's tables, stages and grids ----

TABLE_CASES = [
    Case(
        "unknown-table-layer9",
        GOOD + '\n[layer9]\nvalues = "1 2"\n',
        (r"^\[layer9\]: ", r"unknown stage 'layer9'", r"expected .*layer1", r"layer7"),
    ),
    Case(
        "unknown-table-pooling",
        GOOD + '\n[pooling]\nchannel1 = "1 2"\n',
        (r"^\[pooling\]: ", r"unknown stage 'pooling'", r"expected .*maxpool"),
    ),
    Case(
        "unknown-top-field", "marks = 3\n" + GOOD, (r"field 'marks'", r"unknown stage 'marks'", r"expected .*student")
    ),
    Case(
        "stage-name-not-a-table",
        "relu = 3\n" + GOOD,
        (r"^field 'relu': ", r"expected a table of values", r"\[relu\] with channel1 = ", r"found 3\b"),
    ),
    Case(
        "unknown-part-filter3",
        edit("[layer1]\n", '[layer1]\nfilter3 = "1 2 3 4"\n'),
        (r"^\[layer1\]: ", r"unknown part 'filter3'", r"expected filter1 or filter2"),
    ),
    Case(
        "unknown-part-z3-in-dense",
        edit("z2 = 0.7762", "z2 = 0.7762\nz3 = 0.1"),
        (r"^\[layer6\]: ", r"unknown part 'z3'", r"expected z1 or z2"),
    ),
    Case(
        "layer-given-twice-layer2-and-relu",
        GOOD + '\n[relu]\nchannel1 = "0 0 0 0"\n',
        (r"^\[relu\]: ", r"layer 2 is given twice", r"\[layer2\] and \[relu\]"),
    ),
    Case(
        "layer-given-twice-conv2d-and-layer1",
        '[conv2d]\nfilter2 = "0 0 0 0"\n\n' + GOOD.replace('student = "A. Student"\n', ""),
        (r"^\[layer1\]: ", r"layer 1 is given twice", r"\[conv2d\] and \[layer1\]"),
    ),
    Case(
        "map-given-twice-as-map-and-channel1",
        edit('map = """\n3 0', 'channel1 = "3 0 2 2"\nmap = """\n3 0'),
        (r"\[layer4\] map", r"second time"),
    ),
]

GRID_CASES = [
    Case(
        "ragged-grid-row-3",
        filter1_row(3, "-3  4  4"),
        (r"^\[layer1\] filter1, row 3: ", r"row 3 has 3 numbers but row 1 has 4", r"rectangular"),
    ),
    Case(
        "ragged-grid-nested-lists",
        edit(FILTER1, "filter1 = [[-7, -6, -5, -9], [0, 6, -1, -1], [-3, 4, 4]]"),
        (r"^\[layer1\] filter1, row 3: ", r"row 3 has 3 numbers but row 1 has 4"),
    ),
    Case(
        "non-number-abc",
        filter1_row(2, " 0  6 abc -1"),
        (r"^\[layer1\] filter1, row 2, column 3: ", r"expected a number", r"'abc'"),
    ),
    Case(
        "non-number-symbol-w1",
        filter1_row(4, "-6 -4 -4 w1"),
        (r"^\[layer1\] filter1, row 4, column 4: ", r"expected a number", r"'w1'"),
    ),
    Case(
        "non-number-in-vector",
        edit('values = "0.4337 0.5663"', 'values = "0.4337 x"'),
        (r"^\[layer7\] values, item 2: ", r"expected a number", r"'x'"),
    ),
    Case(
        "non-number-one-value",
        edit("z1 = 0.5095", 'z1 = "half"'),
        (r"^\[layer6\] z1: ", r"expected a number", r"'half'"),
    ),
    Case("empty-text", edit(FILTER1, 'filter1 = ""'), (r"^\[layer1\] filter1: ", r"expected numbers, found none")),
    Case(
        "blank-lines-only",
        edit(FILTER1, 'filter1 = """\n\n   \n"""'),
        (r"^\[layer1\] filter1: ", r"expected numbers, found none"),
    ),
    Case(
        "empty-list",
        edit(FILTER1, "filter1 = []"),
        (r"^\[layer1\] filter1: ", r"expected a number or a grid of numbers", r"a list"),
    ),
    Case(
        "empty-row-in-nested-lists",
        edit(FILTER1, "filter1 = [[], []]"),
        (r"^\[layer1\] filter1, row 1: ", r"expected numbers, found an empty row"),
    ),
    Case("boolean-value", edit("z1 = 0.5095", "z1 = true"), (r"^\[layer6\] z1: ", r"expected a number", r"true")),
    Case(
        "boolean-in-nested-grid",
        edit(FILTER1, "filter1 = [[-7, -6], [0, false]]"),
        (r"^\[layer1\] filter1, row 2, column 2: ", r"expected a number", r"true/false"),
    ),
    Case(
        "nested-table-for-a-grid",
        edit(FILTER1, "filter1 = { row1 = [-7, -6, -5, -9] }"),
        (r"^\[layer1\] filter1: ", r"expected a number or a grid of numbers", r"a table"),
    ),
    Case(
        "sub-table-for-a-grid",
        edit(
            '[layer5]\nmap = """\n0.9526 0.5\n0.8808 0.8808\n"""',
            "[layer5.map]\nrow1 = [0.9526, 0.5]\nrow2 = [0.8808, 0.8808]",
        ),
        (r"^\[layer5\] map: ", r"expected a number or a grid of numbers", r"a table"),
    ),
    Case("nan", edit("z2 = 0.7762", "z2 = nan"), (r"^\[layer6\] z2: ", r"expected a finite number", r"(?i)nan")),
    Case("infinity", edit("z2 = 0.7762", "z2 = -inf"), (r"^\[layer6\] z2: ", r"expected a finite number")),
    Case("division-by-zero", edit("z1 = 0.5095", 'z1 = "1/0"'), (r"^\[layer6\] z1: ", r"expected a number", r"'1/0'")),
]

# ---- [[window]]: one written sum ----

W = {"layer": "1", "filter": "1", "row": "1", "column": "2", "sum": '"0 + 2 - 1 - 5 - 2"'}


def w(**changes) -> str:
    """GOOD whose window is W with `changes` (None removes a field)."""
    fields = {k: v for k, v in {**W, **changes}.items() if v is not None}
    return window(**fields)


WINDOW_CASES = [
    Case("window-missing-layer", w(layer=None), (r"^\[\[window\]\] 1: ", r"missing 'layer'")),
    Case("window-missing-sum", w(sum=None), (r"^\[\[window\]\] 1: ", r"missing 'sum'")),
    Case("window-missing-row", w(row=None), (r"^\[\[window\]\] 1: ", r"missing 'row'", r"which cell")),
    Case(
        "window-layer-with-no-sums-relu",
        w(layer="2", filter=None),
        (r"^\[\[window\]\] 1, layer: ", r"layer 2 \(relu\) has no sums", r"conv2d window"),
    ),
    Case(
        "window-layer-9",
        w(layer="9"),
        (r"^\[\[window\]\] 1, layer: ", r"9 is outside the 7 layers", r"expected 1 to 7"),
    ),
    Case(
        "window-layer-not-a-number",
        w(layer='"one"'),
        (r"^\[\[window\]\] 1, layer: ", r"expected a whole number", r"'one'"),
    ),
    Case(
        "window-layer-boolean",
        w(layer="true"),
        (r"^\[\[window\]\] 1, layer: ", r"expected a whole number", r"true/false"),
    ),
    Case(
        "window-row-5",
        w(row="5"),
        (r"^\[\[window\]\] 1, row: ", r"5 is outside the 4 rows of the 4x4 map", r"expected 1 to 4"),
    ),
    Case(
        "window-column-0",
        w(column="0"),
        (r"^\[\[window\]\] 1, column: ", r"0 is outside the 4 columns of the 4x4 map", r"expected 1 to 4"),
    ),
    Case(
        "window-row-on-2x2-map",
        w(layer="4", filter=None, row="3"),
        (r"^\[\[window\]\] 1, row: ", r"3 is outside the 2 rows of the 2x2 map"),
    ),
    Case(
        "window-filter-3",
        w(filter="3"),
        (r"^\[\[window\]\] 1, filter: ", r"3 is outside the 2 filters", r"expected 1 to 2"),
    ),
    Case(
        "window-neuron-on-conv",
        w(neuron="1"),
        (r"^\[\[window\]\] 1: ", r"'neuron' does not apply", r"'row' and 'column'"),
    ),
    Case(
        "window-filter-on-conv1x1",
        w(layer="4"),
        (r"^\[\[window\]\] 1: ", r"'filter' does not apply", r"1x1 filter makes one map"),
    ),
    Case(
        "window-row-on-dense",
        w(layer="6", filter=None, row="1", column=None, neuron="1", sum='"0.1"'),
        (r"^\[\[window\]\] 1: ", r"'row' does not apply", r"neuron"),
    ),
    Case(
        "window-neuron-3-of-2",
        w(layer="6", filter=None, row=None, column=None, neuron="3", sum='"0.1"'),
        (r"^\[\[window\]\] 1, neuron: ", r"3 is outside the 2 neurons"),
    ),
    Case(
        "window-unknown-field",
        w(value="3"),
        (r"^\[\[window\]\] 1: ", r"unknown field 'value'", r"expected .*column.*sum"),
    ),
    Case("window-sum-not-text", w(sum="-7"), (r"^\[\[window\]\] 1, sum: ", r"expected the sum as text", r"-7")),
    Case("window-sum-empty", w(sum='"  "'), (r"^\[\[window\]\] 1, sum: ", r"expected the sum as text")),
    Case(
        "window-sum-two-operators",
        w(sum='"2 + * 3"'),
        (r"^\[\[window\]\] 1: ", r"in the sum '2 \+ \* 3'", r"unexpected '\*'"),
    ),
    Case(
        "window-sum-python",
        w(sum='''"__import__('os')"'''),
        (r"^\[\[window\]\] 1: ", r"in the sum", r"cannot read \"'\"|cannot read '", r"\+ - \* /"),
    ),
    Case(
        "window-sum-latex-frac",
        w(sum=r'"\\frac{1}{2} + 3"'),
        (r"^\[\[window\]\] 1: ", r"in the sum", r"cannot read '\\\\frac'"),
    ),
    Case(
        "window-sum-unclosed-parenthesis",
        w(sum='"(0 + 2 - 1"'),
        (r"^\[\[window\]\] 1: ", r"in the sum", r"expected '\)'|ends too soon"),
    ),
    Case("window-sum-nothing-before-equals", w(sum='"= -6"'), (r"^\[\[window\]\] 1: ", r"nothing before '='")),
    Case("window-sum-fractional-power", w(sum='"2^0.5 + 1"'), (r"^\[\[window\]\] 1: ", r"in the sum", r"whole powers")),
    Case(
        "window-sum-zero-to-a-negative-power",
        w(sum='"0^-1 + 1"'),
        (r"^\[\[window\]\] 1: ", r"in the sum", r"division by zero"),
    ),
    Case(
        "window-sum-power-of-a-power", w(sum='"(2^3)^2"'), (r"^\[\[window\]\] 1: ", r"in the sum", r"power of a power")
    ),
    Case(
        "window-second-of-two",
        GOOD + '\n[[window]]\nlayer = 1\nrow = 9\ncolumn = 1\nsum = "1"\n',
        (r"^\[\[window\]\] 2, row: ", r"9 is outside the 4 rows"),
    ),
    Case(
        "window-not-a-table",
        "window = 3\n" + GOOD.replace(WINDOW, ""),
        (r"^field 'window': ", r"expected \[\[window\]\] tables"),
    ),
]

# ---- the file as a whole ----

FILE_CASES = [
    Case("invalid-toml", edit("[layer6]", "[layer6"), (r"not valid TOML", r"line \d+")),
    Case(
        "invalid-toml-unclosed-grid",
        edit('values = "0.4337 0.5663"', 'values = "0.4337 0.5663'),
        (r"not valid TOML", r"line \d+"),
    ),
    Case(
        "student-not-text",
        edit('student = "A. Student"', "student = 3"),
        (r"^field 'student': ", r"expected text", r"found 3\b"),
    ),
    Case(
        "note-not-text",
        edit('student = "A. Student"', 'student = "A. Student"\nnote = [1]'),
        (r"^field 'note': ", r"expected text", r"a list"),
    ),
    Case(
        "variant-not-text",
        edit('student = "A. Student"', 'student = "A. Student"\nvariant = [2]'),
        (r"^field 'variant': ", r"expected text"),
    ),
]

ALL_CASES = TABLE_CASES + GRID_CASES + WINDOW_CASES + FILE_CASES
assert len({c.id for c in ALL_CASES}) == len(ALL_CASES)


def test_good_working_is_marked_full(capsys, tmp_path):
    """Control: the unedited working file is accepted and earns every mark, so the failures below are the edits'."""
    working = tmp_path / "good.toml"
    working.write_text(GOOD, encoding="utf-8")
    out = tmp_path / "feedback"
    code, stdout, err = run(capsys, TUTORIAL_PATH, working, "--out", out)
    assert code == 0, err
    assert err == ""
    assert "A. Student" in stdout and "no wrong stage" in stdout, stdout
    assert (out / "good-feedback.md").read_text(encoding="utf-8").startswith(MARK)


@pytest.mark.parametrize("case", ALL_CASES, ids=str)
def test_bad_working_file(case: Case, capsys, tmp_path):
    """One thing wrong in a working file: one located error line, status 2, nothing written."""
    working = tmp_path / f"{case.id}.toml"
    working.write_text(case.text, encoding="utf-8")
    out = tmp_path / "feedback"
    code, _, err = run(capsys, TUTORIAL_PATH, working, "--out", out)
    assert_one_error(code, err, working, case.needles)
    assert not out.exists() or not any(out.iterdir()), f"files were written: {list(out.iterdir())}"


# ---- input built to exhaust the marker: still one line (or a mark), promptly ----

DEEP = 900  # parentheses deep: a 1,801-character sum, under the 2,000 characters a sum may have


def test_deeply_nested_sum(capsys, tmp_path):
    """A sum nested 900 parentheses deep: one located line (or marked), not a RecursionError."""
    working = tmp_path / "deep.toml"
    working.write_text(w(sum='"' + "(" * DEEP + "1" + ")" * DEEP + '"'), encoding="utf-8")
    code, _, err = run(capsys, TUTORIAL_PATH, working, "--out", tmp_path / "feedback")
    if code != 0:
        assert_one_error(code, err, working, (r"^\[\[window\]\] 1\b", r"in the sum"))


def test_folder_with_a_deeply_nested_sum(capsys, tmp_path):
    """In a folder, that file is skipped in one line (or marked) and the others are still marked."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.toml").write_text(_good("Ada"), encoding="utf-8")
    (folder / "bob.toml").write_text(w(sum='"' + "(" * DEEP + "1" + ")" * DEEP + '"'), encoding="utf-8")
    out = tmp_path / "feedback"
    code, _, err = run(capsys, TUTORIAL_PATH, folder, "--out", out)
    assert code in (0, 2) and "Traceback" not in err, err
    assert (out / "ada-feedback.md").is_file()


SECONDS = 10  # the tutorial is marked in about a second; ten is more than any honest working needs

SLOW_CASES = [
    # 99999999 decimal exponent: must be refused before a 100-million-digit integer is built.
    Case(
        "cell-exponent-1e99999999-text",
        edit("z1 = 0.5095", 'z1 = "1e99999999"'),
        (r"^\[layer6\] z1: ", r"too many digits"),
    ),
    Case(
        "cell-exponent-1e99999999-toml-float",
        edit("z1 = 0.5095", "z1 = 1e-99999999"),
        (r"^\[layer6\] z1: ", r"too many digits"),
    ),
    # (((9^12)^12)...)^12, eight deep: each power is "whole, up to 12", but the value has ~400 million digits.
    Case("sum-power-tower", w(sum='"' + "(" * 8 + "9" + "^12)" * 8 + '"'), (r"^\[\[window\]\] 1: ", r"in the sum")),
]


@pytest.mark.parametrize("case", SLOW_CASES, ids=str)
def test_huge_numbers_answer_promptly(case: Case, tmp_path):
    """A number too large to be an answer is rejected (or marked wrong) within seconds, not computed in full."""
    working = tmp_path / f"{case.id}.toml"
    working.write_text(case.text, encoding="utf-8")
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "stepper",
                "check",
                str(TUTORIAL_PATH),
                str(working),
                "--out",
                str(tmp_path / "feedback"),
            ],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SECONDS,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {SECONDS} s")
    if done.returncode != 0:
        assert_one_error(done.returncode, done.stderr, working, case.needles)


# ---- a wrong shape is a mistake to mark, not bad input ----

SHAPE_CASES = {
    "conv-map-3x3": edit(FILTER1, 'filter1 = """\n-7 -6 -5\n 0  6 -1\n-3  4  4\n"""'),
    "conv-map-4x5": edit(
        FILTER1,
        FILTER1.replace("-9\n", "-9 1\n")
        .replace("-1 -1\n", "-1 -1 1\n")
        .replace("4  0\n", "4  0 1\n")
        .replace("4  3\n", "4  3 1\n"),
    ),
    "pool-map-one-row": edit('channel1 = """\n6 0\n4 4\n"""', 'channel1 = "6 0 4 4"'),
    "softmax-three-values": edit('values = "0.4337 0.5663"', 'values = "0.4 0.3 0.3"'),
    "dense-z-as-two-numbers": edit("z1 = 0.5095", 'z1 = "0.5 0.5"'),
}


@pytest.mark.parametrize("name", SHAPE_CASES)
def test_rectangular_grid_of_another_shape_is_marked(name, capsys, tmp_path):
    """A rectangular grid of a different shape than the worked solution is a student's mistake: marked, exit 0."""
    working = tmp_path / f"{name}.toml"
    working.write_text(SHAPE_CASES[name], encoding="utf-8")
    out = tmp_path / "feedback"
    code, stdout, err = run(capsys, TUTORIAL_PATH, working, "--out", out)
    assert "Traceback" not in err
    assert code == 0, f"exit status {code}, stderr: {err!r}"
    assert "stepper: error" not in err, err
    report = out / f"{name}-feedback.md"
    assert report.is_file(), list(out.iterdir()) if out.exists() else "no --out folder"
    assert report.read_text(encoding="utf-8").startswith(MARK)
    assert f"{name}.toml: A. Student:" in stdout, stdout


# ---- missing files, and bad command lines ----


def test_missing_working_file(capsys, tmp_path):
    """A working file that is not there: named, with 'no such file'."""
    missing = tmp_path / "nobody.toml"
    out = tmp_path / "feedback"
    code, _, err = run(capsys, TUTORIAL_PATH, missing, "--out", out)
    assert_one_error(code, err, missing, (r"no such file",))
    assert not out.exists()


def test_missing_problem_file(capsys, tmp_path):
    """A problem file that is not there: the problem file is named."""
    working = tmp_path / "good.toml"
    working.write_text(GOOD, encoding="utf-8")
    missing = tmp_path / "no-such-problem.toml"
    out = tmp_path / "feedback"
    code, _, err = run(capsys, missing, working, "--out", out)
    assert_one_error(code, err, missing, (r"no such file",))
    assert not out.exists()


def test_working_file_not_utf8(capsys, tmp_path):
    """Bytes that are not UTF-8 (a file saved by a word processor): one line, not a UnicodeDecodeError."""
    working = tmp_path / "latin1.toml"
    working.write_bytes('student = "Zoë"\n'.encode("latin-1"))
    code, _, err = run(capsys, TUTORIAL_PATH, working, "--out", tmp_path / "feedback")
    assert_one_error(code, err, working, (r"cannot read it|not valid",))


def test_templates_folder_missing(capsys, tmp_path):
    """--templates naming no folder is reported as --templates."""
    working = tmp_path / "good.toml"
    working.write_text(GOOD, encoding="utf-8")
    missing = tmp_path / "no-templates"
    code, _, err = run(capsys, TUTORIAL_PATH, working, "--out", tmp_path / "feedback", "--templates", missing)
    assert_one_error(code, err, missing, (r"--templates", r"no such folder"))


# ---- [marks] in the problem file ----

MARKS_CASES = [
    Case(
        "marks-unknown-stage-layer9",
        "\n[marks]\nlayer9 = 2\n",
        (r"\[marks\] field 'layer9'", r"no stage is called 'layer9'", r"expected .*'layer1'"),
    ),
    Case(
        "marks-unknown-stage-part",
        '\n[marks]\n"layer1.filter3" = 2\n',
        (r"\[marks\] field 'layer1\.filter3'", r"no stage is called"),
    ),
    Case(
        "marks-negative-points",
        "\n[marks]\nlayer1 = -2\n",
        (r"\[marks\] field 'layer1'", r"expected points from 0 to 1000", r"-2\b"),
    ),
    Case(
        "marks-negative-default",
        "\n[marks]\ndefault = -1\n",
        (r"\[marks\] field 'default'", r"expected points from 0 to 1000"),
    ),
    Case("marks-points-not-a-number", '\n[marks]\nlayer2 = "lots"\n', (r"\[marks\] field 'layer2'", r"expected")),
    Case(
        "marks-per-row",
        '\n[marks]\nper = "row"\n',
        (r"\[marks\] field 'per'", r"expected one of 'cell', 'stage'", r"'row'"),
    ),
    Case(
        "marks-follow-through-not-boolean",
        '\n[marks]\nfollow_through = "yes"\n',
        (r"\[marks\] field 'follow_through'", r"expected true or false"),
    ),
    Case("marks-not-a-table", None, (r"field 'marks'", r"expected a \[marks\] table")),
]


@pytest.mark.parametrize("case", MARKS_CASES, ids=str)
def test_bad_marks_in_problem_file(case: Case, capsys, tmp_path):
    """[marks] in a problem file: one line naming the problem file and [marks]."""
    problem = tmp_path / "tutorial-marked.toml"
    if case.text is None:  # a top-level key, so it must come before the first table
        text = TUTORIAL.replace('title = "', 'marks = 5\ntitle = "', 1)
    else:
        text = TUTORIAL + case.text
    problem.write_text(text, encoding="utf-8")
    working = tmp_path / "good.toml"
    working.write_text(GOOD, encoding="utf-8")
    out = tmp_path / "feedback"
    code, _, err = run(capsys, problem, working, "--out", out)
    assert_one_error(code, err, problem, case.needles)
    assert not out.exists()


def test_good_marks_are_accepted(capsys, tmp_path):
    """Control for the [marks] cases: a valid scheme is accepted."""
    problem = tmp_path / "tutorial-marked.toml"
    problem.write_text(
        TUTORIAL + '\n[marks]\nper = "stage"\ndefault = 1\nlayer1 = 4\n"layer6.z1" = 2\n', encoding="utf-8"
    )
    working = tmp_path / "good.toml"
    working.write_text(GOOD, encoding="utf-8")
    code, _, err = run(capsys, problem, working, "--out", tmp_path / "feedback")
    assert code == 0, err


# ---- folder mode ----


def _good(student: str) -> str:
    return edit('student = "A. Student"', f'student = "{student}"')


def test_folder_skips_the_bad_file_and_marks_the_rest(capsys, tmp_path):
    """Three good files and one bad: status 2, one `skipped` line for the bad one, three reports and CSV rows."""
    folder = tmp_path / "class"
    folder.mkdir()
    names = {"ada": "Ada", "bob": "Bob", "cy": "Cy"}
    for stem, student in names.items():
        (folder / f"{stem}.toml").write_text(_good(student), encoding="utf-8")
    bad = folder / "dee.toml"
    bad.write_text(filter1_row(2, " 0  6 abc -1"), encoding="utf-8")
    out = tmp_path / "feedback"

    code, stdout, err = run(capsys, TUTORIAL_PATH, folder, "--out", out)

    assert "Traceback" not in err, err
    assert code == 2, f"exit status {code}, stderr: {err!r}"
    skipped = [line for line in err.splitlines() if line.startswith("stepper: skipped: ")]
    assert len(skipped) == 1, err
    assert skipped[0].startswith(f"stepper: skipped: {bad}: "), skipped[0]
    check_needles(skipped[0], (r"\[layer1\] filter1, row 2, column 3", r"expected a number", r"'abc'"))
    assert not any(line.startswith("stepper: error") for line in err.splitlines()), err
    others = [line for line in err.splitlines() if not line.startswith("stepper: skipped: ")]
    assert not any(str(bad) in line for line in others), f"the bad file is reported more than once: {err!r}"

    for stem in names:
        report = out / f"{stem}-feedback.md"
        assert report.read_text(encoding="utf-8").startswith(MARK), stem
    assert not (out / "dee-feedback.md").exists()
    with (out / "class-summary.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student"] for r in rows) == sorted(names.values()), rows
    assert sorted(r["file"] for r in rows) == ["ada.toml", "bob.toml", "cy.toml"]
    assert re.search(r"Skipped.*dee\\?\.toml", (out / "class-summary.md").read_text(encoding="utf-8"))
    assert "3 marked" in stdout, stdout


def test_folder_with_a_bad_sum_is_skipped_too(capsys, tmp_path):
    """A sum that cannot be read is found while marking, not loading: still one `skipped` line, the rest marked."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.toml").write_text(_good("Ada"), encoding="utf-8")
    bad = folder / "bob.toml"
    bad.write_text(w(sum='"2 + * 3"'), encoding="utf-8")
    out = tmp_path / "feedback"
    code, _, err = run(capsys, TUTORIAL_PATH, folder, "--out", out)
    assert "Traceback" not in err and code == 2, err
    skipped = [line for line in err.splitlines() if line.startswith("stepper: skipped: ")]
    assert len(skipped) == 1 and skipped[0].startswith(f"stepper: skipped: {bad}: [[window]] 1: "), err
    assert (out / "ada-feedback.md").is_file()
    assert not (out / "bob-feedback.md").exists()


@pytest.mark.parametrize("contents", ["empty", "only-other-files", "only-the-problem"])
def test_folder_without_working_files(contents, capsys, tmp_path):
    """A folder holding no working file is an error naming the folder."""
    folder = tmp_path / "class"
    folder.mkdir()
    problem = TUTORIAL_PATH
    if contents == "only-other-files":
        (folder / "notes.txt").write_text("not a working file", encoding="utf-8")
        (folder / "sub.toml").mkdir()
    elif contents == "only-the-problem":
        problem = folder / "tutorial.toml"
        problem.write_text(TUTORIAL, encoding="utf-8")
    out = tmp_path / "feedback"
    code, _, err = run(capsys, problem, folder, "--out", out)
    assert_one_error(code, err, folder, (r"no working files",))
    assert not out.exists()


# ---- nothing the user owns is changed ----


def test_working_files_are_not_modified_single(capsys, tmp_path):
    """Marking a file leaves its bytes as they were (CRLF line ends, comments, a BOM-less UTF-8 name)."""
    working = tmp_path / "zoe.toml"
    data = ("# typed in from paper\n" + _good("Zoë")).replace("\n", "\r\n").encode("utf-8")
    working.write_bytes(data)
    code, _, err = run(capsys, TUTORIAL_PATH, working, "--out", tmp_path / "feedback")
    assert code == 0, err
    assert working.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedback", "zoe.toml"]


def test_working_files_are_not_modified_folder(capsys, tmp_path):
    """Marking a folder (a bad file among them) leaves every file in it, and the folder's listing, as they were."""
    folder = tmp_path / "class"
    folder.mkdir()
    files = {
        "ada.toml": _good("Ada").encode(),
        "bob.toml": w(row="5").encode(),
        "cy.toml": SHAPE_CASES["conv-map-3x3"].encode(),
        "readme.txt": b"not marked\n",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    code, _, err = run(capsys, TUTORIAL_PATH, folder, "--out", tmp_path / "feedback")
    assert code == 2, err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files


def test_bad_input_leaves_the_working_file_alone(capsys, tmp_path):
    """A working file that cannot be read is not rewritten or removed either."""
    working = tmp_path / "bad.toml"
    data = filter1_row(3, "-3  4  4").encode()
    working.write_bytes(data)
    code, _, _ = run(capsys, TUTORIAL_PATH, working, "--out", tmp_path / "feedback")
    assert code == 2
    assert working.read_bytes() == data


@pytest.mark.parametrize("mode", ["single", "folder"])
def test_report_not_written_by_stepper_is_left_alone(mode, capsys, tmp_path):
    """An existing report stepper did not write stops the run (status 2, --force named) and is kept; --force replaces it."""
    if mode == "single":
        target = tmp_path / "x.toml"
        target.write_text(_good("X"), encoding="utf-8")
    else:
        target = tmp_path / "class"
        target.mkdir()
        for stem in ("w", "x"):
            (target / f"{stem}.toml").write_text(_good(stem.upper()), encoding="utf-8")
    out = tmp_path / "feedback"
    out.mkdir()
    mine = out / "x-feedback.md"
    notes = "# My own feedback for X\n\nwritten by hand\n"
    mine.write_text(notes, encoding="utf-8")

    code, _, err = run(capsys, TUTORIAL_PATH, target, "--out", out)
    assert "Traceback" not in err
    assert code == 2, f"exit status {code}, stderr: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"stepper: error: {mine}: "), lines[0]
    assert "--force" in lines[0], lines[0]
    assert mine.read_text(encoding="utf-8") == notes
    assert sorted(p.name for p in out.iterdir()) == ["x-feedback.md"], "other reports were written before the check"

    code, _, err = run(capsys, TUTORIAL_PATH, target, "--out", out, "--force")
    assert code == 0, err
    written = mine.read_text(encoding="utf-8")
    assert written.startswith(MARK) and written != notes


def test_class_summary_not_written_by_stepper_is_left_alone(capsys, tmp_path):
    """The same for class-summary.csv: a spreadsheet of the user's is not replaced without --force."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.toml").write_text(_good("Ada"), encoding="utf-8")
    out = tmp_path / "feedback"
    out.mkdir()
    sheet = out / "class-summary.csv"
    sheet.write_text("name,grade\nAda,A\n", encoding="utf-8")
    code, _, err = run(capsys, TUTORIAL_PATH, folder, "--out", out)
    assert code == 2 and "--force" in err and str(sheet) in err, err
    assert sheet.read_text(encoding="utf-8") == "name,grade\nAda,A\n"
    assert not (out / "ada-feedback.md").exists()


def test_reports_stepper_wrote_are_replaced_without_force(capsys, tmp_path):
    """Running twice is fine: stepper's own reports are replaced without --force."""
    working = tmp_path / "x.toml"
    working.write_text(_good("X"), encoding="utf-8")
    out = tmp_path / "feedback"
    assert run(capsys, TUTORIAL_PATH, working, "--out", out)[0] == 0
    assert run(capsys, TUTORIAL_PATH, working, "--out", out)[0] == 0
