"""Bad input for `stepper exam`: exam templates, their [random], [constraints] and [exam], and the command line.

The contract is the one `test_bad_input.py` sets for problem files. Each case
edits the text of `examples/tutorial-exam.toml` so that exactly one thing is
wrong, runs `stepper.cli.main(["exam", TEMPLATE, "--variants", "3", "--out",
OUT])` in-process, and checks:

* exit status 2;
* exactly one line on stderr, `stepper: error: FILE: PLACE: ...`, FILE being
  the template as given on the command line and PLACE the table and entry
  (`[random] 'layer9.filters'`, `[constraints] field 'largest'`, `[exam] field
  'key'`);
* the line says what was expected (checked by the important words only);
* no traceback, nothing is written to OUT, and the template is not modified.

A template that cannot be met stops after `tries` candidates with one line
naming the constraint that failed and how often, instead of looping.
Cases that once showed a bug are kept (`fixed`), with what the bug was.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stepper.cli import main
from tests.helpers.one_line import Case, assert_one_error, assert_one_line, check_needles, run_stepper
from tests.helpers import ROOT

REPO = ROOT
TEMPLATE_PATH = REPO / "examples" / "tutorial-exam.toml"
TEMPLATE = TEMPLATE_PATH.read_text(encoding="utf-8")
VARIANTS = ("--variants", "3")


# ---- editing the template's text ----


def _bounds(name: str, text: str) -> tuple[int, int]:
    """Where the body of the table `[name]` starts and ends in `text` (its header is just before the start)."""
    header = re.search(rf"^\[{re.escape(name)}\]\n", text, re.M)
    assert header, f"[{name}] not found in the template"
    following = re.compile(r"^\[", re.M).search(text, header.end())
    return header.end(), following.start() if following else len(text)


def without(name: str, text: str = TEMPLATE) -> str:
    """`text` without the table `[name]`, header and all."""
    start, end = _bounds(name, text)
    return text[: start - len(f"[{name}]\n")] + text[end:]


def with_body(name: str, body: str, text: str = TEMPLATE) -> str:
    """`text` whose table `[name]` holds `body` instead of what it held."""
    start, end = _bounds(name, text)
    return text[:start] + body.rstrip("\n") + "\n\n" + text[end:]


def _key(line: str) -> str:
    return line.split("=", 1)[0].strip()


def entry(name: str, line: str, text: str = TEMPLATE) -> str:
    """`text` with `line` first in the table `[name]`, replacing any entry of the same key."""
    start, end = _bounds(name, text)
    kept = [old for old in text[start:end].splitlines() if "=" not in old or _key(old) != _key(line)]
    return text[:start] + line + "\n" + "\n".join(kept) + "\n" + text[end:]


def random(line: str, text: str = TEMPLATE) -> str:
    return entry("random", line, text)


def constraints(line: str, text: str = TEMPLATE) -> str:
    return entry("constraints", line, text)


def exam_entry(line: str, text: str = TEMPLATE) -> str:
    return entry("exam", line, text)


def top(line: str, text: str = TEMPLATE) -> str:
    """`text` with a top-level `line` (before any table)."""
    return line + "\n" + text


def edit(*pairs: str, text: str = TEMPLATE) -> str:
    """`text` with each `old` replaced by `new`; every `old` must occur exactly once."""
    for old, new in zip(pairs[::2], pairs[1::2]):
        assert text.count(old) == 1, f"expected {old!r} exactly once"
        text = text.replace(old, new)
    return text


PROBLEM = TEMPLATE[: _bounds("random", TEMPLATE)[0] - len("[random]\n")]  # the problem file the template is built on
FILTER_ROW = "   1  0  1\n"  # the first row of the first filter
assert TEMPLATE.count(FILTER_ROW) == 1, "the first filter's first row was not found"


# ---- running it ----


def run(capsys, *args) -> tuple[int, str, str]:
    return run_stepper(capsys, "exam", *args)


def assert_nothing_written(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), f"files were written: {sorted(out.iterdir())}"


def fixed(case: Case, reason: str):
    """A case that once showed a bug, kept with what the bug was."""
    return pytest.param(case, id=case.id)


# ---- [random]: paths naming no field of the problem ----

NO_FIELD = r"names no field of the problem"

PATH_CASES = [
    Case(
        "unknown-top-name-colour",
        random('colour = "0..4"'),
        (r"^\[random\] 'colour': ", NO_FIELD, r"expected 'input' or 'layerN\.field'"),
    ),
    Case(
        "layer-out-of-range-layer9",
        random('"layer9.filters" = [1]'),
        (r"^\[random\] 'layer9\.filters': ", NO_FIELD, r"layers 1 to 7"),
    ),
    Case("layer-0", random('"layer0.filters" = [1]'), (r"^\[random\] 'layer0\.filters': ", NO_FIELD, r"layers 1 to 7")),
    Case(
        "weights-on-conv2d",
        random('"layer1.weights" = [1]'),
        (r"^\[random\] 'layer1\.weights': ", NO_FIELD, r"layer 1 \(conv2d\) may vary 'filters'"),
    ),
    Case(
        "filters-on-relu",
        random('"layer2.filters" = [1]'),
        (r"^\[random\] 'layer2\.filters': ", NO_FIELD, r"layer 2 \(relu\) may vary 'type'"),
    ),
    Case(
        "type-on-conv2d",
        random('"layer1.type" = ["relu"]'),
        (r"^\[random\] 'layer1\.type': ", NO_FIELD, r"layer 1 \(conv2d\) may vary"),
    ),
    Case(
        "slope-on-sigmoid",
        random('"layer5.slope" = [1]'),
        (r"^\[random\] 'layer5\.slope': ", NO_FIELD, r"layer 5 \(sigmoid\) may vary 'type'"),
    ),
    Case(
        "part-out-of-range-filter3",
        random('"layer1.filters.3" = [1]'),
        (r"^\[random\] 'layer1\.filters\.3': ", NO_FIELD, r"filters has parts 1 to 2"),
    ),
    Case(
        "part-0", random('"layer1.filters.0" = [1]'), (r"^\[random\] 'layer1\.filters\.0': ", NO_FIELD, r"parts 1 to 2")
    ),
    Case(
        "neuron-out-of-range",
        random('"layer6.weights.3" = "0..0.5 by 0.1"'),
        (r"^\[random\] 'layer6\.weights\.3': ", NO_FIELD, r"weights has parts 1 to 2"),
    ),
    Case(
        "part-on-a-scalar-stride",
        random('"layer1.stride.1" = [1]'),
        (r"^\[random\] 'layer1\.stride\.1': ", NO_FIELD, r"only a part counted from 1", r"field of cells"),
    ),
    Case(
        "part-not-a-number",
        random('"layer1.filters.first" = [1]'),
        (r"^\[random\] 'layer1\.filters\.first': ", NO_FIELD, r"part counted from 1"),
    ),
    Case("part-of-a-part", random('"layer1.filters.1.2" = [1]'), (r"^\[random\] 'layer1\.filters\.1\.2': ", NO_FIELD)),
    Case(
        "layer1-alone",
        random("layer1 = [1]"),
        (r"^\[random\] 'layer1': ", NO_FIELD, r"'layerN\.field'", r"'layer1\.filters'"),
    ),
    Case("input-with-a-name-inline-table", random("input = { low = 0 }"), (r"^\[random\] 'input\.low': ", NO_FIELD)),
    Case("empty-key", random('"" = [1]'), (r"^\[random\] '': ", NO_FIELD)),
]

# ---- [random]: what each value is drawn from ----

PICK = r"expected a range such as \"0\.\.4\" or \"0\.\.0\.5 by 0\.1\", or a list of numbers"
NUMBER = r"expected a (finite )?number"

VALUE_CASES = [
    Case(
        "empty-list",
        random('"layer1.filters" = []'),
        (r"^\[random\] 'layer1\.filters': ", r"the list is empty", r"one or more numbers"),
    ),
    Case(
        "inverted-range",
        random('input = "4..0"'),
        (r"^\[random\] 'input': ", r"'4\.\.0' is inverted", r"from 4 down to 0"),
    ),
    Case("step-0", random('input = "0..4 by 0"'), (r"^\[random\] 'input': ", r"expected a step above 0", r"found 0\b")),
    Case(
        "step-negative",
        random('input = "0..4 by -1"'),
        (r"^\[random\] 'input': ", r"expected a step above 0", r"found -1\b"),
    ),
    Case(
        "decimal-range-without-step",
        random('"layer6.weights" = "0..0.5"'),
        (r"^\[random\] 'layer6\.weights': ", r"a range of decimals needs a step", r'"0\.\.0\.5 by 0\.1"'),
    ),
    Case(
        "range-with-too-many-values",
        random('input = "0..100000"'),
        (r"^\[random\] 'input': ", r"the range holds 100,001 values", r"at most 10,000"),
    ),
    Case(
        "range-with-a-billion-values",
        random('input = "0..1000 by 0.000001"'),
        (r"^\[random\] 'input': ", r"the range holds 1,000,000,001 values", r"at most 10,000"),
    ),
    Case("range-not-numbers", random('input = "a..b"'), (r"^\[random\] 'input': ", NUMBER, r"found 'a'")),
    Case(
        "range-step-not-a-number", random('input = "0..4 by abc"'), (r"^\[random\] 'input': ", NUMBER, r"found 'abc'")
    ),
    Case(
        "range-without-start",
        random('input = "..4"'),
        (r"^\[random\] 'input': ", r"expected a range such as", r"found '\.\.4'"),
    ),
    Case(
        "range-not-a-range",
        random('input = "zero to four"'),
        (r"^\[random\] 'input': ", r"expected a range such as", r"found 'zero to four'"),
    ),
    Case("range-division-by-zero", random('input = "0..1/0"'), (r"^\[random\] 'input': ", NUMBER, r"'1/0'")),
    Case("list-with-a-word", random('input = [1, "x"]'), (r"^\[random\] 'input': ", NUMBER, r"found 'x'")),
    Case("list-of-lists", random("input = [[1, 2]]"), (r"^\[random\] 'input': ", NUMBER, r"found a list")),
    Case("list-with-nan", random("input = [nan]"), (r"^\[random\] 'input': ", NUMBER)),
    Case("boolean", random("input = true"), (r"^\[random\] 'input': ", PICK)),
    Case("boolean-in-a-list", random("input = [1, false]"), (r"^\[random\] 'input': ", NUMBER)),
    Case("bare-number", random("input = 3"), (r"^\[random\] 'input': ", PICK, r"found 3\b")),
    Case("bare-decimal", random("input = 0.5"), (r"^\[random\] 'input': ", PICK)),
    Case("date", random("input = 2024-01-01"), (r"^\[random\] 'input': ", PICK)),
    Case(
        "type-sigmoid-on-maxpool",
        random('"layer3.type" = ["sigmoid"]'),
        (r"^\[random\] 'layer3\.type': ", r"a maxpool layer may become only 'maxpool' or 'avgpool'", r"not 'sigmoid'"),
    ),
    Case(
        "type-softmax-on-maxpool",
        random('"layer3.type" = ["maxpool", "softmax"]'),
        (r"^\[random\] 'layer3\.type': ", r"may become only 'maxpool' or 'avgpool'", r"not 'softmax'"),
    ),
    Case(
        "type-softmax-on-sigmoid",
        random('"layer5.type" = ["softmax"]'),
        (r"^\[random\] 'layer5\.type': ", r"a sigmoid layer may become only 'relu' or 'sigmoid'", r"not 'softmax'"),
    ),
    Case(
        "type-unknown-name",
        random('"layer3.type" = ["maxpol"]'),
        (r"^\[random\] 'layer3\.type': ", r"may become only", r"not 'maxpol'"),
    ),
    Case(
        "type-not-a-list",
        random('"layer3.type" = "maxpool"'),
        (r"^\[random\] 'layer3\.type': ", r"expected a list of layer types", r"found 'maxpool'"),
    ),
    Case(
        "type-empty-list",
        random('"layer3.type" = []'),
        (r"^\[random\] 'layer3\.type': ", r"expected a list of layer types"),
    ),
    Case(
        "type-list-with-a-number",
        random('"layer3.type" = ["maxpool", 3]'),
        (r"^\[random\] 'layer3\.type': ", r"expected a list of layer types"),
    ),
    Case(
        "stride-0",
        random('"layer1.stride" = [0, 2]'),
        (r"^\[random\] 'layer1\.stride': ", r"expected whole numbers from 1 to 100", r"found 0\b"),
    ),
    Case(
        "stride-1.5",
        random('"layer1.stride" = [1.5]'),
        (r"^\[random\] 'layer1\.stride': ", r"expected whole numbers from 1 to 100", r"found 1\.5\b"),
    ),
    Case(
        "stride-range-of-decimals",
        random('"layer1.stride" = "1..2 by 0.5"'),
        (r"^\[random\] 'layer1\.stride': ", r"expected whole numbers from 1 to 100", r"found 1\.5\b"),
    ),
    Case(
        "padding-negative",
        random('"layer1.padding" = [-1]'),
        (r"^\[random\] 'layer1\.padding': ", r"expected whole numbers from 0 to 100", r"found -1\b"),
    ),
    Case(
        "pool-size-too-large",
        random('"layer3.size" = [101]'),
        (r"^\[random\] 'layer3\.size': ", r"expected whole numbers from 1 to 100", r"found 101\b"),
    ),
    # An infinite number: Fraction(Decimal('Infinity')) raises OverflowError in variants._number.
    fixed(
        Case("list-with-infinity", random("input = [inf]"), (r"^\[random\] 'input': ", NUMBER)),
        "`input = [inf]` in [random] raises OverflowError (cannot convert Infinity to integer ratio) "
        "in variants._number: a traceback, not a located error",
    ),
    # A field the layer lacks (no bias written) is only found when drawing, and the error loses the file name.
    fixed(
        Case(
            "bias-the-layer-does-not-have",
            random('"layer1.bias" = [1]'),
            (r"^\[random\] 'layer1\.bias': ", r"no bias to vary"),
        ),
        '`"layer1.bias" = [1]` on a conv2d layer written without a bias fails at draw time in '
        "variants._redraw with `stepper: error: [random] 'layer1.bias': ...`: the template file is not named "
        "(the StepperError is raised outside loads_template, so it is never .located(file=...))",
    ),
    # A part of a conv1x1's weights: each part is a single number, not an array.
    # The same field twice: TOML allows the quoted key and the dotted key side by side.
    fixed(
        Case(
            "same-path-twice-quoted-and-dotted",
            random('"layer3.type" = ["maxpool", "avgpool"]\nlayer3.type = ["avgpool"]'),
            (r"^\[random\] 'layer3\.type': ", r"twice|given (twice|again)|more than once"),
        ),
        '`"layer3.type" = [...]` and `layer3.type = [...]` in one [random] are both accepted and the later '
        "silently overrides the earlier; the same path given twice should be a located error",
    ),
]

# ---- [random] missing, empty or not a table ----

RANDOM_TABLE = r"expected a \[random\] table naming what varies"
RANDOM_CASES = [
    Case("random-missing", without("random"), (r"^\[random\]: ", RANDOM_TABLE)),
    Case("random-empty", with_body("random", "# nothing varies yet"), (r"^\[random\]: ", RANDOM_TABLE)),
    Case("random-a-number", top("random = 3", without("random")), (r"^\[random\]: ", RANDOM_TABLE)),
    Case("random-a-list", top('random = ["input"]', without("random")), (r"^\[random\]: ", RANDOM_TABLE)),
    Case("random-a-string", top('random = "input = 0..4"', without("random")), (r"^\[random\]: ", RANDOM_TABLE)),
]

# ---- [constraints] ----

CONSTRAINT_CASES = [
    Case(
        "constraint-unknown-name",
        constraints("colour = true"),
        (
            r"^\[constraints\] field 'colour': ",
            r"unknown constraint 'colour'",
            r"expected one of 'nonzero'",
            r"'tries'",
        ),
    ),
    Case(
        "nonzero-yes",
        constraints('nonzero = "yes"'),
        (r"^\[constraints\] field 'nonzero': ", r"expected true or false", r"found 'yes'"),
    ),
    Case(
        "distinct-1", constraints("distinct = 1"), (r"^\[constraints\] field 'distinct': ", r"expected true or false")
    ),
    Case(
        "largest-negative",
        constraints("largest = -1"),
        (r"^\[constraints\] field 'largest': ", r"expected a number above 0, or false for no limit", r"found -1\b"),
    ),
    Case(
        "largest-0", constraints("largest = 0"), (r"^\[constraints\] field 'largest': ", r"expected a number above 0")
    ),
    Case(
        "largest-true",
        constraints("largest = true"),
        (r"^\[constraints\] field 'largest': ", r"expected a number above 0, or false for no limit"),
    ),
    Case(
        "largest-text",
        constraints('largest = "40"'),
        (r"^\[constraints\] field 'largest': ", r"expected a number above 0", r"found '40'"),
    ),
    Case(
        "largest-minus-infinity",
        constraints("largest = -inf"),
        (r"^\[constraints\] field 'largest': ", r"expected a number above 0"),
    ),
    fixed(
        Case(
            "largest-infinity",
            constraints("largest = inf"),
            (r"^\[constraints\] field 'largest': ", r"expected a number above 0|false for no limit"),
        ),
        "`largest = inf` in [constraints] raises OverflowError (cannot convert Infinity to integer ratio) "
        "from Fraction(value) in fairness.read_constraints: a traceback",
    ),
    fixed(
        Case(
            "largest-nan",
            constraints("largest = nan"),
            (r"^\[constraints\] field 'largest': ", r"expected a number above 0"),
        ),
        "`largest = nan` in [constraints] raises decimal.InvalidOperation from `value > 0` on Decimal('NaN') "
        "in fairness.read_constraints: a traceback",
    ),
    Case(
        "integers-unknown-layer99",
        constraints('integers = ["layer99"]'),
        (r"^\[constraints\] field 'integers': ", r"no layer or stage is called 'layer99'", r"'layer1'"),
    ),
    fixed(
        Case(
            "integers-unknown-names-two-examples",
            constraints('integers = ["layer99"]'),
            (r"^\[constraints\] field 'integers': ", r"'layer99'", r"^(?!.*'layer1' or 'layer1')"),
        ),
        "`integers = [\"layer99\"]` says \"expected one such as 'layer1' or 'layer1'\": the second example "
        "is sorted(known)[0], which is 'layer1' again (fairness.read_constraints)",
    ),
    Case(
        "integers-a-string",
        constraints('integers = "layer1"'),
        (r"^\[constraints\] field 'integers': ", r"expected a list of layers or stages", r"found 'layer1'"),
    ),
    Case(
        "integers-numbers",
        constraints("integers = [1]"),
        (r"^\[constraints\] field 'integers': ", r"expected a list of layers or stages"),
    ),
    Case(
        "tries-0",
        constraints("tries = 0"),
        (r"^\[constraints\] field 'tries': ", r"expected a whole number from 1 to 1000000", r"found 0\b"),
    ),
    Case(
        "tries-negative",
        constraints("tries = -5"),
        (r"^\[constraints\] field 'tries': ", r"expected a whole number from 1 to 1000000", r"found -5\b"),
    ),
    Case(
        "tries-1.5",
        constraints("tries = 1.5"),
        (r"^\[constraints\] field 'tries': ", r"expected a whole number from 1 to 1000000"),
    ),
    Case("tries-true", constraints("tries = true"), (r"^\[constraints\] field 'tries': ", r"expected a whole number")),
    Case(
        "tries-too-many",
        constraints("tries = 10000000"),
        (r"^\[constraints\] field 'tries': ", r"expected a whole number from 1 to 1000000"),
    ),
    Case(
        "constraints-not-a-table",
        top("constraints = 3", without("constraints")),
        (r"^\[constraints\]: ", r"expected a \[constraints\] table"),
    ),
]

# ---- [exam] ----

EXAM_CASES = [
    Case(
        "exam-key-some",
        exam_entry('key = "some"'),
        (r"^\[exam\] field 'key': ", r"expected 'full' \(the working\) or 'answers' \(results only\)", r"found 'some'"),
    ),
    Case("exam-key-a-number", exam_entry("key = 3"), (r"^\[exam\] field 'key': ", r"expected 'full'.*or 'answers'")),
    Case(
        "exam-unknown-field", exam_entry("colour = 1"), (r"^\[exam\]: ", r"unknown field 'colour'", r"expected 'key'")
    ),
    Case("exam-not-a-table", top('exam = "full"', without("exam")), (r"^\[exam\]: ", r"expected an \[exam\] table")),
]

# ---- the problem the template is built on ----

PROBLEM_CASES = [
    Case(
        "problem-filter-cell-not-a-number",
        edit(FILTER_ROW, "   1  0  @\n"),
        (r"^layer 1 \(conv2d\), field 'filters', filter 1, row 1, column 3: ", r"expected a number", r"'@'"),
    ),
    Case(
        "problem-filter-row-too-short",
        edit(FILTER_ROW, "   1  0\n"),
        (r"^layer 1 \(conv2d\), field 'filters', filter 1, row 2: ", r"expected 2 numbers as in row 1"),
    ),
    Case(
        "problem-filter-division-by-zero",
        edit(FILTER_ROW, "   1  0  1/0\n"),
        (r"^layer 1 \(conv2d\), field 'filters', filter 1, row 1, column 3: ", r"'1/0'"),
    ),
    Case(
        "problem-unknown-layer-type",
        edit('type = "maxpool"', 'type = "maxpol"'),
        (r"^layer 3 \(maxpol\), field 'type': ", r"unknown layer type 'maxpol'", r"expected one of"),
    ),
    Case("problem-unknown-top-field", top("colour = 3"), (r"^field 'colour': ", r"unknown field 'colour'")),
    Case(
        "problem-invalid-toml",
        edit('[[layers]]\ntype = "relu"', '[[layers]\ntype = "relu"'),
        (r"not valid TOML", r"line \d+"),
    ),
]

ALL_CASES = PATH_CASES + VALUE_CASES + RANDOM_CASES + CONSTRAINT_CASES + EXAM_CASES + PROBLEM_CASES


def _id(case) -> str:
    return case.id if isinstance(case, Case) else case.values[0].id


assert len({_id(c) for c in ALL_CASES}) == len(ALL_CASES), "case ids must be unique"


def test_good_template_is_drawn(capsys, tmp_path):
    """Control: the unedited template draws 3 variants, so the failures below are the edits'."""
    template = tmp_path / "tutorial-exam.toml"
    template.write_text(TEMPLATE, encoding="utf-8")
    out = tmp_path / "exam"
    code, stdout, err = run(capsys, template, *VARIANTS, "--out", out)
    assert code == 0, err
    assert err == ""
    assert "3 variants of tutorial-exam.toml" in stdout, stdout
    assert (out / "manifest.json").is_file()
    assert (out / "variant-003-key.md").is_file()


