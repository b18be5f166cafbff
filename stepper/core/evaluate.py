"""The tracing evaluator: run the forward pass and keep every step as a record.

Every layer goes the same three steps: compute the exact result with numpy
(`sums`), carry it forward as the settings say (rounded like a student, or in
full), and return the layer's record. Exact values are whole numbers over one
denominator; their dot products run in float64 (BLAS), which is exact while
every partial sum stays below 2^53 (numbers.multiplicands), and as inexact
floats beyond that.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .errors import StepperError
from .numbers import (
    SYMBOLIC,
    Values,
    add,
    carried,
    common,
    exact,
    floats,
    multiplicands,
    result,
    round_half_away,
    symbols,
    sympy_module,
    times,
)
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
    output_size,
)
from .trace import (
    ConvTrace,
    DenseTrace,
    ElementwiseTrace,
    FlattenTrace,
    GrowStep,
    LayerTrace,
    MixTrace,
    PoolTrace,
    ShapeRow,
    ShapeTable,
    SizeStep,
    SoftmaxTrace,
    Trace,
    TransposedTrace,
)

# Softmax subtracts the largest z first (and says so in the working) when some |z| exceeds this,
# because e^z would be too large to write, or when the largest e^z would round to 0.
_SHIFT_ABOVE = 30


def trace(problem: Problem, settings: Settings | None = None) -> Trace:
    settings = settings or problem.settings
    table = shape_table(problem)
    if settings.detail == "shapes":  # a table of shapes needs no forward pass: it runs only if some reader asks
        return Trace(problem, settings, table, lambda: _forward(problem, settings))
    records = _forward(problem, settings)
    return Trace(problem, settings, table, lambda: records)


def _forward(problem: Problem, settings: Settings) -> tuple[LayerTrace, ...]:
    x = problem.input
    records = []
    for number, layer in enumerate(problem.layers, 1):
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below, in one line
            record = step(number, layer, x, settings)
        _finite(record.output, number, layer, problem)
        records.append(record)
        x = record.output
    return tuple(records)


# ---- shapes, parameters and multiply-adds, from the shapes alone ----


def shape_table(problem: Problem) -> ShapeTable:
    """Every layer's output shape, with its size formula, parameters and multiply-adds, and their totals."""
    shapes = problem.shapes()
    rows = tuple(_shape_row(n, layer, shapes[n - 1], shapes[n]) for n, layer in enumerate(problem.layers, 1))
    return ShapeTable(shapes[0], rows, sum(r.parameters for r in rows), sum(r.macs for r in rows))


def _shape_row(number: int, layer: Layer, before: Shape, after: Shape) -> ShapeRow:
    weights, biases, (cells, per_cell) = _counts(layer, before, after)
    return ShapeRow(
        number,
        layer,
        before,
        after,
        _size_steps(layer, before),
        weights,
        biases,
        (math.prod(weights) if weights else 0) + biases,
        (cells, per_cell),
        math.prod(cells) * math.prod(per_cell) if per_cell else 0,
    )


def _counts(
    layer: Layer, before: Shape, after: Shape
) -> tuple[tuple[int, ...], int, tuple[tuple[int, ...], tuple[int, ...]]]:
    """(factors of the weight count, biases, (cells that multiply-add, products per cell)). Layers without
    weights compare, add or apply a function: they have no multiply-adds, as the textbooks count."""
    bias = getattr(layer, "bias", None)
    biases = 0 if bias is None else bias.data.size
    if isinstance(layer, Conv2d):  # each output cell: one product per filter cell, over every channel
        f, c, kh, kw = layer.filters.shape
        return (f, c, kh, kw), biases, ((f,) + after[1:], (c, kh, kw))
    if isinstance(layer, ConvTranspose2d):  # each input cell times each filter cell, scattered
        f, c, kh, kw = layer.filters.shape
        return (f, c, kh, kw), biases, ((c,) + before[1:], (f, kh, kw))
    if isinstance(layer, Conv1x1):  # each output cell: one product per channel
        return (before[0],), biases, (before[1:], (before[0],))
    if isinstance(layer, Dense):  # each neuron: one product per input
        inputs = math.prod(before)
        return (after[0], inputs), biases, ((after[0],), (inputs,))
    return (), 0, ((), ())


