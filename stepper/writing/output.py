"""Write rendered documents safely, and typeset LaTeX into PDF.

Each file stepper writes carries a mark saying so; a file of the same name
without the mark belongs to the user and is never overwritten (unless forced).
Files are written whole to temporary files made exclusively beside them, and
renamed into place only when every one is written, so an error leaves neither
half a document nor half a run behind.

LaTeX runs without shell escape, in a temporary folder, with a fixed date so the
same input gives the same PDF, and within a time limit (STEPPER_TEX_TIMEOUT
seconds, 300 by default). The engine is chosen by the document: pdflatex when its
standard fonts print every character, LuaLaTeX with fallback fonts for any other
script. pdflatex is the faster by far (measured on 2 cores: the tutorial 0.25 s
against 1.6 s, LeNet at --detail 2 1.5 s against 12 s, a 3x224x224 layer 6 s
against 50 s), which matters most for an exam's hundreds of small PDFs. A
document that does not typeset raises `TypesetError`, which carries the LaTeX log.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import zipfile
from pathlib import Path

from ..core.errors import StepperError
from ..core.text import plain_text

MARKS = {
    ".md": "<!-- Written by stepper from {source}. Edit the problem file, not this one. -->\n",
    ".tex": "% Written by stepper from {source}. Edit the problem file, not this one.\n",
    ".toml": "# Written by stepper from {source}: the problem file of that model and input.\n",
    ".xml": "<!-- Written by stepper from {source}. Edit the exam template, not this file. -->\n",  # 2nd line
    # A LaTeX log is plain text that nothing reads as code; TeX's own log starts "This is pdfTeX".
    ".log": "Written by stepper from {source}: the LaTeX log of a document that did not typeset.\n",
}
# An exam's manifest is JSON, which has no comments: its format field, on its second line, is its mark.
JSON_MARK = '"format": "stepper exam manifest'

PDF_MARK = b"/Creator (stepper)"
# A class summary is a plain CSV for spreadsheets, so its header is its mark: exactly stepper's columns (the
# stage keys between), so a user's sheet that merely starts alike is never taken for stepper's.
CSV_MARK = "student,file,variant,"
CSV_HEADER = re.compile(
    r"student,file,variant"
    r"(?:,layer[1-9][0-9]*\.(?:(?:filter|channel|z)[1-9][0-9]*|map|values))+"
    r",total,out_of,diagnoses"
)
TEX_INSTALL = (
    "install TeX Live (Debian: apt-get install texlive-latex-base texlive-latex-recommended) "
    "or leave pdf out of --format"
)
LUATEX_INSTALL = (
    "install LuaLaTeX and its fonts (Debian: apt-get install texlive-luatex fonts-noto-cjk "
    "fonts-symbola) or leave pdf out of --format"
)
TEX_TIMEOUT = "STEPPER_TEX_TIMEOUT"  # seconds LaTeX may take for one document
TEX_TIMEOUT_DEFAULT = 300
# The longest line written into a .tex file. TeX reads a line whole into a buffer of 200,000 characters here (a
# 224x224 matrix on one line overflows it); short lines also keep the file readable and diffable.
TEX_LINE = 200
# Characters beyond ASCII that pdflatex prints with stepper's preamble (utf8 input, standard OT1 fonts) and that
# pdftotext gives back as the same text (an accent as a combining mark: the same after Unicode normalisation),
# measured one by one: the Latin-1 letters but eth, thorn and the small i's with an accent (drawn on a dotless i).
# A document with any other character is typeset with LuaLaTeX.
PDFLATEX_LETTERS = frozenset("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝßàáâãäåæçèéêëñòóôõöøùúûüýÿ")
# pdflatex's main memory is fixed at 5,000,000 words here, which LeNet's solution at --detail 2 exhausts. The extra
# memory, in words at each end (set through the environment, as texmf.cnf allows), costs nothing until it is used:
# with it LeNet's full solution (15.7 MB of LaTeX, 5,355 pages) typesets in 23 s and 430 MB.
PDFLATEX_EXTRA_MEMORY = "50000000"


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


def open_regular(path: Path) -> int | None:
    """A read-only descriptor of `path` if it is a regular file; None for a link, a named pipe, a device or
    nothing there. Opening never follows a link and never waits for a pipe's writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


# stepper's mark on a .docx it wrote: the document's subject (docProps/core.xml), which Word shows among the
# file's properties and never in its text; `docx_marked` reads it back, so that such a file may be replaced.
DOCX_MARK = "Written by stepper"