@pytest.mark.parametrize("case", ALL_CASES, ids=_id)
def test_bad_template(case: Case, capsys, tmp_path):
    """One thing wrong in a template: one located line, status 2, nothing written, the template unchanged."""
    template = tmp_path / f"{case.id}.toml"
    template.write_text(case.text, encoding="utf-8")
    before = template.read_bytes()
    out = tmp_path / "exam"
    code, stdout, err = run(capsys, template, *VARIANTS, "--out", out)
    assert_one_error(code, err, template, case.needles)
    assert stdout == "", stdout
    assert_nothing_written(out)
    assert template.read_bytes() == before


@pytest.mark.parametrize("case", [PATH_CASES[1], VALUE_CASES[1], CONSTRAINT_CASES[3], EXAM_CASES[0]], ids=str)
def test_bad_template_with_stress(case: Case, capsys, tmp_path):
    """--stress reads the template the same way: the same line, and no report on stdout."""
    template = tmp_path / f"{case.id}.toml"
    template.write_text(case.text, encoding="utf-8")
    code, stdout, err = run(capsys, template, "--stress", "5")
    assert_one_error(code, err, template, case.needles)
    assert stdout == ""


@pytest.mark.parametrize("case", PROBLEM_CASES, ids=str)
def test_problem_part_error_is_the_one_solve_gives(case: Case, capsys, tmp_path):
    """A mistake above [random] gets the same message as `stepper solve` gives for that problem file."""
    template = tmp_path / "template" / "t.toml"
    problem = tmp_path / "problem" / "t.toml"
    for path, text in ((template, case.text), (problem, case.text[: case.text.index("\n[random]\n")])):
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, template, *VARIANTS, "--out", tmp_path / "exam")
    from_exam = assert_one_error(code, err, template, case.needles)
    code = main(["solve", str(problem), "--format", "md", "--out", str(tmp_path / "solved")])
    _, err = capsys.readouterr()
    from_solve = assert_one_error(code, err, problem, case.needles)
    assert from_exam == from_solve


