"""The backward evaluator: the loss, every layer's gradients, and the gradient-descent update, as records.

Every layer goes the same three steps, mirroring the forward evaluator: from dL/d(output) compute dL/d(input)
and dL/d(parameters) with numpy, carry them as the settings say (rounded to the places a student keeps, or in
full), and return the layer's record (gradients.LayerGrad). The forward values used are those the forward pass
carried, so that a solution with carried rounding reproduces the working a student does on paper.

Limits, stated plainly: gradients are floats (no exact fractions, no symbols); rounding a value (carry) is
treated as the identity when differentiating, as a student does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .errors import StepperError
from .evaluate import trace
from .gradients import LayerGrad, LossTrace, Training, TrainingStep, Update
from .numbers import Values, floats, round_half_away
from .spec import Conv1x1, Conv2d, ConvTranspose2d, Dense, Layer, Problem, Settings
from .trace import (
    ConvTrace,
    DenseTrace,
    ElementwiseTrace,
    FlattenTrace,
    LayerTrace,
    MixTrace,
    PoolTrace,
    SoftmaxTrace,
    Trace,
    TransposedTrace,
)
from .train import Train


def training(problem: Problem, settings: Settings | None = None, forward: Trace | None = None) -> Training:
    """Every step of gradient descent the problem's [train] asks for, and the loss after the last. `forward`, the
    problem's forward trace with the same rounding and places, if a caller has it, is the first step's (a document
    has traced the forward pass already)."""
    if problem.train is None:
        raise StepperError("the problem has no [train] table: nothing to train", file=problem.source)
    settings = settings or problem.settings
    if settings.detail == "shapes":
        settings = replace(settings, detail="answers")
    train, steps, current = problem.train, [], problem
    reuse = forward is not None and forward.problem is problem and _same_numbers(forward.settings, settings)
    for number in range(1, train.steps + 1):
        forward = forward if number == 1 and reuse else trace(current, settings)
        assert forward is not None
        loss = _step_loss(forward, train, settings, number)
        grads = backward(forward, loss, train, settings)
        updates = update(current, grads, train, settings)
        after = updated(current, updates)
        steps.append(TrainingStep(number, forward, loss, grads, updates, after))
        current = after
    final = _step_loss(trace(current, settings), train, settings, train.steps + 1)
    return Training(train, tuple(steps), final)


def _step_loss(forward: Trace, train: Train, settings: Settings, number: int) -> LossTrace:
    """The loss before step `number`; a loss that fails after the first step says after which step it did."""
    try:
        return loss_of(forward, train, settings)
    except StepperError as e:
        if number == 1:
            raise
        raise StepperError(
            f"after step {number - 1} of {train.steps}: {e.message}", file=e.file, place=e.place
        ) from None


def _same_numbers(a: Settings, b: Settings) -> bool:
    """Whether two settings give a trace the same numbers: its rounding and places shape them, nothing else."""
    return (a.rounding, a.decimals) == (b.rounding, b.decimals)


# ---- the loss ----


def loss_of(forward: Trace, train: Train, settings: Settings) -> LossTrace:
    """L of the network's output against the target, and the gradient the backward pass starts from."""
    yhat = forward.output.reshape(-1)
    p, y = yhat.floats().astype(np.float64), train.target.floats().astype(np.float64)
    n = p.size
    kind = train.loss
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "half_sse":
            terms, value, grad = 0.5 * (p - y) ** 2, None, p - y
        elif kind == "mse":
            terms, value, grad = (p - y) ** 2, None, 2 * (p - y) / n
        elif kind == "cross_entropy":
            terms, grad = np.where(y > 0, -y * np.log(p), 0.0), p * y.sum() - y
            value = None
        else:  # binary_cross_entropy
            terms = -(np.where(y > 0, y * np.log(p), 0.0) + np.where(y < 1, (1 - y) * np.log(1 - p), 0.0))
            value, grad = None, (p - y) / n
    if not np.isfinite(terms).all():
        bad = int(np.argmax(~np.isfinite(terms)))
        raise StepperError(
            f"the loss is infinite: output {bad + 1} is {p[bad]:g}, whose logarithm has no value; "
            "carry more decimals (or rounding = 'full')",
            file=forward.problem.source,
            place="[train] field 'loss'",
        )
    # The total of the terms as written: carried terms are added as they stand, as softmax adds its rounded
    # exponentials, so that the sum shown adds up to the loss shown.
    kept = _kept(terms, settings)
    total = kept.floats().sum() / (n if kind in ("mse", "binary_cross_entropy") else 1) if value is None else value
    return LossTrace(
        kind,
        yhat,
        train.target,
        kept,
        _kept(np.array(total), settings),
        _kept(grad, settings),
        train.combined,
    )


