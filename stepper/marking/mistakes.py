"""Well-known mistakes, each a changed network that a student might have worked by mistake.

A mistake is the network with one layer changed (no padding, stride 1, kernel
flipped, ReLU forgotten, ...) or the settings changed (rounding too early).
Running it gives the values that mistake produces at every stage, which the
checker compares with a student's values to name what went wrong. Formula
slips that no layer type expresses (sigmoid with e^z, softmax without the
exponential) are small `Formula` layers that exist only here.
Limits: one mistake at a time; "rows and columns swapped" is a way of writing
a map down, so the checker tries it on the answer itself, not here.

The backward pass's mistakes (a problem with [train]) are slips in one step, each made on what the student had
coming into it, as `backward.py` judges them: a loss worked with the wrong formula (`loss_slips`), the loss's
gradient with its sign turned or a factor left out (`top_slips`), a layer's dL/d(input) worked without its
activation's derivative, with max pooling's gradient sent to every cell or dense weights not transposed
(`input_slips`), and an update that adds, forgets the learning rate or writes the step alone (`update_slips`).
Each gives the values it leads to, by name; the checker names the one that reproduces the student's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..core.errors import StepperError
from ..core.evaluate import step
from ..core.numbers import Values, floats, from_numbers, round_half_away
from ..core.spec import Activation, Conv1x1, Conv2d, Dense, Layer, Pool, Problem, Settings, Shape


@dataclass(frozen=True, eq=False)
class Formula:
    """An activation written down wrong: `fn` maps the input's floats to the output's."""

    kind: str
    fn: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class Mistake:
    name: str  # as the report says it: "no padding (padding 1 was asked)"
    layer: int  # the 1-based layer where it is made
    layers: tuple[Layer | Formula, ...]  # the whole network with the mistake in it
    settings: Settings


# A mistake one layer invites: its name, and what the layer becomes (a changed layer, a formula written down
# wrong, or the layer and the one after it done the other way round: the next one's stand-in, then this one).
Variant = tuple[str, Layer | Formula | tuple[Layer, Layer]]


def catalogue(problem: Problem, settings: Settings) -> list[Mistake]:
    """Every known mistake that changes something in this problem's network."""
    shapes = problem.shapes()
    found: list[Mistake] = []
    layers: tuple[Layer | Formula, ...] = problem.layers  # a mistake may put a Formula in
    for j, layer in enumerate(problem.layers, 1):
        for name, changed in _variants(layer, shapes[j - 1], problem.layers[j] if j < len(layers) else None):
            if isinstance(changed, tuple):  # two layers swapped: (this one's stand-in, the next one's)
                new = layers[: j - 1] + changed + layers[j + 1 :]
            else:
                new = layers[: j - 1] + (changed,) + layers[j:]
            found.append(Mistake(name, j, new, settings))
    rounded = [j for j, layer in enumerate(layers, 1) if layer.kind in ("sigmoid", "tanh", "softmax", "leaky_relu")]
    if rounded and settings.rounding == "carry":
        for places in range(max(settings.decimals - 3, 0), settings.decimals):
            found.append(
                Mistake(
                    f"rounded to {places} decimal place{'s' * (places != 1)} instead of "
                    f"{settings.decimals}: rounding too early",
                    rounded[0],
                    layers,
                    replace(settings, decimals=places),
                )
            )
    return found


def outputs(layers: tuple[Layer | Formula, ...], x: Values, settings: Settings, first: int = 1) -> list[Values | None]:
    """Each layer's output from layer `first` on, starting from its input `x`; None from the first
    layer that cannot take what it is given (a map of the wrong size)."""
    out: list[Values | None] = []
    for number, layer in enumerate(layers[first - 1 :], first):
        try:
            x = run(number, layer, x, settings)
        except (StepperError, ValueError, IndexError):
            return out + [None] * (len(layers) - number + 1)
        out.append(x)
    return out


def run(number: int, layer: Layer | Formula, x: Values, settings: Settings) -> Values:
    """One layer's output (a Formula's too), from any input it can take."""
    if isinstance(layer, Formula):
        z = x.floats().reshape(-1) if layer.kind == "softmax" else x.floats()
        with np.errstate(all="ignore"):  # e^z of a large z is inf: a value no student matches
            y = floats(layer.fn(z))
        return round_half_away(y, settings.decimals) if settings.rounding == "carry" else y
    layer.out_shape(x.shape)  # a layer given a map of the wrong size says so, rather than failing inside numpy
    return step(number, layer, x, settings).output


def run_or_none(number: int, layer: Layer | Formula, x: Values, settings: Settings) -> Values | None:
    """`run`, or None when the layer cannot take `x`: a student's values it cannot take simply imply nothing."""
    try:
        return run(number, layer, x, settings)
    except Exception:  # noqa: BLE001 - whatever the reason, nothing follows from them
        return None