# ---- error messages show values as the user wrote them in TOML, not as Python reprs ----

SHOWN_CASES = [
    pytest.param(constraints('nonzero = "yes"'), r"found 'yes'", id="text-yes"),
    pytest.param(constraints("largest = -1"), r"found -1\b", id="integer-minus-1"),
    pytest.param(constraints("tries = 1.5"), r"found 1\.5\b", id="tries-1.5"),
    pytest.param(constraints("largest = true"), r"found true\b", id="largest-true"),
    pytest.param(random("input = 0.5"), r"found 0\.5\b", id="random-bare-decimal"),
    pytest.param(random("input = [nan]"), r"found nan\b", id="random-nan"),
    pytest.param(random("input = 2024-01-01"), r"found 2024-01-01\b", id="random-date"),
]


@pytest.mark.parametrize("text, needle", SHOWN_CASES)
def test_value_is_shown_as_written(text, needle, capsys, tmp_path):
    template = tmp_path / "t.toml"
    template.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, template, *VARIANTS, "--out", tmp_path / "exam")
    message = assert_one_error(code, err, template, ())
    assert "Decimal(" not in message and "datetime" not in message, message
    check_needles(message, (needle,))


def test_type_of_a_softmax_layer(capsys, tmp_path):
    """A softmax layer's own type: either accepted (nothing changes) or refused in a clear line."""
    template = tmp_path / "t.toml"
    template.write_text(random('"layer7.type" = ["softmax"]'), encoding="utf-8")
    code, _, err = run(capsys, template, *VARIANTS, "--out", tmp_path / "exam")
    if code != 0:
        message = assert_one_error(code, err, template, (r"^\[random\] 'layer7\.type': ", r"softmax"))
        assert not re.search(r"only ,|only $", message), message


