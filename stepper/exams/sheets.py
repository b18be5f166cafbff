"""An exam's documents: per variant a question sheet and an answer key, one combined key for markers,
a Moodle XML quiz and, last, the manifest; every one rendered from the variants' traces.

A question sheet is an answer sheet too (`answer_sheet`): for every stage a student writes down, a grid of boxes
shaped like the stage (a map's rows and columns, a vector's row, one box for a value), its marks as the marker
counts them, and space for working; on every page the variant's id and a QR code (`qr.py`) naming the exam, seed
and variant, so that a scanned page finds its key.

Each document is written to its sink as soon as it is made, so a large exam is never held in
memory whole: the sink is an `ExamFolder` (files in a staging folder, swapped in at the end) or
`InMemory`. PDFs are typeset on several threads (pdflatex runs as a separate process), a bounded
number at a time, which leaves the bytes unchanged.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path, PurePath
from types import TracebackType
from typing import IO, Protocol

from ..core.stages import SUM_LAYERS, Stage, every_stage, layer_title, stage_points
from ..core.trace import Trace
from ..writing.documents import environment, render, render_keys_chunks, render_layer, render_question, render_template
from ..writing.latex import typeset
from ..writing.output import marked
from . import qr
from .generate import Variant
from .manifest import manifest_json
from .moodle import BACKWARD_KEY, moodle_chunks
from .variants import Template

FORMATS = ("md", "tex", "pdf", "moodle", "qti", "canvas")
# The formats written once for the whole exam, for a learning platform: their files, by format.
PLATFORMS = {"moodle": "moodle.xml", "qti": "qti.zip", "canvas": "canvas.zip"}


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
            f"variant-{n:0{width}d}-{part}.{fmt}"
            for part in ("question", "key")
            for fmt in formats
            if fmt not in PLATFORMS
        ]
    names += [f"keys.{fmt}" for fmt in formats if fmt not in PLATFORMS]
    names += [PLATFORMS[fmt] for fmt in PLATFORMS if fmt in formats]
    return names + ["manifest.json"]


# An answer box on paper, in millimetres: wide enough for "-0.1234" by hand, narrower (down to NARROWEST) when a
# map's columns would not fit the line; a map wider than MOST_COLUMNS is printed in bands of columns. Each box takes
# its width, its frame (two 0.6 pt rules) and the gap after it (templates/tex/question.tex, \answerbox).
BOX_MM, NARROWEST_MM, GAP_MM, FRAME_MM = 15.0, 12.0, 1.5, 0.45
LINE_MM = 170.0 - 7.0  # the text width (A4 less 2 cm margins, preamble.tex) less the row numbers
MOST_COLUMNS = int(LINE_MM // (NARROWEST_MM + GAP_MM + FRAME_MM))
VALUES_PER_LINE = 6  # a dense layer's neurons, one box each, side by side
# The space for working under a stage, in millimetres, by its layer's kind: room for the sums of a convolution or a
# neuron, less for an activation, a line for a layer that only keeps or moves values. Others: WORKING_MM_ELSE.
WORKING_MM = {
    "conv2d": 50,
    "conv_transpose2d": 50,
    "dense": 45,
    "softmax": 40,
    "conv1x1": 35,
    "avgpool": 30,
    "globalavgpool": 30,
    "sigmoid": 30,
    "tanh": 30,
    "maxpool": 20,
    "leaky_relu": 15,
    "relu": 12,
    "identity": 12,
    "flatten": 12,
}
WORKING_MM_ELSE = 30
# With [train], the space under each backward stage, by what it is: the loss, a layer's dL/d(output) (worked back
# through the layer above), its dL/dW and dL/db, and the updated weights (old - rate x gradient, cell by cell).
BACKWARD_WORKING_MM = {"loss": 30, "grad": 40, "dw": 45, "db": 20, "new": 20, "new_bias": 15}


@dataclass(frozen=True)
class Grid:
    """A stage's answer boxes: `rows` x `columns` (a vector is one row, a value one box), printed in `bands` of
    columns (first and last, counted from 1) one under another, each box `width` mm wide."""

    rows: int
    columns: int
    kind: str  # "map", "vector" or "value"
    bands: tuple[tuple[int, int], ...]
    width: float


@dataclass(frozen=True)
class Answer:
    """One stage on the sheet: what it is called, its working-file name, its marks and its boxes."""

    stage: Stage
    title: str  # "Layer 1 (convolution), filter 1"; a neuron's part alone ("z1") within its layer's block
    key: str  # layer1.filter1
    points: Fraction
    grid: Grid


@dataclass(frozen=True)
class Block:
    """Stages that share a heading and a space for working: a stage alone, or a dense layer's neurons, one box
    each, `VALUES_PER_LINE` to a line."""

    number: int  # counted from 1 down the sheet
    title: str
    answers: tuple[Answer, ...]
    working_mm: int
    sum_points: Fraction  # marks for each sum written in the working (0: none)

    @property
    def lines(self) -> list[tuple[Answer, ...]]:
        """A block of single values, `VALUES_PER_LINE` boxes to a line."""
        return [self.answers[i : i + VALUES_PER_LINE] for i in range(0, len(self.answers), VALUES_PER_LINE)]


@dataclass(frozen=True)
class AnswerSheet:
    """What a question sheet adds to the problem: where each answer goes, its marks, and the mark of the page."""

    exam: str  # the template's file name
    seed: int
    variant: str
    payload: str  # the QR code's text (qr.payload)
    qr_tex: str
    qr_mm: float
    total: Fraction
    sums: bool  # some written sums earn marks
    blocks: tuple[Block, ...]


def answer_sheet(trace: Trace, template: str, seed: int, variant: str) -> AnswerSheet:
    """The answer sheet of `variant` (drawn with the exam's `seed` from the template file `template`)."""
    problem = trace.problem
    asked = every_stage(problem)
    points = stage_points(problem.marks, asked)
    blocks: list[Block] = []
    for group in _groups(asked):
        first = group[0]
        single = len(group) == 1
        title = first.title(problem) if single else f"{layer_title(problem, first.layer)}, {_span(problem, group)}"
        answers = tuple(
            Answer(s, s.title(problem) if single else _short(problem, s), s.key, points[s.key], grid(s.shape))
            for s in group
        )
        if first.backward:  # no written sums are marked in the backward pass
            working, sums = BACKWARD_WORKING_MM[first.part.partition(".")[0]], Fraction(0)
        else:
            kind = problem.layers[first.layer - 1].kind
            working = WORKING_MM.get(kind, WORKING_MM_ELSE)
            sums = problem.marks.sum_points(first.layer) if kind in SUM_LAYERS else Fraction(0)  # sums it can mark
        blocks.append(Block(len(blocks) + 1, title, answers, working, sums))
    text = qr.payload(template, seed, variant)
    return AnswerSheet(
        PurePath(template).name,
        seed,
        variant,
        text,
        qr.tex_code(text),
        qr.side_mm(text),
        sum(points.values(), Fraction(0)),
        any(b.sum_points for b in blocks),
        tuple(blocks),
    )


def grid(shape: tuple[int, ...]) -> Grid:
    """The boxes for a stage of `shape`: a map's rows and columns, a vector's row, or one box for a value."""
    if not shape:
        return Grid(1, 1, "value", ((1, 1),), BOX_MM)
    rows, columns = (1, shape[0]) if len(shape) == 1 else (shape[0], shape[1])
    count = math.ceil(columns / MOST_COLUMNS)
    per = math.ceil(columns / count)
    bands = tuple((start, min(start + per - 1, columns)) for start in range(1, columns + 1, per))
    width = min(BOX_MM, math.floor(2 * (LINE_MM / per - GAP_MM - FRAME_MM)) / 2)
    return Grid(rows, columns, "vector" if len(shape) == 1 else "map", bands, width)


def _groups(asked: tuple[Stage, ...]) -> list[list[Stage]]:
    """The stages as the sheet shows them: each alone, but a layer's single values (a dense layer's neurons, or
    their gradients) together."""
    groups: list[list[Stage]] = []
    for s in asked:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and not s.shape
            and not last.shape
            and last.layer == s.layer
            and last.backward == s.backward
            and last.layer
        ):
            groups[-1].append(s)
        else:
            groups.append([s])
    return groups


