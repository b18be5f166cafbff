"""A Word document (.docx) from stepper's Markdown, made by pandoc.

pandoc turns each `$...$` and `$$...$$` formula into a Word equation (through its texmath library), so the
document is the Markdown solution with live maths. Word has no highlight that texmath writes, so a window's
highlighted cells are boxed instead. The same Markdown always gives the same bytes: pandoc (2.17 and later)
takes its zip timestamps and document dates from SOURCE_DATE_EPOCH, fixed here as for pdflatex.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from ..core.errors import StepperError
from .documents import FORMATS
from .output import DOCX_MARK as MARK
from .output import docx_marked as marked  # noqa: F401 (read here by callers that handle Word files)

PANDOC_INSTALL = "install pandoc (Debian: apt-get install pandoc) or leave docx out of --format"
PANDOC_TIMEOUT = 300  # seconds; the tutorial (111 formulas) converts in half a second, about 5 ms a formula
# Markdown's highlighted cell, `\colorbox{yellow}{$x$}`, as a pattern, and what Word can show instead.
_HIGHLIGHT = re.compile(re.escape(FORMATS["md"].highlight).replace(re.escape("%s"), "(.*?)"))
_BOXED = r"\\boxed{\1}"


def pandoc_available() -> bool:
    """Whether pandoc is on PATH (so that docx can be left out, with a note, when it is not)."""
    return shutil.which("pandoc") is not None


def to_docx(markdown: str, name: str) -> bytes:
    """The .docx bytes of a Markdown document that stepper wrote; `name` names it in errors. Raises a one-line
    StepperError when pandoc is missing, fails or takes longer than PANDOC_TIMEOUT seconds."""
    pandoc = shutil.which("pandoc")
    if pandoc is None:
        raise StepperError(f"pandoc is not installed: {PANDOC_INSTALL}", file=name)
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")
    # (not --sandbox: Debian's pandoc reads its own reference.docx from disk, which the sandbox forbids; the
    # Markdown stepper writes escapes every title and name, so it links no image or file for pandoc to read)
    command = [pandoc, "-f", "markdown", "-t", "docx", "--metadata", f"subject={MARK}", "-o", "-"]
    try:
        run = subprocess.run(
            command, input=word_maths(markdown).encode("utf-8"), capture_output=True, env=env, timeout=PANDOC_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise StepperError(
            f"pandoc did not finish within {PANDOC_TIMEOUT} seconds, so it was stopped", file=name
        ) from None
    except OSError as e:
        raise StepperError(f"pandoc could not be run: {e.strerror or e}", file=name) from None
    if run.returncode != 0 or not run.stdout.startswith(b"PK"):
        raise StepperError(f"pandoc failed: {_first_error(run.stderr, run.returncode)}", file=name)
    return run.stdout


def word_maths(markdown: str) -> str:
    """The Markdown with its maths in the forms texmath turns into Word equations: a highlighted cell boxed."""
    return _HIGHLIGHT.sub(_BOXED, markdown)


def _first_error(stderr: bytes, code: int) -> str:
    """pandoc's first line that is not a warning, or its exit status."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    errors = [line for line in lines if line and not line.startswith("[WARNING]")]
    return errors[0] if errors else f"it stopped with exit status {code}"