def record_or_none(number: int, layer: Layer, x: Values, settings: Settings) -> Any:
    """The layer's whole record (its windows, neurons and terms) worked on `x`, or None when it cannot take `x`:
    how a written sum is judged against the values the student was working from."""
    try:
        layer.out_shape(x.shape)
        return step(number, layer, x, settings)
    except Exception:  # noqa: BLE001 - whatever the reason, nothing follows from them
        return None


# ---- the mistakes each kind of layer invites ----


def _variants(layer: Layer, shape: Shape, following: Layer | None) -> list[Variant]:
    """The mistakes a layer invites, found by its kind in `_VARIANTS` (none for a kind not there)."""
    variants = _VARIANTS.get(layer.kind)
    return variants(layer, shape, following) if variants else []


def _relu(layer: Activation, shape: Shape, following: Layer | None) -> list[Variant]:
    found: list[Variant] = [("ReLU forgotten", Activation("identity"))]
    if isinstance(following, Pool):  # the next layer done first, then ReLU
        found.append((f"ReLU applied after {_pool_name(following)} instead of before it", (following, layer)))
    return found


def _leaky_relu(layer: Activation, shape: Shape, following: Layer | None) -> list[Variant]:
    return [("plain ReLU instead of leaky ReLU (negative values set to 0)", Activation("relu"))]


def _pool(layer: Pool, shape: Shape, following: Layer | None) -> list[Variant]:
    other = replace(layer, kind="avgpool" if layer.kind == "maxpool" else "maxpool")
    found: list[Variant] = [(f"{_pool_name(other)} instead of {_pool_name(layer)}", other)]
    if layer.stride != (1, 1) and layer.size != (1, 1):
        found.append(
            (
                f"{_pool_name(layer)} windows moved with stride 1 instead of {_pair(layer.stride)}",
                replace(layer, stride=(1, 1)),
            )
        )
    return found


def _conv1x1(layer: Conv1x1, shape: Shape, following: Layer | None) -> list[Variant]:
    c = layer.weights.shape[0]
    if c > 1 and np.all(layer.weights.floats() == 1 / c):
        ones = from_numbers([1] * c)
        return [("channels added but not averaged (not divided by the number of channels)", Conv1x1(ones, layer.bias))]
    return []


def _sigmoid(layer: Activation, shape: Shape, following: Layer | None) -> list[Variant]:
    return [
        (
            "sigmoid written 1/(1 + e^z): the minus sign of e^-z dropped",
            Formula("sigmoid", lambda z: 1 / (1 + np.exp(z))),
        ),
        ("sigmoid written e^z instead of 1/(1 + e^-z)", Formula("sigmoid", np.exp)),
        ("tanh instead of sigmoid", Activation("tanh")),
    ]


def _softmax(layer: Activation, shape: Shape, following: Layer | None) -> list[Variant]:
    return [
        (
            "softmax without the exponential: z divided by the sum of z",
            Formula("softmax", lambda z: z / z.sum() if z.sum() else np.full_like(z, np.nan)),
        ),
        ("exponentials not divided by their sum", Formula("softmax", np.exp)),
        ("sigmoid of each z instead of softmax", Formula("softmax", lambda z: 1 / (1 + np.exp(-z)))),
    ]


def _conv2d(layer: Conv2d, shape: Shape, following: Layer | None) -> list[Variant]:
    found: list[Variant] = []
    pad = layer.padding_for(shape)
    kh, kw = layer.reach
    sides = (pad.top, pad.bottom, pad.left, pad.right)
    # The padding asked, in words: "1", or each side's when they differ ("1 above, 0 below, 1 left, 1 right").
    asked = (
        str(pad.top)
        if len(set(sides)) == 1
        else f"{pad.top} above, {pad.bottom} below, {pad.left} left, {pad.right} right"
    )
    if pad.any:
        found.append((f"no padding (padding {asked} was asked)", replace(layer, padding=0)))
    for p in range(1, max(kh, kw)):
        if sides != (p,) * 4:
            found.append(
                (
                    f"padding {p} instead of {asked}" if pad.any else f"padding {p} added where none was asked",
                    replace(layer, padding=p),
                )
            )
    if layer.stride != (1, 1):
        found.append((f"stride 1 instead of {_pair(layer.stride)}", replace(layer, stride=(1, 1))))
    flipped = layer.filters.data[..., ::-1, ::-1]
    if not np.array_equal(flipped, layer.filters.data):
        found.append(
            (
                "kernel not flipped: cross-correlation instead of a true convolution"
                if layer.flip
                else "kernel flipped: a true convolution instead of cross-correlation",
                replace(layer, flip=not layer.flip),
            )
        )
    f, c, h, w = layer.filters.shape
    if h == w and not np.array_equal(layer.filters.data.transpose(0, 1, 3, 2), layer.filters.data):
        transposed = Values(np.ascontiguousarray(layer.filters.data.transpose(0, 1, 3, 2)), layer.filters.scale)
        found.append(("kernel transposed: its rows read as columns", replace(layer, filters=transposed)))
    if layer.bias is not None and np.any(layer.bias.data != 0):
        found.append(("bias left out", replace(layer, bias=None)))
    if layer.dilation != (1, 1):
        found.append(
            (
                f"dilation {_pair(layer.dilation)} ignored: the filter read adjacent cells",
                replace(layer, dilation=(1, 1)),
            )
        )
    return found


