"""Bad problem files: one located error line, exit code 2, no traceback, nothing written.

Each case edits the tutorial's text (or writes a small problem file) so that
exactly one thing is wrong, runs `python -m stepper solve FILE --format md
--out OUTDIR` and checks the contract:

* exit code 2;
* exactly one line on stderr, `stepper: error: FILE: ...`, with FILE as given
  on the command line;
* the line names the place (layer number and type, field, row/column) and
  what was expected (checked by the important words only);
* no "Traceback" in stdout or stderr;
* OUTDIR does not exist or is empty afterwards.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from stepper.core.errors import StepperError
from stepper.core.load import load, loads
from tests.helpers import ROOT

REPO = ROOT

TUTORIAL_PATH = REPO / "examples" / "tutorial.toml"
TUTORIAL = TUTORIAL_PATH.read_text(encoding="utf-8")
MARK = "<!-- Written by stepper"

_INPUT_BLOCK = re.search(r'^input = """(.*?)"""\n', TUTORIAL, re.S | re.M)
assert _INPUT_BLOCK, "the tutorial's input grid was not found"
INPUT_GRID = _INPUT_BLOCK.group(1)


def edit(*pairs: str) -> str:
    """The tutorial with each `old` replaced by `new`; every `old` must occur exactly once."""
    text = TUTORIAL
    for old, new in zip(pairs[::2], pairs[1::2]):
        assert text.count(old) == 1, f"expected {old!r} exactly once in the tutorial"
        text = text.replace(old, new)
    return text


def line_of(text: str, line: str) -> int:
    """The 1-based number of the line of `text` equal to `line`."""
    return text.splitlines().index(line) + 1


SMALL_INPUT = '''input = """
1 2 3
4 5 6
7 8 9
"""
'''

SMALL_OK = (
    SMALL_INPUT
    + '''
[[layers]]
type = "conv2d"
padding = 0
stride = 1
filters = """
1 0 0
0 1 0
0 0 1
"""
'''
)

FILTER_4X4 = (
    SMALL_INPUT
    + '''
[[layers]]
type = "conv2d"
padding = 0
stride = 1
filters = """
1 0 0 1
0 1 0 0
0 0 1 0
1 0 0 1
"""
'''
)

TWO_CHANNEL_FILTERS = (
    SMALL_INPUT
    + '''
[[layers]]
type = "conv2d"
filters = [["""
1 0
0 1
""", """
0 1
1 0
"""]]
'''
)

BOOL_IN_NESTED_GRID = """
input = [[1, true], [3, 4]]

[[layers]]
type = "relu"
"""

CHANNELS_OF_DIFFERENT_SIZES = '''
input = ["""
1 2
3 4
""", """
1 2 3
4 5 6
7 8 9
"""]
'''

LAYER_WITHOUT_TYPE = (
    SMALL_INPUT
    + """
[[layers]]
type = "relu"

