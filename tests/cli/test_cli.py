"""The command line's own behaviour: one-line errors for flags, all-or-nothing runs, named template errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT


def stepper(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stepper", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


@pytest.mark.parametrize(
    "flags,words",
    [
        (["--format", "md,odt"], ["--format", "unknown format 'odt'"]),
        (["--detail", "some"], ["--detail", "expected 'all', 'answers', 'shapes' or a number"]),
        (["--terms", "every"], ["--terms", "invalid choice"]),
        (["--decimals", "13"], ["--decimals", "from 0 to 12"]),
    ],
)
def test_bad_flags_give_one_line(tmp_path, flags, words):
    run = stepper("solve", *flags, "--out", str(tmp_path / "out"))
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stepper")
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_bad_problem_among_several_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('input = "1 2\\n3"\n')
    run = stepper("solve", "examples/tutorial.toml", str(bad), "--format", "md", "--out", str(tmp_path / "out"))
    assert run.returncode == 2 and "bad.toml: field 'input', row 2" in run.stderr
    assert not (tmp_path / "out").exists()


def test_two_problems_with_one_name_are_refused(tmp_path):
    other = tmp_path / "tutorial.toml"
    other.write_text((ROOT / "examples" / "tutorial.toml").read_text())
    run = stepper("solve", "examples/tutorial.toml", str(other), "--format", "md", "--out", str(tmp_path / "out"))
    assert run.returncode == 2 and "would write it" in run.stderr
    assert not (tmp_path / "out").exists()


def test_template_errors_name_the_template_and_line(tmp_path):
    (tmp_path / "relu.j2").write_text("fine\n\\VAR{record.nope}\n")
    run = stepper("solve", "--format", "md", "--templates", str(tmp_path), "--out", str(tmp_path / "out"))
    assert run.returncode == 2
    assert f"{tmp_path / 'relu.j2'}: line 2: template uses an unknown name" in run.stderr
    assert "Traceback" not in run.stderr


def test_solve_writes_word_through_pandoc_and_replaces_its_own(tmp_path, capsys):
    import shutil as _shutil
    import subprocess as _subprocess

    if _shutil.which("pandoc") is None:
        pytest.skip("pandoc is not installed")
    from stepper.cli import main as run
    from stepper.writing.docx import marked

    out = tmp_path / "out"
    assert run(["solve", "--format", "docx", "--out", str(out)]) == 0
    data = (out / "tutorial.docx").read_bytes()
    assert marked(data) and sorted(p.name for p in out.iterdir()) == ["tutorial.docx"]
    assert run(["solve", "--format", "docx", "--out", str(out)]) == 0  # its own file: replaced without --force
    assert (out / "tutorial.docx").read_bytes() == data  # and byte for byte the same
    back = _subprocess.run(["pandoc", "-f", "docx", "-t", "markdown"], input=data, capture_output=True).stdout
    assert b"0.4337" in back and b"0.5663" in back  # the softmax, from Word's equations
    (out / "mine.docx").write_bytes(b"PK not stepper's")
    _shutil.copy(out / "mine.docx", out / "tutorial.docx")
    assert run(["solve", "--format", "docx", "--out", str(out)]) == 2  # a user's file is left alone
    assert (out / "tutorial.docx").read_bytes() == b"PK not stepper's"


def test_the_process_flushes_its_output_and_keeps_its_exit_status(tmp_path):
    """`stepper` ends with os._exit (cli.run): what it printed still arrives whole, and 0 and 2 come through."""
    done = stepper("solve", "--format", "md,tex", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(tmp_path / "tutorial.md"), str(tmp_path / "tutorial.tex")]
    assert (tmp_path / "tutorial.tex").read_text(encoding="utf-8").rstrip().endswith(r"\end{document}")
    refused = stepper("solve", str(tmp_path / "missing.toml"), "--out", str(tmp_path))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "stepper: error:" in refused.stderr


def test_a_reader_that_leaves_early_is_not_an_error(tmp_path):
    """`stepper solve | head -1`: the pipe closes before everything is printed; no traceback, no complaint."""
    pipeline = f"{sys.executable} -m stepper solve --format md,tex --out {tmp_path} | head -c 1 >/dev/null"
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {pipeline}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert (tmp_path / "tutorial.tex").is_file()