def _size_steps(layer: Layer, shape: Shape) -> tuple[SizeStep, SizeStep] | tuple[GrowStep, GrowStep] | None:
    """The size formula along each axis, for a layer whose windows (or copies) set its output's size."""
    if isinstance(layer, Conv2d):
        return _sizes(shape[1], shape[2], layer.reach, layer.stride, layer.padding_for(shape))
    if isinstance(layer, Pool) and layer.size is not None:
        return _sizes(shape[1], shape[2], layer.size, layer.stride, layer.padding_for(shape))
    if isinstance(layer, ConvTranspose2d):
        return _grow(layer, shape, 0, "rows"), _grow(layer, shape, 1, "columns")
    return None


def _grow(layer: ConvTranspose2d, shape: Shape, axis: int, name: str) -> GrowStep:
    """(n - 1) s - 2p + k + a along one axis (0: rows, 1: columns) of a transposed convolution."""
    n, k = shape[1 + axis], layer.filters.shape[2 + axis]
    s, p, a = layer.stride[axis], layer.padding[axis], layer.output_padding[axis]
    return GrowStep(name, n, s, p, k, a, (n - 1) * s - 2 * p + k + a)


def _finite(v: Values, number: int, layer: Layer, problem: Problem) -> None:
    """Stop at the layer whose values overflow a float (inf, or nan from inf - inf): every later step
    would be worked on them and printed as infinity."""
    if v.data.dtype.kind == "f" and not np.isfinite(v.data).all():
        raise StepperError(
            f"values grow beyond {np.finfo(np.float64).max:.3g}, the largest a float holds: "
            "scale the weights (or the input) down",
            file=problem.source,
            place=f"layer {number} ({layer.kind})",
        )


def step(number: int, layer: Layer, x: Values, settings: Settings) -> LayerTrace:
    """One layer's record, from any input of the right shape (the checker runs a student's own values
    through the next layer this way)."""
    found = STEPS.get(type(layer))
    if found is None:
        raise StepperError(f"the evaluator has no step for layer kind {layer.kind!r}", place=f"layer {number}")
    return found(number, layer, x, settings)


def _carry(v: Values, settings: Settings) -> Values:
    return carried(v, settings.decimals) if settings.rounding == "carry" else v


def _matmul(a: Values, b: Values) -> Values:
    """a @ b for a matrix `a` (rows of weights) and a vector or matrix `b`, exact when both are."""
    fa, fb, scale = multiplicands(a, b, a.shape[-1])
    return result(fa @ fb, scale)


def _plus_bias(sums: Values, bias: Values | None, shape: tuple[int, ...]) -> Values:
    return sums if bias is None else add(sums, bias.reshape(*shape))


def _sizes(
    n_rows: int, n_cols: int, kernel: tuple[int, int], stride: tuple[int, int], pad: Padding
) -> tuple[SizeStep, SizeStep]:
    return (
        SizeStep(
            "rows",
            n_rows,
            kernel[0],
            stride[0],
            pad.top,
            pad.bottom,
            output_size(n_rows, kernel[0], stride[0], pad.top, pad.bottom),
        ),
        SizeStep(
            "columns",
            n_cols,
            kernel[1],
            stride[1],
            pad.left,
            pad.right,
            output_size(n_cols, kernel[1], stride[1], pad.left, pad.right),
        ),
    )


def _padded(data: np.ndarray, pad: Padding, fill: Any = 0) -> np.ndarray:
    """`fill` (zeros) around each channel (np.pad costs ten times this on small maps)."""
    c, h, w = data.shape
    if data.dtype == object and fill == 0:
        fill = sympy_module().Integer(0)  # a symbolic map is padded with sympy's 0, which prints and adds like the rest
    out = np.full((c, h + pad.top + pad.bottom, w + pad.left + pad.right), fill, dtype=data.dtype)
    out[:, pad.top : pad.top + h, pad.left : pad.left + w] = data
    return out


