"""Write rendered documents safely, and typeset LaTeX into PDF.

Each file stepper writes carries a mark saying so; a file of the same name
without the mark belongs to the user and is never overwritten (unless forced).
Files are written whole to temporary files made exclusively beside them, and
renamed into place only when every one is written, so an error leaves neither
half a document nor half a run behind. pdflatex runs without shell escape, in a
temporary folder, with a fixed date so the same input gives the same PDF, and
within a time limit (STEPPER_TEX_TIMEOUT seconds, 300 by default).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from .errors import StepperError
from .text import plain_text

MARKS = {
    ".md": "<!-- Written by stepper from {source}. Edit the problem file, not this one. -->\n",
    ".tex": "% Written by stepper from {source}. Edit the problem file, not this one.\n",
    ".toml": "# Written by stepper from {source}: the problem file of that model and input.\n",
    ".xml": "<!-- Written by stepper from {source}. Edit the exam template, not this file. -->\n",  # 2nd line
}
# An exam's manifest is JSON, which has no comments: its format field, on its second line, is its mark.
JSON_MARK = '"format": "stepper exam manifest'

PDF_MARK = b"/Creator (stepper)"
# A class summary is a plain CSV for spreadsheets, so its header is its mark: exactly stepper's columns (the
# stage keys between), so a user's sheet that merely starts alike is never taken for stepper's.
CSV_MARK = "student,file,variant,"
CSV_HEADER = re.compile(r"student,file,variant"
                        r"(?:,layer[1-9][0-9]*\.(?:(?:filter|channel|z)[1-9][0-9]*|map|values))+"
                        r",total,out_of,diagnoses")
TEX_INSTALL = ("install TeX Live (Debian: apt-get install texlive-latex-base texlive-latex-recommended) "
               "or leave pdf out of --format")
TEX_TIMEOUT = "STEPPER_TEX_TIMEOUT"  # seconds pdflatex may take for one document
TEX_TIMEOUT_DEFAULT = 300


def marked(text: str, suffix: str, source: str) -> str:
    return MARKS[suffix].format(source=mark_name(source, suffix)) + text


def mark_name(source: str, suffix: str) -> str:
    """A file name made safe inside the mark's comment: on one line (a line break would end a TeX or TOML
    comment and run the rest), and, in an HTML or XML comment, without `--`, which ends or spoils it."""
    name = plain_text(source)
    if suffix in (".md", ".xml"):
        name = re.sub(r"-(?=-)", "- ", name)
        if name.endswith("-"):
            name += " "
    return name


def written_by_stepper(path: Path) -> bool:
    try:
        if path.suffix == ".pdf":
            return PDF_MARK in path.read_bytes()
        if path.suffix not in MARKS and path.suffix not in (".csv", ".json"):
            return False
        with path.open(encoding="utf-8") as f:
            first, second = f.readline(), f.readline()
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix == ".csv":
        return CSV_HEADER.fullmatch(first.rstrip("\n")) is not None
    if path.suffix == ".json":
        return second.strip().startswith(JSON_MARK)
    if path.suffix == ".xml":
        first = second  # after the XML declaration
    return first.startswith(MARKS[path.suffix].split("{source}")[0])


def check_writable(path: Path, force: bool) -> None:
    try:
        _check_writable(path, force)
    except OSError as e:  # a folder on the way that cannot be read
        raise StepperError(f"cannot check it: {e.strerror or e}", file=str(path)) from None


def _check_writable(path: Path, force: bool) -> None:
    for folder in path.parents:  # a file anywhere on the way would stop the folder being made
        if folder.exists() and not folder.is_dir():
            raise StepperError("is a file, so documents cannot be written into it: choose another --out folder",
                               file=str(folder))
    if path.is_dir():
        raise StepperError("is a folder, so the document cannot be written there", file=str(path))
    if path.exists() and not force and not written_by_stepper(path):
        raise StepperError("not written by stepper, so it is left alone; "
                           "choose another --out folder, or pass --force to replace it", file=str(path))


def write_file(path: Path, data: bytes, force: bool = False) -> None:
    write_files({path: data}, force)


def write_files(files: dict[Path, bytes], force: bool = False) -> None:
    """All or nothing: every file is written whole to a temporary file of its own beside it, and only when all
    are written are they renamed into place. On any failure the temporary files (and folders made for them)
    are removed, so nothing is written."""
    for path in files:
        check_writable(path, force)
    made: list[Path] = []
    temps: dict[Path, Path] = {}
    path = next(iter(files), Path())
    try:
        for path, data in files.items():
            made += _make_folder(path.parent)
            temps[path] = _temporary_copy(path, data)
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except OSError as e:
        _remove(temps.values(), made)
        raise StepperError(f"cannot write it: {e.strerror or e}", file=str(path)) from None
    except BaseException:
        _remove(temps.values(), made)
        raise


def _make_folder(folder: Path) -> list[Path]:
    """The folders made, outermost first, so that a failed run can remove them again."""
    missing = [f for f in [folder, *folder.parents] if not f.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _temporary_copy(path: Path, data: bytes) -> Path:
    """`data` in a new file beside `path`: created exclusively (O_EXCL, never through a planted link),
    synced to disk, with the permissions a plain new file would get."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".part")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    os.close(fd)
    return Path(name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(temps, folders: list[Path]) -> None:
    for tmp in temps:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # it could not be removed either: nothing more can be done
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty after all, or already gone: left as it is


def pdflatex_available() -> bool:
    return shutil.which("pdflatex") is not None


def tex_timeout() -> float:
    """The seconds pdflatex may take for one document: STEPPER_TEX_TIMEOUT, or 300."""
    text = os.environ.get(TEX_TIMEOUT, "").strip()
    if not text:
        return TEX_TIMEOUT_DEFAULT
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 86_400:  # also refuses nan and inf
        raise StepperError(f"expected a number of seconds above 0 and at most 86400, found {text!r}",
                           place=f"environment variable {TEX_TIMEOUT}")
    return seconds


def typeset(tex: str, name: str) -> bytes:
    """The PDF of a LaTeX document, compiled with pdflatex in a scratch folder."""
    if not pdflatex_available():
        raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}", file=name)
    timeout = tex_timeout()
    with tempfile.TemporaryDirectory(prefix="stepper-") as work:
        Path(work, "doc.tex").write_text(tex, encoding="utf-8")
        code = _pdflatex(work, timeout, name)
        pdf = Path(work, "doc.pdf")
        if code != 0 or not pdf.exists():
            raise StepperError(f"pdflatex failed: {_first_error(Path(work, 'doc.log'), code)}", file=name)
        return pdf.read_bytes()