# ---- constraints that cannot be met: one line, promptly ----

NOTHING_CHECKED = (
    "nonzero = false\nsaturated = false\nno_ties = false\nlargest = false\ndistinct = {distinct}\ntries = 20\n"
)

UNMET_CASES = [
    # Every filter cell 0: every feature map is all zeros, so 'nonzero' fails on every candidate.
    Case(
        "nonzero-every-map-zero",
        constraints("tries = 50", random('"layer1.filters" = [0]')),
        (
            r"^\[constraints\]: ",
            r"cannot draw variant 1",
            r"none of 50 candidates",
            r"'nonzero'",
            r"in 50 of 50",
            r"all zeros",
            r"widen \[random\] or relax \[constraints\]",
        ),
    ),
    # A pooling window larger than its input: 'fits' fails on every candidate.
    Case(
        "fits-pool-too-large",
        constraints("tries = 50", random('"layer3.size" = [100]')),
        (r"^\[constraints\]: ", r"cannot draw variant 1", r"'fits'", r"in 50 of 50", r"does not fit"),
    ),
    # Nothing varies: variant 1 is drawn, variant 2 can only repeat its answer.
    Case(
        "distinct-nothing-varies",
        with_body(
            "constraints", NOTHING_CHECKED.format(distinct="true"), with_body("random", '"layer3.type" = ["maxpool"]')
        ),
        (r"^\[constraints\]: ", r"cannot draw variant 2", r"none of 20 candidates", r"'distinct'", r"in 20 of 20"),
    ),
]