def _dense(layer: Dense, shape: Shape, following: Layer | None) -> list[Variant]:
    found: list[Variant] = []
    grids = [w.reshape(shape) if w.data.size == np.prod(shape) else w for w in layer.weights]
    if len(shape) == 3 and shape[1] == shape[2] > 1:
        turned = tuple(Values(np.ascontiguousarray(g.data.transpose(0, 2, 1)), g.scale) for g in grids)
        if any(not np.array_equal(t.data, g.data) for t, g in zip(turned, grids)):
            found.append(
                (
                    "dense weights applied transposed: each neuron's grid read down its columns",
                    Dense(turned, layer.bias),
                )
            )
    matrix = layer.matrix
    if matrix.shape[0] == matrix.shape[1] and not np.array_equal(matrix.data, matrix.data.T):
        rows = tuple(Values(np.ascontiguousarray(matrix.data.T[k]), matrix.scale) for k in range(matrix.shape[0]))
        found.append(
            ("dense weights applied transposed: the weight matrix's columns used as rows", Dense(rows, layer.bias))
        )
    if len(layer.weights) > 1:
        swapped = layer.weights[1:] + layer.weights[:1]
        found.append(("each neuron given the next neuron's weights", Dense(swapped, layer.bias)))
    if layer.bias is not None and np.any(layer.bias.data != 0):
        found.append(("bias left out", Dense(layer.weights, None)))
    return found


# The mistakes each kind of layer invites, by its kind; a kind not here invites none.
_VARIANTS: dict[str, Callable[[Any, Shape, Layer | None], list[Variant]]] = {
    "conv2d": _conv2d,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "maxpool": _pool,
    "avgpool": _pool,
    "conv1x1": _conv1x1,
    "sigmoid": _sigmoid,
    "softmax": _softmax,
    "dense": _dense,
}


def _pool_name(layer: Pool) -> str:
    return {"maxpool": "max pooling", "avgpool": "average pooling"}.get(layer.kind, layer.kind)


def _pair(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]} by {pair[1]}"


# ---- the backward pass's mistakes ----

# A backward slip: its name, as the report says it, and the values it gives (None where it cannot be made).
Slip = tuple[str, np.ndarray]
MaybeSlip = tuple[str, np.ndarray | None]
# The sign slip of the first gradient, and each activation's derivative left out.
_SIGN = "the gradient's sign turned: y - yhat instead of yhat - y"
_DERIVATIVES = {
    "relu": "ReLU's derivative left out: the gradient passed back unchanged, where the input was 0 or below too",
    "leaky_relu": "leaky ReLU's derivative left out: the gradient passed back unchanged, not scaled by the slope "
    "where the input was 0 or below",
    "sigmoid": "the sigmoid's derivative a(1 - a) left out: the gradient passed back unchanged",
    "tanh": "tanh's derivative 1 - a^2 left out: the gradient passed back unchanged",
}


def loss_slips(kind: str, value: float, n: int) -> list[Slip]:
    """The loss worked with a formula slip, from the right loss `value` of `n` outputs: log to base 10 for the
    natural log; half the sum of squares without its 1/2; the squared errors added instead of averaged."""
    if kind in ("cross_entropy", "binary_cross_entropy"):
        return [("the logarithm taken to base 10 instead of the natural log (ln)", np.array(value / np.log(10)))]
    if kind == "half_sse":
        return [("the 1/2 of 1/2 sum (yhat - y)^2 left out", np.array(2 * value))]
    return [("the squared errors added up, not averaged (not divided by n)", np.array(n * value))]


def top_slips(kind: str, grad: np.ndarray) -> list[Slip]:
    """The gradient the backward pass starts from (`grad`, right or from the student's own yhat), worked wrong: its
    sign turned, or, for a mean, without the factor the mean gives it."""
    found: list[Slip] = [(_SIGN, -grad)]
    n = grad.size
    if kind == "mse":
        found.append(("the 2/n of the mean squared error's gradient left out: yhat - y", grad * n / 2))
    elif kind == "binary_cross_entropy":
        found.append(("the 1/n of the mean left out: yhat - y", grad * n))
    return found


