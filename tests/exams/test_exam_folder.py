"""An exam folder is always one whole exam: a kill, a full disk or a second run never leaves it mixed."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from stepper.exams.generate import generate
from stepper.exams.folder import STAGING, verify
from stepper.exams.sheets import InMemory, write_exam
from stepper.exams.variants import load_template
from tests.helpers.one_line import assert_one_error, assert_one_line, run_stepper
from tests.helpers import ROOT

TEMPLATE = ROOT / "examples" / "tutorial-exam.toml"


def exam(capsys, out: Path, *args) -> tuple[int, str, str]:
    return run_stepper(capsys, "exam", TEMPLATE, "--out", out, *args)


def seed_of(out: Path) -> int:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["seed"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def staging(out: Path) -> Path:
    return out.parent / STAGING.format(out.name)


def test_a_new_exam_lists_its_files_and_leaves_nothing_beside_them(tmp_path, capsys):
    out = tmp_path / "exam"
    code, printed, err = exam(capsys, out, "--variants", "2", "--format", "md,tex")
    assert code == 0, err
    assert verify(out) is None
    assert f": {len(list(out.iterdir()))} files in " in printed
    listed = json.loads((out / "manifest.json").read_text())["files"]
    assert sorted(listed) == sorted(p.name for p in out.iterdir() if p.name != "manifest.json")
    assert [p.name for p in tmp_path.iterdir()] == ["exam"]  # no staging folder, no hidden part files
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_second_exam_replaces_the_first_whole(tmp_path, capsys):
    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "3", "--format", "md,tex")[0] == 0
    code, printed, err = exam(capsys, out, "--variants", "2", "--format", "md", "--seed", "5")
    assert code == 0, err
    assert "removed 9 files of an earlier exam" in printed  # variant 3's two sheets and all seven .tex files
    assert verify(out) is None and seed_of(out) == 5
    assert not (out / "variant-003-key.md").exists() and not (out / "keys.tex").exists()


def test_the_users_own_files_are_carried_over_untouched(tmp_path, capsys):
    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "2", "--format", "md")[0] == 0
    notes = out / "notes.txt"
    notes.write_text("mine")
    inode = notes.stat().st_ino
    code, _, err = exam(capsys, out, "--variants", "3", "--format", "md", "--seed", "9")
    assert code == 0, err
    assert notes.read_text() == "mine" and notes.stat().st_ino == inode  # the same file, linked across
    assert verify(out) is None and seed_of(out) == 9


def test_a_subfolder_is_refused_and_everything_left_alone(tmp_path, capsys):
    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "2", "--format", "md")[0] == 0
    (out / "scans").mkdir()
    (out / "scans" / "a.pdf").write_text("scan")
    before = snapshot(out)
    code, _, err = exam(capsys, out, "--variants", "2", "--format", "md", "--seed", "9", "--force")
    assert_one_error(code, err, out / "scans", [r"is a folder", r"move it out, or choose another --out"])
    assert snapshot(out) == before and (out / "scans" / "a.pdf").read_text() == "scan"
    assert not staging(out).exists()


def test_a_users_file_the_exam_would_replace_needs_force(tmp_path, capsys):
    out = tmp_path / "exam"
    out.mkdir()
    (out / "keys.md").write_text("my own keys")
    code, _, err = exam(capsys, out, "--variants", "2", "--format", "md")
    assert_one_error(code, err, out / "keys.md", [r"not written by stepper as part of an exam", r"--force"])
    assert (out / "keys.md").read_text() == "my own keys" and not (out / "manifest.json").exists()
    assert exam(capsys, out, "--variants", "2", "--format", "md", "--force")[0] == 0
    assert verify(out) is None


def test_a_file_changed_since_the_exam_wrote_it_needs_force(tmp_path, capsys):
    """`stepper solve keys.toml --out exam` replaces the exam's keys.md: the next exam must not sweep it away."""
    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "2", "--format", "md")[0] == 0
    problem = tmp_path / "keys.toml"
    shutil.copy(ROOT / "examples" / "tutorial.toml", problem)
    assert run_stepper(capsys, "solve", problem, "--format", "md", "--out", out)[0] == 0
    solved = (out / "keys.md").read_bytes()
    code, _, err = exam(capsys, out, "--variants", "2", "--format", "md", "--seed", "3")
    assert_one_error(code, err, out / "keys.md", [r"changed after `stepper exam` wrote it", r"--force"])
    assert (out / "keys.md").read_bytes() == solved and seed_of(out) == 1
    code, _, err = exam(capsys, out, "--variants", "2", "--format", "md", "--seed", "3", "--force")
    assert code == 0, err
    assert verify(out) is None and seed_of(out) == 3