[[layers]]
size = 2
"""
)

BAD_TOML = edit('type = "relu"', "type = relu")
BAD_TOML_LINE = line_of(BAD_TOML, "type = relu")


@dataclass
class Case:
    id: str
    text: str | None  # None: the file is not created
    needles: tuple[str, ...]  # regular expressions that must all occur in the message

    def __str__(self) -> str:
        return self.id


CASES = [
    Case(
        "ragged-input-row",
        edit("2 4 1 1 2 1 3 1", "2 4 1 1 2 1 3"),
        (r"field 'input', row 3\b", r"expected 8 numbers", r"found 7\b"),
    ),
    Case(
        "ragged-input-nested",
        SMALL_INPUT.replace('"""\n1 2 3\n4 5 6\n7 8 9\n"""', "[[1, 2, 3], [4, 5, 6], [7, 8]]"),
        (r"field 'input', row 3\b", r"expected 3 numbers", r"found 2\b"),
    ),
    Case(
        "non-number-in-input",
        edit("1 1 1 3 4 3 1 4", "1 1 1 4.5.1 4 3 1 4"),
        (r"field 'input', row 4, column 4\b", r"expected a number", r"'4\.5\.1'"),
    ),
    Case(
        "symbols-into-relu",
        edit("3 2 1 1 1 1 3 4", "a 2 1 1 1 1 3 4"),
        (r"layer 2 \(relu\)", r"needs numbers, but its input holds symbols"),
    ),
    Case(
        "non-number-3a-in-filter",
        edit("  -1  0  1\n", "  -1  3a  1\n"),
        (r"layer 1 \(conv2d\)", r"field 'filters', filter 2, row 2, column 2\b", r"expected a number", r"'3a'"),
    ),
    Case(
        "bool-in-nested-grid", BOOL_IN_NESTED_GRID, (r"field 'input', row 1, column 2\b", r"expected a number", r"true")
    ),
    Case(
        "unknown-layer-type-conv3d",
        edit('type = "conv2d"', 'type = "conv3d"'),
        (r"layer 1\b", r"conv3d", r"unknown layer type", r"expected one of .*conv2d"),
    ),
    Case(
        "unknown-layer-type-layer-5",
        edit('type = "sigmoid"', 'type = "sigmoidal"'),
        (r"layer 5\b", r"'sigmoidal'", r"unknown layer type", r"expected one of .*sigmoid"),
    ),
    Case("layer-without-type", LAYER_WITHOUT_TYPE, (r"layer 2\b", r"missing 'type'", r"expected one of")),
    Case(
        "unknown-field-strides-in-conv2d",
        edit("padding = 1\n", "padding = 1\nstrides = 2\n"),
        (r"layer 1 \(conv2d\)", r"'strides'", r"unknown field", r"expected one of .*stride"),
    ),
    Case(
        "missing-required-field-filters",
        SMALL_INPUT + '\n[[layers]]\ntype = "relu"\n\n[[layers]]\ntype = "conv2d"\nstride = 1\n',
        (r"layer 2 \(conv2d\)", r"missing field 'filters'"),
    ),
    Case(
        "unknown-top-level-field",
        'colour = "blue"\n' + TUTORIAL,
        (r"field 'colour'", r"unknown field", r"top level", r"expected one of .*input"),
    ),
    Case(
        "unknown-settings-field",
        edit('terms = "nonzero"', 'terms = "nonzero"\nstyle = "fancy"'),
        (r"'style'", r"unknown field", r"\[settings\]", r"expected one of .*decimals"),
    ),
    Case("filter-4x4-on-3x3-input", FILTER_4X4, (r"layer 1 \(conv2d\)", r"4x4 filter", r"does not fit", r"3x3")),
    Case(
        "pool-window-larger-than-map",
        edit("size = 2\n", "size = 5\n"),
        (r"layer 3 \(maxpool\)", r"5x5", r"does not fit", r"4x4"),
    ),
    Case(
        "stride-0",
        edit("stride = 2\npadding = 1", "stride = 0\npadding = 1"),
        (r"layer 1 \(conv2d\)", r"field 'stride'", r"whole number from 1 to", r"found 0\b"),
    ),
    Case(
        "stride-negative",
        edit("size = 2\nstride = 2", "size = 2\nstride = -1"),
        (r"layer 3 \(maxpool\)", r"field 'stride'", r"whole number from 1 to", r"found -1\b"),
    ),
    Case(
        "stride-true",
        edit("stride = 2\npadding = 1", "stride = true\npadding = 1"),
        (r"layer 1 \(conv2d\)", r"field 'stride'", r"expected a whole number", r"true"),
    ),
    Case(
        "two-channel-input-one-channel-filters",
        edit(f'input = """{INPUT_GRID}"""', f'input = ["""{INPUT_GRID}""", """{INPUT_GRID}"""]'),
        (r"layer 1 \(conv2d\)", r"each filter has 1 channel\b", r"input has 2\b"),
    ),
    Case(
        "one-channel-input-two-channel-filters",
        TWO_CHANNEL_FILTERS,
        (r"layer 1 \(conv2d\)", r"each filter has 2 channels", r"input has 1\b"),
    ),
    Case(
        "input-channels-of-different-sizes",
        CHANNELS_OF_DIFFERENT_SIZES,
        (r"field 'input', channel 2\b", r"expected 2x2", r"found 3x3"),
    ),
    Case(
        "conv1x1-weights-per-channel",
        edit('weights = ["1/2", "1/2"]', 'weights = ["1/3", "1/3", "1/3"]'),
        (r"layer 4 \(conv1x1\)", r"one weight per input channel \(2\)", r"found 3\b"),
    ),
    Case(
        "dense-weights-3x2-for-2x2-map",
        edit("  0.0 0.5\n", "  0.0 0.5\n  0.1 0.1\n"),
        (r"layer 6 \(dense\)", r"neuron 2\b", r"expected weights shaped like the input \(2x2\)", r"3x2"),
    ),
    Case("missing-input", TUTORIAL.replace(_INPUT_BLOCK.group(0), ""), (r"missing 'input'", r"expected")),
    Case(
        "title-not-text",
        edit('title = "CNN tutorial: a forward pass by hand"', "title = 3"),
        (r"field 'title'", r"expected text"),
    ),
    Case("not-valid-toml", BAD_TOML, (r"not valid TOML", rf"line {BAD_TOML_LINE}\b")),
    Case("nonexistent-file", None, (r"no such file",)),
    Case(
        "settings-detail-some",
        edit('detail = "all"', 'detail = "some"'),
        (r"settings, field 'detail'", r"expected 'all', 'answers', 'shapes' or a number", r"'some'"),
    ),
    Case(
        "settings-rounding-exact",
        edit('rounding = "carry"', 'rounding = "exact"'),
        (r"settings, field 'rounding'", r"expected one of 'carry', 'full'", r"'exact'"),
    ),
    Case(
        "settings-decimals-negative",
        edit("decimals = 4", "decimals = -1"),
        (r"settings, field 'decimals'", r"from 0 to 12", r"-1\b"),
    ),
    Case(
        "settings-terms-some",
        edit('terms = "nonzero"', 'terms = "some"'),
        (r"settings, field 'terms'", r"expected one of 'nonzero', 'all'", r"'some'"),
    ),
    Case(
        "padding-full",
        edit("padding = 1", 'padding = "full"'),
        (r"layer 1 \(conv2d\)", r"field 'padding'", r"'valid' or 'same'", r"'full'"),
    ),
    Case(
        "pool-size-0",
        edit("size = 2\n", "size = 0\n"),
        (r"layer 3 \(maxpool\)", r"field 'size'", r"whole number from 1 to", r"found 0\b"),
    ),
    Case(
        "filters-of-different-sizes",
        edit("   2  1 -3\n  -1  0  1\n   0  0 -2\n", "   2  1\n  -1  0\n"),
        (r"layer 1 \(conv2d\)", r"field 'filters', filter 2\b", r"3x3", r"found 2x2"),
    ),
    Case(
        "conv2d-bias-wrong-length",
        edit("padding = 1\n", "padding = 1\nbias = [1]\n"),
        (r"layer 1 \(conv2d\)", r"field 'bias'", r"expected 2 numbers", r"one per filter", r"found 1\b"),
    ),
    Case(
        "dense-bias-wrong-length",
        edit('type = "dense"', 'type = "dense"\nbias = [1, 2, 3]'),
        (r"layer 6 \(dense\)", r"field 'bias'", r"expected 2 numbers", r"one per neuron", r"found 3\b"),
    ),
    Case(
        "layer-type-not-text",
        edit('type = "relu"', 'type = ["relu"]'),
        (r"layer 2\b", r"field 'type'", r"unknown layer type a list", r"expected one of"),
    ),
    Case(
        "integer-too-large-to-keep-exact",
        edit("3 2 1 1 1 1 3 4", "99999999999999999999 2 1 1 1 1 3 4"),
        (r"field 'input'", r"too many digits to keep exact"),
    ),
    Case(
        "fractions-without-a-small-common-denominator",
        'input = [["1/1000003", "1/1000033", "1/1000037", "1/1000039", "1/1000081"]]\n',
        (r"field 'input'", r"too many digits to keep exact"),
    ),
    Case(
        "stride-absurdly-large",
        edit("stride = 2\npadding = 1", "stride = 99999999999999\npadding = 1"),
        (r"layer 1 \(conv2d\)", r"field 'stride'", r"from 1 to 10000"),
    ),
    Case(
        "padding-beyond-the-kernel",
        edit("stride = 2\npadding = 1", "stride = 2\npadding = 3"),
        (r"layer 1 \(conv2d\)", r"field 'padding'", r"windows that hold only zeros", r"at most 2\b"),
    ),
    Case(
        "leaky-slope-of-one",
        edit('type = "relu"', 'type = "leaky_relu"\nslope = 1'),
        (r"layer 2 \(leaky_relu\)", r"field 'slope'", r"from 0 up to"),
    ),
    Case(
        "slope-on-plain-relu",
        edit('type = "relu"', 'type = "relu"\nslope = 0.1'),
        (r"layer 2 \(relu\)", r"unknown field 'slope'"),
    ),
    Case(
        "stride-list-of-three",
        edit("stride = 2\npadding = 1", "stride = [2, 1, 1]\npadding = 1"),
        (r"layer 1 \(conv2d\)", r"field 'stride'", r"two as \[rows, columns\]", r"list of 3\b"),
    ),
    Case(
        "padding-list-of-three",
        edit("stride = 2\npadding = 1", "stride = 2\npadding = [1, 1, 1]"),
        (r"layer 1 \(conv2d\)", r"field 'padding'", r"\[top, bottom, left, right\]"),
    ),
    Case(
        "pool-size-with-a-zero",
        edit("size = 2\n", "size = [0, 2]\n"),
        (r"layer 3 \(maxpool\)", r"field 'size'", r"from 1 to"),
    ),
    Case(
        "padding-per-side-beyond-the-kernel",
        edit("stride = 2\npadding = 1", "stride = 2\npadding = [0, 3, 0, 0]"),
        (r"layer 1 \(conv2d\)", r"field 'padding'", r"at most 2 \(rows\)"),
    ),
    Case(
        "flip-not-true-or-false",
        edit("stride = 2\npadding = 1", 'stride = 2\npadding = 1\nflip = "yes"'),
        (r"layer 1 \(conv2d\)", r"field 'flip'", r"expected true"),
    ),
    Case(
        "dilation-zero",
        edit("stride = 2\npadding = 1", "stride = 2\npadding = 1\ndilation = 0"),
        (r"layer 1 \(conv2d\)", r"field 'dilation'", r"from 1 to"),
    ),
    Case(
        "pool-padding-over-half-the-window",
        edit("size = 2\nstride = 2", "size = 2\nstride = 2\npadding = 2"),
        (r"layer 3 \(maxpool\)", r"field 'padding'", r"more than half the 2x2 window"),
    ),
    Case(
        "pool-padding-same",
        edit("size = 2\nstride = 2", 'size = 2\nstride = 2\npadding = "same"'),
        (r"layer 3 \(maxpool\)", r"field 'padding'", r"expected a whole number"),
    ),
    Case(
        "transposed-output-padding-not-below-stride",
        SMALL_INPUT + '[[layers]]\ntype = "conv_transpose2d"\nstride = 2\noutput_padding = 2\nfilters = "1 0\\n0 1"\n',
        (r"layer 1 \(conv_transpose2d\)", r"field 'output_padding'", r"below the stride"),
    ),
    Case(
        "transposed-padding-not-below-kernel",
        SMALL_INPUT + '[[layers]]\ntype = "conv_transpose2d"\npadding = 2\nfilters = "1 0\\n0 1"\n',
        (r"layer 1 \(conv_transpose2d\)", r"field 'padding'", r"below the 2x2 filter"),
    ),
    Case(
        "simplify-not-true-or-false",
        edit('terms = "nonzero"', 'terms = "nonzero"\nsimplify = "yes"'),
        (r"settings, field 'simplify'", r"expected true or false"),
    ),
    Case(
        "transposed-expansion-too-large",
        SMALL_INPUT + '[[layers]]\ntype = "conv_transpose2d"\nstride = 9999\nfilters = "1 0\\n0 1"\n',
        (r"layer 1 \(conv_transpose2d\)", r"too many to work by hand"),
    ),
    Case(
        "pooling-after-softmax",
        SMALL_INPUT + '[[layers]]\ntype = "softmax"\n[[layers]]\ntype = "maxpool"\nsize = 2\n',
        (r"layer 2 \(maxpool\)", r"expected a map of channels", r"flat vector of 9\b"),
    ),
]

assert len({c.id for c in CASES}) == len(CASES)


def run_solve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stepper", "solve", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_needles(message: str, needles) -> None:
    for needle in needles:
        assert re.search(needle, message), f"{needle!r} not found in the message {message!r}"


def test_tutorial_itself_solves(tmp_path):
    """Control: the unedited tutorial and the small valid file are accepted, so failures below are the edits'."""
    out = tmp_path / "out"
    run = run_solve("examples/tutorial.toml", "--format", "md", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert (out / "tutorial.md").read_text(encoding="utf-8").startswith(MARK)
    loads(SMALL_OK, name="small.toml")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_problem_file(case: Case, tmp_path):
    problem = tmp_path / f"{case.id}.toml"
    if case.text is not None:
        problem.write_text(case.text, encoding="utf-8")
    out = tmp_path / "out"
    run = run_solve(str(problem), "--format", "md", "--out", str(out))

    assert "Traceback" not in run.stdout and "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 2, f"exit code {run.returncode}, stderr: {run.stderr!r}"
    lines = run.stderr.splitlines()
    assert len(lines) == 1, f"expected one error line, found {len(lines)}: {run.stderr!r}"
    prefix = f"stepper: error: {problem}: "
    assert lines[0].startswith(prefix), f"{lines[0]!r} does not start with {prefix!r}"
    check_needles(lines[0][len(prefix) :], case.needles)
    assert not out.exists() or not any(out.iterdir()), f"files were written: {list(out.iterdir())}"


LOADER_CASES = [
    "ragged-input-row",
    "non-number-3a-in-filter",
    "unknown-field-strides-in-conv2d",
    "dense-weights-3x2-for-2x2-map",
    "two-channel-input-one-channel-filters",
    "not-valid-toml",
    "settings-decimals-negative",
]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in LOADER_CASES], ids=str)
def test_loader_error_carries_the_message(case: Case):
    with pytest.raises(StepperError) as info:
        loads(case.text, name="bad.toml")
    error = info.value
    assert error.file == "bad.toml"
    text = str(error)
    assert text.startswith("bad.toml: ") and "\n" not in text, text
    check_needles(text[len("bad.toml: ") :], case.needles)