@pytest.mark.parametrize("case", UNMET_CASES, ids=str)
def test_constraint_that_cannot_be_met(case: Case, capsys, tmp_path):
    template = tmp_path / f"{case.id}.toml"
    template.write_text(case.text, encoding="utf-8")
    out = tmp_path / "exam"
    code, stdout, err = run(capsys, template, *VARIANTS, "--out", out)
    assert_one_error(code, err, template, case.needles)
    assert stdout == ""
    assert_nothing_written(out)


def test_nothing_varies_without_distinct_is_drawn(capsys, tmp_path):
    """Control for `distinct-nothing-varies`: with distinct = false the same problem is drawn three times."""
    template = tmp_path / "same.toml"
    template.write_text(
        with_body(
            "constraints", NOTHING_CHECKED.format(distinct="false"), with_body("random", '"layer3.type" = ["maxpool"]')
        ),
        encoding="utf-8",
    )
    code, _, err = run(capsys, template, *VARIANTS, "--out", tmp_path / "exam")
    assert code == 0, err


def test_unmet_constraint_ends_with_default_tries(tmp_path):
    """In a separate process, with the default `tries`: the run ends within a minute with the one line."""
    template = tmp_path / "zero-filters.toml"
    text = random('"layer1.filters" = [0]', with_body("constraints", "# every constraint as by default"))
    template.write_text(text, encoding="utf-8")
    out = tmp_path / "exam"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "stepper", "exam", str(template), *VARIANTS, "--out", str(out)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("still drawing after 60 s: an unsatisfiable template must stop after `tries` candidates")
    assert_one_error(
        done.returncode,
        done.stderr,
        template,
        (r"^\[constraints\]: ", r"none of 1,000 candidates", r"'nonzero'", r"in 1,000 of 1,000"),
    )
    assert done.stdout == ""
    assert_nothing_written(out)