# ---- the backward pass ----


def backward(forward: Trace, loss: LossTrace, train: Train, settings: Settings) -> tuple[LayerGrad, ...]:
    """Each layer's backward record, last layer first, from the loss's gradient down to the first layer."""
    records = forward.layers
    upstream = loss.grad.reshape(*records[-1].output.shape) if records else loss.grad
    start = len(records) - (1 if loss.combined else 0)
    grads = []
    for record in reversed(records[:start]):
        grad = back_step(record, upstream, train, settings)
        grads.append(grad)
        upstream = grad.input
    return tuple(grads)


def back_step(record: LayerTrace, upstream: Values, train: Train, settings: Settings) -> LayerGrad:
    """One layer's backward record from any upstream gradient of its output's shape (the checker runs a
    student's own gradient through the layer below this way)."""
    found = BACK_STEPS.get(type(record))
    if found is None:  # every forward record has its backward step; a new kind of layer adds one here
        raise StepperError(f"no backward step for layer kind {record.layer.kind!r}", place=f"layer {record.number}")
    g = upstream.floats().astype(np.float64).reshape(record.output.shape)
    # The upstream gradient is kept as it was given: carried already (the layer above's, or the loss's), or the
    # student's own as written.
    return replace(found(record, g, train, settings), upstream=upstream.reshape(*record.output.shape))


def _kept(data: np.ndarray, settings: Settings) -> Values:
    """A gradient as carried: rounded to the settings' places when rounding is carried, else in full."""
    v = floats(np.asarray(data, dtype=np.float64))
    if settings.rounding == "carry":
        return _carried(v, settings.decimals)
    return v


# Rounded values up to this size stay whole in a float, and within numbers' exact range.
_WHOLE = 2.0**51
# How near a half of the last place (in units of that place) a float must lie to be read as the half it stands for.
_NEAR_HALF = 1e-6