def input_slips(record: Any, upstream: Values, train: Any, settings: Settings) -> list[MaybeSlip]:
    """A layer's dL/d(input) worked wrong from `upstream` (dL/d(its output)), by the layer's kind: an
    activation's derivative left out or worked from its input; max pooling's gradient sent to every cell of
    its window, or shared out as average pooling's; average pooling's not divided; dense weights not
    transposed; a convolution's kernels not turned 180 degrees."""
    from ..core.backward import back_step
    from ..core.trace import ConvTrace, DenseTrace, ElementwiseTrace, PoolTrace

    g = upstream.floats().astype(np.float64)

    def back(changed: Any, scale: float = 1.0) -> np.ndarray | None:
        """dL/d(input) of a changed record, from the upstream gradient times `scale`."""
        try:
            return back_step(changed, floats(g * scale), train, settings).input.floats()
        except Exception:  # noqa: BLE001 - a slip that cannot be made on these values gives nothing
            return None

    if isinstance(record, ElementwiseTrace):
        return _activation_slips(record, g, settings)
    if isinstance(record, PoolTrace):
        return _pool_slips(record, back)
    if isinstance(record, DenseTrace):
        weights = record.weights.floats().astype(np.float64)
        if weights.shape[0] != weights.shape[1]:
            return []
        wrong = (weights @ g.reshape(-1)).reshape(record.input.shape)
        return [("the weights not transposed: dL/dx worked as W g instead of W^T g (g: dL/dz)", _kept(wrong, settings))]
    if isinstance(record, ConvTrace):
        turned = Values(np.ascontiguousarray(record.layer.filters.data[..., ::-1, ::-1]), record.layer.filters.scale)
        unturned = replace(record, layer=replace(record.layer, filters=turned))
        return [("the kernel not turned 180 degrees: dL/dX slid under the kernel as it is", back(unturned))]
    return []


def _activation_slips(record: Any, g: np.ndarray, settings: Settings) -> list[MaybeSlip]:
    """An activation's derivative left out (the gradient passed back as it came), or a sigmoid's or tanh's worked
    from its input z instead of its output a."""
    kind = record.layer.kind
    if kind not in _DERIVATIVES:
        return []
    found: list[MaybeSlip] = [(_DERIVATIVES[kind], _kept(g.reshape(record.input.shape), settings))]
    if kind in ("sigmoid", "tanh"):
        x = record.input.floats().astype(np.float64)
        local = x * (1 - x) if kind == "sigmoid" else 1 - x**2
        said, right = ("z(1 - z)", "a(1 - a)") if kind == "sigmoid" else ("1 - z^2", "1 - a^2")
        name = f"the {kind}'s derivative worked from its input, {said}, instead of from its output, {right}"
        found.append((name, _kept(g.reshape(x.shape) * local, settings)))
    return found


def _pool_slips(record: Any, back: Callable[..., np.ndarray | None]) -> list[MaybeSlip]:
    """Max pooling's gradient sent to every cell of its window, or shared out as average pooling's; average
    pooling's given whole to each cell, not divided."""
    kind = record.layer.kind
    if kind not in ("maxpool", "avgpool"):
        return []
    kh, kw = record.layer.kernel(record.input.shape)
    if kind == "avgpool":
        return [("average pooling's gradient not divided among the window's cells", back(record, kh * kw))]
    average = replace(record, layer=replace(record.layer, kind="avgpool"))
    return [
        ("max pooling's gradient sent to every cell of its window, not to its maximum alone", back(average, kh * kw)),
        ("max pooling's gradient shared out equally, as average pooling's", back(average)),
    ]


def update_slips(old: np.ndarray, grad: np.ndarray, rate: float, settings: Settings) -> list[Slip]:
    """The update W - rate × dL/dW worked wrong, from the student's own gradient `grad`: added instead of taken
    away, the learning rate left out, or the step alone written for the new weights."""
    found: list[Slip] = [
        ("the update added: W + rate × dL/dW instead of W - rate × dL/dW", _kept(old + rate * grad, settings)),
        (
            "the step -rate × dL/dW written instead of the updated weights W - rate × dL/dW",
            _kept(-rate * grad, settings),
        ),
    ]
    if rate != 1:
        found.append(("the learning rate left out: W - dL/dW instead of W - rate × dL/dW", _kept(old - grad, settings)))
    return found


def _kept(data: np.ndarray, settings: Settings) -> np.ndarray:
    """Values as carried: rounded to the settings' places when rounding is carried, else in full."""
    v = floats(np.asarray(data, dtype=np.float64))
    return (round_half_away(v, settings.decimals) if settings.rounding == "carry" else v).floats()
