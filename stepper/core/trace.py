"""The trace: plain immutable records of every step of a forward pass.

One record type per kind of step. A layer's record holds arrays (input,
parameters, output); the record of one window, element or neuron is made on
demand from them, so a large layer costs about what its plain computation
costs, and any one window's working is still there when it is asked for.
Records never format themselves and hold no arithmetic beyond slicing, the
products of one window and their sums per channel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .numbers import Values, floats, symbols, times
from .spec import (
    Activation,
    Conv1x1,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Flatten,
    Layer,
    Padding,
    Pool,
    Problem,
    Settings,
    Shape,
)


@dataclass(frozen=True)
class SizeStep:
    """floor((n + before + after - k) / stride) + 1 = out, along one axis."""

    axis: str  # "rows" or "columns"
    n: int
    k: int
    stride: int
    before: int
    after: int
    out: int

    @property
    def unused(self) -> int:
        """Cells at the end of the padded axis that no window reaches."""
        return (self.n + self.before + self.after - self.k) % self.stride

    @property
    def span(self) -> int:
        return self.n + self.before + self.after

    @property
    def first_unused(self) -> int:
        """The first unused cell, counted from 1 along the padded axis."""
        return self.span - self.unused + 1

    @property
    def skipped(self) -> int:
        """Cells between two windows that neither covers (a stride longer than the window)."""
        return max(self.stride - self.k, 0)


@dataclass(frozen=True)
class GrowStep:
    """(n - 1) s - 2p + k + a = out, along one axis of a transposed convolution."""

    axis: str
    n: int
    stride: int
    padding: int
    k: int
    extra: int  # output padding
    out: int


# ---- sizes, parameters and multiply-adds (detail = "shapes"): from shapes alone, no forward pass ----


@dataclass(frozen=True)
class ShapeRow:
    """One layer's line of the shapes table. A count is kept with its factors, so the working shows them."""

    number: int
    layer: Layer
    input: Shape
    output: Shape
    sizes: tuple[SizeStep, SizeStep] | tuple[GrowStep, GrowStep] | None  # windows: the size formula per axis
    weights: tuple[int, ...]  # factors of the weight count (F, C, kh, kw), (N, D), (C,); () for none
    biases: int
    parameters: int  # weights + biases
    multiply_adds: tuple[tuple[int, ...], tuple[int, ...]]  # (cells that multiply-add, products per cell)
    macs: int  # their product


@dataclass(frozen=True)
class ShapeTable:
    input: Shape
    rows: tuple[ShapeRow, ...]
    parameters: int  # over all layers
    macs: int


# ---- one step each (named tuples: cheap to make, since a document makes thousands) ----


class ConvWindow(NamedTuple):
    filter: int  # 0-based, like row and col
    row: int
    col: int
    rows: tuple[int, int]  # [start, stop) in the padded input
    cols: tuple[int, int]
    inputs: Values  # (C, kh, kw)
    kernel: Values  # (C, kh, kw)
    products: Values  # (C, kh, kw)
    bias: Values | None  # scalar
    total: Values  # scalar: the sum of the products and the bias, exactly


class PoolWindow(NamedTuple):
    kind: str
    channel: int
    row: int
    col: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    values: Values  # (size, size)
    result: Values  # scalar
    where: tuple[int, int] | None  # the maximum's cell in the window (first of any ties), for max pooling
    total: Values | None = None  # an average's window total, before dividing


class Terms(NamedTuple):
    """A weighted sum: sum(factors * weights) + bias = total, for a 1x1 filter cell or a neuron."""

    index: tuple[int, ...]  # type: ignore[assignment]  # templates read step.index: it hides tuple.index
    factors: Values  # the inputs, flat
    weights: Values  # flat
    products: Values
    bias: Values | None
    total: Values


class Element(NamedTuple):
    index: tuple[int, ...]  # type: ignore[assignment]  # templates read step.index: it hides tuple.index
    x: Values  # scalar
    full: Values  # scalar: the value before rounding
    y: Values  # scalar: as carried forward


def _products(a: Values, b: Values, sums: Values) -> Values:
    """One step's products. When the layer's sums are exact, the evaluator has already checked
    that every product is small enough to be exact, so no second check is needed."""
    if sums.scale > 0:  # exact numbers (not floats, not symbols)
        return Values(a.data * b.data, a.scale * b.scale)
    return times(a, b)


def channel_totals(products: Values) -> Values:
    """A window's products (..., C, kh, kw) added up per channel (..., C): the subtotals of a grouped sum."""
    data = products.data.sum(axis=(-2, -1))
    if products.symbolic:
        return symbols(data)
    return Values(data, products.scale) if products.exact else floats(data)


def reading_order(shape: Shape, limit: int | None) -> Iterator[tuple[int, int]]:
    """(row, column) of a map's cells, row by row, the first `limit` of them if given."""
    count = shape[0] * shape[1]
    return (divmod(n, shape[1]) for n in range(count if limit is None else min(limit, count)))


# ---- one record per layer ----


