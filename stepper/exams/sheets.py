"""An exam's documents: per variant a question sheet and an answer key, one combined key for markers,
a Moodle XML quiz and, last, the manifest; every one rendered from the variants' traces.

Each document is written to its sink as soon as it is made, so a large exam is never held in
memory whole: the sink is an `ExamFolder` (files in a staging folder, swapped in at the end) or
`InMemory`. PDFs are typeset on several threads (pdflatex runs as a separate process), a bounded
number at a time, which leaves the bytes unchanged.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

from ..writing.documents import render, render_keys_chunks, render_layer, render_question
from ..writing.latex import typeset
from ..writing.output import marked
from .generate import Variant
from .manifest import manifest_json
from .moodle import moodle_chunks
from .variants import Template

FORMATS = ("md", "tex", "pdf", "moodle")


class File(Protocol):
    """A file of the exam being written, in a `with` block: a plain binary file, or the exam folder's own."""

    def write(self, data: bytes, /) -> int: ...

    def __enter__(self) -> File: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None, /
    ) -> object: ...


class Sink(Protocol):
    hashes: dict[str, str]

    def open(self, name: str) -> File: ...

    def write(self, name: str, data: bytes) -> None: ...

    def read_text(self, name: str) -> str: ...


class InMemory:
    """A sink that keeps the files (name -> bytes), for tests and benchmarks."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hashes: dict[str, str] = {}

    def open(self, name: str) -> IO[bytes]:
        sink = self

        class _File(io.BytesIO):
            def __exit__(self, *exc):
                sink.write(name, self.getvalue())
                return super().__exit__(*exc)

        return _File()

    def write(self, name: str, data: bytes) -> None:
        self.files[name] = data
        self.hashes[name] = hashlib.sha256(data).hexdigest()

    def read_text(self, name: str) -> str:
        return self.files[name].decode("utf-8")


def file_names(count: int, formats: list[str]) -> list[str]:
    """Every file an exam of `count` variants writes, known before any is drawn."""
    width = max(3, len(str(count)))
    names = []
    for n in range(1, count + 1):
        names += [
            f"variant-{n:0{width}d}-{part}.{fmt}" for part in ("question", "key") for fmt in formats if fmt != "moodle"
        ]
    names += [f"keys.{fmt}" for fmt in formats if fmt != "moodle"]
    names += ["moodle.xml"] if "moodle" in formats else []
    return names + ["manifest.json"]


def write_exam(
    sink: Sink,
    template: Template,
    variants: list[Variant],
    seed: int,
    formats: list[str],
    templates: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    source: str = "",
    typesetting: Callable[[int, int], None] | None = None,
) -> None:
    """Write every file of the exam into `sink`, the manifest (listing all the others) last."""
    settings = template.base.settings if template.key == "full" else replace(template.base.settings, detail="answers")
    text_formats = [f for f in ("md", "tex") if f in formats or (f == "tex" and "pdf" in formats)]
    pdfs = _Typesetter(sink, typesetting, 2 * len(variants) + 1) if "pdf" in formats else None
    try:
        for n, v in enumerate(variants, 1):
            key_trace = replace(v.trace, problem=replace(v.problem, title=f"{v.problem.title}, answer key"))
            for fmt in text_formats:
                for part, text in (
                    ("question", render_question(v.trace, fmt, v.id, templates)),
                    ("key", render(key_trace, fmt, settings, templates)),
                ):
                    _put(sink, f"variant-{v.id}-{part}.{fmt}", marked(text, f".{fmt}", source), fmt in formats, pdfs)
            if progress:
                progress(n, len(variants))
        for fmt in text_formats:
            chunks = render_keys_chunks(template.base.title, variants, fmt, settings, templates)
            _put_chunks(sink, f"keys.{fmt}", _marked_chunks(chunks, fmt, source), fmt in formats, pdfs)
        if pdfs:
            pdfs.finish()
    finally:
        if pdfs:
            pdfs.close()
    if "moodle" in formats:
        _write_moodle(sink, template, variants, settings, templates, source)
    sink.write("manifest.json", manifest_json(template, seed, variants, dict(sink.hashes)).encode("utf-8"))


def _put(sink: Sink, name: str, text: str, keep: bool, pdfs: _Typesetter | None) -> None:
    """One text document: written when its format was asked for, typeset when it is LaTeX and PDF was."""
    if keep:
        sink.write(name, text.encode("utf-8"))
    if pdfs and name.endswith(".tex"):
        pdfs.submit(name[:-4] + ".pdf", text)


def _put_chunks(sink: Sink, name: str, chunks: Iterable[str], keep: bool, pdfs: _Typesetter | None) -> None:
    """A long document written piece by piece; for PDF it is read back whole, as pdflatex needs a file."""
    if not keep and pdfs and name.endswith(".tex"):
        pdfs.submit(name[:-4] + ".pdf", "".join(chunks))
        return
    if not keep:
        return
    with sink.open(name) as f:
        for chunk in chunks:
            f.write(chunk.encode("utf-8"))
    if pdfs and name.endswith(".tex"):
        pdfs.submit(name[:-4] + ".pdf", sink.read_text(name))


def _marked_chunks(chunks: Iterator[str], fmt: str, source: str) -> Iterator[str]:
    yield marked("", f".{fmt}", source)
    yield from chunks


def _write_moodle(sink: Sink, template: Template, variants: list[Variant], settings, templates, source) -> None:
    def question_of(v: Variant) -> str:
        return render_question(v.trace, "md", v.id, templates)

    def keys_of(v: Variant) -> dict[int, str]:
        return {n: render_layer(v.trace, n, "md", settings, templates) for n in range(1, len(v.trace.layers) + 1)}

    chunks = moodle_chunks(template.base.title, variants, question_of, keys_of, template.moodle)
    with sink.open("moodle.xml") as f:
        declaration = next(chunks)  # the mark goes after the XML declaration, which must come first
        f.write(f"{declaration}\n{marked('', '.xml', source)}".encode())
        for chunk in chunks:
            f.write(chunk.encode("utf-8"))


class _Typesetter:
    """PDFs typeset on a few threads while the documents are still being made; each is written as it is done."""

    def __init__(self, sink: Sink, progress: Callable[[int, int], None] | None, total: int):
        self.sink, self.progress, self.total = sink, progress, total
        self.workers = os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(max_workers=self.workers)
        self.pending: deque[tuple[str, Future]] = deque()
        self.done = 0

    def submit(self, name: str, tex: str) -> None:
        self.pending.append((name, self.pool.submit(typeset, tex, name)))
        while len(self.pending) > 2 * self.workers:  # a bounded queue: memory stays flat however many variants
            self._collect()

    def _collect(self) -> None:
        name, future = self.pending.popleft()
        self.sink.write(name, future.result())  # written here, on one thread, in the order submitted
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)

    def finish(self) -> None:
        while self.pending:
            self._collect()

    def close(self) -> None:
        for _, future in self.pending:
            future.cancel()
        self.pool.shutdown(wait=True)