def docx_marked(data: bytes) -> bool:
    """Whether .docx bytes carry stepper's mark (a file that is no zip, or has no properties, does not)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as docx:
            core = docx.read("docProps/core.xml").decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, OSError):
        return False
    return f"<dc:subject>{DOCX_MARK}</dc:subject>" in core


def written_by_stepper(path: Path) -> bool:
    """The file at `path` carries stepper's mark. Only a regular file is read (see `open_regular`), and only
    as much as the mark needs."""
    fd = open_regular(path)
    if fd is None:
        return False
    with os.fdopen(fd, "rb") as f:
        if path.suffix == ".pdf":
            return _holds(f, PDF_MARK)
        if path.suffix == ".docx":
            return docx_marked(f.read(MAX_MARKED_BYTES))
        if path.suffix not in MARKS and path.suffix not in (".csv", ".json"):
            return False
        try:
            first, second = (f.readline(64 * 1024).decode("utf-8") for _ in range(2))
        except UnicodeDecodeError:
            return False
    if path.suffix == ".csv":
        return CSV_HEADER.fullmatch(first.rstrip("\n")) is not None
    if path.suffix == ".json":
        return second.strip().startswith(JSON_MARK)
    if path.suffix == ".xml":
        first = second  # after the XML declaration
    return first.startswith(MARKS[path.suffix].split("{source}")[0])


MAX_MARKED_BYTES = 512 * 2**20  # a file larger than any stepper writes is not looked through


def _holds(f, mark: bytes) -> bool:
    """`mark` occurs in the open file, read a block at a time (a mark may straddle two blocks)."""
    tail, read = b"", 0
    while read < MAX_MARKED_BYTES and (block := f.read(1 << 20)):
        if mark in tail + block:
            return True
        tail, read = block[-len(mark) :], read + len(block)
    return False


def check_writable(path: Path, force: bool) -> None:
    try:
        _check_writable(path, force)
    except OSError as e:  # a folder on the way that cannot be read
        raise StepperError(f"cannot check it: {e.strerror or e}", file=str(path)) from None


def _check_writable(path: Path, force: bool) -> None:
    for folder in path.parents:  # a file anywhere on the way would stop the folder being made
        if folder.exists() and not folder.is_dir():
            raise StepperError(
                "is a file, so documents cannot be written into it: choose another --out folder", file=str(folder)
            )
    if path.is_dir():
        raise StepperError("is a folder, so the document cannot be written there", file=str(path))
    if path.exists() and not force and not written_by_stepper(path):
        raise StepperError(
            "not written by stepper, so it is left alone; choose another --out folder, or pass --force to replace it",
            file=str(path),
        )


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


def remove_stale_log(path: Path) -> None:
    """Remove stepper's LaTeX log of an earlier failure, once the document it was for has typeset: it no longer
    says anything true. Anything else of that name (a user's own log) is left alone."""
    try:
        if path.is_file() and not path.is_symlink() and written_by_stepper(path):
            path.unlink()
    except OSError:
        pass  # it stays: a stale log is untidy, not wrong enough to fail the run for


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
            view = view[os.write(fd, view) :]
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


class TypesetError(StepperError):
    """LaTeX did not make a PDF of a document (whose Markdown and LaTeX are fine to write): the message quotes
    the first error of the log, and `log` is the log itself (empty when there is none)."""

    def __init__(self, message: str, *, file: str | None = None, log: bytes = b""):
        super().__init__(message, file=file)
        self.log = log


def wrap_tex(text: str) -> str:
    """LaTeX with every line longer than TEX_LINE broken into shorter ones where TeX reads a line break as the
    space that was there, so the document means the same. A comment (after an unescaped %) is never broken:
    the next line would no longer be comment."""
    lines = text.split("\n")
    if max(map(len, lines)) <= TEX_LINE:
        return text
    return "\n".join(_wrap_line(line) if len(line) > TEX_LINE else line for line in lines)


def wrap_tex_chunks(chunks):
    """`wrap_tex` over a document made piece by piece: whole lines are wrapped as they are complete."""
    pending: list[str] = []
    for chunk in chunks:
        end = chunk.rfind("\n") + 1
        if not end:
            pending.append(chunk)
            continue
        yield wrap_tex("".join(pending) + chunk[:end])
        pending = [chunk[end:]]
    rest = "".join(pending)
    if rest:
        yield wrap_tex(rest)


# The first % that starts a comment: one after an even number (none included) of backslashes.
_COMMENT = re.compile(r"(?<!\\)(?:\\\\)*%")


def _wrap_line(line: str) -> str:
    comment = _COMMENT.search(line)
    end = comment.end() - 1 if comment else len(line)
    pieces, start = [], 0
    while end - start > TEX_LINE:
        cut = _break_at(line, start, end)
        if cut is None:
            break  # no space to break at: the line stays as long as it is
        pieces.append(line[start:cut])
        start = cut + 1
    pieces.append(line[start:])
    return "\n".join(pieces)


def _break_at(line: str, start: int, end: int) -> int | None:
    """A space of line[start:end] to break at: the last one within TEX_LINE characters, else the first after.
    Only a single space between two other characters will do: a line of spaces alone would be a blank line,
    which TeX reads as a paragraph break, and a backslash before the space makes it a command (`\\ `)."""

    def fit(cut: int) -> bool:
        if line[cut - 1] == " " or line[cut + 1] == " ":
            return False
        first = cut
        while first > start and line[first - 1] == "\\":
            first -= 1
        return (cut - first) % 2 == 0

    cut = line.rfind(" ", start + 1, min(start + TEX_LINE + 1, end - 1))
    while cut > start and not fit(cut):
        cut = line.rfind(" ", start + 1, cut)
    if cut > start:
        return cut
    cut = line.find(" ", start + TEX_LINE + 1, end - 1)
    while cut != -1 and not fit(cut):
        cut = line.find(" ", cut + 1, end - 1)
    return None if cut == -1 else cut


def tex_engine(tex: str) -> str:
    """ "pdflatex" when its standard fonts print every character of the document (comments aside), else
    "lualatex"."""
    if tex.isascii():
        return "pdflatex"
    for line in tex.split("\n"):
        if not line.isascii():
            comment = _COMMENT.search(line)
            text = line[: comment.end() - 1] if comment else line
            if any(ch not in PDFLATEX_LETTERS for ch in text if ord(ch) > 0x7F):
                return "lualatex"
    return "pdflatex"


def tex_timeout() -> float:
    """The seconds LaTeX may take for one document: STEPPER_TEX_TIMEOUT, or 300."""
    text = os.environ.get(TEX_TIMEOUT, "").strip()
    if not text:
        return TEX_TIMEOUT_DEFAULT
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 86_400:  # also refuses nan and inf
        raise StepperError(
            f"expected a number of seconds above 0 and at most 86400, found {text!r}",
            place=f"environment variable {TEX_TIMEOUT}",
        )
    return seconds


def typeset(tex: str, name: str) -> bytes:
    """The PDF of a LaTeX document, compiled by `tex_engine`'s choice in a scratch folder. Raises TypesetError,
    with the log, when LaTeX makes no PDF."""
    engine = tex_engine(tex)
    if shutil.which(engine) is None:
        if engine == "pdflatex":
            raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}", file=name)
        raise TypesetError(f"its text needs LuaLaTeX, which is not installed: {LUATEX_INSTALL}", file=name)
    timeout = tex_timeout()
    with tempfile.TemporaryDirectory(prefix="stepper-") as work:
        Path(work, "doc.tex").write_text(tex, encoding="utf-8")
        code = _run_tex(engine, work, timeout, name)
        pdf, log = Path(work, "doc.pdf"), Path(work, "doc.log")
        if code != 0 or not pdf.exists():
            raise TypesetError(
                f"{engine} failed: {_first_error(log, code)}", file=name, log=log.read_bytes() if log.exists() else b""
            )
        return pdf.read_bytes()