# ---- the command line ----


def _good_template(tmp_path: Path) -> Path:
    template = tmp_path / "tutorial-exam.toml"
    template.write_text(TEMPLATE, encoding="utf-8")
    return template


ARGUMENT_CASES = [
    (
        "variants-0",
        ("--variants", "0"),
        "stepper: error: --variants: ",
        (r"expected from 1 to 10,000 variants", r"found 0\b"),
    ),
    (
        "variants-negative",
        ("--variants", "-3"),
        "stepper: error: --variants: ",
        (r"expected from 1 to 10,000", r"found -3\b"),
    ),
    ("variants-too-many", ("--variants", "10001"), "stepper: error: --variants: ", (r"found 10001\b",)),
    ("variants-not-a-number", ("--variants", "abc"), "stepper exam: error: argument --variants: ", (r"'abc'",)),
    (
        "seed-negative",
        (*VARIANTS, "--seed", "-1"),
        "stepper exam: error: argument --seed: ",
        (r"expected a whole number from 0 to 2\^63 - 1", r"found '-1'"),
    ),
    (
        "seed-not-a-number",
        (*VARIANTS, "--seed", "abc"),
        "stepper exam: error: argument --seed: ",
        (r"expected a whole number", r"found 'abc'"),
    ),
    (
        "seed-too-large",
        (*VARIANTS, "--seed", str(2**63)),
        "stepper exam: error: argument --seed: ",
        (r"expected a whole number from 0 to 2\^63 - 1",),
    ),
    (
        "format-docx",
        (*VARIANTS, "--format", "md,docx"),
        "stepper exam: error: argument --format: ",
        (r"unknown format 'docx'", r"choose from md, tex, pdf, moodle"),
    ),
    (
        "format-empty",
        (*VARIANTS, "--format", ","),
        "stepper exam: error: argument --format: ",
        (r"expected one or more of md, tex, pdf, moodle",),
    ),
    (
        "stress-0",
        ("--stress", "0"),
        "stepper: error: --stress: ",
        (r"expected from 1 to 1,000,000 candidates", r"found 0\b"),
    ),
    ("stress-negative", ("--stress", "-2"), "stepper: error: --stress: ", (r"found -2\b",)),
]


