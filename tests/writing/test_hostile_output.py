"""Hostile names and faults: what stepper writes, prints and leaves behind when the input or the machine works
against it.

Each test plants one thing (a file name that would run LaTeX or close a comment, a link where a temporary file
goes, a terminal escape in a student's name, a full disk, a pdflatex that hangs, a user's own spreadsheet) and
checks the promise: marks stay comments, nothing is written through a link, untrusted text is plain, a run is
all or nothing, a fault is one line, and a class run marks every student it can.
"""

from __future__ import annotations

import csv
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stepper.writing.latex import typeset
from stepper.writing.output import written_by_stepper
from tests.helpers import ROOT
from tests.helpers.one_line import assert_one_error, assert_one_line, run_stepper

TUTORIAL = ROOT / "examples" / "tutorial.toml"
# A problem that solves and typesets in a moment; one with a sigmoid layer, for a template that breaks only it.
TINY = 'title = "Tiny"\ninput = """\n1 -2\n3 4\n"""\n\n[[layers]]\ntype = "relu"\n'
TINY_SIGMOID = TINY.replace('"relu"', '"sigmoid"')
ANSI = "\x1b[2K\r"
OSC = "\x1b]0;title\x07"
BIDI = "\u202e\u2066\u2069"
# What no terminal line, report or cell may hold: controls but the newline, format characters (bidi), breaks.
HOSTILE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]|[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def solve(*args) -> subprocess.CompletedProcess:
    return run("solve", *args)


def run(*args, env: dict | None = None, user: list[str] | None = None, cwd=ROOT) -> subprocess.CompletedProcess:
    """`python -m stepper ARGS` in a process of its own (as another user, when `user` is a setpriv prefix)."""
    return subprocess.run(
        [*(user or []), sys.executable, "-m", "stepper", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        stdin=subprocess.DEVNULL,
        timeout=300,
        env=env,
    )


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def working(student: str, extra: str = "") -> str:
    """A working file for the tutorial: a name (as a TOML basic string, escapes and all) and one dense value."""
    return f'student = "{student}"\n{extra}\n[dense]\nz1 = 0.5095\n'


def assert_plain(text: str, where: str) -> None:
    found = HOSTILE.search(text)
    assert found is None, f"{where} holds {found.group()!r}: {text!r}"


# ---- 1. file names in the marks ----


def test_a_problem_name_cannot_run_latex_from_the_mark(tmp_path):
    """A file name holding a newline and `\\AtBeginDocument{\\input{...}}` would put a secret file into the PDF
    if the name were written raw into the `%` mark line; the mark keeps it on its one comment line."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-4711\n", encoding="utf-8")
    payload = "\\AtBeginDocument{\\input{" + str(secret).replace("/", "^^2f") + "}}"
    problem = tmp_path / f"x\n{payload}\n%.toml"  # the % comments out the rest of the mark's line
    problem.write_text(TINY, encoding="utf-8")
    out = tmp_path / "out"
    done = solve(problem, "--out", out)
    assert done.returncode == 0, done.stderr
    tex = (out / f"{problem.stem}.tex").read_text(encoding="utf-8")
    assert "TOPSECRET" not in tex and "TOPSECRET" not in pdf_text(out / f"{problem.stem}.pdf")
    assert tex.startswith("% Written by stepper from x ") and tex.splitlines()[1].startswith("\\documentclass"), tex[
        :300
    ]
    # The test can fail: the same line written raw does put the secret into the PDF.
    leaked = tmp_path / "leaked.pdf"
    leaked.write_bytes(typeset(f"% x\n{payload}\n" + "\n".join(tex.splitlines()[1:]), "control"))
    assert "TOPSECRET-4711" in pdf_text(leaked)
    # Each printed path is on its own line, and stepper knows its files again.
    assert done.stdout.count("\n") == 3, done.stdout
    assert solve(problem, "--out", out).returncode == 0


def test_a_problem_name_cannot_close_the_markdown_comment(tmp_path):
    problem = tmp_path / "a--><img src=x onerror=alert(1)>.toml"
    problem.write_text(TINY, encoding="utf-8")
    out = tmp_path / "out"
    done = solve(problem, "--format", "md", "--out", out)
    assert done.returncode == 0, done.stderr
    text = (out / f"{problem.stem}.md").read_text(encoding="utf-8")
    first = text.splitlines()[0]
    comment = re.match(r"<!--(.*?)-->", text, re.DOTALL)
    assert comment and comment.end() == len(first), f"the mark comment does not end with its line: {first!r}"
    assert "--" not in comment.group(1) and not comment.group(1).endswith("-"), first
    assert "<img" not in text.split("\n", 1)[1]
    assert solve(problem, "--format", "md", "--out", out).returncode == 0, "stepper's own file not recognised"


def test_an_exam_template_named_with_dashes_gives_well_formed_moodle_xml(tmp_path):
    template = tmp_path / "my--exam.toml"
    shutil.copy(ROOT / "examples" / "tutorial-exam.toml", template)
    out = tmp_path / "exam"
    done = run("exam", template, "--variants", "1", "--format", "moodle", "--out", out)
    assert done.returncode == 0, done.stderr
    ET.parse(out / "moodle.xml")  # raises on a comment holding "--"
    assert written_by_stepper(out / "moodle.xml")


@pytest.mark.parametrize("suffix", [".md", ".xml", ".tex", ".toml"])
def test_every_mark_is_one_safe_comment_line(suffix):
    from stepper.writing.output import marked

    name = f"a--b-\n\r\u2028{BIDI}{ANSI}c-"
    mark = marked("BODY", suffix, name).split("BODY")[0]
    assert mark.count("\n") == 1 and mark.endswith("\n"), repr(mark)
    assert_plain(mark[:-1], "the mark")
    if suffix in (".md", ".xml"):
        inside = mark[len("<!--") : -len("-->\n")]
        assert mark.startswith("<!--") and "--" not in inside and not inside.endswith("-"), repr(mark)


# ---- 2. exclusive temporary files ----


def test_links_planted_at_temporary_names_are_not_followed(capsys, tmp_path):
    """Links where the old predictable temporary files went (and guesses near them) point to a victim: it is
    left unchanged, the links stay as they were, and no temporary file is left behind."""
    problem = tmp_path / "tiny.toml"
    problem.write_text(TINY, encoding="utf-8")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    pid = os.getpid()  # in-process, stepper's pid is this one
    planted = [out / f".tiny.{fmt}.{n}.part" for fmt in ("md", "tex") for n in range(pid - 3, pid + 4)]
    planted += [out / ".tiny.md.part", out / ".tiny.tex.part"]
    for link in planted:
        link.symlink_to(victim)
    # And where the temporary names really go: mkstemp's random part made predictable for this run, a link
    # planted at the first name it will try. Opened exclusively, that name is skipped for the next.

    class Predictable:
        def __init__(self):
            self.names = iter(["guess1", "guess2", "guess3", "guess4", "guess5", "guess6"])

        def __iter__(self):
            return self

        def __next__(self):
            return next(self.names)

    planted += [out / f".tiny.{fmt}.guess1.part" for fmt in ("md", "tex")]
    for link in planted[-2:]:
        link.symlink_to(victim)
    real = tempfile._get_candidate_names
    tempfile._get_candidate_names = Predictable  # noqa: SLF001 - the only way to know the names in advance
    try:
        code, _, err = run_stepper(capsys, "solve", problem, "--format", "md,tex", "--out", out)
    finally:
        tempfile._get_candidate_names = real
    assert code == 0, err
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert all(link.is_symlink() and link.readlink() == victim for link in planted)
    left = sorted(p.name for p in out.iterdir() if p not in planted)
    assert left == ["tiny.md", "tiny.tex"], left
    mask = os.umask(0)
    os.umask(mask)
    assert (out / "tiny.md").stat().st_mode & 0o777 == 0o666 & ~mask, "a report readable only by its owner"


# ---- 3. untrusted names in the terminal, Markdown and CSV ----


def test_student_and_file_names_cannot_rewrite_the_terminal_or_the_reports(capsys, tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    # TOML escapes put the controls into the name: ESC [2K CR, an OSC title, bidi overrides, a NUL.
    student = r"Eve\u001b[2K\r\u001b]0;title\u0007\u202eevil\u2066x\u2069\u0000"
    (folder / f"eve{OSC}{BIDI}.toml").write_text(working(student), encoding="utf-8")
    (folder / f"bad{ANSI}.toml").write_text("student = \n", encoding="utf-8")  # skipped: the line names it
    out = tmp_path / "out"
    code, stdout, err = run_stepper(capsys, "check", TUTORIAL, folder, "--out", out)
    assert code == 2, err
    assert_plain(stdout, "stdout")
    assert_plain(err, "stderr")
    assert re.search(r"^eve.*: Eve.*evilx.*: 1 / 11: ", stdout, re.MULTILINE), stdout
    assert re.search(r"^stepper: skipped: .*bad.*\.toml: ", err, re.MULTILINE), err
    reports = list(out.glob("eve*-feedback.md"))
    assert len(reports) == 1
    for path in (reports[0], out / "class-summary.md", out / "class-summary.csv"):
        assert_plain(path.read_text(encoding="utf-8"), path.name)
    row = next(csv.DictReader((out / "class-summary.csv").open(encoding="utf-8", newline="")))
    assert row["student"].startswith("Eve") and "evil" in row["student"] and row["file"].startswith("eve"), row


def test_solve_prints_its_paths_plain(tmp_path):
    problem = tmp_path / f"n{ANSI}{OSC}{BIDI}.toml"
    problem.write_text(TINY, encoding="utf-8")
    done = solve(problem, "--format", "md", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert_plain(done.stdout, "stdout")
    assert done.stdout.count("\n") == 1


@pytest.mark.parametrize("text", [f"A{ANSI}B", f"A{OSC}B", f"A{BIDI}B", "A\x00B", "A\u2028B", "A\udcffB"])
def test_escapes_take_out_controls_and_bidi(text):
    from stepper.writing.documents import escape_md, escape_tex

    for escape in (escape_md, escape_tex):
        escaped = escape(text)
        assert_plain(escaped, escape.__name__)
        escaped.encode("utf-8")  # a lone surrogate (an undecodable file name) would fail here


# ---- 4. solve is all or nothing ----


def test_a_problem_that_fails_to_typeset_keeps_its_own_and_the_others_files(tmp_path):
    """good.toml solves; bad.toml has the only sigmoid layer, whose overridden LaTeX partial pdflatex rejects.
    Both Markdown and LaTeX files are written, good's PDF, and bad's LaTeX log beside its LaTeX; one line names
    the TeX error and what was written, and the exit status is 2."""
    (tmp_path / "good.toml").write_text(TINY, encoding="utf-8")
    (tmp_path / "bad.toml").write_text(TINY_SIGMOID, encoding="utf-8")
    templates = tmp_path / "templates" / "tex"
    templates.mkdir(parents=True)
    (templates / "sigmoid.j2").write_text("\\NoSuchCommandHere\n", encoding="utf-8")
    out = tmp_path / "out"
    done = solve(tmp_path / "good.toml", tmp_path / "bad.toml", "--templates", tmp_path / "templates", "--out", out)
    assert_one_error(
        done.returncode,
        done.stderr,
        out / "bad.pdf",
        (r"pdflatex failed", r"NoSuchCommandHere", r"written: .*bad\.md, .*bad\.tex, the LaTeX log .*bad\.log"),
    )
    assert "see the LaTeX log" not in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["bad.log", "bad.md", "bad.tex", "good.md", "good.pdf", "good.tex"]


def test_a_full_disk_leaves_no_file_behind(tmp_path):
    """The tutorial's md, tex and pdf (about 220 KB) onto a 200 KB disk: one line naming the file that did not
    fit, and neither finished files, temporary files nor the folder made for them are left."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip(
            "cannot mount a small tmpfs here (needs root and mount rights); "
            "test_no_space_in_process covers the same in-process"
        )
    try:
        out = disk / "out"
        done = solve(TUTORIAL, "--out", out)
        lines = done.stderr.splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert re.match(
            rf"stepper: error: {re.escape(str(out))}/tutorial\.(md|tex|pdf): cannot write it: "
            r"No space left on device$",
            lines[0],
        ), lines[0]
        assert sorted(p.name for p in disk.iterdir()) == [], "files were left on the full disk"
        assert done.stdout == ""
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_no_space_in_process(capsys, monkeypatch, tmp_path):
    """ENOSPC on the second file's sync: the first file's temporary copy is removed as well, nothing is written,
    and an earlier file of stepper's in the folder is kept as it was."""
    import stepper.writing.output

    out = tmp_path / "out"
    out.mkdir()
    code, _, _ = run_stepper(capsys, "solve", TUTORIAL, "--format", "md", "--out", out)
    before = (out / "tutorial.md").read_bytes()
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(fd)
        if len(synced) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(stepper.writing.output.os, "fsync", fsync)
    code, out_text, err = run_stepper(capsys, "solve", TUTORIAL, "--format", "md,tex", "--out", out, "--decimals", "3")
    assert_one_error(code, err, out / "tutorial.tex", (r"cannot write it: No space left on device$",))
    assert sorted(p.name for p in out.iterdir()) == ["tutorial.md"] and (out / "tutorial.md").read_bytes() == before
    assert out_text == ""


# ---- 5. a class run survives one student's PDF ----


def test_a_class_run_survives_a_report_pdflatex_cannot_typeset(capsys, tmp_path):
    """A user's feedback.tex that prints the name raw: Bob's name is a command LaTeX does not know. Bob is still
    marked, his md report written, the students after him too, and the class summary says so; exit 2."""
    folder = tmp_path / "class"
    folder.mkdir()
    for stem, student in (("ada", "Ada"), ("bob", r"\\NoSuchName"), ("cy", "Cy")):
        (folder / f"{stem}.toml").write_text(working(student), encoding="utf-8")
    templates = tmp_path / "templates" / "tex"
    templates.mkdir(parents=True)
    (templates / "feedback.tex").write_text(
        '\\BLOCK{include "preamble.tex"}\n\\begin{document}\n\\VAR{feedback.working.student}\n\\end{document}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    code, stdout, err = run_stepper(
        capsys, "check", TUTORIAL, folder, "--format", "md,pdf", "--out", out, "--templates", tmp_path / "templates"
    )
    assert code == 2 and "Traceback" not in err, err
    skipped = [line for line in err.splitlines() if line.startswith("stepper: skipped: ")]
    assert len(skipped) == 1 and skipped[0].startswith(
        f"stepper: skipped: {out / 'bob-feedback.pdf'}: pdflatex failed"
    ), err
    assert "see the LaTeX log" not in err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "ada-feedback.md",
            "ada-feedback.pdf",
            "bob-feedback.log",
            "bob-feedback.md",
            "cy-feedback.md",
            "cy-feedback.pdf",
            "class-summary.csv",
            "class-summary.md",
            "class-summary.pdf",
        ]
    )
    assert [line.split(":")[0] for line in stdout.splitlines()[:3]] == ["ada.toml", "bob.toml", "cy.toml"], stdout
    summary = (out / "class-summary.md").read_text(encoding="utf-8")
    assert re.search(r"no PDF report.*bob\\?\.toml", summary), summary
    assert len(list(csv.DictReader((out / "class-summary.csv").open(encoding="utf-8")))) == 3


