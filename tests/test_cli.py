"""The command line's own behaviour: one-line errors for flags, all-or-nothing runs, named template errors."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def stepper(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stepper", *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)


@pytest.mark.parametrize("flags,words", [
    (["--format", "md,docx"], ["--format", "unknown format 'docx'"]),
    (["--detail", "some"], ["--detail", "expected 'all', 'answers', 'shapes' or a number"]),
    (["--terms", "every"], ["--terms", "invalid choice"]),
    (["--decimals", "13"], ["--decimals", "from 0 to 12"]),
])
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