def test_a_run_holding_the_folder_stops_a_second_one(tmp_path, capsys):
    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "2", "--format", "md")[0] == 0
    before = snapshot(out)
    held = staging(out)
    held.mkdir()
    fd = os.open(held, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a run that is writing holds it
    try:
        code, _, err = exam(capsys, out, "--variants", "2", "--format", "md", "--seed", "4")
    finally:
        os.close(fd)
    assert_one_error(code, err, out, [r"another `stepper exam` is writing into this folder"])
    assert snapshot(out) == before and held.is_dir()  # the other run's work is not touched


def test_a_staging_folder_left_by_a_killed_run_is_cleared(tmp_path, capsys):
    out = tmp_path / "exam"
    left = staging(out)
    left.mkdir(parents=True)
    (left / "variant-001-key.md").write_text("half")
    code, _, err = exam(capsys, out, "--variants", "2", "--format", "md")
    assert code == 0, err
    assert verify(out) is None and not left.exists()


def _start(out: Path, seed: int, variants: int = 40) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stepper",
            "exam",
            str(TEMPLATE),
            "--out",
            str(out),
            "--seed",
            str(seed),
            "--variants",
            str(variants),
            "--format",
            "md,tex",
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("delay", [0.5, 1.0, 1.6, 2.2, 3.0])  # drawing, writing, and about the swap
def test_a_kill_at_any_point_leaves_one_whole_exam(tmp_path, capsys, delay):
    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "3", "--format", "md")[0] == 0
    run = _start(out, seed=2, variants=80)  # about 3.5 s
    time.sleep(delay)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert verify(out) is None, "the folder mixes two exams"
    assert seed_of(out) in (1, 2)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    code, _, err = exam(capsys, out, "--variants", "2", "--format", "md", "--seed", "7")  # the next run recovers
    assert code == 0, err
    assert verify(out) is None and seed_of(out) == 7 and not staging(out).exists()


def test_two_runs_at_once_never_mix_and_the_loser_says_why(tmp_path, capsys):
    out = tmp_path / "exam"
    runs = [_start(out, seed=s, variants=20) for s in (11, 12)]
    results = [(r.wait(), r.stderr.read()) for r in runs]
    for code, err in results:
        assert code in (0, 2), err
        if code == 2:
            assert "another `stepper exam` is writing into this folder" in err and len(err.splitlines()) == 1
    assert any(code == 0 for code, _ in results)
    assert verify(out) is None and seed_of(out) in (11, 12)


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def test_a_full_disk_leaves_the_earlier_exam_whole(small_disk, capsys):
    out = small_disk / "exam"
    assert exam(capsys, out, "--variants", "2", "--format", "md")[0] == 0
    before = snapshot(out)
    code, _, err = exam(capsys, out, "--variants", "40", "--format", "md,tex", "--seed", "2")
    assert_one_line(code, err, "stepper: error: ", [r"No space left on device"])
    assert snapshot(out) == before and verify(out) is None
    assert [p.name for p in small_disk.iterdir()] == ["exam"]  # the half-built exam is gone too


