"""pdflatex started before its document exists (EarlyTypeset) gives the same PDF as typesetting the finished file,
and fails, falls back and cleans up as that does."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from stepper import load, render, trace
from stepper.writing.latex import EarlyTypeset, TypesetError, typeset
from tests.helpers import ROOT

needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")


@pytest.fixture(scope="module")
def tex() -> str:
    return render(trace(load(ROOT / "examples" / "tutorial.toml")), "tex")


@needs_tex
def test_the_early_run_gives_the_same_pdf_byte_for_byte(tex):
    with EarlyTypeset() as early:
        assert early.run is not None, "pdflatex should have been started early"
        pdf = early.typeset(tex, "tutorial.tex")
    assert pdf == typeset(tex, "tutorial.tex")
    assert not os.path.exists(early.work)


@needs_tex
def test_an_error_in_the_document_is_a_typeset_error_with_its_log(tex):
    broken = tex.replace("\\end{document}", "\\nosuchcommand\n\\end{document}")
    with EarlyTypeset() as early, pytest.raises(TypesetError) as caught:
        early.typeset(broken, "tutorial.tex")
    assert "Undefined control sequence" in str(caught.value)
    assert b"nosuchcommand" in caught.value.log


@needs_tex
def test_leaving_without_a_document_stops_pdflatex_and_removes_its_folder():
    with EarlyTypeset() as early:
        run = early.run
    assert run is not None and run.returncode is not None
    assert not os.path.exists(early.work)


@needs_tex
def test_a_document_that_needs_another_engine_is_typeset_as_usual(tex, monkeypatch):
    chosen = []
    monkeypatch.setattr("stepper.writing.latex.typeset", lambda text, name: chosen.append(name) or b"%PDF-usual")
    with EarlyTypeset() as early:
        run = early.run
        assert early.typeset(tex.replace("CNN tutorial", "CNN tutorial 王"), "tutorial.tex") == b"%PDF-usual"
    assert chosen == ["tutorial.tex"]
    assert run is not None and run.returncode is not None  # the early pdflatex was stopped


def test_a_pdflatex_that_ends_before_reading_its_pipe_is_reported_not_waited_for(tmp_path, monkeypatch, tex):
    fake = tmp_path / "pdflatex"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STEPPER_TEX_TIMEOUT", "20")
    with EarlyTypeset() as early, pytest.raises(TypesetError) as caught:
        early.typeset(tex, "tutorial.tex")
    assert "exit status 3" in str(caught.value)


@needs_tex
def test_the_opening_sent_first_gives_the_same_pdf(tex):
    from stepper.writing.opening import latex_opening
    from stepper.writing.output import marked

    opening = latex_opening("tutorial.toml")
    tex = marked(tex, ".tex", "tutorial.toml")
    assert opening.startswith("% Written by stepper from tutorial.toml.") and "\\documentclass" in opening
    assert tex.startswith(opening)
    with EarlyTypeset() as early:
        early.send_opening(opening)
        pdf = early.typeset(tex, "tutorial.tex")
    assert pdf == typeset(tex, "tutorial.tex")


@needs_tex
def test_a_document_that_begins_otherwise_than_its_opening_is_typeset_whole(tex):
    with EarlyTypeset() as early:
        early.send_opening("\\documentclass{book}\n")
        run = early.run
        pdf = early.typeset(tex, "tutorial.tex")
    assert run is not None and run.returncode is not None
    assert pdf == typeset(tex, "tutorial.tex")


def test_an_opening_a_users_template_cannot_give_without_the_problem_is_none(tmp_path):
    from stepper.writing.opening import latex_opening

    (tmp_path / "tex").mkdir()
    (tmp_path / "tex" / "preamble.tex").write_text("\\documentclass{\\VAR{problem.title}}\n")
    assert latex_opening("tutorial.toml", tmp_path) == ""


def test_a_solution_whose_opening_a_user_changed_is_the_same_as_pdflatex_makes(tmp_path):
    """The user's preamble is part of the opening sent early, and the PDF is still pdflatex's own."""
    from stepper.cli import main

    (tmp_path / "mine" / "tex").mkdir(parents=True)
    builtin = (ROOT / "templates" / "tex" / "preamble.tex").read_text()
    (tmp_path / "mine" / "tex" / "preamble.tex").write_text(builtin + "\\usepackage{amsthm}\n")
    assert (
        main(
            [
                "solve",
                str(ROOT / "examples" / "tutorial.toml"),
                "--templates",
                str(tmp_path / "mine"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    written = (tmp_path / "out" / "tutorial.tex").read_text()
    assert "\\usepackage{amsthm}" in written
    assert (tmp_path / "out" / "tutorial.pdf").read_bytes() == typeset(written, "tutorial.tex")


@needs_tex
def test_a_pdflatex_whose_stepper_dies_before_writing_ends_too(tmp_path):
    """Killed before it wrote a line, stepper leaves no pdflatex waiting on the pipe."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to see the process")
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import os, sys, time\n"
        "from stepper.writing.latex import EarlyTypeset\n"
        "early = EarlyTypeset()\n"
        "print(early.run.pid, early.work, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    pid_text, work = child.stdout.readline().split()
    pid = int(pid_text)
    child.send_signal(signal.SIGKILL)
    child.wait()
    shutil.rmtree(work, ignore_errors=True)  # a killed process cannot remove its own temporary folder
    for _ in range(200):  # the kernel stops pdflatex with its parent
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state in ("Z", "X"):  # ended, and waiting for whoever adopted it to collect it
            break
        time.sleep(0.05)
    else:
        os.killpg(pid, signal.SIGKILL)
        pytest.fail("pdflatex was still waiting 10 s after stepper died")


