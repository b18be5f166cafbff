"""Typeset LaTeX into PDF, and shape the LaTeX source so that TeX reads it whole.

LaTeX runs without shell escape, in a private temporary folder, with a fixed date so the
same input gives the same PDF, and within a time limit (STEPPER_TEX_TIMEOUT
seconds, 300 by default). The engine is chosen by the document: pdflatex when its
standard fonts print every character, LuaLaTeX with fallback fonts for any other
script. pdflatex is the faster by far (measured on 2 cores: the tutorial 0.25 s
against 1.6 s, LeNet at --detail 2 1.5 s against 12 s, a 3x224x224 layer 6 s
against 50 s), which matters most for an exam's hundreds of small PDFs. A
document that does not typeset raises `TypesetError`, which carries the LaTeX log.

`EarlyTypeset` starts pdflatex before the document exists: it loads its format while stepper traces and renders,
then reads the document from a named pipe, so that the two overlap (the PDF is the same byte for byte).
"""

from __future__ import annotations

import fcntl
import os
import queue
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from ..core.errors import StepperError

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
    engine = _installed(tex_engine(tex), name)
    timeout = tex_timeout()
    with tempfile.TemporaryDirectory(prefix="stepper-") as work:
        Path(work, "doc.tex").write_text(tex, encoding="utf-8")
        run = _start_tex(engine, work)
        return _finish_tex(run, engine, work, timeout, name)


STREAM_BATCH = 16384  # characters of a document handed to pdflatex at once, in whole lines
PIPE_BYTES = 1 << 20  # the pipe's size asked for (Linux allows up to 1 MiB unprivileged)


class EarlyTypeset:
    """pdflatex started before its document is written, reading it from a named pipe once it is.

    Use as a context manager around the work that makes the document. `send_opening(text)` may hand over the
    document's opening (its preamble) before the rest is made, so that pdflatex reads its packages meanwhile;
    `send(tex)` hands over the document as soon as it is made (other work can go on while pdflatex reads it), and
    `pdf(name)` waits for its PDF, the same bytes as `typeset` gives; `typeset(tex, name)` does both. When the
    document does not begin with the opening sent, or needs another engine, the early run is stopped and the
    document typeset as usual; leaving the block without a document stops it too. One early run serves one
    document."""

    def __init__(self, start: bool = True) -> None:
        self.run: subprocess.Popen | None = None
        self.tex: str | None = None
        self.opening = ""
        self.chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()  # what the feeder writes, None ends it
        self.feeder: threading.Thread | None = None
        self.keeper: int | None = None  # an end of the pipe held open until the feeder has one (see _begin)
        self.keeper_lock = threading.Lock()  # so that the keeper is closed once
        self.work = self.pipe = ""
        if start and shutil.which("pdflatex") is not None and hasattr(os, "mkfifo"):
            self.work = tempfile.mkdtemp(prefix="stepper-")  # private to this user (0700), made exclusively
            try:
                self._begin()
            except OSError:  # no pipes in this temporary folder, or pdflatex would not start: typeset as usual
                self.close()
                self.run = None

    def _begin(self) -> None:
        self.pipe = os.path.join(self.work, "doc.tex")
        os.mkfifo(self.pipe, 0o600)
        # Held open (read and write, which never waits) for the whole run: the pipe's text stays in it until
        # pdflatex, still loading its format, opens it; and the feeder's end opens at once. Made large, so that the
        # feeder's writes do not wait on pdflatex for most documents.
        self.keeper = os.open(self.pipe, os.O_RDWR | os.O_NONBLOCK)
        try:
            fcntl.fcntl(self.keeper, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
        except OSError:
            pass  # a smaller pipe only makes the feeder wait for pdflatex to read
        self.run = _start_tex("pdflatex", self.work, die_with_parent=True)

    @classmethod
    def later(cls) -> EarlyTypeset:
        """One that starts nothing early: `pdf` typesets the document sent, as `typeset` does."""
        return cls(start=False)

    def __enter__(self) -> EarlyTypeset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def free(self) -> bool:
        """Whether no document has been sent yet."""
        return self.tex is None

    def send_opening(self, opening: str) -> None:
        if not opening or self.run is None or self.feeder is not None or tex_engine(opening) != "pdflatex":
            return
        self.opening = opening
        self._feed(opening)

    def send(self, tex: str) -> None:
        self.stream([tex])

    def stream(self, pieces: Iterable[str]) -> str:
        """`send` of a document made piece by piece, which it returns whole: pdflatex reads its lines as they
        come, so it typesets the first pages while the last are made. Lines go in batches of STREAM_BATCH
        characters, each whole, and each checked for the engine (a line that needs LuaLaTeX stops the early run:
        the document is typeset as usual in pdf())."""
        whole: list[str] = []
        batch: list[str] = []
        size, head = 0, True  # head: the opening's part of the document has not been checked yet
        for piece in pieces:
            whole.append(piece)
            if self.run is None:
                continue
            batch.append(piece)
            size += len(piece)
            if size < STREAM_BATCH or (head and size < len(self.opening)):
                continue
            text = "".join(batch)
            end = text.rfind("\n") + 1
            if head and end < len(self.opening):
                continue
            batch, size = [text[end:]], len(text) - end
            head = self._stream_lines(text[:end], head)
        self.tex = "".join(whole)
        if self.run is not None:
            self._stream_lines("".join(batch), head)
        if self.run is not None:
            self.chunks.put(None)
        return self.tex

    def _stream_lines(self, text: str, head: bool) -> bool:
        """Hand `text` (whole lines of the document, the first of it when `head`) to pdflatex, or stop the early
        run when it cannot read them: it needs LuaLaTeX, or the document did not begin with the opening sent.
        Returns False: what follows is not the head."""
        if head:
            if not text.startswith(self.opening):
                self._stop()
                return False
            text = text[len(self.opening) :]
        if tex_engine(text) != "pdflatex":
            self._stop()
        elif text:
            self._feed(text)
        return False

    def _stop(self) -> None:
        """No early run after all: pdf() typesets the document as usual."""
        self.close()
        self.run = None

    def _feed(self, text: str) -> None:
        self.chunks.put(text.encode("utf-8"))
        if self.feeder is None:
            self.feeder = threading.Thread(target=self._feed_pipe, daemon=True)
            self.feeder.start()

    def _feed_pipe(self) -> None:
        """Write each chunk into the pipe pdflatex reads, until None. A write that waits on a pdflatex that stopped
        reading ends with a broken pipe when close() closes the keeper."""
        try:
            with open(self.pipe, "wb") as f:  # never waits: the keeper holds the other end
                while (chunk := self.chunks.get()) is not None:
                    f.write(chunk)
                    f.flush()
        except OSError:
            pass  # pdflatex stopped reading (it failed or was stopped): its exit status and log tell why

    def _close_keeper(self) -> None:
        with self.keeper_lock:
            keeper, self.keeper = self.keeper, None
        if keeper is not None:
            os.close(keeper)

    def pdf(self, name: str) -> bytes:
        if self.tex is None:
            raise ValueError("no document was sent")
        if self.run is None or self.run.returncode is not None or self.feeder is None:
            return typeset(self.tex, name)
        if self.run.poll() is not None and not os.path.exists(os.path.join(self.work, "doc.log")):
            self.close()  # it ended before reading a line (stopped from outside): typeset as usual
            return typeset(self.tex, name)
        try:
            return _finish_tex(self.run, "pdflatex", self.work, tex_timeout(), name)
        finally:
            self.close()

    def typeset(self, tex: str, name: str) -> bytes:
        self.send(tex)
        return self.pdf(name)

    def close(self) -> None:
        if self.run is not None and self.run.returncode is None:
            _kill_group(self.run)
        self._close_keeper()
        if self.feeder is not None:
            self.chunks.put(None)  # a feeder waiting for more ends; one writing gets a broken pipe
            self.feeder.join(1)
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)


