"""How large a worked solution will be, known before any work: from the problem's shapes and settings alone.

`estimate(problem, settings)` counts the windows (and neurons and cells) worked in full, and estimates the bytes
of the Markdown and of the LaTeX (within a few percent of each other) and the pages of the PDF. It traces nothing
and writes nothing: per layer it adds up what the templates write, a matrix of so many cells of about so many
characters, a sum of so many terms, in a few arithmetic steps, so that it costs nothing beside solving (under a
millisecond for LeNet; benchmarks/run.py measures it). The constants are measured from stepper's own documents
(tests/test_scale.py checks the estimate against them), so they change when the templates do.

With [train], estimate_backward.py adds the backward pass the same way. `stepper solve` prints the estimate of a
large document, and refuses one beyond the limits below before any work, unless forced.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.numbers import Values
from ..core.spec import Activation, Conv1x1, Conv2d, ConvTranspose2d, Dense, Flatten, Pool, Problem, Settings, Shape

# The largest LaTeX document stepper typesets, in bytes, by engine: what typesets within about a minute on 2 cores.
# pdflatex typesets LeNet's full solution (15.7 MB, 5,355 pages) in 23 s and 430 MB; LuaLaTeX, which a title
# pdflatex cannot print needs, takes 240 s and 1.5 GB for it (and 6.7 s for LeNet at --detail 2, 0.5 MB then).
PDF_LIMIT = {"pdflatex": 20_000_000, "lualatex": 5_000_000}
# The largest Markdown or LaTeX document stepper writes at all, in bytes. Rendering runs at about 3 MB a second
# and holds a few copies of the document in memory (LeNet's full solution: 15.7 MB each of Markdown and LaTeX in
# 9 s and 165 MB); 100 MB is about half a minute and a gigabyte.
TEXT_LIMIT = 100_000_000
# Documents from this size on are announced on stderr before the work starts: they take a few seconds or more.
ANNOUNCE_FROM = 500_000

# Measured from stepper's documents (the tutorial, LeNet, a 224x224 layer): what one piece of a document costs.
_CELL = 3  # bytes around each matrix cell: " & " (and the row ends)
_TERM = 3  # bytes around each term of a sum: " + "
_PER_LINE = 10  # terms of a sum to a line (maths.TERMS_PER_LINE)
_BLOCK = 300.0  # points of a matrix block: wider matrices are written in blocks of columns, one under another
_CELL_POINTS = 5.5, 12.0  # points of a written cell: per character, and the space between columns
_LINES_PER_PAGE = 40.0  # lines of maths and text on an A4 page with 2 cm margins, at 11 pt
_DISPLAY = 1.5  # lines of space above and below a displayed formula
_WHOLE_GRID_UP_TO = 12  # a window is shown on its whole (padded) input up to this many rows and columns (maths.py)
_EXACT_PLACES = 15  # exact decimals with more places than this become floats, written to `decimals` places


@dataclass(frozen=True)
class Estimate:
    """A document's size before it is made: steps worked in full, bytes (Markdown or LaTeX) and PDF pages."""

    windows: int
    bytes: int
    pages: int

    def describe(self) -> str:
        """about 1,234 windows, 56 pages, 2.1 MB"""
        return f"about {self.windows:,} windows, {self.pages:,} pages, {byte_size(self.bytes)}"


def byte_size(n: float) -> str:
    """42 kB, 2.1 MB, 15 MB"""
    if n < 1e6:
        return f"{n / 1e3:,.0f} kB"
    return f"{n / 1e6:.1f} MB" if n < 10e6 else f"{n / 1e6:,.0f} MB"


@dataclass(frozen=True)
class _Numbers:
    """How the values of a stage are written, typically: decimal places (None: fractions such as 1/3, written
    \frac{1}{3}), size and the share of them that are negative."""

    places: int | None = 0
    size: float = 1.0
    negative: float = 0.0

    @property
    def chars(self) -> float:
        if self.places is None:
            return 9.0
        # a size past about 10^15 is written with an exponent, and one past a float's range stops the work
        digits = min(max(1.0, math.log10(self.size) + 1.0), 20.0) if self.size > 0 else 1.0
        return math.floor(digits) + self.negative + (self.places + 1 if self.places else 0)