@pytest.mark.parametrize("name, args, prefix, needles", ARGUMENT_CASES, ids=[c[0] for c in ARGUMENT_CASES])
def test_bad_argument(name, args, prefix, needles, capsys, tmp_path):
    """A bad command-line value: one line naming the option, status 2, nothing written."""
    template = _good_template(tmp_path)
    before = template.read_bytes()
    out = tmp_path / "exam"
    code, stdout, err = run(capsys, template, *args, "--out", out)
    assert_one_line(code, err, prefix, needles)
    if prefix.startswith("stepper exam:"):
        assert "--help" in err, err
    assert stdout == ""
    assert_nothing_written(out)
    assert template.read_bytes() == before


def test_template_that_does_not_exist(capsys, tmp_path):
    missing = tmp_path / "no-such-template.toml"
    out = tmp_path / "exam"
    code, _, err = run(capsys, missing, *VARIANTS, "--out", out)
    assert_one_error(code, err, missing, (r"no such file",))
    assert not out.exists() and not missing.exists()


def test_template_that_is_a_folder(capsys, tmp_path):
    folder = tmp_path / "templates.toml"
    folder.mkdir()
    code, _, err = run(capsys, folder, *VARIANTS, "--out", tmp_path / "exam")
    assert_one_error(code, err, folder, (r"cannot read it",))
    assert not (tmp_path / "exam").exists()


@pytest.mark.parametrize(
    "data", [b'title = "x"\n[random\ninput = "0..4"\n', b'title = "Zo\xeb"\n'], ids=["not-toml", "not-utf8"]
)
def test_template_that_cannot_be_read(data, capsys, tmp_path):
    """Not valid TOML, or not UTF-8: one line naming the file, status 2, the file kept as it was."""
    template = tmp_path / "broken.toml"
    template.write_bytes(data)
    out = tmp_path / "exam"
    code, _, err = run(capsys, template, *VARIANTS, "--out", out)
    assert_one_error(code, err, template, (r"not valid TOML|cannot read it",))
    assert template.read_bytes() == data
    assert not out.exists()


def test_out_is_a_regular_file(capsys, tmp_path):
    """--out naming an existing file: refused in one line, and the file is kept byte for byte."""
    template = _good_template(tmp_path)
    out = tmp_path / "exam"
    out.write_bytes(b"my notes, not a folder\n")
    code, _, err = run(capsys, template, *VARIANTS, "--out", out)
    assert_one_error(code, err, out, (r"is a file", r"choose another --out folder"))
    assert out.read_bytes() == b"my notes, not a folder\n"


def test_out_is_the_template_itself(capsys, tmp_path):
    """--out naming the template: refused, and the template is not touched."""
    template = _good_template(tmp_path)
    before = template.read_bytes()
    code, _, err = run(capsys, template, *VARIANTS, "--out", template)
    assert_one_error(code, err, template, (r"is a file",))
    assert template.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [template.name]


