"""Write rendered documents safely, and typeset LaTeX into PDF.

Each file stepper writes carries a mark saying so; a file of the same name
without the mark belongs to the user and is never overwritten (unless forced).
Files are written whole to a temporary name and then renamed, so an error
never leaves half a document behind. pdflatex runs without shell escape, in a
temporary folder, with a fixed date so the same input gives the same PDF.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import StepperError

MARKS = {
    ".md": "<!-- Written by stepper from {source}. Edit the problem file, not this one. -->\n",
    ".tex": "% Written by stepper from {source}. Edit the problem file, not this one.\n",
    ".toml": "# Written by stepper from {source}: the problem file of that model and input.\n",
    ".xml": "<!-- Written by stepper from {source}. Edit the exam template, not this file. -->\n",  # 2nd line
}
# An exam's manifest is JSON, which has no comments: its format field, on its second line, is its mark.
JSON_MARK = '"format": "stepper exam manifest'

PDF_MARK = b"/Creator (stepper)"
# A class summary is a plain CSV for spreadsheets, so its header is its mark.
CSV_MARK = "student,file,variant,"
TEX_INSTALL = ("install TeX Live (Debian: apt-get install texlive-latex-base texlive-latex-recommended) "
               "or leave pdf out of --format")


def marked(text: str, suffix: str, source: str) -> str:
    return MARKS[suffix].format(source=source) + text


def written_by_stepper(path: Path) -> bool:
    if path.suffix == ".pdf":
        return PDF_MARK in path.read_bytes()
    if path.suffix not in MARKS and path.suffix not in (".csv", ".json"):
        return False
    try:
        with path.open(encoding="utf-8") as f:
            first, second = f.readline(), f.readline()
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix == ".csv":
        return first.startswith(CSV_MARK)
    if path.suffix == ".json":
        return second.strip().startswith(JSON_MARK)
    if path.suffix == ".xml":
        first = second  # after the XML declaration
    return first.startswith(MARKS[path.suffix].split("{source}")[0])


def check_writable(path: Path, force: bool) -> None:
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
    check_writable(path, force)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the folder itself could not be made: there is nothing to remove
        raise StepperError(f"cannot write it: {e.strerror or e}", file=str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def pdflatex_available() -> bool:
    return shutil.which("pdflatex") is not None


def typeset(tex: str, name: str) -> bytes:
    """The PDF of a LaTeX document, compiled with pdflatex in a scratch folder."""
    if not pdflatex_available():
        raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}", file=name)
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
    with tempfile.TemporaryDirectory(prefix="stepper-") as work:
        Path(work, "doc.tex").write_text(tex, encoding="utf-8")
        run = subprocess.run(
            ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
            cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
            timeout=300)
        pdf = Path(work, "doc.pdf")
        if run.returncode != 0 or not pdf.exists():
            raise StepperError(f"pdflatex failed: {_first_error(Path(work, 'doc.log'))}", file=name)
        return pdf.read_bytes()


def _first_error(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "no log was written"
    for i, line in enumerate(lines):
        if line.startswith("! "):
            # TeX breaks long messages over lines; the source line it stopped at starts with "l.".
            rest = [l for l in lines[i + 1:i + 4] if l and not l.startswith("l.")][:1]
            where = next((l for l in lines[i + 1:i + 6] if l.startswith("l.")), "")
            return " ".join([line[2:]] + rest + [where]).strip()
    return "see the LaTeX log"
