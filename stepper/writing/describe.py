"""One layer in a sentence, for the problem statement, the shapes table and the layer's own section.

One table, `DESCRIBE`, keyed by the layer's kind; a kind not in it is said by its heading (spec.title: "ReLU.").
Templates call it as `describe(layer, shape)`; with the layer's input `shape`, "same" padding also says how many
cells it adds, so that a question sheet states everything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.spec import title

if TYPE_CHECKING:
    from ..core.spec import Conv1x1, Conv2d, ConvTranspose2d, Dense, Pool, Shape
    from .maths import Maths


def describe(layer: Any, maths: Maths, times: str, shape: Shape | None = None) -> str:
    """The sentence for `layer`; `times` is the format's multiplication sign in running text (3x3)."""
    said = DESCRIBE.get(layer.kind, _heading)
    return said(layer, maths, times, shape)


def _conv2d(layer: Conv2d, maths: Maths, times: str, shape: Shape | None) -> str:
    if isinstance(layer.padding, str):
        padding = {"same": "same padding", "valid": "no padding (valid)"}[layer.padding]
    else:
        padding = _padding(layer.padding)
    if layer.padding == "same" and shape is not None:
        sides = layer.padding_for(shape)
        added = (sides.top, sides.bottom, sides.left, sides.right)
        padding += (
            f" ({added[0]} cell{'s' * (added[0] != 1)} on each side)" if len(set(added)) == 1 else f" ({_sides(added)})"
        )
    how = "True convolution (filters flipped)" if layer.flip else "Convolution"
    dilation = "" if layer.dilation == (1, 1) else f", dilation {_per_axis(layer.dilation)}"
    return f"{how}: {_filters(layer, times)}, {_stride(layer.stride)}, {padding}{dilation}{_bias(layer)}."


def _conv_transpose2d(layer: ConvTranspose2d, maths: Maths, times: str, shape: Shape | None) -> str:
    extra = f", output padding {_per_axis(layer.output_padding)}" if layer.output_padding != (0, 0) else ""
    return (
        f"Transposed convolution: {_filters(layer, times)}, {_stride(layer.stride)}, "
        f"padding {_per_axis(layer.padding)}{extra}{_bias(layer)}."
    )


def _pool(layer: Pool, maths: Maths, times: str, shape: Shape | None) -> str:
    how = "Max" if layer.kind == "maxpool" else "Average"
    padding = "" if layer.padding in (0, (0, 0), (0, 0, 0, 0)) else f", {_padding(layer.padding)}"
    assert layer.size is not None  # only global average pooling has no window size, and it has its own sentence
    return f"{how} pooling: {layer.size[0]}{times}{layer.size[1]} windows, {_stride(layer.stride)}{padding}."


def _conv1x1(layer: Conv1x1, maths: Maths, times: str, shape: Shape | None) -> str:
    weights = ", ".join(maths.cells(layer.weights))
    bias = f", bias ${maths.number(layer.bias[0])}$" if layer.bias is not None else ""
    return f"A 1{times}1 filter across the channels: weights ${weights}${bias}."


def _dense(layer: Dense, maths: Maths, times: str, shape: Shape | None) -> str:
    n = len(layer.weights)
    return f"Dense: {n} neuron{'s' * (n != 1)}{_bias(layer)}."


def _leaky_relu(layer: Any, maths: Maths, times: str, shape: Shape | None) -> str:
    return f"Leaky ReLU, slope ${maths.number(layer.slope)}$ for negative values."


def _heading(layer: Any, maths: Maths, times: str, shape: Shape | None) -> str:
    """The sentence of a kind with nothing more to say: its heading (ReLU, sigmoid), as a sentence."""
    heading = title(layer.kind)
    return f"{heading[:1].upper()}{heading[1:]}."


def _said(sentence: str) -> Callable[..., str]:
    """A kind whose sentence never changes."""
    return lambda layer, maths, times, shape: sentence


# The kinds with more to say than their heading (relu, sigmoid, tanh and softmax say only that: see _heading).
DESCRIBE: dict[str, Callable[..., str]] = {
    "conv2d": _conv2d,
    "conv_transpose2d": _conv_transpose2d,
    "maxpool": _pool,
    "avgpool": _pool,
    "globalavgpool": _said("Global average pooling: the mean of each whole map."),
    "conv1x1": _conv1x1,
    "dense": _dense,
    "leaky_relu": _leaky_relu,
    "identity": _said("Identity (no change)."),
    "flatten": _said("Flatten the maps into one vector."),
}


def _filters(layer: Conv2d | ConvTranspose2d, times: str) -> str:
    f, c, kh, kw = layer.filters.shape
    return f"{f} filter{'s' * (f != 1)} of {kh}{times}{kw}" + (f" over {c} channels" if c > 1 else "")


def _bias(layer: Conv2d | ConvTranspose2d | Dense) -> str:
    return ", with bias" if layer.bias is not None else ""


def _per_axis(pair: tuple[int, int]) -> str:
    """2, or 2 down and 1 across."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]} down and {pair[1]} across"


def _stride(stride: tuple[int, int]) -> str:
    return f"stride {_per_axis(stride)}"


def _padding(padding: int | tuple[int, ...]) -> str:
    return f"padding {padding}" if isinstance(padding, int) else f"padding {_sides(padding)}"


def _sides(padding: tuple[int, ...]) -> str:
    if len(padding) == 2:
        return f"{padding[0]} above and below, {padding[1]} left and right"
    return f"{padding[0]} above, {padding[1]} below, {padding[2]} left, {padding[3]} right"