def test_the_files_are_written_as_they_are_made(tmp_path):
    """Memory while writing stays far below the size of what is written: no document waits for the others."""
    template = load_template(TEMPLATE)
    variants = generate(template, 60, 1)
    sink = _CountingSink()
    tracemalloc.start()
    try:
        write_exam(sink, template, variants, 1, ["md", "tex", "moodle"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.total > 10_000_000
    assert peak < sink.total / 5, f"peak {peak:,} bytes while writing {sink.total:,}"


def test_in_memory_and_folder_give_the_same_bytes(tmp_path, capsys):
    template = load_template(TEMPLATE)
    variants = generate(template, 2, 1)
    sink = InMemory()
    write_exam(sink, template, variants, 1, ["md", "tex", "moodle"], source=TEMPLATE.name)
    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "2", "--format", "md,tex,moodle")[0] == 0
    written = snapshot(out)
    # The command's manifest records, beside, what made the exam (stepper exam --regenerate reads it back).
    stamped = json.loads(written.pop("manifest.json"))
    for made in ("stepper", "template_file", "template_sha256", "formats", "templates"):
        stamped.pop(made)
    assert stamped == json.loads(sink.files.pop("manifest.json"))
    assert written == sink.files


class _CountingSink(InMemory):
    """Counts the bytes written and keeps none of them."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def write(self, name: str, data: bytes) -> None:
        self.total += len(data)
        self.hashes[name] = ""

    def open(self, name: str):
        sink = self

        class _Counter:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                sink.hashes[name] = ""

            def write(self, data: bytes) -> int:
                sink.total += len(data)
                return len(data)

        return _Counter()


# ---- found in review: files added during a run, the folder's own attributes, races, faults of the swap ----


def test_files_the_user_adds_while_the_exam_is_built_are_kept(tmp_path, capsys, monkeypatch):
    import stepper.exams.folder as ef

    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "2", "--format", "md")[0] == 0
    commit = ef.ExamFolder.commit

    def late_then_commit(self):
        (out / "late.txt").write_text("added during the run")
        return commit(self)

    monkeypatch.setattr(ef.ExamFolder, "commit", late_then_commit)
    code, _, err = exam(capsys, out, "--variants", "2", "--format", "md", "--seed", "3")
    assert code == 0, err
    assert (out / "late.txt").read_text() == "added during the run" and seed_of(out) == 3


@pytest.mark.parametrize("mode", [0o700, 0o2770, 0o755])
def test_the_folder_keeps_its_permissions(tmp_path, capsys, mode):
    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "1", "--format", "md")[0] == 0
    out.chmod(mode)
    assert exam(capsys, out, "--variants", "1", "--format", "md", "--seed", "2")[0] == 0
    assert (out.stat().st_mode & 0o7777) == mode and seed_of(out) == 2


def test_a_run_whose_new_staging_folder_is_taken_by_another_stops(tmp_path, capsys, monkeypatch):
    """Between making its staging folder and locking it, another run clears it as stale and makes its own:
    this run must notice, and stop, not write into the other run's folder."""
    import stepper.exams.folder as ef

    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "1", "--format", "md")[0] == 0
    before = snapshot(out)
    lock, held = ef._lock, []

    def raced(folder, shown):
        fd = lock(folder, shown)
        if not held:  # the other run: removes ours, makes its own and holds it
            shutil.rmtree(folder)
            folder.mkdir()
            other = os.open(folder, os.O_RDONLY)
            fcntl.flock(other, fcntl.LOCK_EX)
            held.append(other)
        return fd

    monkeypatch.setattr(ef, "_lock", raced)
    try:
        code, _, err = exam(capsys, out, "--variants", "1", "--format", "md", "--seed", "2")
    finally:
        for fd in held:
            os.close(fd)
    assert_one_error(code, err, out, [r"another `stepper exam` is writing"])
    assert snapshot(out) == before and os.listdir(staging(out)) == []  # the other run's folder, untouched


def test_without_an_atomic_exchange_a_failed_swap_puts_the_earlier_exam_back(tmp_path, capsys, monkeypatch):
    import stepper.exams.folder as ef

    out = tmp_path / "exam"
    assert exam(capsys, out, "--variants", "1", "--format", "md")[0] == 0
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(ef, "_exchange", lambda a, b: False)
    assert exam(capsys, out, "--variants", "1", "--format", "md", "--seed", "2")[0] == 0  # two renames work
    assert seed_of(out) == 2 and (out / "notes.txt").read_text() == "mine"
    before = snapshot(out)
    rename = os.rename

    def full_disk_on_the_second(src, dst):
        if Path(src) == staging(out):
            raise OSError(28, "No space left on device")
        return rename(src, dst)

    monkeypatch.setattr(ef.os, "rename", full_disk_on_the_second)
    code, _, err = exam(capsys, out, "--variants", "1", "--format", "md", "--seed", "3")
    monkeypatch.setattr(ef.os, "rename", rename)
    assert_one_error(code, err, out, [r"cannot put the exam in place: No space left on device"])
    assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["exam"]


@pytest.mark.parametrize("planted", ["fifo", "link to a device"])
def test_a_pipe_or_device_in_place_of_an_exam_file_is_never_read(tmp_path, planted):
    out = tmp_path / "exam"
    first = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepper",
            "exam",
            str(TEMPLATE),
            "--out",
            str(out),
            "--variants",
            "1",
            "--format",
            "md",
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    (out / "keys.md").unlink()
    if planted == "fifo":
        os.mkfifo(out / "keys.md")
    else:
        os.symlink("/dev/zero", out / "keys.md")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepper",
            "exam",
            str(TEMPLATE),
            "--out",
            str(out),
            "--variants",
            "1",
            "--format",
            "md",
            "--seed",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )  # a hang fails here
    assert run.returncode == 2 and "keys.md" in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr


def test_a_mount_point_as_out_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "exam"
    out.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(out)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        code, _, err = exam(capsys, out, "--variants", "1", "--format", "md")
        assert_one_error(code, err, out, [r"is a mount point", r"a folder inside it"])
        assert os.listdir(out) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["exam"]
    finally:
        subprocess.run(["umount", str(out)], check=False)


def test_a_loop_of_links_as_out_is_one_line(tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    code, _, err = exam(capsys, loop, "--variants", "1", "--format", "md")
    assert_one_error(code, err, loop, [r"is a link that leads nowhere"])