def _short(problem, s: Stage) -> str:
    """A stage's name within its layer's block: z1; dL/dz1."""
    return s.title(problem).removeprefix(layer_title(problem, s.layer) + ", ") if s.backward else s.part


def _span(problem, group: list[Stage]) -> str:
    """A layer's neurons named at once: "z1 and z2", "z1 to z120", "dL/dz1 and dL/dz2"."""
    first, last = _short(problem, group[0]), _short(problem, group[-1])
    return f"{first} and {last}" if len(group) == 2 else f"{first} to {last}"


def render_backward_answers(v: Variant, fmt: str, templates: Path | None = None) -> str:
    """The backward pass's answers of a variant alone (`answer_backward.j2`): the feedback of its questions on a
    learning platform."""
    env = environment(fmt, v.trace.settings, templates)
    return render_template(
        env,
        "answer_backward.j2",
        trace=v.trace,
        problem=v.problem,
        settings=v.trace.settings,
        backward=v.backward,
    )


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
                    (
                        "question",
                        render_question(
                            v.trace, fmt, v.id, templates, answer_sheet(v.trace, template.source, seed, v.id)
                        ),
                    ),
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
    platforms = [f for f in PLATFORMS if f in formats]
    if platforms:
        _write_platforms(sink, template, variants, settings, templates, source, platforms)
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


def _write_platforms(
    sink: Sink, template: Template, variants: list[Variant], settings, templates, source, platforms: list[str]
) -> None:
    """The exam for learning platforms: a Moodle quiz (moodle.xml), an IMS QTI 2.1 package (qti.zip) and a Canvas
    quiz package (canvas.zip), each variant's sheet and keys rendered as Markdown for their HTML."""

    def question_of(v: Variant) -> str:
        return render_question(v.trace, "md", v.id, templates)

    def keys_of(v: Variant) -> dict[int, str]:
        keys = {n: render_layer(v.trace, n, "md", settings, templates) for n in range(1, len(v.trace.layers) + 1)}
        if v.training is not None:  # the backward pass's questions show its answers
            keys[BACKWARD_KEY] = render_backward_answers(v, "md", templates)
        return keys

    title = template.base.title
    if "moodle" in platforms:
        chunks = moodle_chunks(title, variants, question_of, keys_of, template.moodle)
        with sink.open("moodle.xml") as f:
            declaration = next(chunks)  # the mark goes after the XML declaration, which must come first
            f.write(f"{declaration}\n{marked('', '.xml', source)}".encode())
            for chunk in chunks:
                f.write(chunk.encode("utf-8"))
    if "qti" in platforms:
        from .qti import qti_package

        sink.write("qti.zip", qti_package(title, variants, question_of, keys_of, template.moodle))
    if "canvas" in platforms:
        from .canvas import canvas_package

        sink.write("canvas.zip", canvas_package(title, variants, question_of, keys_of, template.moodle))


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