def test_loader_message_is_the_cli_message(tmp_path):
    """The CLI prints the loader's error as it is: `stepper: error: ` + str(error)."""
    case = next(c for c in CASES if c.id == "dense-weights-3x2-for-2x2-map")
    problem = tmp_path / "dense.toml"
    problem.write_text(case.text, encoding="utf-8")
    with pytest.raises(StepperError) as info:
        load(problem, name=str(problem))
    run = run_solve(str(problem), "--format", "md", "--out", str(tmp_path / "out"))
    assert run.stderr == f"stepper: error: {info.value}\n"


def test_loader_nonexistent_file(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(StepperError) as info:
        load(missing, name="missing.toml")
    assert str(info.value).startswith("missing.toml: ") and "no such file" in str(info.value)


def test_output_not_written_by_stepper_is_left_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "tutorial.md"
    notes = "# My own notes\n\nnot written by stepper\n"
    mine.write_text(notes, encoding="utf-8")

    run = run_solve("examples/tutorial.toml", "--format", "md", "--out", str(out))
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    assert run.returncode == 2, f"exit code {run.returncode}, stderr: {run.stderr!r}"
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("stepper: error: ") and "tutorial.md" in lines[0], lines[0]
    assert "--force" in lines[0], lines[0]
    assert mine.read_text(encoding="utf-8") == notes
    assert sorted(p.name for p in out.iterdir()) == ["tutorial.md"]

    run = run_solve("examples/tutorial.toml", "--format", "md", "--out", str(out), "--force")
    assert run.returncode == 0, run.stderr
    written = mine.read_text(encoding="utf-8")
    assert written.startswith(MARK) and written != notes
    assert sorted(p.name for p in out.iterdir()) == ["tutorial.md"]


@pytest.mark.parametrize("where", ["out-is-a-file", "target-is-a-folder"])
def test_unwritable_outputs_give_one_line(tmp_path, where):
    out = tmp_path / "out"
    if where == "out-is-a-file":
        out.write_text("a file of the user's")
    else:
        (out / "tutorial.md").mkdir(parents=True)
    run = run_solve("--format", "md", "--out", str(out))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stepper: error: ")
    assert ("is a file" in lines[0]) if where == "out-is-a-file" else ("is a folder" in lines[0])
    if where == "out-is-a-file":
        assert out.read_text() == "a file of the user's"
