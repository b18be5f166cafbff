"""PyTorch as a way in and a way out: an nn.Sequential and its input become a Problem, and back.

    problem = from_torch(model, x)      # then trace(problem), render(...)
    model, x = to_torch(problem)        # float64, for checking a trace against PyTorch

torch is an optional dependency (`pip install "stepper[torch]"`); it is imported only here.
Weights come in as the shortest decimals that float32 rounds to the same value (0.1, not
0.100000001490116), which is what a lecturer would have typed.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from ..core.errors import StepperError
from ..core.numbers import Values, from_numbers
from ..core.spec import (
    Activation,
    Conv1x1,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Flatten,
    Layer,
    Pool,
    Problem,
    Settings,
    Shape,
)

SUPPORTED = (
    "Conv2d (groups=1)",
    "ConvTranspose2d",
    "ZeroPad2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d(1)",
    "Flatten",
    "Linear",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "Sigmoid",
    "Softmax",
    "Identity",
)
Sides = tuple[int, int, int, int]  # a ZeroPad2d's padding: top, bottom, left, right


def _torch():
    try:
        import torch
    except ImportError:
        raise StepperError('PyTorch is not installed: pip install "stepper[torch]"') from None
    return torch


# ---- in: PyTorch -> Problem ----


def from_torch(model, x, title: str = "A PyTorch model, worked by hand", settings: Settings | None = None) -> Problem:
    """The Problem for `model` (an nn.Sequential of supported modules) applied to one input `x`
    of shape (C, H, W) or (1, C, H, W)."""
    torch = _torch()
    modules = list(_leaves(model, torch))
    if not isinstance(x, torch.Tensor):
        raise StepperError(f"expected the input as a torch tensor, found {type(x).__name__}", place="input")
    image = x.detach().cpu()
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3:
        raise StepperError(
            f"expected one input of shape (C, H, W) or (1, C, H, W), found {tuple(x.shape)}", place="input"
        )
    layers: list[Layer] = []
    shape: Shape = tuple(image.shape)
    pad: Sides | None = None
    for number, module in enumerate(modules, 1):
        name = type(module).__name__
        try:
            if name == "ZeroPad2d":
                left, right, top, bottom = module.padding
                pad = (top, bottom, left, right)
                continue
            layer = _layer(module, name, shape, pad, torch)
            pad = None
            shape = layer.out_shape(shape)
        except StepperError as e:
            raise e.located(place=f"module {number} ({name})") from None
        layers.append(layer)
    if pad is not None:
        raise StepperError("ZeroPad2d must come just before a Conv2d", place=f"module {len(modules)} (ZeroPad2d)")
    problem = Problem(title, _values(image, "input"), tuple(layers), settings or Settings(), "a PyTorch model")
    problem.shapes()
    return problem


def _leaves(model, torch):
    if isinstance(model, torch.nn.Sequential):
        for child in model.children():
            yield from _leaves(child, torch)
    else:
        yield model


def _layer(module, name: str, shape: Shape, pad: Sides | None, torch) -> Layer:
    if pad is not None and name != "Conv2d":
        raise StepperError("ZeroPad2d must come just before a Conv2d")
    if name not in _FROM_TORCH:
        raise StepperError(f"{name} is not supported: expected one of {', '.join(SUPPORTED)}")
    return _FROM_TORCH[name](module, shape, pad, torch)


def _conv2d(module, shape: Shape, pad: Sides | None, torch) -> Conv2d:
    if module.groups != 1 or module.padding_mode != "zeros":
        raise StepperError("only groups=1 and zero padding are supported")
    padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
    if pad is not None:
        if padding != (0, 0):
            raise StepperError("ZeroPad2d before a Conv2d that pads too is not supported")
        padding = pad
    elif isinstance(padding, tuple):
        padding = padding[0] if padding[0] == padding[1] else padding
    return Conv2d(
        filters=_values(module.weight),
        stride=tuple(module.stride),
        padding=padding,
        bias=_bias(module),
        dilation=tuple(module.dilation),
    )


def _conv_transpose2d(module, shape: Shape, pad: Sides | None, torch) -> ConvTranspose2d:
    if module.groups != 1 or tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros":
        raise StepperError("only groups=1, dilation=1 and zero padding are supported")
    weights = _values(module.weight)  # (C_in, C_out, kh, kw): as filters, (C_out, C_in, kh, kw)
    filters = Values(np.swapaxes(weights.data, 0, 1).copy(), weights.scale, weights.places)
    return ConvTranspose2d(
        filters=filters,
        stride=tuple(module.stride),
        padding=tuple(module.padding),
        output_padding=tuple(module.output_padding),
        bias=_bias(module),
    )


def _pool(module, shape: Shape, pad: Sides | None, torch) -> Pool:
    name = type(module).__name__
    if (
        module.ceil_mode
        or (name == "MaxPool2d" and _pair(module.dilation) != (1, 1))
        or (name == "AvgPool2d" and (not module.count_include_pad or module.divisor_override))
    ):
        raise StepperError(
            "only pooling without dilation or ceil_mode (and averages that count the padding) is supported"
        )
    padding = _pair(module.padding)
    return Pool(
        "maxpool" if name == "MaxPool2d" else "avgpool",
        _pair(module.kernel_size),
        _pair(module.stride or module.kernel_size),
        padding[0] if padding[0] == padding[1] else padding,
    )


def _pair(v) -> tuple[int, int]:
    """A PyTorch size: one number for both axes, or a pair."""
    return (v, v) if isinstance(v, int) else tuple(v)


def _global_pool(module, shape: Shape, pad: Sides | None, torch) -> Pool:
    if module.output_size not in (1, (1, 1)):
        raise StepperError(f"only AdaptiveAvgPool2d(1) is supported, found output size {module.output_size}")
    return Pool("globalavgpool", None, (1, 1))


def _flatten(module, shape: Shape, pad: Sides | None, torch) -> Flatten:
    return Flatten()


def _linear(module, shape: Shape, pad: Sides | None, torch) -> Dense:
    if len(shape) != 1:
        raise StepperError("Linear needs a flat input: put nn.Flatten() before it")
    weights = _values(module.weight)
    return Dense(tuple(weights[k] for k in range(weights.shape[0])), _bias(module))


def _leaky_relu(module, shape: Shape, pad: Sides | None, torch) -> Activation:
    if not 0 <= module.negative_slope < 1:
        raise StepperError(f"expected a negative_slope from 0 up to (not including) 1, found {module.negative_slope}")
    return Activation("leaky_relu", _values(torch.tensor(module.negative_slope)))


def _softmax(module, shape: Shape, pad: Sides | None, torch) -> Activation:
    if len(shape) != 1 or module.dim not in (0, 1, -1):
        raise StepperError("only Softmax over a flat vector is supported: put nn.Flatten() before it")
    return Activation("softmax")


def _function(kind: str) -> Callable[[Any, Shape, Sides | None, Any], Activation]:
    """A module with nothing to read: only its kind of activation."""

    def build(module, shape: Shape, pad: Sides | None, torch) -> Activation:
        return Activation(kind)

    return build


def _bias(module) -> Values | None:
    return _values(module.bias) if module.bias is not None else None


# The supported modules by class name: each reads its module (and the shape coming in) into a layer.
_FROM_TORCH: dict[str, Callable[[Any, Shape, Sides | None, Any], Layer]] = {
    "Conv2d": _conv2d,
    "ConvTranspose2d": _conv_transpose2d,
    "MaxPool2d": _pool,
    "AvgPool2d": _pool,
    "AdaptiveAvgPool2d": _global_pool,
    "Flatten": _flatten,
    "Linear": _linear,
    "LeakyReLU": _leaky_relu,
    "Softmax": _softmax,
    "ReLU": _function("relu"),
    "Tanh": _function("tanh"),
    "Sigmoid": _function("sigmoid"),
    "Identity": _function("identity"),
}


def _values(tensor, what: str = "a parameter") -> Values:
    """A tensor's values as the shortest decimals its float32 values round-trip through."""
    data = tensor.detach().cpu().numpy()
    if not np.isfinite(data).all():
        raise StepperError(f"{what} holds NaN or infinity")
    cells = [Fraction(str(np.float32(v))) for v in data.ravel().tolist()]  # the shortest float32 decimal
    try:
        return from_numbers(cells, data.shape)
    except ValueError as e:  # such numbers could not be written back as a problem file either
        raise StepperError(f"{what}: {e}") from None