def _pdflatex(work: str, timeout: float, name: str) -> int:
    """pdflatex's exit status. It runs in a session of its own, so that on a timeout (or Ctrl-C) the whole
    group, with anything it started, is killed rather than left running."""
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
    run = subprocess.Popen(
        ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        return run.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise StepperError(f"pdflatex did not finish within {timeout:g} seconds, so it was stopped "
                           f"(the limit is set by the environment variable {TEX_TIMEOUT})", file=name) from None
    finally:
        if run.returncode is None:
            _kill_group(run)


def _kill_group(run: subprocess.Popen) -> None:
    try:
        os.killpg(run.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended meanwhile
    run.wait()


def _first_error(log: Path, code: int) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return f"it stopped with exit status {code} and wrote no log"
    for i, line in enumerate(lines):
        if line.startswith("! "):
            # TeX breaks long messages over lines; the source line it stopped at starts with "l.".
            rest = [l for l in lines[i + 1:i + 4] if l and not l.startswith("l.")][:1]
            where = next((l for l in lines[i + 1:i + 6] if l.startswith("l.")), "")
            return " ".join([line[2:]] + rest + [where]).strip()
    # The log is in a scratch folder that is gone by now: say what it shows instead of pointing to it.
    last = next((l.strip() for l in reversed(lines) if l.strip()), "")
    return f"it stopped with exit status {code}, and its log names no error" + (f"; it ends: {last}" if last else "")
