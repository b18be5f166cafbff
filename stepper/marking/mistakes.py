"""Well-known mistakes, each a changed network that a student might have worked by mistake.

A mistake is the network with one layer changed (no padding, stride 1, kernel
flipped, ReLU forgotten, ...) or the settings changed (rounding too early).
Running it gives the values that mistake produces at every stage, which the
checker compares with a student's values to name what went wrong. Formula
slips that no layer type expresses (sigmoid with e^z, softmax without the
exponential) are small `Formula` layers that exist only here.
Limits: one mistake at a time; "rows and columns swapped" is a way of writing
a map down, so the checker tries it on the answer itself, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import StepperError
from ..core.evaluate import step
from ..core.numbers import Values, floats, from_numbers, round_half_away
from ..core.spec import Activation, Conv1x1, Conv2d, Dense, Pool, Problem, Settings


@dataclass(frozen=True, eq=False)
class Formula:
    """An activation written down wrong: `fn` maps the input's floats to the output's."""

    kind: str
    fn: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class Mistake:
    name: str  # as the report says it: "no padding (padding 1 was asked)"
    layer: int  # the 1-based layer where it is made
    layers: tuple  # the whole network with the mistake in it
    settings: Settings


def catalogue(problem: Problem, settings: Settings) -> list[Mistake]:
    """Every known mistake that changes something in this problem's network."""
    shapes = problem.shapes()
    found: list[Mistake] = []
    layers = problem.layers
    for j, layer in enumerate(layers, 1):
        for name, changed in _variants(layer, shapes[j - 1], layers[j] if j < len(layers) else None):
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


def outputs(layers: tuple, x: Values, settings: Settings, first: int = 1) -> list[Values | None]:
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


def run(number: int, layer, x: Values, settings: Settings) -> Values:
    """One layer's output (a Formula's too), from any input it can take."""
    if isinstance(layer, Formula):
        z = x.floats().reshape(-1) if layer.kind == "softmax" else x.floats()
        with np.errstate(all="ignore"):  # e^z of a large z is inf: a value no student matches
            y = floats(layer.fn(z))
        return round_half_away(y, settings.decimals) if settings.rounding == "carry" else y
    layer.out_shape(x.shape)  # a layer given a map of the wrong size says so, rather than failing inside numpy
    return step(number, layer, x, settings).output


# ---- the mistakes each kind of layer invites ----


def _variants(layer, shape: tuple, following) -> list[tuple[str, object]]:
    kind = layer.kind
    if kind == "conv2d":
        return _conv2d(layer, shape)
    if kind == "relu":
        found = [("ReLU forgotten", Activation("identity"))]
        if isinstance(following, Pool):  # the next layer done first, then ReLU
            found.append((f"ReLU applied after {_pool_name(following)} instead of before it", (following, layer)))
        return found
    if kind == "leaky_relu":
        return [("plain ReLU instead of leaky ReLU (negative values set to 0)", Activation("relu"))]
    if kind in ("maxpool", "avgpool"):
        other = "avgpool" if kind == "maxpool" else "maxpool"
        found = [
            (f"{_pool_name(replace(layer, kind=other))} instead of {_pool_name(layer)}", replace(layer, kind=other))
        ]
        if layer.stride != (1, 1) and layer.size != (1, 1):
            found.append(
                (
                    f"{_pool_name(layer)} windows moved with stride 1 instead of {_pair(layer.stride)}",
                    replace(layer, stride=(1, 1)),
                )
            )
        return found
    if kind == "conv1x1":
        c = layer.weights.shape[0]
        if c > 1 and np.all(layer.weights.floats() == 1 / c):
            ones = from_numbers([1] * c)
            return [
                ("channels added but not averaged (not divided by the number of channels)", Conv1x1(ones, layer.bias))
            ]
        return []
    if kind == "sigmoid":
        return [
            (
                "sigmoid written 1/(1 + e^z): the minus sign of e^-z dropped",
                Formula("sigmoid", lambda z: 1 / (1 + np.exp(z))),
            ),
            ("sigmoid written e^z instead of 1/(1 + e^-z)", Formula("sigmoid", np.exp)),
            ("tanh instead of sigmoid", Activation("tanh")),
        ]
    if kind == "softmax":
        return [
            (
                "softmax without the exponential: z divided by the sum of z",
                Formula("softmax", lambda z: z / z.sum() if z.sum() else np.full_like(z, np.nan)),
            ),
            ("exponentials not divided by their sum", Formula("softmax", np.exp)),
            ("sigmoid of each z instead of softmax", Formula("softmax", lambda z: 1 / (1 + np.exp(-z)))),
        ]
    if kind == "dense":
        return _dense(layer, shape)
    return []


def _conv2d(layer: Conv2d, shape: tuple) -> list[tuple[str, object]]:
    found = []
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


def _dense(layer: Dense, shape: tuple) -> list[tuple[str, object]]:
    found = []
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


def _pool_name(layer: Pool) -> str:
    return {"maxpool": "max pooling", "avgpool": "average pooling"}.get(layer.kind, layer.kind)


def _pair(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]} by {pair[1]}"