@dataclass
class _Tally:
    """What the document holds so far: steps worked, bytes and lines."""

    windows: int = 0
    bytes: float = 0.0
    lines: float = 0.0

    def text(self, size: float, lines: float) -> None:
        self.bytes += size
        self.lines += lines

    def matrix(self, rows: int, columns: int, chars: float, copies: int = 1, tall: bool = True) -> None:
        """`copies` displayed matrices of rows x columns cells of about `chars` characters each (each on lines of
        its own, unless `tall` is false: beside another, which gives the lines)."""
        self.bytes += copies * (rows * columns * (chars + _CELL) + 60)
        if tall:
            per_block = max(1, int(_BLOCK // (chars * _CELL_POINTS[0] + _CELL_POINTS[1])))
            self.lines += copies * (rows * math.ceil(columns / per_block) + _DISPLAY)

    def maps(self, shape: tuple[int, ...], chars: float) -> None:
        """A stage's values as they are displayed: one matrix per channel, or one row of values."""
        if len(shape) == 3:
            self.matrix(shape[1], shape[2], chars, copies=shape[0])
        else:
            self.matrix(1, math.prod(shape), chars)

    def sums(self, count: int, terms: int, chars: float, worked: bool = True) -> None:
        """`count` displayed sums of `terms` terms of about `chars` characters each, and their totals (steps
        worked in full unless `worked` is false: sums written whatever `detail` says)."""
        self.windows += count if worked else 0
        self.bytes += count * (terms * (chars + _TERM) + 60)
        self.lines += count * (math.ceil(terms / _PER_LINE) + _DISPLAY)


@dataclass
class _Context:
    settings: Settings
    tally: _Tally = field(default_factory=_Tally)

    def worked(self, count: int) -> int:
        return self.settings.worked_in_full(count)

    def rounded(self, size: float, negative: float = 0.0) -> _Numbers:
        return _Numbers(self.settings.decimals, size, negative)

    def exact(self, places: int | None, size: float, negative: float) -> _Numbers:
        """Exact values of so many places, or, past what stays exact, floats written to `decimals` places."""
        if places is not None and places > _EXACT_PLACES:
            return self.rounded(size, negative)
        return _Numbers(places, size, negative)


def estimate(problem: Problem, settings: Settings | None = None) -> Estimate:
    """The size of `problem`'s worked solution with `settings` (by default its own)."""
    settings = problem.settings if settings is None else settings
    shapes = problem.shapes()
    context = _Context(settings)
    tally = context.tally
    if settings.detail == "shapes":  # one row of a table per layer
        tally.text(2000 + 250 * len(problem.layers), 25 + 2 * len(problem.layers))
        return _result(tally)
    tally.text(5000, 12 + len(problem.layers))  # the preamble, title and problem statement, a line per layer
    numbers = written(problem.input)
    tally.maps(shapes[0], numbers.chars)
    inputs = []  # how each layer's input is written, for the backward pass's grids
    for layer, before, after in zip(problem.layers, shapes, shapes[1:]):
        tally.text(800, 8)  # the layer's heading and description
        inputs.append(numbers.chars)
        numbers = _LAYERS.get(type(layer), _other)(context, layer, before, after, numbers)
    tally.text(600, 6)
    tally.maps(shapes[-1], numbers.chars)  # the answer
    if problem.train is not None:
        from .estimate_backward import backward

        backward(context, problem, shapes, inputs)
    return _result(tally)


def _result(tally: _Tally) -> Estimate:
    return Estimate(tally.windows, int(tally.bytes), max(1, math.ceil(tally.lines / _LINES_PER_PAGE)))


def written(values: Values | None) -> _Numbers:
    """How the values of a problem file's array are written, from their denominator and typical size."""
    if values is None or values.data.size == 0:
        return _Numbers(0)
    if values.symbolic:
        return _Numbers(0, 100.0)  # a name such as w_1 or x_{12}: about as wide as three digits
    data = values.floats()
    with np.errstate(all="ignore"):  # values near a float's limit make an infinite mean: only a size, no warning
        size = float(np.mean(np.abs(data)))
    negative = float(np.mean(data < 0))
    if not values.exact:
        return _Numbers(4, size, negative)
    return _Numbers(_decimal_places(values.scale), size, negative)


def _decimal_places(scale: int) -> int | None:
    """k for a scale of the form 2^a 5^b (a decimal of k places), None for another denominator."""
    places, rest = 0, scale
    while rest % 10 == 0:
        rest //= 10
        places += 1
    while rest % 2 == 0 or rest % 5 == 0:
        rest //= 2 if rest % 2 == 0 else 5
        places += 1
    return places if rest == 1 else None


def _places(*numbers: _Numbers) -> int | None:
    places = [n.places for n in numbers]
    return None if None in places else sum(p for p in places if p is not None)


def _sum_of_products(context: _Context, x: _Numbers, w: _Numbers, terms: int) -> tuple[_Numbers, _Numbers]:
    """(the products, the sums) of `terms` products of values like x and weights like w: products add their
    places; a sum of terms of either sign grows as the square root of their number."""
    negative = max(x.negative, w.negative) and 0.5
    product = context.exact(_places(x, w), x.size * w.size, negative)
    return product, context.exact(product.places, product.size * math.sqrt(terms), negative)


def _term_chars(context: _Context, x: _Numbers, w: _Numbers, product: _Numbers) -> float:
    """The characters of one written term: the product alone, or x times w as well, with every product."""
    return product.chars + (x.chars + w.chars + 8 if context.settings.terms == "all" else 0)


def _conv(context: _Context, layer: Conv2d, before, after, numbers: _Numbers) -> _Numbers:
    channels, kh, kw = layer.filters.shape[1:]
    _, height, width = before
    pad = layer.padding_for(before)
    padded = (height + pad.top + pad.bottom, width + pad.left + pad.right)
    return _windows(context, layer.filters, layer.bias, (channels, kh, kw), padded, after, numbers, pad.any)


def _transposed(context: _Context, layer: ConvTranspose2d, before, after, numbers: _Numbers) -> _Numbers:
    (height, width), _ = layer.expansion(before)
    return _windows(context, layer.filters, layer.bias, layer.filters.shape[1:], (height, width), after, numbers, True)


def _windows(
    context: _Context,
    filters: Values,
    bias: Values | None,
    kernel: tuple[int, ...],
    padded: tuple[int, int],
    after: Shape,
    numbers: _Numbers,
    show_padded: bool,
) -> _Numbers:
    """A convolution's working: the padded input, the filters, each filter's windows and feature map."""
    tally = context.tally
    count, oh, ow = after
    channels, kh, kw = kernel
    weights = written(filters)
    product, out = _sum_of_products(context, numbers, weights, channels * kh * kw)
    if show_padded:
        tally.matrix(*padded, numbers.chars, copies=channels)
    tally.matrix(kh, kw, weights.chars, copies=count * channels)
    shown = context.worked(oh * ow)
    # each window's input (the whole input, marked, while it is small) beside the filter: as tall as the taller
    grid = padded if padded[0] <= _WHOLE_GRID_UP_TO and padded[1] <= _WHOLE_GRID_UP_TO else (kh, kw)
    chars = _term_chars(context, numbers, weights, product)
    for _ in range(count):
        tally.text(150 * shown, shown * (3 + channels * (max(grid[0], kh) + 1)))  # heading, grids side by side
        tally.matrix(*grid, numbers.chars, copies=shown * channels, tall=False)
        tally.matrix(kh, kw, weights.chars, copies=shown * channels, tall=False)
        tally.sums(shown, channels * kh * kw + (bias is not None), chars)
        tally.matrix(oh, ow, out.chars)
    return out


def _pool(context: _Context, layer: Pool, before, after, numbers: _Numbers) -> _Numbers:
    tally = context.tally
    channels, oh, ow = after
    kh, kw = layer.kernel(before)
    if layer.kind == "maxpool":
        out = numbers
    else:  # a mean: divided by the window's size
        extra = _decimal_places(kh * kw)
        out = context.exact(
            None if extra is None else _places(numbers, _Numbers(extra)), numbers.size, numbers.negative
        )
    shown = context.worked(oh * ow)
    for _ in range(channels):
        if layer.kind == "globalavgpool":
            tally.sums(shown, kh * kw, numbers.chars)
        else:
            tally.windows += shown
            tally.matrix(kh, kw, numbers.chars, copies=shown)
            tally.text(shown * (40 + 2 * out.chars), shown)
        tally.matrix(before[1], before[2], numbers.chars)  # the map pooled, beside the pooled map
        tally.matrix(oh, ow, out.chars, tall=False)
    return out


def _mix(context: _Context, layer: Conv1x1, before, after, numbers: _Numbers) -> _Numbers:
    channels, height, width = before
    product, out = _sum_of_products(context, numbers, written(layer.weights), channels)
    context.tally.maps(before, numbers.chars)
    context.tally.matrix(height, width, out.chars)
    context.tally.sums(context.worked(height * width), channels + (layer.bias is not None), product.chars)
    return out


def _dense(context: _Context, layer: Dense, before, after, numbers: _Numbers) -> _Numbers:
    tally = context.tally
    neurons, inputs = len(layer.weights), math.prod(before)
    weights = written(layer.weights[0])
    product, out = _sum_of_products(context, numbers, weights, inputs)
    if len(before) == 3 and before[0] == 1:  # the input map, and each neuron's weights laid out like it
        tally.matrix(before[1], before[2], numbers.chars)
        tally.matrix(before[1], before[2], weights.chars, copies=neurons)
    else:  # the input, the weights as a matrix (a row per neuron) and the biases
        tally.matrix(1, inputs, numbers.chars)
        tally.matrix(neurons, inputs, weights.chars)
    if layer.bias is not None:
        tally.matrix(1, neurons, written(layer.bias).chars)
    tally.sums(
        context.worked(neurons), inputs + (layer.bias is not None), _term_chars(context, numbers, weights, product)
    )
    tally.matrix(1, neurons, out.chars)
    return out


def _activation(context: _Context, layer: Activation, before, after, numbers: _Numbers) -> _Numbers:
    tally = context.tally
    n = math.prod(before)
    if layer.kind == "softmax":
        out = context.rounded(1.0 / n)
        tally.text(n * 150, n * (2 + 2 * _DISPLAY))  # e^z_k, and each output as a fraction
        tally.sums(0, n, out.chars)
        return out
    if layer.kind in ("sigmoid", "tanh"):
        out = context.rounded(0.5, 0.0 if layer.kind == "sigmoid" else numbers.negative)
        shown = context.worked(n)
        tally.windows += shown
        tally.text(shown * (90 + numbers.chars + out.chars), shown * (1 + _DISPLAY))
    elif layer.kind in ("relu", "leaky_relu"):
        slope = written(layer.slope) if layer.kind == "leaky_relu" else _Numbers(0)
        out = context.exact(_places(numbers, slope), numbers.size, numbers.negative if layer.slope else 0.0)
    else:
        out = numbers
    tally.maps(before, numbers.chars)
    tally.maps(before, out.chars)
    return out


def _flatten(context: _Context, layer: Flatten, before, after, numbers: _Numbers) -> _Numbers:
    context.tally.matrix(1, math.prod(before), numbers.chars)
    return numbers


def _other(context: _Context, layer: Any, before: Shape, after: Shape, numbers: _Numbers) -> _Numbers:
    """A kind of layer with no estimate of its own: its input and output shown whole, and each output cell worked
    on a line, as an activation worked cell by cell is; its values written about as wide as its input's."""
    tally = context.tally
    shown = context.worked(math.prod(after))
    tally.windows += shown
    tally.text(shown * (90 + 2 * numbers.chars), shown * (1 + _DISPLAY))
    tally.maps(before, numbers.chars)
    tally.maps(after, numbers.chars)
    return numbers


# Each estimate takes the kind of layer its key names; a kind not here is estimated by _other.
_LAYERS: dict[type, Callable[[_Context, Any, Shape, Shape, _Numbers], _Numbers]] = {
    Conv2d: _conv,
    ConvTranspose2d: _transposed,
    Pool: _pool,
    Conv1x1: _mix,
    Dense: _dense,
    Activation: _activation,
    Flatten: _flatten,
}