def test_out_inside_a_regular_file(capsys, tmp_path):
    template = _good_template(tmp_path)
    blocker = tmp_path / "notes"
    blocker.write_bytes(b"mine\n")
    out = blocker / "exam"
    code, _, err = run(capsys, template, *VARIANTS, "--out", out)
    assert_one_line(code, err, "stepper: error: ", (re.escape(str(blocker)),))
    assert blocker.read_bytes() == b"mine\n"


USER_FILES = {
    "manifest.json": '{\n "my": "own manifest"\n}\n',
    "keys.md": "# My answer keys\n\ntyped by hand\n",
    "variant-002-question.tex": "% my own question sheet\n",
}


@pytest.mark.parametrize("name", USER_FILES)
def test_user_file_in_out_is_not_overwritten(name, capsys, tmp_path):
    """A file stepper did not write, where the exam would write: status 2, one line naming it and --force,
    the file unchanged, and nothing else written (every file is checked before drawing)."""
    template = _good_template(tmp_path)
    out = tmp_path / "exam"
    out.mkdir()
    mine = out / name
    mine.write_text(USER_FILES[name], encoding="utf-8")
    code, stdout, err = run(capsys, template, *VARIANTS, "--out", out)
    assert_one_error(code, err, mine, (r"not written by stepper", r"--force"))
    assert stdout == ""
    assert mine.read_text(encoding="utf-8") == USER_FILES[name]
    assert sorted(p.name for p in out.iterdir()) == [name], "other files were written before the check"

    code, _, err = run(capsys, template, *VARIANTS, "--out", out, "--force")  # control: --force replaces it
    assert code == 0, err
    assert mine.read_text(encoding="utf-8") != USER_FILES[name]


def test_folder_in_place_of_manifest(capsys, tmp_path):
    """A folder called manifest.json in --out: refused, and the folder kept."""
    template = _good_template(tmp_path)
    out = tmp_path / "exam"
    (out / "manifest.json").mkdir(parents=True)
    (out / "manifest.json" / "inside.txt").write_text("kept", encoding="utf-8")
    code, _, err = run(capsys, template, *VARIANTS, "--out", out, "--force")
    assert_one_error(code, err, out / "manifest.json", (r"is a folder",))
    assert (out / "manifest.json" / "inside.txt").read_text(encoding="utf-8") == "kept"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


# ---- nothing the user owns is changed ----


def test_a_run_never_modifies_the_template(capsys, tmp_path):
    """The template, written with CRLF line ends and comments, is byte for byte the same after a good run,
    a run into its own folder, a run with --force, a stress test, and a failing run."""
    template = tmp_path / "exam.toml"
    data = ("# my exam, do not lose\n" + TEMPLATE).replace("\n", "\r\n").encode("utf-8")
    template.write_bytes(data)
    runs = [
        (*VARIANTS, "--out", tmp_path, "--format", "md"),  # its own folder: carried over into the new one
        (*VARIANTS, "--out", tmp_path, "--format", "md", "--force"),
        (*VARIANTS, "--out", tmp_path / "exam"),
        ("--stress", "5"),
        ("--variants", "0", "--out", tmp_path / "exam"),
    ]
    for args in runs:
        code, _, err = run(capsys, template, *args)
        assert "Traceback" not in err
        assert code == (2 if "0" in args else 0), (args, err)
        assert template.read_bytes() == data, f"the template changed after {args}"


def test_bad_template_leaves_an_earlier_exam_alone(capsys, tmp_path):
    """An exam written earlier into --out is kept byte for byte when the next template is bad."""
    template = _good_template(tmp_path)
    out = tmp_path / "exam"
    code, _, err = run(capsys, template, *VARIANTS, "--out", out)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.toml"
    bad.write_text(random('"layer9.filters" = [1]'), encoding="utf-8")
    code, _, err = run(capsys, bad, *VARIANTS, "--out", out)
    assert_one_error(code, err, bad, (r"^\[random\] 'layer9\.filters': ",))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unmet_constraint_leaves_an_earlier_exam_alone(capsys, tmp_path):
    """Variant 2 cannot be drawn: variant 1 is not written either, and the earlier exam is kept."""
    template = _good_template(tmp_path)
    out = tmp_path / "exam"
    assert run(capsys, template, *VARIANTS, "--out", out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    template.write_text(UNMET_CASES[2].text, encoding="utf-8")
    code, _, err = run(capsys, template, *VARIANTS, "--out", out)
    assert_one_error(code, err, template, (r"cannot draw variant 2",))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_part_of_a_vector_field_is_drawn(capsys, tmp_path):
    """`"layer4.weights.1"`: one weight of a 1x1 filter (a vector) is drawn, the other stays as written."""
    template = tmp_path / "t.toml"
    template.write_text(random('"layer4.weights.1" = [1]'), encoding="utf-8")
    code, out, err = run(capsys, template, *VARIANTS, "--out", tmp_path / "exam")
    assert code == 0, err
    manifest = (tmp_path / "exam" / "manifest.json").read_text(encoding="utf-8")
    assert 'weights = [1, \\"0.5\\"]' in manifest or 'weights = [\\"1\\", \\"0.5\\"]' in manifest, manifest[:3000]
