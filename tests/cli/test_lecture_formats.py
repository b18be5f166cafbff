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
    return subprocess.run(
        [sys.executable, "-m", "stepper", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


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


@needs_tex
def test_a_problem_named_like_a_deck_is_replaced_as_stepper_s_own(tmp_path):
    problem = tmp_path / "week3-slides.toml"
    shutil.copy(ROOT / "examples" / "tutorial.toml", problem)
    for _ in range(2):
        done = stepper("solve", str(problem), "--format", "pdf", "--out", str(tmp_path / "out"))
        assert done.returncode == 0, done.stderr


def test_a_users_page_template_that_fails_is_one_located_line(tmp_path):
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "page.html").write_text("<p>\n{{ 1 // 0 }}</p>\n", encoding="utf-8")
    done = stepper("solve", "--format", "html", "--templates", str(tmp_path), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "page.html: line 2:" in done.stderr and "ZeroDivisionError" in done.stderr


def test_the_page_takes_control_and_bidi_characters_out_of_a_title(tmp_path):
    text = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.startswith("title"))
    problem = tmp_path / "x\u202ey.toml"
    problem.write_text(text.replace(title, 'title = "a\\u0007b\\u001bc \\u202eevil"'), encoding="utf-8")
    done = stepper("solve", str(problem), "--format", "html", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    page = next((tmp_path / "out").glob("*.html")).read_text(encoding="utf-8")
    shown = page.split('<script type="application/json"')[0]  # the embedded data keeps the title as given, as JSON
    assert "a?b?c evil" in shown and not any(ch in shown for ch in "\u202e\x07\x1b")


@pytest.mark.parametrize("fmt,words", [("json", "its json would be about"), ("beamer", "its slide deck would show")])
def test_a_page_deck_or_data_too_large_is_refused_before_any_work(tmp_path, fmt, words):
    done = stepper(
        "solve", str(ROOT / "examples" / "lenet.toml"), "--detail", "all", "--format", fmt, "--out", str(tmp_path)
    )
    assert done.returncode == 2 and words in done.stderr and "--force" in done.stderr
    assert list(tmp_path.iterdir()) == []