def _windows(
    data: np.ndarray, kh: int, kw: int, stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)
) -> np.ndarray:
    """Every window of every channel as a (C, oh, ow, kh, kw) view, without copying."""
    c, h, w = data.shape
    sc, sh, sw = data.strides
    (dh, dw), (s0, s1) = dilation, stride
    shape = (c, (h - kh - (kh - 1) * (dh - 1)) // s0 + 1, (w - kw - (kw - 1) * (dw - 1)) // s1 + 1, kh, kw)
    return as_strided(data, shape, (sc, sh * s0, sw * s1, sh * dh, sw * dw), writeable=False)


def _conv2d(number: int, layer: Conv2d, x: Values, settings: Settings) -> ConvTrace:
    pad = layer.padding_for(x.shape)
    padded = Values(_padded(x.data, pad), x.scale, x.places)
    channels, kh, kw = layer.filters.shape[1:]
    fx, fk, scale = multiplicands(padded, layer.kernels, channels * kh * kw)
    windows = _windows(fx, kh, kw, layer.stride, layer.dilation)  # (C, oh, ow, kh, kw)
    _, oh, ow = windows.shape[:3]
    # One matrix product: (F, C*kh*kw) @ (C*kh*kw, oh*ow), as im2col does.
    columns = windows.transpose(0, 3, 4, 1, 2).reshape(channels * kh * kw, oh * ow)
    sums = result((fk.reshape(len(fk), -1) @ columns).reshape(-1, oh, ow), scale)
    sums = _plus_bias(sums, layer.bias, (-1, 1, 1))
    sizes = _sizes(x.shape[1], x.shape[2], layer.reach, layer.stride, pad)
    return ConvTrace(number, layer, x, pad, padded, sizes, sums, _carry(sums, settings))


def _conv_transpose2d(number: int, layer: ConvTranspose2d, x: Values, settings: Settings) -> TransposedTrace:
    """The input's cells spread stride apart, zeros around, then a stride-1 convolution with flipped filters;
    and, for the scattered view, the copies of the filters added up on the canvas."""
    (h, w), at = layer.expansion(x.shape)
    spread = np.full((x.shape[0], h, w), sympy_module().Integer(0) if x.symbolic else 0, dtype=x.data.dtype)
    sh, sw = layer.stride
    spread[:, at.top : h - at.bottom : sh, at.left : w - at.right : sw] = x.data
    conv = _conv2d(number, layer.as_convolution(), Values(spread, x.scale, x.places), settings)
    return TransposedTrace(number, layer, x, conv, _canvas(layer, x))


def _canvas(layer: ConvTranspose2d, x: Values) -> Values:
    """Each input cell's copy of each filter, scaled by the cell, placed stride apart and added: (F, (H - 1) s
    + k + a, ...). One matrix product gives every copy's cell at a filter offset (u, v); adding them at
    their places takes one slice per offset."""
    f, c, kh, kw = layer.filters.shape
    _, h, w = x.shape
    (sh, sw), (ah, aw) = layer.stride, layer.output_padding
    fx, fk, scale = multiplicands(x, layer.filters, c * kh * kw)
    copies = np.einsum("fcuv,chw->fuvhw", fk, fx)
    zero = sympy_module().Integer(0) if scale == SYMBOLIC else 0
    canvas = np.full((f, (h - 1) * sh + kh + ah, (w - 1) * sw + kw + aw), zero, dtype=copies.dtype)
    for u in range(kh):
        for v in range(kw):
            canvas[:, u : u + (h - 1) * sh + 1 : sh, v : v + (w - 1) * sw + 1 : sw] += copies[:, u, v]
    return result(canvas, scale)


def _pool(number: int, layer: Pool, x: Values, settings: Settings) -> PoolTrace:
    (kh, kw), s = layer.kernel(x.shape), layer.stride
    pad = layer.padding_for(x.shape)
    # Padding for a maximum must never win: anything below the whole map does, since no window
    # (padding at most half of it) is padding alone. For an average, padding counts as 0.
    fill = (
        (x.data.min() - 1 if x.data.size else 0)
        if layer.kind == "maxpool"
        else (sympy_module().Integer(0) if x.symbolic else 0)
    )
    padded = Values(_padded(x.data, pad, fill), x.scale, x.places) if pad.any else x
    windows = _windows(padded.data, kh, kw, s)
    totals = None
    if layer.kind == "maxpool":
        sums = Values(windows.max(axis=(3, 4)), x.scale, x.places)
    elif x.symbolic:
        totals = symbols(windows.sum(axis=(3, 4)))
        sums = symbols(totals.data * sympy_module().Rational(1, kh * kw))
    elif x.exact:  # each window's total, as written before dividing (x.places: rounded values added up keep theirs)
        totals = Values(windows.sum(axis=(3, 4)), x.scale, x.places)
        sums = exact(totals.data, x.scale * kh * kw)
    else:
        totals = floats(windows.sum(axis=(3, 4)))
        sums = floats(windows.mean(axis=(3, 4)))
    sizes = _sizes(x.shape[1], x.shape[2], (kh, kw), s, pad)
    return PoolTrace(number, layer, x, pad, padded, sizes, sums, _carry(sums, settings), totals)


def _conv1x1(number: int, layer: Conv1x1, x: Values, settings: Settings) -> MixTrace:
    c, h, w = x.shape
    sums = _matmul(layer.weights.reshape(1, c), x.reshape(c, h * w)).reshape(1, h, w)
    sums = _plus_bias(sums, layer.bias, (1, 1, 1))
    return MixTrace(number, layer, x, sums, _carry(sums, settings))


def _dense(number: int, layer: Dense, x: Values, settings: Settings) -> DenseTrace:
    weights = layer.matrix
    sums = _matmul(weights, x.reshape(-1))
    sums = _plus_bias(sums, layer.bias, (-1,))
    return DenseTrace(number, layer, x, weights, layer.bias, sums, _carry(sums, settings))


def _activation(number: int, layer: Activation, x: Values, settings: Settings) -> ElementwiseTrace | SoftmaxTrace:
    if layer.kind == "softmax":
        return _softmax(number, layer, x, settings)
    if layer.kind in ("sigmoid", "tanh"):  # known only approximately: rounded like a student, or in full
        full = floats(_sigmoid(x.floats()) if layer.kind == "sigmoid" else np.tanh(x.floats()))
        return ElementwiseTrace(number, layer, x, full, _rounded(full, settings))
    if layer.kind == "relu":
        y = Values(np.maximum(x.data, 0), x.scale, x.places)
    elif layer.kind == "leaky_relu":
        assert layer.slope is not None, "a leaky_relu is made with its slope (load, from_torch)"
        y = _carry(_leaky(x, layer.slope), settings)
    else:  # identity
        y = x
    return ElementwiseTrace(number, layer, x, y, y)


def _leaky(x: Values, slope: Values) -> Values:
    """z where z > 0, else slope * z: exact when z and the slope are."""
    positive, negative, scale = common(x, times(x, slope))
    data = np.where(x.data > 0, positive, negative)
    return exact(data, scale) if scale else floats(data)


def _flatten(number: int, layer: Flatten, x: Values, settings: Settings) -> FlattenTrace:
    return FlattenTrace(number, layer, x, x.reshape(-1))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow: e^-|z| never exceeds 1."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softmax(number: int, layer: Activation, x: Values, settings: Settings) -> SoftmaxTrace:
    z = x.reshape(-1)
    zf = z.floats()
    shift = None
    if zf.size and (np.abs(zf).max() > _SHIFT_ABOVE or np.exp(zf.max()) < 10.0**-settings.decimals):
        shift = z[int(np.argmax(zf))]
        zf = zf - shift.floats()
    full_exps = floats(np.exp(zf))
    exps = _rounded(full_exps, settings)
    if exps.exact:  # the sum and the ratios of rounded exponentials, exactly as written
        total = Values(exps.data.sum(), exps.scale, exps.places)
        ratios = exact(exps.data, int(total.data)) if total.data else floats(exps.floats() / exps.floats().sum())
    else:
        total = floats(exps.data.sum())
        ratios = floats(exps.data / total.data)
    return SoftmaxTrace(number, layer, z, shift, full_exps, exps, total, ratios, _rounded(ratios, settings))


def _rounded(v: Values, settings: Settings) -> Values:
    """Values only known approximately: rounded when carried, else kept in full (printed rounded)."""
    if settings.rounding == "carry":
        return round_half_away(v, settings.decimals)
    return v


# One step per class of layer, which takes the kind of layer its key names: a new kind of layer adds its step here.
STEPS: dict[type, Callable[[int, Any, Values, Settings], LayerTrace]] = {
    Conv2d: _conv2d,
    ConvTranspose2d: _conv_transpose2d,
    Pool: _pool,
    Conv1x1: _conv1x1,
    Dense: _dense,
    Activation: _activation,
    Flatten: _flatten,
}