def _run_tex(engine: str, work: str, timeout: float, name: str) -> int:
    """The engine's exit status. It runs in a session of its own, so that on a timeout (or Ctrl-C) the whole
    group, with anything it started, is killed rather than left running."""
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
    if engine == "pdflatex":
        env.update(extra_mem_top=PDFLATEX_EXTRA_MEMORY, extra_mem_bot=PDFLATEX_EXTRA_MEMORY)
        no_shell = "-no-shell-escape"
    else:
        no_shell = "--no-shell-escape"
    run = subprocess.Popen(
        [engine, no_shell, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return run.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise StepperError(
            f"{engine} did not finish within {timeout:g} seconds, so it was stopped "
            f"(the limit is set by the environment variable {TEX_TIMEOUT})",
            file=name,
        ) from None
    finally:
        if run.returncode is None:
            _kill_group(run)


def _kill_group(run: subprocess.Popen) -> None:
    try:
        os.killpg(run.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended meanwhile
    run.wait()


_LOG_LINE = 79  # TeX's max_print_line


def _first_error(log: Path, code: int) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return f"it stopped with exit status {code} and wrote no log"
    for i, line in enumerate(lines):
        if line.startswith("! "):
            # TeX breaks a message longer than a line of its log (79 characters) onto the next; the source line
            # it stopped at starts with "l.".
            rest = [after for after in lines[i + 1 : i + 2] if len(line) >= _LOG_LINE and not after.startswith("l.")]
            where = next((after for after in lines[i + 1 : i + 6] if after.startswith("l.")), "")
            return " ".join(" ".join([line[2:]] + rest + [where]).split())
    # The log is in a scratch folder that is gone by now: say what it shows instead of pointing to it.
    last = next((text.strip() for text in reversed(lines) if text.strip()), "")
    return f"it stopped with exit status {code}, and its log names no error" + (f"; it ends: {last}" if last else "")