# ---- out: Problem -> PyTorch ----


def torch_layers(problem: Problem) -> list:
    """One torch module per layer of the problem (float64), in order."""
    nn = _torch().nn
    modules = []
    for number, (layer, shape) in enumerate(zip(problem.layers, problem.shapes()), 1):
        module = _TO_TORCH.get(layer.kind)
        if module is None:  # a kind of layer PyTorch has no module for here: said in one line, not a KeyError
            raise StepperError(
                f"to_torch does not know layer kind {layer.kind!r}: expected one of {', '.join(_TO_TORCH)}",
                place=f"layer {number}",
            )
        modules.append(module(layer, shape, nn).double())
    return modules


def _conv2d_module(layer: Conv2d, shape: Shape, nn):
    f, c, kh, kw = layer.filters.shape
    pad = layer.padding_for(shape)
    conv = nn.Conv2d(c, f, (kh, kw), stride=layer.stride, dilation=layer.dilation, bias=layer.bias is not None)
    conv.weight.data = _tensor(layer.kernels)  # PyTorch correlates: give it the applied kernels
    _set_bias(conv, layer.bias)
    return nn.Sequential(nn.ZeroPad2d((pad.left, pad.right, pad.top, pad.bottom)), conv)


def _conv_transpose2d_module(layer: ConvTranspose2d, shape: Shape, nn):
    f, c, kh, kw = layer.filters.shape
    module = nn.ConvTranspose2d(
        c,
        f,
        (kh, kw),
        stride=layer.stride,
        padding=layer.padding,
        output_padding=layer.output_padding,
        bias=layer.bias is not None,
    )
    module.weight.data = _tensor(layer.filters).transpose(0, 1).contiguous()
    _set_bias(module, layer.bias)
    return module