def _installed(engine: str, name: str) -> str:
    if shutil.which(engine) is None:
        if engine == "pdflatex":
            raise StepperError(f"pdflatex is not installed: {TEX_INSTALL}", file=name)
        raise TypesetError(f"its text needs LuaLaTeX, which is not installed: {LUATEX_INSTALL}", file=name)
    return engine


def _start_tex(engine: str, work: str, die_with_parent: bool = False) -> subprocess.Popen:
    """The engine, started on doc.tex in `work`, in a session of its own, so that on a timeout (or Ctrl-C) the
    whole group, with anything it started, is killed rather than left running."""
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
    if engine == "pdflatex":
        env.update(extra_mem_top=PDFLATEX_EXTRA_MEMORY, extra_mem_bot=PDFLATEX_EXTRA_MEMORY)
        no_shell = "-no-shell-escape"
    else:
        no_shell = "--no-shell-escape"
    # Not parsing the first line: TeX would open the file twice (once to look for a %& format line), which a
    # pipe cannot be; stepper's documents never name a format.
    parse = "-no-parse-first-line" if engine == "pdflatex" else "--no-parse-first-line"
    return subprocess.Popen(
        [engine, no_shell, parse, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # an early run waits on stepper: should stepper be killed, the kernel stops it too (Linux)
        preexec_fn=_die_with_parent if die_with_parent else None,
    )


def _die_with_parent() -> None:
    """In the child before exec: be sent SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG), where Linux can."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _finish_tex(run: subprocess.Popen, engine: str, work: str, timeout: float, name: str) -> bytes:
    """The PDF the run made, once it ends; TypesetError when it made none, StepperError when it took too long."""
    try:
        code = _wait(run, timeout)
    except subprocess.TimeoutExpired:
        raise StepperError(
            f"{engine} did not finish within {timeout:g} seconds, so it was stopped "
            f"(the limit is set by the environment variable {TEX_TIMEOUT})",
            file=name,
        ) from None
    finally:
        if run.returncode is None:
            _kill_group(run)
    pdf, log = Path(work, "doc.pdf"), Path(work, "doc.log")
    if code != 0 or not pdf.exists():
        raise TypesetError(
            f"{engine} failed: {_first_error(log, code)}", file=name, log=log.read_bytes() if log.exists() else b""
        )
    return pdf.read_bytes()


def _wait(run: subprocess.Popen, timeout: float) -> int:
    """The run's exit status, as soon as it ends. Popen.wait with a timeout polls, sleeping up to 50 ms between
    looks; a pidfd (Linux) wakes the moment the process ends."""
    try:
        fd = os.pidfd_open(run.pid)
    except (AttributeError, OSError):
        return run.wait(timeout=timeout)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        raise subprocess.TimeoutExpired(run.args, timeout)
    return run.wait()


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
