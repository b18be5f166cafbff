"""Hostile input: files that are no files, nesting and numbers built to exhaust a reader, values that
overflow, and text built to break the one error line.

Each test plants one such thing and runs `stepper.cli.main([...])` in-process (as tests/one_line.py
does), and, where a real device or named pipe is involved, `python -m stepper` as well, with a
timeout and a memory limit, so that a regression fails instead of hanging or filling memory.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import sympy

from stepper.core.errors import StepperError
from stepper.core.load import MAX_FILE_BYTES, MAX_LAYERS, loads
from stepper.marking.written import parse_sum
from tests.helpers.one_line import assert_one_error, assert_one_line, check_needles, run_stepper
from tests.helpers import ROOT

REPO = ROOT
TUTORIAL = REPO / "examples" / "tutorial.toml"
RIGHT = REPO / "examples" / "tutorial-working-right.toml"
TEMPLATE = REPO / "examples" / "tutorial-exam.toml"
SECONDS = 60  # far more than any of these runs needs; a blocked read would never end
DEVICES = [d for d in ("/dev/zero", "/dev/urandom") if os.path.exists(d)]
SMALL = 'input = """\n1 2\n3 4\n"""\n'
NOT_REGULAR = r"cannot read it: it is (a device|a named pipe \(FIFO\)|a folder), not a regular file"


def small_problem(*layers: str) -> str:
    return SMALL + "".join(f"\n[[layers]]\n{layer.strip()}\n" for layer in layers)


# ---- guards, so that a regression fails rather than hangs or fills the machine's memory ----


@contextlib.contextmanager
def memory_capped(extra: int = 2**30):
    """This process may allocate at most `extra` more bytes: an endless read dies of MemoryError."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    size = int(re.search(r"VmSize:\s+(\d+) kB", status)[1]) * 1024
    cap = size + extra if hard == resource.RLIM_INFINITY else min(size + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def deadline(seconds: int = SECONDS):
    """A blocking call is interrupted after `seconds` with TimeoutError (which run_stepper reports)."""

    def expire(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_outside(*args) -> tuple[int, str, str]:
    """`python -m stepper ARGS` in a child with a timeout and 1.5 GB of address space."""

    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**29, resource.getrlimit(resource.RLIMIT_AS)[1]))

    try:
        done = subprocess.run(
            [sys.executable, "-m", "stepper", *map(str, args)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SECONDS,
            preexec_fn=limit,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {SECONDS} s")
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def exam(tmp_path_factory) -> Path:
    """A small exam of the tutorial's template: its folder, holding manifest.json."""
    folder = tmp_path_factory.mktemp("exam")
    from stepper.cli import main

    assert main(["exam", str(TEMPLATE), "--variants", "2", "--out", str(folder / "exam")]) == 0
    return folder / "exam"


def _where(kind: str, planted: Path, tmp_path: Path) -> tuple[list, Path]:
    """The command that reads `planted` as a `kind` of file, and the file its error must name."""
    out = tmp_path / "out"
    if kind == "problem":
        return ["solve", planted, "--format", "md", "--out", out], planted
    if kind == "working":
        return ["check", TUTORIAL, planted, "--out", out], planted
    if kind == "template":
        return ["exam", planted, "--variants", "2", "--out", out], planted
    link = tmp_path / "manifest.json"  # a manifest is known by its name
    if planted != link:
        link.symlink_to(planted)
    return ["check", link, RIGHT, "--out", out], link


KINDS = ["problem", "working", "template", "manifest"]


# ---- 1. files that are not regular files, and files too large ----


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("device", DEVICES)
def test_device_is_refused(device, kind, capsys, tmp_path):
    args, named = _where(kind, Path(device), tmp_path)
    with memory_capped():
        code, _, err = run_stepper(capsys, *args)
    assert_one_error(code, err, named, (NOT_REGULAR, r"a device"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("device", DEVICES)
def test_device_is_refused_by_the_command(device, kind, tmp_path):
    args, named = _where(kind, Path(device), tmp_path)
    code, _, err = run_outside(*args)
    assert_one_error(code, err, named, (NOT_REGULAR, r"a device"))


def _fifo(tmp_path: Path, kind: str) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    fifo = tmp_path / ("pipe.json" if kind == "manifest" else "pipe.toml")
    os.mkfifo(fifo)
    return fifo


@pytest.mark.parametrize("kind", KINDS)
def test_named_pipe_is_refused_without_waiting(kind, capsys, tmp_path):
    args, named = _where(kind, _fifo(tmp_path, kind), tmp_path)
    with deadline():
        code, _, err = run_stepper(capsys, *args)
    assert_one_error(code, err, named, (NOT_REGULAR, r"named pipe"))


@pytest.mark.parametrize("kind", KINDS)
def test_named_pipe_is_refused_by_the_command(kind, tmp_path):
    args, named = _where(kind, _fifo(tmp_path, kind), tmp_path)
    code, _, err = run_outside(*args)
    assert_one_error(code, err, named, (NOT_REGULAR, r"named pipe"))


@pytest.mark.parametrize("kind", ["problem", "template", "manifest"])
def test_folder_is_refused(kind, capsys, tmp_path):
    folder = tmp_path / ("folder.json" if kind == "manifest" else "folder.toml")
    folder.mkdir()
    args, named = _where(kind, folder, tmp_path)
    code, _, err = run_stepper(capsys, *args)
    assert_one_error(code, err, named, (NOT_REGULAR, r"a folder"))


@pytest.mark.parametrize("kind", ["problem", "working", "template"])
def test_oversized_file_is_refused(kind, capsys, tmp_path):
    """A file one byte over the limit (valid TOML: a comment) is refused, naming the limit."""
    big = tmp_path / "big.toml"
    text = TUTORIAL.read_text(encoding="utf-8")
    big.write_text(text + "#" * (MAX_FILE_BYTES + 1 - len(text.encode("utf-8"))), encoding="utf-8")
    args, named = _where(kind, big, tmp_path)
    code, _, err = run_stepper(capsys, *args)
    assert_one_error(
        code,
        err,
        named,
        (rf"the file is {MAX_FILE_BYTES + 1:,} bytes", rf"more than the {MAX_FILE_BYTES:,} bytes", r"\d+ MB"),
    )


def test_file_at_the_limit_is_read(capsys, tmp_path):
    """The limit is on size, not on this kind of file: a problem of exactly the limit is solved."""
    big = tmp_path / "big.toml"
    text = TUTORIAL.read_text(encoding="utf-8")
    big.write_text(text + "#" * (MAX_FILE_BYTES - len(text.encode("utf-8"))), encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", big, "--format", "md", "--out", tmp_path / "out")
    assert code == 0, err


# ---- 2. TOML nested too deeply for the reader's recursion ----

DEEP = {
    "arrays": "a = " + "[" * 500 + "]" * 500 + "\n",
    "inline-tables": "a = " + "{ b = " * 500 + "1" + " }" * 500 + "\n",
}


@pytest.mark.parametrize("nesting", DEEP)
def test_deep_nesting_in_a_problem(nesting, capsys, tmp_path):
    problem = tmp_path / "deep.toml"
    problem.write_text(SMALL + DEEP[nesting], encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    assert_one_error(code, err, problem, (r"^not valid TOML: ", r"nested too deeply"))


@pytest.mark.parametrize("nesting", DEEP)
def test_deep_nesting_in_one_working_file_of_a_class(nesting, capsys, tmp_path):
    """The deep file is skipped in one line; the others are marked and the class summary is written."""
    folder = tmp_path / "class"
    folder.mkdir()
    right = RIGHT.read_text(encoding="utf-8")
    for name in ("ada", "cy"):
        (folder / f"{name}.toml").write_text(right.replace("Ada Right", name.title()), encoding="utf-8")
    bad = folder / "bob.toml"
    bad.write_text(DEEP[nesting] + right, encoding="utf-8")
    out = tmp_path / "feedback"
    code, stdout, err = run_stepper(capsys, "check", TUTORIAL, folder, "--out", out)
    assert code == 2 and "Traceback" not in err, err
    skipped = [line for line in err.splitlines() if line.startswith("stepper: skipped: ")]
    assert len(skipped) == 1 and skipped[0].startswith(f"stepper: skipped: {bad}: "), err
    check_needles(skipped[0], (r"nested too deeply",))
    with (out / "class-summary.csv").open(encoding="utf-8", newline="") as f:
        assert sorted(r["file"] for r in csv.DictReader(f)) == ["ada.toml", "cy.toml"]
    assert (out / "class-summary.md").is_file() and not (out / "bob-feedback.md").exists()


def test_deep_nesting_in_a_working_file_against_a_manifest(exam, capsys, tmp_path):
    """Reading the variant a file names must not die of the nesting either."""
    working = tmp_path / "deep.toml"
    working.write_text('variant = "1"\n' + DEEP["arrays"], encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", exam / "manifest.json", working, "--out", tmp_path / "out")
    assert_one_error(code, err, working, (r"nested too deeply",))


def test_deep_table_path_in_random(capsys, tmp_path):
    """A dotted key thousands of pieces long builds tables without recursion; [random] must not follow them."""
    template = tmp_path / "exam.toml"
    text = TEMPLATE.read_text(encoding="utf-8")
    template.write_text(
        text.replace('input = "0..4"', "layer1." * 3000 + 'x = "0..4"\ninput = "0..4"'), encoding="utf-8"
    )
    code, _, err = run_stepper(capsys, "exam", template, "--variants", "2", "--out", tmp_path / "out")
    assert_one_error(code, err, template, (r"^\[random\] 'layer1\.layer1\.layer1'", r"names no field"))


def test_whole_number_of_5000_digits(capsys, tmp_path):
    """int() refuses more than 4,300 digits with a ValueError: still one line."""
    problem = tmp_path / "digits.toml"
    problem.write_text(small_problem(f'type = "maxpool"\nsize = {"9" * 5000}'), encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    assert_one_error(code, err, problem, (r"not valid TOML", r"too many digits|4,300 digits"))


def test_hexadecimal_number_of_5000_digits(capsys, tmp_path):
    """A hexadecimal literal becomes a number that str() cannot write: the message must not try."""
    problem = tmp_path / "hex.toml"
    problem.write_text(small_problem(f'type = "maxpool"\nsize = 0x{"f" * 5000}'), encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    assert_one_error(
        code,
        err,
        problem,
        (r"layer 1 \(maxpool\), field 'size'", r"expected a whole number", r"a whole number of about 6,02\d digits"),
    )


# ---- 3. digits that are not ASCII, and numbers too long for int() ----


@pytest.mark.parametrize("variant", ["²", "1" * 5000, "٣"])
def test_odd_variant_against_a_manifest(variant, exam, capsys, tmp_path):
    working = tmp_path / "working.toml"
    working.write_text(f'variant = "{variant}"\n' + RIGHT.read_text(encoding="utf-8"), encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", exam / "manifest.json", working, "--out", tmp_path / "out")
    message = assert_one_error(code, err, working, (r"^field 'variant': ", r"no variant", r"expected one of"))
    assert len(message) < 300, message


def test_variant_as_a_number_still_finds_its_variant(exam, capsys, tmp_path):
    """`variant = 2` and "2" find variant 002: the fix must not lose what isdigit gave."""
    ids = [v["id"] for v in json.loads((exam / "manifest.json").read_text(encoding="utf-8"))["variants"]]
    for written in ("2", '"2"', f'"{ids[1]}"'):
        working = tmp_path / "working.toml"
        working.write_text(f"variant = {written}\n" + RIGHT.read_text(encoding="utf-8"), encoding="utf-8")
        code, stdout, err = run_stepper(
            capsys, "check", exam / "manifest.json", working, "--out", tmp_path / "out", "--force"
        )
        assert code == 0, (written, err)


def test_huge_variant_number(exam, capsys, tmp_path):
    working = tmp_path / "working.toml"
    working.write_text(f"variant = 0x{'f' * 5000}\n" + RIGHT.read_text(encoding="utf-8"), encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", exam / "manifest.json", working, "--out", tmp_path / "out")
    assert_one_error(code, err, working, (r"^field 'variant': ", r"expected the variant"))


@pytest.mark.parametrize(
    "path", ["layer1.filters.²", "layer1.filters." + "1" * 5000, "layer" + "1" * 5000 + ".filters", "layer1.filters.١"]
)
def test_odd_part_in_a_random_path(path, capsys, tmp_path):
    template = tmp_path / "exam.toml"
    text = TEMPLATE.read_text(encoding="utf-8")
    template.write_text(text.replace('"layer1.filters" = [', f'"{path}" = ['), encoding="utf-8")
    code, _, err = run_stepper(capsys, "exam", template, "--variants", "2", "--out", tmp_path / "out")
    assert_one_error(code, err, template, (r"^\[random\] '", r"names no field"))


# ---- 4. a bound on the number of layers ----


def test_too_many_layers(capsys, tmp_path):
    problem = tmp_path / "long.toml"
    problem.write_text(small_problem(*['type = "relu"'] * (MAX_LAYERS + 1)), encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", problem, RIGHT, "--out", tmp_path / "out")
    assert_one_error(
        code, err, problem, (r"^field 'layers': ", rf"at most {MAX_LAYERS} layers", rf"found {MAX_LAYERS + 1}")
    )


def test_as_many_layers_as_allowed(capsys, tmp_path):
    problem = tmp_path / "long.toml"
    problem.write_text(small_problem(*['type = "relu"'] * MAX_LAYERS), encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    assert code == 0, err
    assert len(loads(problem.read_text(encoding="utf-8")).layers) == MAX_LAYERS


# ---- 5. a byte-order mark ----


def test_byte_order_mark_in_problem_and_working_file(capsys, tmp_path):
    """Saved with a BOM, the problem is solved and the working marked exactly as without one."""
    problem, working = tmp_path / "tutorial.toml", tmp_path / "right.toml"
    problem.write_bytes(b"\xef\xbb\xbf" + TUTORIAL.read_bytes())
    working.write_bytes(b"\xef\xbb\xbf" + RIGHT.read_bytes())
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "bom")
    assert code == 0, err
    code, _, err = run_stepper(capsys, "solve", TUTORIAL, "--format", "md", "--out", tmp_path / "plain")
    assert code == 0, err
    assert (tmp_path / "bom" / "tutorial.md").read_text(encoding="utf-8") == (
        tmp_path / "plain" / "tutorial.md"
    ).read_text(encoding="utf-8")
    code, stdout, err = run_stepper(capsys, "check", problem, working, "--out", tmp_path / "feedback")
    assert code == 0, err
    assert re.search(r": Ada Right: 11 / 11: no wrong stage", stdout), stdout


# ---- 6 and 7. numbers that are not finite, and where a bad native number sits ----


@pytest.mark.parametrize("text", ["NaN", "nan", "Infinity", "inf", "-inf", "+Inf", "∞"])
def test_non_finite_text_in_a_problem(text, capsys, tmp_path):
    problem = tmp_path / "p.toml"
    problem.write_text(
        small_problem('type = "conv2d"\nfilters = [[1, 0], [0, "' + text + '"]]', 'type = "relu"'), encoding="utf-8"
    )
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    assert_one_error(
        code,
        err,
        problem,
        (
            r"^layer 1 \(conv2d\), field 'filters', filter 1, row 2, column 2: ",
            r"expected a finite number",
            re.escape(repr(text)),
        ),
    )


@pytest.mark.parametrize("text", ["NaN", "inf", "-Infinity"])
def test_non_finite_text_in_a_working_file(text, capsys, tmp_path):
    working = tmp_path / "w.toml"
    right = RIGHT.read_text(encoding="utf-8")
    working.write_text(right.replace("z1 = 0.5095", f'z1 = "{text}"'), encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", TUTORIAL, working, "--out", tmp_path / "out")
    assert_one_error(code, err, working, (r"^\[layer6\] z1: ", r"expected a finite number"))


@pytest.mark.parametrize("text", ['"0..inf"', '[0, 1, "nan"]'])
def test_non_finite_text_in_a_template(text, capsys, tmp_path):
    template = tmp_path / "exam.toml"
    template.write_text(
        TEMPLATE.read_text(encoding="utf-8").replace('input = "0..4"', f"input = {text}"), encoding="utf-8"
    )
    code, _, err = run_stepper(capsys, "exam", template, "--variants", "2", "--out", tmp_path / "out")
    assert_one_error(code, err, template, (r"^\[random\] 'input'", r"expected a finite number"))


NATIVE = [
    ("input-nan", "input = [[1, 2], [3, nan]]\n", r"^field 'input', row 2, column 2: ", r"finite number, found nan"),
    (
        "input-channel-inf",
        "input = [[[1, 2], [3, 4]], [[1, -inf], [3, 4]]]\n",
        r"^field 'input', channel 2, row 1, column 2: ",
        r"finite number, found -inf",
    ),
    (
        "filter-inf",
        small_problem('type = "conv2d"\nfilters = [[1, 0], [inf, 1]]'),
        r"^layer 1 \(conv2d\), field 'filters', filter 1, row 2, column 1: ",
        r"finite number, found inf",
    ),
    (
        "second-filter-nan",
        small_problem('type = "conv2d"\nfilters = [[[1, 0], [0, 1]], [[1, 0], [0, nan]]]'),
        r"^layer 1 \(conv2d\), field 'filters', filter 2, row 2, column 2: ",
        r"finite number",
    ),
    (
        "dense-neuron-inf",
        small_problem('type = "dense"\nweights = [[[1, 0], [0, 1]], [[1, 0], [inf, 1]]]'),
        r"^layer 1 \(dense\), field 'weights', neuron 2, row 2, column 1: ",
        r"finite number",
    ),
    (
        "float-too-long",
        "input = [[1, 2], [3, 0.1234567890123456789]]\n",
        r"^field 'input', row 2, column 2: ",
        r"too many digits",
    ),
    (
        "filter-float-too-long",
        small_problem('type = "conv2d"\nfilters = [[1, 0.00000000000000001], [0, 1]]'),
        r"^layer 1 \(conv2d\), field 'filters', filter 1, row 1, column 2: ",
        r"too many digits",
    ),
    (
        "bias-float-too-long",
        small_problem('type = "conv2d"\nfilters = [[1, 0], [0, 1]]\nbias = [0.12345678901234567]'),
        r"^layer 1 \(conv2d\), field 'bias', item 1: ",
        r"too many digits",
    ),
]


@pytest.mark.parametrize("name, text, place, what", NATIVE, ids=[n[0] for n in NATIVE])
def test_native_number_is_located(name, text, place, what, capsys, tmp_path):
    problem = tmp_path / f"{name}.toml"
    problem.write_text(text, encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    assert_one_error(code, err, problem, (place, what))


@pytest.mark.parametrize(
    "value, needle",
    [
        ("[[-7, -6, -5, -9], [0, 6, nan, -1], [-3, 4, 4, 0], [-6, -4, -4, 3]]", r"finite number, found nan"),
        ("[[-7, -6, -5, -9], [0, 6, -1, -1], [-3, 4, 4, 0.12345678901234567], [-6, -4, -4, 3]]", r"too many digits"),
    ],
)
def test_native_number_in_a_working_file_is_located(value, needle, capsys, tmp_path):
    right = RIGHT.read_text(encoding="utf-8")
    start = right.index('filter1 = """')
    end = right.index('"""', start + 13) + 3
    working = tmp_path / "w.toml"
    working.write_text(right[:start] + f"filter1 = {value}" + right[end:], encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", TUTORIAL, working, "--out", tmp_path / "out")
    row = 2 if "nan" in value else 3
    assert_one_error(code, err, working, (rf"^\[layer1\] filter1, row {row}, column [34]: ", needle))


# ---- 8. values that overflow a float ----


def test_values_beyond_a_float_stop_at_their_layer(capsys, tmp_path):
    """22 dense layers of weight 4e15: the error names the first layer whose values pass the largest float."""
    weight = 4 * 10**15
    layers = ['type = "dense"\nweights = [[4e15, 4e15, 4e15, 4e15], [4e15, 4e15, 4e15, 4e15]]']
    layers += ['type = "dense"\nweights = [[4e15, 4e15], [4e15, 4e15]]'] * 21 + ['type = "softmax"']
    problem = tmp_path / "big.toml"
    problem.write_text(small_problem(*layers), encoding="utf-8")
    values, first = [1, 2, 3, 4], None  # the same network in Python's whole numbers, which never overflow
    for number in range(1, 23):
        values = [weight * sum(values)] * 2
        if first is None and values[0] > sys.float_info.max:
            first = number
    assert first is not None
    out = tmp_path / "out"
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", out)
    assert_one_error(
        code, err, problem, (rf"^layer {first} \(dense\): ", r"values grow beyond", r"scale the weights .*down")
    )
    assert not out.exists() or not any(out.iterdir())
    code, _, err = run_stepper(capsys, "check", problem, RIGHT, "--out", out)
    assert_one_error(code, err, problem, (rf"^layer {first} \(dense\): ", r"values grow beyond"))


def test_large_values_below_the_limit_are_worked(capsys, tmp_path):
    """One layer fewer than overflows: solved, and no 'inf' is printed."""
    layers = ['type = "dense"\nweights = [[4e15, 4e15, 4e15, 4e15], [4e15, 4e15, 4e15, 4e15]]']
    layers += ['type = "dense"\nweights = [[4e15, 4e15], [4e15, 4e15]]'] * 10
    problem = tmp_path / "big.toml"
    problem.write_text(small_problem(*layers), encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    assert code == 0 and err == "", err
    assert "infty" not in (tmp_path / "out" / "big.md").read_text(encoding="utf-8")


# ---- 9. scientific notation in a written sum ----


@pytest.mark.parametrize(
    "text, value",
    [("1e-3", Fraction(1, 1000)), ("2.5E2", Fraction(250)), (".5e1", Fraction(5)), ("1e+2", Fraction(100))],
)
def test_scientific_notation_is_a_number(text, value):
    terms, _ = parse_sum(text, "here")
    assert len(terms) == 1 and terms[0].value == sympy.Rational(value.numerator, value.denominator)


@pytest.mark.parametrize(
    "text, value", [("2e", "2*e"), ("2 e-3", "2*e - 3"), ("2e + 3", "2*e + 3"), ("2*e-3", "2*e - 3"), ("2e1x", "2*e1x")]
)
def test_e_as_a_name_stays_a_name(text, value):
    terms, _ = parse_sum(text, "here")
    assert sympy.Add(*(t.value for t in terms)) == sympy.sympify(value)


def test_sum_with_scientific_notation_is_judged_on_its_value(capsys, tmp_path):
    """A window of a filter holding 0.001: the sum written with 1e-3 is right term by term; with 1e-2 it is not."""
    problem = tmp_path / "p.toml"
    problem.write_text(small_problem('type = "conv2d"\nfilters = [[0.001, 0], [0, 1]]'), encoding="utf-8")
    from stepper.marking.marker import Marker
    from stepper.core.load import load
    from stepper.marking.working import loads_working

    marker = Marker(load(problem))
    verdicts = {}
    for written in ("1e-3*1 + 1*4 = 4.001", "1e-2*1 + 1*4 = 4.01"):
        working = loads_working(f'[[window]]\nlayer = 1\nrow = 1\ncolumn = 1\nsum = "{written}"\n', marker.problem)
        check = marker.check(working).sums[0].check
        verdicts[written] = (check.correct, [t.verdict for t in check.terms if t.written is not None])
    assert verdicts["1e-3*1 + 1*4 = 4.001"] == (True, ["right", "right"])
    assert verdicts["1e-2*1 + 1*4 = 4.01"][0] is False
    assert verdicts["1e-2*1 + 1*4 = 4.01"][1][0] != "right"


# ---- 10. one line, whatever the error holds ----


def test_newline_in_a_layer_type(capsys, tmp_path):
    problem = tmp_path / "p.toml"
    problem.write_text(small_problem('type = "conv2d\\nx"'), encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    message = assert_one_error(code, err, problem, (r"^layer 1 \(conv2d\\nx\), field 'type': ", r"unknown layer type"))
    assert "\n" not in message


def test_file_name_with_escape_and_newline(capsys, tmp_path):
    """A hostile file name neither breaks the line nor reaches the terminal as an escape sequence."""
    problem = tmp_path / "bad\x1b[2J\x1b[31m\nname\u202e.toml"
    problem.write_text(small_problem('type = "relu"', 'type = "maxpol"'), encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    visible = str(problem).replace("\x1b", "\\x1b").replace("\n", "\\n").replace("\u202e", "\\u202e")
    assert_one_line(code, err, f"stepper: error: {visible}: ", (r"^layer 2 \(maxpol\), field 'type'",))
    assert "\x1b" not in err and "\u202e" not in err


@pytest.mark.parametrize(
    "char, escaped",
    [
        ("\n", r"\n"),
        ("\t", r"\t"),
        ("\r", r"\r"),
        ("\x00", r"\x00"),
        ("\x1b", r"\x1b"),
        ("\x7f", r"\x7f"),
        ("\x85", r"\x85"),
        ("\u202a", r"\u202a"),
        ("\u202e", r"\u202e"),
        ("\u2066", r"\u2066"),
        ("\u2069", r"\u2069"),
        ("\u200b", r"\u200b"),
        ("\u2028", r"\u2028"),
        ("\u2029", r"\u2029"),
        ("\U000e0001", r"\U000e0001"),
    ],
)
def test_every_control_character_is_escaped(char, escaped):
    error = StepperError(f"found {char}here", file=f"a{char}.toml", place=f"layer{char}1")
    assert str(error) == f"a{escaped}.toml: layer{escaped}1: found {escaped}here"


def test_printable_text_is_kept():
    text = "layer 1 (conv2d): ŷ ≈ 0.4337, é, 中文, ∞, \\cdot"
    assert str(StepperError(text)) == text


# ---- 11. hints for typos ----

HINTS = [
    ("type-case", small_problem('type = "Conv2d"\nfilters = [[1]]'), r"did you mean 'conv2d'\?"),
    ("type-typo", small_problem('type = "maxpol"\nsize = 2'), r"did you mean 'maxpool'\?"),
    ("setting", SMALL + "[settings]\ndecimal = 3\n", r"did you mean 'decimals'\?"),
    ("field", small_problem('type = "conv2d"\nfilter = [[1]]'), r"did you mean 'filters'\?"),
    ("top-field", "imput = [[1, 2], [3, 4]]\n" + SMALL, r"did you mean 'input'\?"),
    ("rounding", SMALL + '[settings]\nrounding = "Carry"\n', r"did you mean 'carry'\?"),
]


@pytest.mark.parametrize("name, text, hint", HINTS, ids=[h[0] for h in HINTS])
def test_typo_in_a_problem_gets_a_hint(name, text, hint, capsys, tmp_path):
    problem = tmp_path / "p.toml"
    problem.write_text(text, encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    assert_one_error(code, err, problem, (hint, r"expected"))


def test_no_hint_for_a_name_near_nothing(capsys, tmp_path):
    problem = tmp_path / "p.toml"
    problem.write_text(small_problem('type = "zzzzqqq"'), encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    message = assert_one_error(code, err, problem, (r"unknown layer type", r"expected one of"))
    assert "did you mean" not in message


def test_single_bracket_layers(capsys, tmp_path):
    problem = tmp_path / "p.toml"
    problem.write_text(SMALL + '\n[layers]\ntype = "relu"\n', encoding="utf-8")
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    assert_one_error(
        code, err, problem, (r"^field 'layers': ", r"write \[\[layers\]\] \(two brackets\) before each layer")
    )


TEMPLATE_HINTS = [
    ("random-field", ('"layer1.filters" = [', '"layer1.filter" = ['), r"did you mean 'filters'\?"),
    ("random-type", ('["maxpool", "avgpool"]', '["maxpool", "avgpol"]'), r"did you mean 'avgpool'\?"),
    ("part-name", ("[constraints]", "[constraint]"), r"did you mean 'constraints'\?"),
    ("input-name", ('input = "0..4"', 'inputs = "0..4"'), r"did you mean 'input'\?"),
]


@pytest.mark.parametrize("name, change, hint", TEMPLATE_HINTS, ids=[h[0] for h in TEMPLATE_HINTS])
def test_typo_in_a_template_gets_a_hint(name, change, hint, capsys, tmp_path):
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count(change[0]) == 1
    template = tmp_path / "exam.toml"
    template.write_text(text.replace(*change), encoding="utf-8")
    code, _, err = run_stepper(capsys, "exam", template, "--variants", "2", "--out", tmp_path / "out")
    assert_one_error(code, err, template, (hint,))


WORKING_HINTS = [
    ("stage", ("[layer2]", "[layr2]"), r"did you mean 'layer2'\?"),
    ("part", ("filter2 = ", "filtre2 = "), r"did you mean 'filter2'\?"),
    ("window-field", None, r"did you mean 'column'\?"),
    ("single-bracket-window", None, r"write \[\[window\]\] \(two brackets\)"),
]


@pytest.mark.parametrize("name, change, hint", WORKING_HINTS, ids=[h[0] for h in WORKING_HINTS])
def test_typo_in_a_working_file_gets_a_hint(name, change, hint, capsys, tmp_path):
    text = RIGHT.read_text(encoding="utf-8")
    if name == "window-field":
        text += '\n[[window]]\nlayer = 1\nrow = 1\ncolum = 1\nsum = "1"\n'
    elif name == "single-bracket-window":
        text += '\n[window]\nlayer = 1\nrow = 1\ncolumn = 1\nsum = "1"\n'
    else:
        assert text.count(change[0]) == 1
        text = text.replace(*change)
    working = tmp_path / "w.toml"
    working.write_text(text, encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", TUTORIAL, working, "--out", tmp_path / "out")
    assert_one_error(code, err, working, (hint,))


# ---- user templates (--templates): a loop of includes, a file that is not UTF-8 ----


@pytest.mark.parametrize(
    "content, needle",
    [
        (b'\\BLOCK{include "document.md"}\n', r"md/document\.md: line 1: a template includes itself"),
        (b"caf\xe9\n", r"md/document\.md: not UTF-8 text"),
    ],
)
def test_a_broken_user_template_is_one_line(tmp_path, capsys, content, needle):
    (tmp_path / "t" / "md").mkdir(parents=True)
    (tmp_path / "t" / "md" / "document.md").write_bytes(content)
    from stepper.cli import main

    code = main(["solve", "--templates", str(tmp_path / "t"), "--format", "md", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert re.search(needle, err), err
    assert not (tmp_path / "out").exists()