def test_names_pdflatex_could_not_print_are_printed_as_themselves(capsys, tmp_path):
    """ð, « », Arabic-Indic digits and CJK, which pdflatex's standard fonts cannot print, are printed as they are
    (by LuaLaTeX and its fallback fonts), so a report never shows a name other than the student's; a character
    no font has becomes a visible mark, and the report is still made."""
    folder = tmp_path / "class"
    folder.mkdir()
    names = {
        "gudrun": ("Guðrún Þórsdóttir", "Guðrún Þórsdóttir"),
        "lulu": ("«Lulu»", "«Lulu»"),
        "digits": ("Student ١٢", "Student ١٢"),
        "wang": ("王小明", "王小明"),
        "private": ("Ada \ue000 Byron", "Ada \ufffd"),
    }
    for stem, (student, _) in names.items():
        (folder / f"{stem}.toml").write_text(working(student), encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run_stepper(capsys, "check", TUTORIAL, folder, "--format", "tex,pdf", "--out", out)
    assert code == 0, err
    for stem, (student, printed) in names.items():
        assert f"Feedback for {student}" in (out / f"{stem}-feedback.tex").read_text(encoding="utf-8"), stem
        assert printed in pdf_text(out / f"{stem}-feedback.pdf"), stem


# ---- 6. faults give one line ----


def nobody() -> list[str]:
    """A setpriv prefix that runs a command as nobody, for faults root does not meet."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run stepper as nobody (root reads any folder)")
    user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if subprocess.run([*user, "true"], capture_output=True).returncode != 0:
        pytest.skip("setpriv cannot switch to nobody here")
    # A checkout in a folder only root may enter (mktemp -d makes such folders) is out of nobody's reach.
    reach = subprocess.run([*user, sys.executable, "-c", "import stepper"], cwd=ROOT, capture_output=True)
    if reach.returncode != 0:
        pytest.skip("nobody cannot run stepper from this checkout (a folder on its path is closed to others)")
    return user


@pytest.fixture
def open_folder():
    """A folder others may enter (pytest's tmp_path sits in one only root may enter)."""
    base = Path(tempfile.mkdtemp(prefix="stepper-test-"))
    base.chmod(0o755)
    yield base
    for path in [base, *base.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(base)


@pytest.mark.parametrize("fault", ["class-unreadable", "out-parent-unwritable", "out-parent-unreadable"])
def test_permission_faults_give_one_line(open_folder, fault):
    user = nobody()
    problem = open_folder / "tiny.toml"
    problem.write_text(TINY, encoding="utf-8")
    problem.chmod(0o644)
    folder = open_folder / "class"
    folder.mkdir(mode=0o755)
    (folder / "a.toml").write_text('student = "A"\n', encoding="utf-8")
    locked = open_folder / "locked"
    locked.mkdir()
    locked.chmod(0o000 if fault == "class-unreadable" else 0o555 if fault == "out-parent-unwritable" else 0o000)
    if fault == "class-unreadable":
        folder.chmod(0o000)
        done = run("check", problem, folder, "--out", open_folder / "out", user=user)
        assert_one_error(done.returncode, done.stderr, folder, (r"Permission denied",))
    else:
        done = run("solve", problem, "--format", "md", "--out", locked / "out", user=user)
        assert_one_line(done.returncode, done.stderr, f"stepper: error: {locked}", (r"Permission denied",))


def test_an_unforeseen_os_error_is_one_line(capsys, monkeypatch):
    """The backstop: any OSError is `stepper: error: FILE: why`, exit 2."""
    import stepper.core.load

    def refuse(path, name=None):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(stepper.core.load, "load", refuse)
    code, _, err = run_stepper(capsys, "solve", TUTORIAL, "--format", "md")
    assert_one_error(code, err, TUTORIAL, (r"^Permission denied$",))


HUNG = """#!/bin/sh
# A pdflatex that never ends, with a child of its own.
echo $$ >> "$PIDS"
sleep 1000 &
echo $! >> "$PIDS"
sleep 1000
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has ended; only its entry waits for a parent to collect it


def test_a_hung_pdflatex_is_stopped_with_its_children(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pdflatex").write_text(HUNG)
    (bin_dir / "pdflatex").chmod(0o755)
    (tmp_path / "tiny.toml").write_text(TINY, encoding="utf-8")
    pids = tmp_path / "pids"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", STEPPER_TEX_TIMEOUT="2", PIDS=str(pids))
    started = time.monotonic()
    done = run("solve", tmp_path / "tiny.toml", "--out", tmp_path / "out", env=env)
    assert time.monotonic() - started < 60
    assert_one_error(
        done.returncode,
        done.stderr,
        tmp_path / "out" / "tiny.pdf",
        (r"pdflatex did not finish within 2 seconds", r"STEPPER_TEX_TIMEOUT"),
    )
    assert not (tmp_path / "out").exists()
    numbers = [int(n) for n in pids.read_text().split()]
    assert len(numbers) == 2, numbers
    deadline = time.monotonic() + 5
    while any(alive(n) for n in numbers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(n) for n in numbers), "pdflatex or its child is still running"


@pytest.mark.parametrize("value", ["abc", "0", "-5", "inf", "nan", "1e9"])
def test_a_bad_tex_timeout_is_one_line(capsys, monkeypatch, tmp_path, value):
    monkeypatch.setenv("STEPPER_TEX_TIMEOUT", value)
    code, _, err = run_stepper(capsys, "solve", TUTORIAL, "--format", "pdf", "--out", tmp_path / "out")
    assert_one_line(
        code, err, "stepper: error: environment variable STEPPER_TEX_TIMEOUT: ", (r"expected a number of seconds",)
    )
    assert not (tmp_path / "out").exists()


def test_the_tex_timeout_is_read_from_the_environment(monkeypatch):
    from stepper.writing.latex import tex_timeout

    monkeypatch.delenv("STEPPER_TEX_TIMEOUT", raising=False)
    assert tex_timeout() == 300
    monkeypatch.setenv("STEPPER_TEX_TIMEOUT", " 2.5 ")
    assert tex_timeout() == 2.5


@pytest.mark.parametrize("log", [None, "This is pdfTeX\nno error here\n"])
def test_a_failure_without_a_log_line_says_what_happened(monkeypatch, tmp_path, log):
    """The scratch folder with the log is gone when the message is read: it must not send the user to it."""
    from stepper.core.errors import StepperError

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = "#!/bin/sh\n" + (f"printf '{log}' > doc.log\n" if log else "") + "exit 3\n"
    (bin_dir / "pdflatex").write_text(script)
    (bin_dir / "pdflatex").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    with pytest.raises(StepperError) as info:
        typeset("\\relax", "x.pdf")
    message = str(info.value)
    assert "see the LaTeX log" not in message and "exit status 3" in message, message
    assert ("no log" in message) if log is None else ("no error here" in message), message


# ---- 7. class folders list what they skip ----


def test_a_class_folder_lists_what_it_skips(capsys, tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.toml").write_text(working("Ada"), encoding="utf-8")
    (folder / "Upper.TOML").write_text(working("Upper"), encoding="utf-8")
    (folder / "gone.toml").symlink_to(tmp_path / "nowhere.toml")
    (folder / "x.toml").mkdir()
    (folder / "win.toml.txt").write_text(working("Win"), encoding="utf-8")
    (folder / "README.txt").write_text("the class of 2024\n", encoding="utf-8")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4\n")
    out = tmp_path / "out"
    code, stdout, err = run_stepper(capsys, "check", TUTORIAL, folder, "--out", out)
    assert code == 2 and "Traceback" not in err, err
    skipped = sorted(line for line in err.splitlines() if line.startswith("stepper: skipped: "))
    assert [line.split(": ")[2] for line in skipped] == [
        str(folder / n) for n in ("gone.toml", "win.toml.txt", "x.toml")
    ], err
    assert "broken link" in skipped[0] and "txt" in skipped[1] and "folder" in skipped[2], skipped
    assert "README" not in err and "scan.pdf" not in err
    assert (out / "Upper-feedback.md").is_file() and (out / "ada-feedback.md").is_file()
    summary = (out / "class-summary.md").read_text(encoding="utf-8")
    for name in (r"gone\.toml", r"x\.toml", r"win\.toml\.txt"):
        assert re.search(r"Skipped.*" + name.replace(r"\.", r"\\?\."), summary), name
    assert "2 marked" in stdout


def test_a_folder_of_look_alikes_only_names_them(capsys, tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "win.toml.txt").write_text(working("Win"), encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", TUTORIAL, folder, "--out", tmp_path / "out")
    assert_one_error(code, err, folder, (r"holds no working files", r"win\.toml\.txt"))


@pytest.mark.parametrize("text", ["", "  \n\n", "# nothing yet\n\n   # still nothing\n"])
def test_an_empty_working_file_is_said_to_be_empty(capsys, tmp_path, text):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.toml").write_text(working("Ada"), encoding="utf-8")
    (folder / "empty.toml").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, err = run_stepper(capsys, "check", TUTORIAL, folder, "--out", out)
    assert code == 0, err
    assert re.search(r"^empty\.toml: empty: 0 / 11: the working file is empty$", stdout, re.MULTILINE), stdout
    assert "The working file is empty" in (out / "empty-feedback.md").read_text(encoding="utf-8")
    assert re.search(
        r"empty\\?\.toml \| 0 / 11 \(the working file is empty\)",
        (out / "class-summary.md").read_text(encoding="utf-8"),
    )
    assert "empty" not in (out / "ada-feedback.md").read_text(encoding="utf-8")


# ---- 8. a user's class-summary.csv ----


def stepper_header() -> str:
    from stepper.core.load import load
    from stepper.core.stages import stages
    from stepper.marking.classroom import summary_csv

    return summary_csv(stages(load(TUTORIAL)), []).strip()


@pytest.mark.parametrize(
    "header",
    [
        "{}".format("student,file,variant,layer1.filter1,total,out_of,diagnoses,notes"),
        "student,file,variant,layer1.filter1,total,out_of,comments",
        "student,file,variant,layer1.filter1,layer1.mine,total,out_of,diagnoses",
        "student,file,variant,total,out_of,diagnoses",
        "STEPPER-FULL,notes",  # stepper's full header with a column of the user's after it
    ],
)
def test_a_users_csv_with_a_similar_header_is_left_alone(capsys, tmp_path, header):
    header = header.replace("STEPPER-FULL", stepper_header())
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.toml").write_text(working("Ada"), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    sheet = out / "class-summary.csv"
    mine = f"{header}\nAda,ada.toml,,1,1,1,\n"
    sheet.write_text(mine, encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", TUTORIAL, folder, "--out", out)
    assert_one_error(code, err, sheet, (r"not written by stepper", r"--force"))
    assert sheet.read_text(encoding="utf-8") == mine and sorted(p.name for p in out.iterdir()) == [sheet.name]
    code, _, err = run_stepper(capsys, "check", TUTORIAL, folder, "--out", out, "--force")
    assert code == 0, err
    assert sheet.read_text(encoding="utf-8").splitlines()[0] == stepper_header()


def test_stepper_knows_its_own_csv_again(capsys, tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.toml").write_text(working("Ada"), encoding="utf-8")
    out = tmp_path / "out"
    for _ in range(2):
        code, _, err = run_stepper(capsys, "check", TUTORIAL, folder, "--out", out)
        assert code == 0, err
    assert written_by_stepper(out / "class-summary.csv")


def test_a_report_name_too_long_for_the_disk_skips_one_student_not_the_class(capsys, tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "tutorial-working-right.toml", folder / "ada.toml")
    long = "x" * 245  # the file fits the 255-byte limit; "-feedback.md" added to it does not
    shutil.copy(ROOT / "examples" / "tutorial-working-right.toml", folder / f"{long}.toml")
    code, out, err = run_stepper(capsys, "check", TUTORIAL, folder, "--format", "md", "--out", tmp_path / "fb")
    assert code == 2 and "Traceback" not in err
    assert "ada.toml: Ada Right" in out
    assert any(line.startswith("stepper: skipped: ") and "too long" in line for line in err.splitlines()), err
    assert sorted(p.name for p in (tmp_path / "fb").iterdir()) == [
        "ada-feedback.md",
        "class-summary.csv",
        "class-summary.md",
    ]
    assert "could not be written" in (tmp_path / "fb" / "class-summary.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("planted", ["fifo", "link to a device"])
def test_a_pipe_or_device_in_out_is_never_read_by_solve(tmp_path, planted):
    out = tmp_path / "out"
    out.mkdir()
    if planted == "fifo":
        os.mkfifo(out / "tutorial.md")
    else:
        os.symlink("/dev/zero", out / "tutorial.pdf")
    run = subprocess.run(
        [sys.executable, "-m", "stepper", "solve", "--out", str(out), "--format", "md,pdf"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )  # a hang fails here
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1, run.stderr
    assert "not written by stepper" in run.stderr
