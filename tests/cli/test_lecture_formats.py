"""`stepper solve --format html,beamer,json`: the files for teaching from, each marked as stepper's, so that a
second run replaces them and a user's file of the same name is left alone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT

LECTURE = ["tutorial.html", "tutorial-slides.tex", "tutorial-slides.pdf", "tutorial.json"]
needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")


def stepper(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stepper", *args], cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)


@needs_tex
def test_the_lecture_formats_are_written_and_replaced_on_the_next_run(tmp_path):
    first = stepper("solve", "--format", "html,beamer,json", "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert sorted(first.stdout.split()) == sorted(str(tmp_path / n) for n in LECTURE)
    html = (tmp_path / "tutorial.html").read_text(encoding="utf-8")
    assert html.startswith("<!-- Written by stepper from tutorial.toml.") and "<!DOCTYPE html>" in html
    assert json.loads((tmp_path / "tutorial.json").read_text(encoding="utf-8"))["format"] == "stepper trace"
    assert (tmp_path / "tutorial-slides.tex").read_text(encoding="utf-8").startswith("% Written by stepper")
    assert (tmp_path / "tutorial-slides.pdf").read_bytes().startswith(b"%PDF")
    again = stepper("solve", "--format", "html,beamer,json", "--out", str(tmp_path))
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("name", LECTURE)
def test_a_users_file_of_the_same_name_is_left_alone(tmp_path, name):
    mine = tmp_path / name
    kept = b"%PDF-1.5 mine\n" if name.endswith(".pdf") else b'{\n "format": "my own"\n}\n'
    mine.write_bytes(kept)
    formats = {"html": "html", "json": "json"}.get(name.rsplit(".", 1)[1], "beamer")
    refused = stepper("solve", "--format", formats, "--out", str(tmp_path))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "not written by stepper" in refused.stderr and name in refused.stderr
    assert mine.read_bytes() == kept


def test_a_file_name_cannot_end_the_pages_mark_comment(tmp_path):
    problem = tmp_path / "a--b-->c.toml"
    shutil.copy(ROOT / "examples" / "tutorial.toml", problem)
    done = stepper("solve", str(problem), "--format", "html", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    first = (tmp_path / "out" / "a--b-->c.html").read_text(encoding="utf-8").split("\n", 1)[0]
    assert first.startswith("<!--") and first.endswith("-->") and first[4:-3].count("--") == 0