def test_no_pipes_in_the_temporary_folder_means_typesetting_as_usual(monkeypatch, tex):
    def refuse(path, mode=0o666):
        raise PermissionError(1, "Operation not permitted", path)

    monkeypatch.setattr(os, "mkfifo", refuse)
    with EarlyTypeset() as early:
        assert early.run is None
        work = early.work
    assert not work or not os.path.exists(work)


def _pieces(text: str, size: int) -> list[str]:
    """`text` cut every `size` characters, mid-line as a template's pieces may be."""
    return [text[i : i + size] for i in range(0, len(text), size)]


@needs_tex
def test_a_document_streamed_in_pieces_gives_the_same_pdf_and_text(tex):
    from stepper.writing.opening import latex_opening
    from stepper.writing.output import marked

    opening, tex = latex_opening("tutorial.toml"), marked(tex, ".tex", "tutorial.toml")
    with EarlyTypeset() as early:
        early.send_opening(opening)
        fed: list[bytes] = []
        real_feed = early._feed
        early._feed = lambda text: fed.append(text.encode()) or real_feed(text)  # type: ignore[method-assign]
        assert early.stream(_pieces(tex, 97)) == tex
        pdf = early.pdf("tutorial.tex")
    assert pdf == typeset(tex, "tutorial.tex")
    assert len(fed) > 2, "the body should reach pdflatex in several batches, not at the end"
    assert all(batch.endswith(b"\n") for batch in fed[1:-1]), "every batch but the last is whole lines"


@needs_tex
def test_a_line_that_needs_another_engine_midway_stops_the_stream(tex, monkeypatch):
    chosen = []
    monkeypatch.setattr("stepper.writing.latex.typeset", lambda text, name: chosen.append(text) or b"%PDF-usual")
    late = tex.replace("\\end{document}", "王\n\\end{document}")
    with EarlyTypeset() as early:
        run = early.run
        assert early.stream(_pieces(late, 500)) == late
        assert early.pdf("tutorial.tex") == b"%PDF-usual"
    assert chosen == [late]
    assert run is not None and run.returncode is not None  # the early pdflatex was stopped


@needs_tex
def test_a_stream_that_begins_otherwise_than_its_opening_is_typeset_whole(tex):
    with EarlyTypeset() as early:
        early.send_opening("\\documentclass{book}\n")
        run = early.run
        assert early.stream(_pieces(tex, 1000)) == tex
        pdf = early.pdf("tutorial.tex")
    assert run is not None and run.returncode is not None
    assert pdf == typeset(tex, "tutorial.tex")