@dataclass(frozen=True, eq=False)
class ConvTrace:
    number: int  # 1-based position in the network
    layer: Conv2d
    input: Values  # (C, H, W)
    padding: Padding
    padded: Values  # (C, H + pads, W + pads)
    sizes: tuple[SizeStep, SizeStep]
    sums: Values  # (F, oh, ow) exact sums
    output: Values  # what is carried forward

    @property
    def filters(self) -> Values:
        """(F, C, kh, kw), as applied to the windows (turned 180 degrees for a true convolution)."""
        return self.layer.kernels

    @property
    def bias(self) -> Values | None:
        return self.layer.bias

    def span(self, i: int, j: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """The padded rows and columns [start, stop) under output cell (i, j); with dilation the
        window reads every d-th of them."""
        kh, kw = self.layer.reach
        sh, sw = self.layer.stride
        return (i * sh, i * sh + kh), (j * sw, j * sw + kw)

    def window(self, f: int, i: int, j: int) -> ConvWindow:
        rows, cols = self.span(i, j)
        dh, dw = self.layer.dilation
        inputs = self.padded[:, rows[0] : rows[1] : dh, cols[0] : cols[1] : dw]
        kernel = self.filters[f]
        bias = self.bias[f] if self.bias is not None else None
        return ConvWindow(
            f, i, j, rows, cols, inputs, kernel, _products(inputs, kernel, self.sums), bias, self.sums[f, i, j]
        )

    def products(self, f: int) -> Values:
        """Every window's products for filter f at once, (oh, ow, C, kh, kw): what a document of
        many windows needs, in one numpy operation instead of one per window."""
        c, h, w = self.padded.shape
        kh, kw = self.filters.shape[-2:]
        oh, ow = self.sums.shape[1:]
        (s0, s1), (dh, dw), (sc, sh, sw) = self.layer.stride, self.layer.dilation, self.padded.data.strides
        windows = as_strided(
            self.padded.data, (oh, ow, c, kh, kw), (sh * s0, sw * s1, sc, sh * dh, sw * dw), writeable=False
        )
        return _products(Values(windows, self.padded.scale), self.filters[f], self.sums)

    def subtotals(self, f: int) -> Values:
        """Every window's products for filter f added up per channel, (oh, ow, C)."""
        return channel_totals(self.products(f))

    def windows(self, f: int, limit: int | None = None) -> Iterator[ConvWindow]:
        """Filter f's windows in reading order, the first `limit` of them if given."""
        return (self.window(f, i, j) for i, j in reading_order(self.sums.shape[1:], limit))


@dataclass(frozen=True, eq=False)
class TransposedTrace:
    """A transposed convolution in its two views: each input cell's scaled copy of the filter placed stride
    apart on a canvas and added up (`canvas`, before the padding is trimmed), and the equivalent convolution
    over the expanded input (`conv`), whose sums are the output."""

    number: int
    layer: ConvTranspose2d
    input: Values  # (C, H, W)
    conv: ConvTrace  # over the expanded input: zeros between the cells and around them
    canvas: Values  # (F, (H - 1) s + k + a, ...): the copies added up, before trimming and bias

    def copy(self, f: int, c: int, i: int, j: int) -> Values:
        """Input cell (c, i, j) times filter f's grid for channel c: the copy that cell adds to the canvas."""
        return times(self.input[c, i, j], self.layer.filters[f, c])

    def place(self, i: int, j: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """The canvas rows and columns [start, stop) that input cell (i, j)'s copy covers: stride apart."""
        kh, kw = self.layer.filters.shape[-2:]
        sh, sw = self.layer.stride
        return (i * sh, i * sh + kh), (j * sw, j * sw + kw)

    def sources(self, i: int, j: int) -> list[tuple[int, int, int, int, int]]:
        """(channel, input row, input column, filter row, filter column) of every copy that reaches output
        cell (i, j), at canvas cell (i + p, j + p), in reading order of the input."""
        kh, kw = self.layer.filters.shape[-2:]
        (sh, sw), (ph, pw) = self.layer.stride, self.layer.padding
        c, h, w = self.input.shape
        rows = [(a, i + ph - a * sh) for a in range(h) if 0 <= i + ph - a * sh < kh]
        cols = [(b, j + pw - b * sw) for b in range(w) if 0 <= j + pw - b * sw < kw]
        return [(ch, a, b, u, v) for ch in range(c) for a, u in rows for b, v in cols]

    def cell(self, f: int, i: int, j: int) -> Terms:
        """Output cell (i, j) of filter f as the sum of the copies' cells that land on it, plus the bias."""
        where = np.array(self.sources(i, j), dtype=np.int64).reshape(-1, 5).T
        factors = self.input[where[0], where[1], where[2]]
        weights = self.layer.filters[f][where[0], where[3], where[4]]
        bias = self.layer.bias[f] if self.layer.bias is not None else None
        return Terms((f, i, j), factors, weights, _products(factors, weights, self.sums), bias, self.sums[f, i, j])

    @property
    def expanded(self) -> Values:
        return self.conv.padded

    @property
    def sums(self) -> Values:
        return self.conv.sums

    @property
    def output(self) -> Values:
        return self.conv.output


@dataclass(frozen=True, eq=False)
class PoolTrace:
    number: int
    layer: Pool
    input: Values
    padding: Padding
    padded: Values  # the input with its padding (for max pooling, a value below every cell: it never wins)
    sizes: tuple[SizeStep, SizeStep]
    sums: Values  # the maxima, or the means exactly
    output: Values
    totals: Values | None = None  # an average pool's window totals, before dividing

    def is_padding(self, row: int, col: int) -> bool:
        """Whether a cell of the padded map is padding."""
        h, w = self.input.shape[1:]
        return not (self.padding.top <= row < self.padding.top + h and self.padding.left <= col < self.padding.left + w)

    def window(self, c: int, i: int, j: int) -> PoolWindow:
        (kh, kw), (sh, sw) = self.layer.kernel(self.input.shape), self.layer.stride
        rows, cols = (i * sh, i * sh + kh), (j * sw, j * sw + kw)
        values = self.padded[c, rows[0] : rows[1], cols[0] : cols[1]]
        where = None
        if self.layer.kind == "maxpool":
            where = divmod(int(np.argmax(values.data)), kw)
        total = self.totals[c, i, j] if self.totals is not None else None
        return PoolWindow(self.layer.kind, c, i, j, rows, cols, values, self.sums[c, i, j], where, total)

    def windows(self, c: int, limit: int | None = None) -> Iterator[PoolWindow]:
        """Channel c's windows in reading order, the first `limit` of them if given."""
        return (self.window(c, i, j) for i, j in reading_order(self.sums.shape[1:], limit))


@dataclass(frozen=True, eq=False)
class ElementwiseTrace:
    """An activation applied cell by cell (relu, leaky_relu, sigmoid, tanh, identity)."""

    number: int
    layer: Activation
    input: Values
    sums: Values  # the values before rounding
    output: Values

    def element(self, index: tuple[int, ...]) -> Element:
        return Element(index, self.input[index], self.sums[index], self.output[index])

    def elements(self, limit: int | None = None) -> Iterator[Element]:
        for n, index in enumerate(np.ndindex(*self.input.shape)):
            if limit is not None and n >= limit:
                return
            yield self.element(index)


@dataclass(frozen=True, eq=False)
class MixTrace:
    """The 1x1 filter: each output cell is a weighted sum of the input's channels at that cell."""

    number: int
    layer: Conv1x1
    input: Values  # (C, H, W)
    sums: Values  # (1, H, W)
    output: Values

    @property
    def weights(self) -> Values:
        """(C,)"""
        return self.layer.weights

    @property
    def bias(self) -> Values | None:
        return self.layer.bias

    def cell(self, i: int, j: int) -> Terms:
        factors = self.input[:, i, j]
        bias = self.bias[0] if self.bias is not None else None
        return Terms(
            (i, j), factors, self.weights, _products(factors, self.weights, self.sums), bias, self.sums[0, i, j]
        )


@dataclass(frozen=True, eq=False)
class DenseTrace:
    number: int
    layer: Dense
    input: Values  # as it came in, (C, H, W) or (D,)
    weights: Values  # (N, D): each row a neuron's weights, flat in the input's order
    bias: Values | None  # (N,)
    sums: Values  # (N,) exact
    output: Values

    def neuron(self, k: int) -> Terms:
        factors = self.input.reshape(-1)
        weights = self.weights[k]
        bias = self.bias[k] if self.bias is not None else None
        return Terms((k,), factors, weights, _products(factors, weights, self.sums), bias, self.sums[k])

    def neuron_grid(self, k: int) -> Values:
        """Neuron k's weights laid out like the input (the tutorial's N1, N2)."""
        return self.weights[k].reshape(self.input.shape)


@dataclass(frozen=True, eq=False)
class SoftmaxTrace:
    number: int
    layer: Activation
    input: Values  # z, flat
    shift: Values | None  # max z, subtracted before exponentials when they would overflow
    full_exps: Values  # e^(z - shift) in full
    exps: Values  # e^(z - shift) as carried
    total: Values  # scalar: sum of exps as carried
    sums: Values  # exps / total before rounding
    output: Values


@dataclass(frozen=True, eq=False)
class FlattenTrace:
    number: int
    layer: Flatten
    input: Values  # (C, H, W)
    output: Values  # (C * H * W,)


LayerTrace = (
    ConvTrace | TransposedTrace | PoolTrace | ElementwiseTrace | MixTrace | DenseTrace | SoftmaxTrace | FlattenTrace
)


@dataclass(frozen=True, eq=False)
class Trace:
    problem: Problem
    settings: Settings  # the settings it was traced with (rounding and decimals shape its numbers)
    table: ShapeTable  # every layer's shape, parameters and multiply-adds
    # The forward pass, run once when `layers` is first read: a shapes summary (detail = "shapes") never reads
    # it, so a 224x224 network is summed up without working a single window.
    run: Callable[[], tuple[LayerTrace, ...]]

    @cached_property
    def layers(self) -> tuple[LayerTrace, ...]:
        return self.run()

    @property
    def output(self) -> Values:
        return self.layers[-1].output if self.layers else self.problem.input
