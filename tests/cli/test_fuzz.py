"""Random bytes, random TOML and random file names thrown at `solve`, `check` and `exam`.

Whatever comes in, stepper answers with its documents (exit 0) or one located line (exit 2): never a
traceback, and never a file written, changed or removed anywhere but in --out.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.helpers.one_line import run_stepper
from tests.helpers import ROOT

TUTORIAL = ROOT / "examples" / "tutorial.toml"
EXAM = ROOT / "examples" / "tutorial-exam.toml"
WORKING = ROOT / "examples" / "tutorial-working-slips.toml"

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ---- TOML written from random values ----


def toml_value(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf") if math.isinf(x) else repr(x)
    if isinstance(x, str):
        return json.dumps(x)  # a JSON string is a TOML basic string
    if isinstance(x, list):
        return "[" + ", ".join(toml_value(v) for v in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in x.items()) + "}"
    raise TypeError(type(x))


def toml_document(data: dict) -> str:
    """Top-level values, then each table, then `[[layers]]`, as a person writes a problem file."""
    lines = [
        f"{json.dumps(k)} = {toml_value(v)}"
        for k, v in data.items()
        if not isinstance(v, dict)
        and not (k == "layers" and isinstance(v, list) and v and all(isinstance(t, dict) for t in v))
    ]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{json.dumps(k)}]"] + [f"{json.dumps(a)} = {toml_value(b)}" for a, b in v.items()]
    layers = data.get("layers")
    if isinstance(layers, list) and layers and all(isinstance(t, dict) for t in layers):
        for table in layers:
            lines += ["", "[[layers]]"] + [f"{json.dumps(a)} = {toml_value(b)}" for a, b in table.items()]
    return "\n".join(lines) + "\n"


scalars = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=30),
    st.sampled_from(
        [
            "1/2",
            "w1",
            "-b",
            "NaN",
            "1e-3",
            "0.1",
            "same",
            "valid",
            "conv2d",
            "relu",
            "maxpool",
            "1 2\n3 4",
            "1 2 3\n4 5 6\n7 8 9",
            "",
            "\u202e",
            "\x1b[2K",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=12,
)


@st.composite
def mutated(draw, base: dict) -> dict:
    """The problem file with a few of its fields replaced, removed or added."""
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        layers = data.get("layers") if isinstance(data.get("layers"), list) else []
        tables = [data] + [t for t in layers if isinstance(t, dict)] + [v for v in data.values() if isinstance(v, dict)]
        table = draw(st.sampled_from(tables))
        keys = list(table) + [
            draw(
                st.sampled_from(
                    [
                        "type",
                        "stride",
                        "padding",
                        "size",
                        "bias",
                        "weights",
                        "filters",
                        "decimals",
                        "detail",
                        "slope",
                        "extra",
                    ]
                )
            )
        ]
        key = draw(st.sampled_from(keys))
        if key in table and draw(st.booleans()) and draw(st.booleans()):
            del table[key]
        else:
            table[key] = draw(values)
    return data


def _base(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


# ---- the contract ----


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` with its size and modification time."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st_ = p.lstat()
            found[str(p.relative_to(folder))] = (st_.st_size, st_.st_mtime_ns)
    return found


def run_inside(capsys, work: Path, command: str, *args) -> tuple[int, str, str]:
    """Run stepper; the exit is 0 or 2 with one-line errors, and nothing outside work/out changes."""
    outside = {k: v for k, v in tree(work).items() if not k.startswith("out")}
    code, out, err = run_stepper(capsys, command, *args, "--out", work / "out")
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    for line in err.splitlines():
        assert line.startswith("stepper: "), f"a line of stderr not from stepper: {line!r}"
    after = {k: v for k, v in tree(work).items() if not k.startswith("out")}
    assert after == outside, "a file outside --out was written, changed or removed"
    return code, out, err


def fresh(tmp_path: Path) -> Path:
    work = tmp_path / "w"
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    return work


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_as_a_problem(tmp_path, capsys, data):
    work = fresh(tmp_path)
    (work / "in" / "p.toml").write_bytes(data)
    run_inside(capsys, work, "solve", work / "in" / "p.toml", "--format", "md")


@FUZZ
@given(data=mutated(_base(TUTORIAL)))
def test_random_toml_as_a_problem(tmp_path, capsys, data):
    work = fresh(tmp_path)
    (work / "in" / "p.toml").write_text(toml_document(data), encoding="utf-8")
    run_inside(capsys, work, "solve", work / "in" / "p.toml", "--format", "md,tex", "--detail", "2")


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=300).map(lambda b: ("bytes", b)), mutated(_base(WORKING)).map(lambda d: ("toml", d))
    )
)
def test_random_working_files_in_a_class(tmp_path, capsys, data):
    work = fresh(tmp_path)
    shutil.copy(WORKING, work / "in" / "good.toml")
    kind, content = data
    bad = work / "in" / "random.toml"
    if kind == "bytes":
        bad.write_bytes(content)
    else:
        bad.write_text(toml_document(content), encoding="utf-8")
    code, out, err = run_inside(capsys, work, "check", TUTORIAL, work / "in")
    assert "good.toml: " in out  # the other student is always marked
    assert (work / "out" / "class-summary.csv").is_file()


@FUZZ
@given(data=mutated(_base(EXAM)))
def test_random_toml_as_an_exam_template(tmp_path, capsys, data):
    work = fresh(tmp_path)
    template = work / "in" / "t.toml"
    template.write_text(toml_document(data), encoding="utf-8")
    code, _, err = run_inside(capsys, work, "exam", template, "--variants", "2", "--format", "md,moodle")
    if code == 0:
        from stepper.exams.folder import verify

        assert verify(work / "out") is None


names = st.text(
    st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=40
).filter(lambda n: n not in (".", "..") and len(n.encode("utf-8")) < 200)


@FUZZ
@given(name=names)
def test_random_file_names_for_every_command(tmp_path, capsys, name):
    work = fresh(tmp_path)
    problem = work / "in" / f"{name}.toml"
    shutil.copy(TUTORIAL, problem)
    run_inside(capsys, work, "solve", problem, "--format", "md,tex", "--detail", "1")
    working = work / "in" / f"{name}-w.toml"
    shutil.copy(WORKING, working)
    run_inside(capsys, work, "check", TUTORIAL, working, "--format", "md")
    template = work / "in" / f"{name}-exam.toml"
    shutil.copy(EXAM, template)
    shutil.rmtree(work / "out", ignore_errors=True)
    run_inside(capsys, work, "exam", template, "--variants", "1", "--format", "md,tex,moodle")
    for path in (work / "out").iterdir():
        if path.suffix in (".md", ".tex", ".xml"):
            first = path.read_text(encoding="utf-8").splitlines()[:2]
            assert any("Written by stepper" in line for line in first), path