def _pool_module(layer: Pool, shape: Shape, nn):
    if layer.size is None:
        return nn.AdaptiveAvgPool2d(1)
    pad = layer.padding_for(shape)
    sides = (pad.left, pad.right, pad.top, pad.bottom)
    pooling = (nn.MaxPool2d if layer.kind == "maxpool" else nn.AvgPool2d)(layer.size, layer.stride)
    padding = nn.ConstantPad2d(sides, float("-inf")) if layer.kind == "maxpool" else nn.ZeroPad2d(sides)
    return nn.Sequential(padding, pooling)


def _conv1x1_module(layer: Conv1x1, shape: Shape, nn):
    conv = nn.Conv2d(shape[0], 1, 1, bias=layer.bias is not None)
    conv.weight.data = _tensor(layer.weights).reshape(1, -1, 1, 1)
    _set_bias(conv, layer.bias)
    return conv


def _dense_module(layer: Dense, shape: Shape, nn):
    linear = nn.Linear(layer.matrix.shape[1], layer.matrix.shape[0], bias=layer.bias is not None)
    linear.weight.data = _tensor(layer.matrix)
    _set_bias(linear, layer.bias)
    return linear if len(shape) == 1 else nn.Sequential(nn.Flatten(0), linear)


def _leaky_relu_module(layer: Activation, shape: Shape, nn):
    assert layer.slope is not None, "a leaky_relu is made with its slope (load, from_torch)"
    return nn.LeakyReLU(float(layer.slope.floats()))


def _set_bias(module, bias: Values | None) -> None:
    if bias is not None:
        module.bias.data = _tensor(bias)


# Each kind of layer as a torch module, given the shape coming in and torch.nn.
_TO_TORCH: dict[str, Callable[[Any, Shape, Any], Any]] = {
    "conv2d": _conv2d_module,
    "conv_transpose2d": _conv_transpose2d_module,
    "maxpool": _pool_module,
    "avgpool": _pool_module,
    "globalavgpool": _pool_module,
    "conv1x1": _conv1x1_module,
    "dense": _dense_module,
    "flatten": lambda layer, shape, nn: nn.Flatten(0),
    "softmax": lambda layer, shape, nn: nn.Sequential(nn.Flatten(0), nn.Softmax(dim=0)),
    "leaky_relu": _leaky_relu_module,
    "relu": lambda layer, shape, nn: nn.ReLU(),
    "sigmoid": lambda layer, shape, nn: nn.Sigmoid(),
    "tanh": lambda layer, shape, nn: nn.Tanh(),
    "identity": lambda layer, shape, nn: nn.Identity(),
}


def to_torch(problem: Problem):
    """(model, input): an nn.Sequential (float64) computing the problem's network, and its input tensor."""
    torch = _torch()
    return torch.nn.Sequential(*torch_layers(problem)), _tensor(problem.input)


def _tensor(v: Values):
    if v.symbolic:
        raise StepperError("a problem with symbols has no PyTorch model: give every symbol a number first")
    torch = _torch()
    return torch.tensor(v.floats(), dtype=torch.float64)