def _carried(v: Values, places: int) -> Values:
    """A gradient rounded to `places` decimals, halves away from zero, as a student rounds it: the same Values
    (lowest terms) as numbers.round_half_away gives, except at a half of the last place. Worked from decimals of a
    few places, a gradient is a decimal of a few more, which a float holds only to within a hair: -0.0283 x 1/2 =
    -0.01415 comes out as -0.014149999..., and rounding that float (even exactly) gives -0.0141 where a student
    writes -0.0142. So a cell within a hair of a half is read to 12 significant figures, and a half is rounded
    away from zero. One pass of numpy for the whole array (a layer's dL/dW holds every weight); anything unusual
    (no places, a huge or non-finite value) is left to round_half_away."""
    x = v.data.reshape(-1)  # a 0-d array's abs would be a scalar, which no `out=` takes
    unit = 10**places
    scaled = np.abs(x)
    scaled *= unit
    q = scaled + 0.5
    np.floor(q, out=q)
    if places < 1 or not (q.size and q.max() < _WHOLE):  # NaN compares false
        return round_half_away(v, places)
    scaled -= q  # how far past the nearest whole number: from -1/2 up to 1/2, near +-1/2 at a half
    np.abs(scaled, out=scaled)
    near = scaled > 0.5 - _NEAR_HALF
    if near.any():
        q[near] = _halves_up(x[near], unit)
    ints = np.copysign(q, x, out=q).astype(np.int64)
    common = _common_factor(ints, unit)
    return Values((ints // common if common > 1 else ints).reshape(v.shape), unit // common, places)


def _halves_up(x: np.ndarray, unit: int) -> np.ndarray:
    """|x| x unit rounded half up, for cells near a half of the last place: each read to 12 significant figures
    first (a whole number of 12 digits, R x 10^(e - 11)), so that a float a hair below a half counts as the half it
    stands for; then rounded in whole numbers, exactly."""
    magnitude = np.abs(x)
    e = np.floor(np.log10(magnitude)).astype(np.int64)
    digits = np.round(magnitude * 10.0 ** (11 - e)).astype(np.int64)  # R: the 12 significant figures
    below = 11 - e - (len(str(unit)) - 1)  # R's digits below the last place kept
    # A cell near a half is at least half a unit of the last place, so `below` is at most 12; and under 2^51
    # units (_carried), so -below is at most 4: every power of 10 here fits in int64.
    shift = np.power(10, np.maximum(below, 0))
    q, r = np.divmod(digits, shift)
    q = np.where(below > 0, q + (2 * r >= shift), digits * np.power(10, np.maximum(-below, 0)))
    return q.astype(np.float64)


def _common_factor(flat: np.ndarray, unit: int) -> int:
    """The largest divisor of unit = 10^places that divides every numerator: 2^a 5^b, found by whole-array tests
    of divisibility, a few of them, rather than a gcd over every cell. A sample of the cells bounds it first: for
    most gradients the sample alone shows it is 1."""
    bound = math.gcd(unit, *flat[:: max(1, flat.size // 64)].tolist())
    if bound == 1:
        return 1
    twos = fives = 0
    while bound % 2 ** (twos + 1) == 0 and not (flat & ((2 << twos) - 1)).any():
        twos += 1
    while bound % 5 ** (fives + 1) == 0 and not (flat % 5 ** (fives + 1)).any():
        fives += 1
    return 2**twos * 5**fives


def _windows(data: np.ndarray, shape: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], out):
    """(oh, ow, C, kh, kw) view of every window of a (C, H, W) array."""
    c = data.shape[0]
    sc, sh, sw = data.strides
    return as_strided(
        data,
        (out[0], out[1], c, shape[0], shape[1]),
        (sh * stride[0], sw * stride[1], sc, sh * dilation[0], sw * dilation[1]),
        writeable=False,
    )


def _conv_grads(conv: ConvTrace, g: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """(dL/dfilters as written, dL/db, dL/d(padded input), the upstream spread for the full convolution)."""
    layer = conv.layer
    kernels = layer.kernels.floats().astype(np.float64)
    padded = np.ascontiguousarray(conv.padded.floats(), dtype=np.float64)
    f, c, kh, kw = kernels.shape
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    oh, ow = g.shape[1:]
    windows = _windows(padded, (kh, kw), (sh, sw), (dh, dw), (oh, ow))
    # Two matrix products (BLAS), as the forward pass's im2col: every window's cells against the upstream, and
    # every filter cell's share of every output cell, added back at its place.
    d_kernels = np.tensordot(g, windows, axes=([1, 2], [0, 1]))  # (F, C, kh, kw)
    shares = np.tensordot(kernels, g, axes=([0], [0]))  # (C, kh, kw, oh, ow)
    d_padded = np.zeros_like(padded)
    for u in range(kh):
        for v in range(kw):
            rows = slice(u * dh, u * dh + (oh - 1) * sh + 1, sh)
            cols = slice(v * dw, v * dw + (ow - 1) * sw + 1, sw)
            d_padded[:, rows, cols] += shares[:, u, v]
    # The same dL/d(padded input) as a full convolution: the upstream spread stride apart, reach - 1 zeros
    # around (and the cells no window reached at the end), slid under the kernels turned 180 degrees.
    rh, rw = layer.reach
    hp, wp = padded.shape[1:]
    spread = np.zeros((f, hp + rh - 1, wp + rw - 1))
    spread[:, rh - 1 : rh - 1 + (oh - 1) * sh + 1 : sh, rw - 1 : rw - 1 + (ow - 1) * sw + 1 : sw] = g
    d_filters = d_kernels[..., ::-1, ::-1] if layer.flip else d_kernels
    d_bias = g.sum(axis=(1, 2)) if layer.bias is not None else None
    return d_filters, d_bias, d_padded, spread


def _conv(record: ConvTrace, g: np.ndarray, train: Train, settings: Settings) -> LayerGrad:
    d_filters, d_bias, d_padded, spread = _conv_grads(record, g)
    pad = record.padding
    h, w = record.input.shape[1:]
    d_input = d_padded[:, pad.top : pad.top + h, pad.left : pad.left + w]
    return _carried_step(
        record, g, settings, d_input, weights=d_filters, bias=d_bias, spread=spread, rotated=_rotated(record.layer)
    )


def _transposed(record: TransposedTrace, g: np.ndarray, train: Train, settings: Settings) -> LayerGrad:
    """Worked as the convolution over the expanded input it is; dL/d(input) is read off the expanded input's
    gradient at the cells the input was spread to."""
    d_filters, d_bias, d_expanded, spread = _conv_grads(record.conv, g)
    (h, w), at = record.layer.expansion(record.input.shape)
    sh, sw = record.layer.stride
    d_input = d_expanded[:, at.top : h - at.bottom : sh, at.left : w - at.right : sw]
    return _carried_step(
        record, g, settings, d_input, weights=d_filters, bias=d_bias, spread=spread, rotated=_rotated(record.conv.layer)
    )


def _rotated(layer: Conv2d) -> Values:
    return floats(layer.kernels.floats()[..., ::-1, ::-1].astype(np.float64))


def _carried_step(
    record: LayerTrace,
    g: np.ndarray,
    settings: Settings,
    d_input: np.ndarray,
    *,
    local: Values | None = None,
    weights: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    spread: np.ndarray | None = None,
    rotated: Values | None = None,
) -> LayerGrad:
    """A layer's backward record, every gradient in it carried as the settings say (`local` as the step gives
    it: a derivative a student rounds is rounded by the step itself)."""
    return LayerGrad(
        record.number,
        record.layer,
        record,
        floats(g),  # back_step puts the upstream as it was given here
        local,
        None if weights is None else _kept(weights, settings),
        None if bias is None else _kept(bias, settings),
        _kept(d_input, settings),
        None if spread is None else floats(spread),
        rotated,
    )


def _pool(record: PoolTrace, g: np.ndarray, train: Train, settings: Settings) -> LayerGrad:
    """Max pooling sends each window's gradient to its maximum (the first of tied cells, or each of them, as
    `ties` says); average pooling shares it equally among the window's cells, padding included."""
    (kh, kw), stride = record.layer.kernel(record.input.shape), record.layer.stride
    padded = np.ascontiguousarray(record.padded.floats(), dtype=np.float64)
    c, oh, ow = g.shape
    windows = _windows(padded, (kh, kw), stride, (1, 1), (oh, ow)).transpose(2, 0, 1, 3, 4)  # (C, oh, ow, kh, kw)
    if record.layer.kind == "maxpool":
        best = windows.max(axis=(3, 4), keepdims=True)
        share = (windows == best).astype(np.float64)
        if train.ties == "first":
            flat = share.reshape(c, oh, ow, kh * kw)
            first = np.zeros_like(flat)
            np.put_along_axis(first, flat.argmax(axis=-1)[..., None], 1.0, axis=-1)
            share = first.reshape(share.shape)
    else:
        share = np.full(windows.shape, 1.0 / (kh * kw))
    d_padded, local = np.zeros_like(padded), np.zeros_like(padded)
    for u in range(kh):
        for v in range(kw):
            rows = slice(u, u + (oh - 1) * stride[0] + 1, stride[0])
            cols = slice(v, v + (ow - 1) * stride[1] + 1, stride[1])
            d_padded[:, rows, cols] += share[:, :, :, u, v] * g
            local[:, rows, cols] += share[:, :, :, u, v]
    pad = record.padding
    h, w = record.input.shape[1:]
    inside = (slice(None), slice(pad.top, pad.top + h), slice(pad.left, pad.left + w))
    return _carried_step(record, g, settings, d_padded[inside], local=floats(local[inside]))


def _activation(record: ElementwiseTrace, g: np.ndarray, train: Train, settings: Settings) -> LayerGrad:
    """f'(x) cell by cell, from the forward values as carried: relu's 1 where x > 0 (else 0), leaky relu's
    slope where x <= 0, sigmoid's y(1 - y), tanh's 1 - y^2, identity's 1."""
    x, y, kind = record.input.floats(), record.output.floats(), record.layer.kind
    if kind == "relu":
        local = (x > 0).astype(np.float64)
    elif kind == "leaky_relu":
        assert record.layer.slope is not None
        local = np.where(x > 0, 1.0, float(record.layer.slope.floats()))
    elif kind == "sigmoid":
        local = y * (1 - y)
    elif kind == "tanh":
        local = 1 - y**2
    else:  # identity
        local = np.ones_like(x, dtype=np.float64)
    local_kept = _kept(local, settings) if kind in ("sigmoid", "tanh") else floats(local)
    return _carried_step(record, g, settings, g * local_kept.floats(), local=local_kept)


def _softmax(record: SoftmaxTrace, g: np.ndarray, train: Train, settings: Settings) -> LayerGrad:
    """dL/dz_i = yhat_i (g_i - sum_j g_j yhat_j): softmax's Jacobian, when the loss is not cross-entropy."""
    s = record.output.floats().astype(np.float64)
    return _carried_step(record, g, settings, s * (g - g @ s))


def _mix(record: MixTrace, g: np.ndarray, train: Train, settings: Settings) -> LayerGrad:
    x, w = record.input.floats().astype(np.float64), record.weights.floats().astype(np.float64)
    d_weights = np.einsum("hw,chw->c", g[0], x)
    d_bias = np.array([g.sum()]) if record.bias is not None else None
    return _carried_step(record, g, settings, w[:, None, None] * g[0], weights=d_weights, bias=d_bias)


def _dense(record: DenseTrace, g: np.ndarray, train: Train, settings: Settings) -> LayerGrad:
    x = record.input.floats().astype(np.float64).reshape(-1)
    weights = record.weights.floats().astype(np.float64)
    d_input = (weights.T @ g).reshape(record.input.shape)
    return _carried_step(
        record, g, settings, d_input, weights=np.outer(g, x), bias=g if record.bias is not None else None
    )


def _flatten(record: FlattenTrace, g: np.ndarray, train: Train, settings: Settings) -> LayerGrad:
    return _carried_step(record, g, settings, g.reshape(record.input.shape))


# One backward step per class of forward record: a new kind of layer adds its step here.
BACK_STEPS: dict[type, Callable[[Any, np.ndarray, Train, Settings], LayerGrad]] = {
    ConvTrace: _conv,
    TransposedTrace: _transposed,
    PoolTrace: _pool,
    ElementwiseTrace: _activation,
    SoftmaxTrace: _softmax,
    MixTrace: _mix,
    DenseTrace: _dense,
    FlattenTrace: _flatten,
}


# ---- the update ----


def update(problem: Problem, grads: tuple[LayerGrad, ...], train: Train, settings: Settings) -> tuple[Update, ...]:
    """new = old - rate x grad for every parameter array (biases only when `update_bias`), layer by layer."""
    rate = float(train.learning_rate)
    made = []
    for grad in sorted(grads, key=lambda g: g.number):
        for name, old, g in _parameters(grad):
            if name == "bias" and not train.update_bias:
                continue
            new = old.floats().astype(np.float64) - rate * g.floats()
            made.append(Update(grad.number, name, old, g, _kept(new, settings)))
    return tuple(made)


def _parameters(grad: LayerGrad) -> list[tuple[str, Values, Values]]:
    """(field, the array as it stands, its gradient) for each parameter array of a layer."""
    layer = grad.layer
    found: list[tuple[str, Values, Values]] = []
    if grad.weights is not None:
        if isinstance(layer, Dense):
            found.append(("weights", grad.forward.weights, grad.weights))  # type: ignore[union-attr]
        elif isinstance(layer, (Conv2d, ConvTranspose2d)):
            found.append(("filters", layer.filters, grad.weights))
        elif isinstance(layer, Conv1x1):
            found.append(("weights", layer.weights, grad.weights))
    bias = getattr(layer, "bias", None)
    if grad.bias is not None and bias is not None:
        found.append(("bias", bias, grad.bias))
    return found


def updated(problem: Problem, updates: tuple[Update, ...]) -> Problem:
    """The problem with each updated array in place of the old one."""
    layers: list[Layer] = list(problem.layers)
    for u in updates:
        layer = layers[u.number - 1]
        if isinstance(layer, Dense) and u.name == "weights":
            rows = tuple(u.new[k].reshape(*w.shape) for k, w in enumerate(layer.weights))
            layers[u.number - 1] = replace(layer, weights=rows)
        else:
            layers[u.number - 1] = replace(layer, **{u.name: u.new})  # type: ignore[arg-type]
    return replace(problem, layers=tuple(layers))
