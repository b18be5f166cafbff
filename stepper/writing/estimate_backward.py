"""How large the backward pass of a worked solution will be (a problem with [train]), from shapes alone, as
estimate.py does for the forward pass and with its tally: per layer, last first, the gradient that arrives, the
sums the layer's template works in full as `detail` asks, the gradient passed down; then the update and the loss
table. Gradients are floats written to `decimals` places, each term a product of two of them. With
`terms = "nonzero"` a product with a gradient of 0 is left out, so the share of gradients that are not 0 is
carried down too: a max-pooling window passes one gradient on of its cells, ReLU about half.

The constants are measured from stepper's documents (LeNet with [train] at --detail 2 and all, the tutorial's and
Mazur's; tests/test_scale.py checks the estimate against them): a backward section is 1 to 9 times its layer's
forward one, so scaling the forward estimate would be off by far more than working it out like this.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.spec import Activation, Conv1x1, Conv2d, ConvTranspose2d, Dense, Flatten, Pool, Problem, Shape

if TYPE_CHECKING:
    from .estimate import _Context

Widths = tuple[float, float]  # the characters of a gradient, and of one of the layer's input values, as written

_SHOWN_WINDOW = 150  # a worked window's heading and the words around its grids
_PRODUCT_EXTRA = 10  # "(-0.5361) \cdot 0.2689": the product sign and parentheses around two numbers
_LINE = 40  # the words, relation and name of a line such as "∂L/∂z = ∂L/∂a · a(1 - a) = ..."
_WHOLE_GRID_UP_TO = 12  # a weight's windows are marked on the whole input up to this size (as estimate.py's)


def backward(context: _Context, problem: Problem, shapes: list[Shape], inputs: list[float]) -> None:
    """Add the backward pass of `problem` (which has [train]) to the context's tally. `inputs[n]` is how wide
    layer n+1's input values are written (estimate.py's forward estimate knows)."""
    tally = context.tally
    g = context.rounded(1.0, 0.5).chars  # a gradient as written
    train = problem.train
    assert train is not None
    tally.text(6000, 60)  # the conventions box, the loss and where the gradient starts
    layers = list(zip(problem.layers, shapes, shapes[1:], inputs))
    if train.combined:  # the loss's gradient goes straight to the last layer's input
        layers = layers[:-1]
    density = 1.0  # the share of the arriving gradients that are not 0
    for layer, before, after, x in reversed(layers):
        tally.text(400, 6)  # the heading and the gradient that arrives
        context.tally.maps(after, g)
        if context.settings.terms == "all":
            density = 1.0
        density = _STEPS.get(type(layer), _elementwise)(context, layer, before, after, (g, x), density)
        tally.text(200, 3)  # the gradient passed down
        context.tally.maps(before, g)
    tally.text(600, 6)
    for layer in problem.layers:  # the update: each parameter array's cells worked, then the new array
        for name in ("filters", "weights", "bias"):
            values = getattr(layer, name, None)
            if values is None or (name == "bias" and not train.update_bias):
                continue
            # a dense layer's weights are a row per neuron
            shape = (len(values), values[0].data.size) if isinstance(values, tuple) else values.shape
            size = shape[-2] * shape[-1] if name == "filters" else (shape[-1] if len(shape) == 2 else shape[0])
            groups = math.prod(shape) // size
            shown = (groups if name == "filters" else context.worked(groups)) * context.worked(size)
            tally.text(shown * (3 * g + _LINE) + 300, shown + 5)
            tally.matrix(groups, size, g)
    if train.steps > 1:  # each further step is summed up in a row of the loss table
        tally.text(120 * train.steps, train.steps)


def _conv(
    context: _Context, layer: Conv2d | ConvTranspose2d, before: Shape, after: Shape, chars: Widths, d: float
) -> float:
    """Each weight's gradient, a sum over every window it touched beside the map of gradients it reads (and the
    input, while it is small); each bias's, the map's sum; each input cell's, a sum over the spread gradients
    under the turned filters (a window of gradients that are all 0 is only named)."""
    tally = context.tally
    g, x = chars
    filters, channels, kh, kw = layer.filters.shape
    _, oh, ow = after
    _, height, width = before
    term = g + x + _PRODUCT_EXTRA
    weights = context.worked(kh * kw)
    grid = oh * layer.stride[0] + kh, ow * layer.stride[1] + kw  # about the padded (or expanded) input
    for _ in range(filters * channels):
        tally.text(_SHOWN_WINDOW * weights, 2 * weights)
        tally.matrix(oh, ow, g, copies=weights)  # the gradients the weight reads
        if max(grid) <= _WHOLE_GRID_UP_TO:  # the input, the cells the weight reads marked
            tally.matrix(*grid, x, copies=weights, tall=False)
        tally.sums(weights, _terms(oh * ow, d), term)
        tally.matrix(kh, kw, g)  # the filter's gradient
    if layer.bias is not None:
        tally.sums(filters, _terms(oh * ow, d), g, worked=False)
    tally.matrix(*grid, g, copies=filters)  # the spread maps
    reach = filters * kh * kw / (layer.stride[0] * layer.stride[1])  # the gradients under one input cell's window
    cells = context.worked(height * width) * _some(reach, d)
    for _ in range(channels):
        tally.text(_SHOWN_WINDOW * cells, 2 * cells)
        tally.matrix(kh, kw, g, copies=round(cells) * filters, tall=False)
        tally.sums(round(cells), _terms(reach, d), 2 * g + _PRODUCT_EXTRA)
    return min(1.0, reach * d)


def _terms(count: float, d: float) -> int:
    """The terms written of a sum of `count` products, a share d of them not 0."""
    return max(1, round(count * d))


def _some(count: float, d: float) -> float:
    """The chance that a sum of `count` products, a share d of them not 0, has one that is not."""
    return 1.0 - math.exp(-count * d) if d < 1 else 1.0


def _dense(context: _Context, layer: Dense, before: Shape, after: Shape, chars: Widths, d: float) -> float:
    """Each weight's gradient as one product, row by row; all of them as a matrix; each input's, a sum over the
    neurons."""
    tally = context.tally
    g, x = chars
    neurons, inputs = len(layer.weights), math.prod(before)
    shown = context.worked(neurons) * context.worked(inputs)
    tally.text(shown * (2 * g + x + _LINE), shown)
    tally.matrix(neurons, inputs, g)
    if layer.bias is not None:
        tally.matrix(1, neurons, g)
    tally.sums(context.worked(inputs), _terms(neurons, d), 2 * g + _PRODUCT_EXTRA)
    return 1.0


def _mix(context: _Context, layer: Conv1x1, before: Shape, after: Shape, chars: Widths, d: float) -> float:
    """Each channel weight's gradient, a sum over the map; each input cell's, one product per channel."""
    g, x = chars
    channels, height, width = before
    context.tally.sums(context.worked(channels), _terms(height * width, d), g + x + _PRODUCT_EXTRA)
    return _elementwise(context, layer, before, after, chars, d)


def _pool(context: _Context, layer: Pool, before: Shape, after: Shape, chars: Widths, d: float) -> float:
    """Each window's gradient routed to its largest cell, or shared among its cells: a line per window worked,
    then a line per input cell worked, and the maps."""
    g, _ = chars
    channels, oh, ow = after
    shown = context.worked(oh * ow) * channels
    cells = context.worked(before[1] * before[2]) * channels
    context.tally.windows += shown
    context.tally.text((shown + cells) * (2 * g + _LINE), shown + cells)
    context.tally.maps(before, g)
    if layer.kind == "maxpool":  # one cell of each window gets the gradient
        return d * oh * ow / (before[1] * before[2])
    return d


def _elementwise(context: _Context, layer: Any, before: Shape, after: Shape, chars: Widths, d: float) -> float:
    """A gradient worked cell by cell (an activation's derivative times the gradient): a line per cell worked,
    then the maps of the derivatives and of the products."""
    g, x = chars
    shown = context.worked(math.prod(before))
    context.tally.windows += shown
    context.tally.text(shown * (2 * g + x + _LINE), shown)
    context.tally.maps(before, g)
    context.tally.maps(before, g)
    return d / 2 if getattr(layer, "kind", "") == "relu" else d  # ReLU stops about half of them


def _flatten(context: _Context, layer: Flatten, before: Shape, after: Shape, chars: Widths, d: float) -> float:
    """The gradient read back into the maps' shape: nothing worked."""
    return d


# Each step adds a layer's backward section, given the widths of a gradient and of the layer's input as written and
# the share of the arriving gradients that are not 0, and returns that share for what it passes down.
_STEPS: dict[type, Callable[[_Context, Any, Shape, Shape, Widths, float], float]] = {
    Conv2d: _conv,
    ConvTranspose2d: _conv,
    Pool: _pool,
    Conv1x1: _mix,
    Dense: _dense,
    Activation: _elementwise,
    Flatten: _flatten,
}
