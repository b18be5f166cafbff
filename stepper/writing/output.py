"""Write rendered documents safely.

Each file stepper writes carries a mark saying so; a file of the same name
without the mark belongs to the user and is never overwritten (unless forced).
Files are written whole to temporary files made exclusively beside them, and
renamed into place only when every one is written, so an error leaves neither
half a document nor half a run behind. Typesetting is in `latex.py`.
"""

from __future__ import annotations

import io
import os
import re
import stat
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
    ".html": "<!-- Written by stepper from {source}. Edit the problem file, not this one. -->\n",
    # A LaTeX log is plain text that nothing reads as code; TeX's own log starts "This is pdfTeX".
    ".log": "Written by stepper from {source}: the LaTeX log of a document that did not typeset.\n",
}
# JSON has no comments: the format field on the second line of an exam's manifest or a trace is its mark.
JSON_MARK = '"format": "stepper '

PDF_MARK = b"/Creator (stepper)"
# A QTI or Canvas package (a zip) carries its mark as the zip's comment, at its very end.
ZIP_MARK = b"Written by stepper: an exam's questions for a learning platform."
# A slide deck's creator, as hyperref (which Beamer loads) writes it: in UTF-16. Either mark is stepper's, whatever
# the PDF's name (a problem file may itself be called week3-slides.toml).
DECK_PDF_MARK = b"/Creator(\\376\\377\\000s\\000t\\000e\\000p\\000p\\000e\\000r)"
# A class summary is a plain CSV for spreadsheets, so its header is its mark: exactly stepper's columns (the
# stage keys between), so a user's sheet that merely starts alike is never taken for stepper's.
CSV_MARK = "student,file,variant,"
CSV_HEADER = re.compile(
    r"student,file,variant"
    r"(?:,layer[1-9][0-9]*\.(?:(?:filter|channel|z)[1-9][0-9]*|map|values))+"
    r",total,out_of,diagnoses"
)
# A blank answer sheet (`stepper check --answer-sheet`) is marked the same way: its header is exactly stepper's
# columns (student, an exam's variant, each cell, each written sum; a name holding a comma is quoted), and it
# holds nothing else. A sheet with rows typed in is the user's, and is never replaced.
_CELL = r"layer[1-9][0-9]*\.(?:(?:filter|channel|z)[1-9][0-9]*|map|values)(?:\[[1-9][0-9]*(?:,[1-9][0-9]*)?\])?"
ANSWER_SHEET_HEADER = re.compile(rf'student(?:,variant)?(?:,(?:{_CELL}|"{_CELL}"))+(?:,(?:sum:{_CELL}|"sum:{_CELL}"))*')


def marked(text: str, suffix: str, source: str) -> str:
    return MARKS[suffix].format(source=mark_name(source, suffix)) + text


def mark_name(source: str, suffix: str) -> str:
    """A file name made safe inside the mark's comment: on one line (a line break would end a TeX or TOML
    comment and run the rest), and, in an HTML or XML comment, without `--`, which ends or spoils it."""
    name = plain_text(source)
    if suffix in (".md", ".xml", ".html"):
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


def zip_comment(f) -> bytes:
    """The comment of the zip open as `f` (b"" when it is no zip)."""
    try:
        with zipfile.ZipFile(f) as z:
            return z.comment
    except (zipfile.BadZipFile, OSError):
        return b""


def written_by_stepper(path: Path) -> bool:
    """The file at `path` carries stepper's mark. Only a regular file is read (see `open_regular`), and only
    as much as the mark needs."""
    fd = open_regular(path)
    if fd is None:
        return False
    with os.fdopen(fd, "rb") as f:
        if path.suffix == ".pdf":
            return _holds(f, PDF_MARK, DECK_PDF_MARK)
        if path.suffix == ".docx":
            return docx_marked(f.read(MAX_MARKED_BYTES))
        if path.suffix == ".zip":
            return zip_comment(f) == ZIP_MARK
        if path.suffix not in MARKS and path.suffix not in (".csv", ".json"):
            return False
        limit = MAX_HEADER_BYTES if path.suffix == ".csv" else 64 * 1024  # an answer sheet's header is long
        try:
            first, second = (f.readline(limit).decode("utf-8") for _ in range(2))
        except UnicodeDecodeError:
            return False
    if path.suffix == ".csv":
        header = first.rstrip("\n")
        return CSV_HEADER.fullmatch(header) is not None or (
            second == "" and ANSWER_SHEET_HEADER.fullmatch(header) is not None
        )
    if path.suffix == ".json":
        return second.strip().startswith(JSON_MARK)
    if path.suffix == ".xml":
        first = second  # after the XML declaration
    return first.startswith(MARKS[path.suffix].split("{source}")[0])


MAX_MARKED_BYTES = 512 * 2**20  # a file larger than any stepper writes is not looked through
MAX_HEADER_BYTES = 16 * 2**20  # a CSV header: an answer sheet's names every cell of the network


def _holds(f, *marks: bytes) -> bool:
    """One of `marks` occurs in the open file, read a block at a time (a mark may straddle two blocks)."""
    tail, read, longest = b"", 0, max(map(len, marks))
    while read < MAX_MARKED_BYTES and (block := f.read(1 << 20)):
        if any(mark in tail + block for mark in marks):
            return True
        tail, read = block[-longest:], read + len(block)
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
