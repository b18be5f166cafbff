"""PyTorch as a way in and a way out: an nn.Sequential and its input become a Problem, and back.

    problem = from_torch(model, x)      # then trace(problem), render(...)
    model, x = to_torch(problem)        # float64, for checking a trace against PyTorch

torch is an optional dependency (`pip install "stepper[torch]"`); it is imported only here.
Weights come in as the shortest decimals that float32 rounds to the same value (0.1, not
0.100000001490116), which is what a lecturer would have typed.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..core.errors import StepperError
from ..core.numbers import Values, from_numbers
from ..core.spec import Activation, Conv1x1, Conv2d, ConvTranspose2d, Dense, Flatten, Pool, Problem, Settings

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
    layers, shape, pad = [], tuple(image.shape), None
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


def _layer(module, name: str, shape, pad, torch):
    if pad is not None and name != "Conv2d":
        raise StepperError("ZeroPad2d must come just before a Conv2d")
    if name == "Conv2d":
        if module.groups != 1 or module.padding_mode != "zeros":
            raise StepperError("only groups=1 and zero padding are supported")
        padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
        if pad is not None:
            if padding != (0, 0):
                raise StepperError("ZeroPad2d before a Conv2d that pads too is not supported")
            padding = pad
        elif isinstance(padding, tuple):
            padding = padding[0] if padding[0] == padding[1] else padding
        bias = _values(module.bias) if module.bias is not None else None
        return Conv2d(
            filters=_values(module.weight),
            stride=tuple(module.stride),
            padding=padding,
            bias=bias,
            dilation=tuple(module.dilation),
        )
    if name == "ConvTranspose2d":
        if module.groups != 1 or tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros":
            raise StepperError("only groups=1, dilation=1 and zero padding are supported")
        weights = _values(module.weight)  # (C_in, C_out, kh, kw): as filters, (C_out, C_in, kh, kw)
        filters = Values(np.swapaxes(weights.data, 0, 1).copy(), weights.scale, weights.places)
        bias = _values(module.bias) if module.bias is not None else None
        return ConvTranspose2d(
            filters=filters,
            stride=tuple(module.stride),
            padding=tuple(module.padding),
            output_padding=tuple(module.output_padding),
            bias=bias,
        )
    if name in ("MaxPool2d", "AvgPool2d"):
        pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
        if (
            module.ceil_mode
            or (name == "MaxPool2d" and pair(module.dilation) != (1, 1))
            or (name == "AvgPool2d" and (not module.count_include_pad or module.divisor_override))
        ):
            raise StepperError(
                "only pooling without dilation or ceil_mode (and averages that count the padding) is supported"
            )
        kind = "maxpool" if name == "MaxPool2d" else "avgpool"
        padding = pair(module.padding)
        return Pool(
            kind,
            pair(module.kernel_size),
            pair(module.stride or module.kernel_size),
            padding[0] if padding[0] == padding[1] else padding,
        )
    if name == "AdaptiveAvgPool2d":
        if module.output_size not in (1, (1, 1)):
            raise StepperError(f"only AdaptiveAvgPool2d(1) is supported, found output size {module.output_size}")
        return Pool("globalavgpool", None, (1, 1))
    if name == "Flatten":
        return Flatten()
    if name == "Linear":
        if len(shape) != 1:
            raise StepperError("Linear needs a flat input: put nn.Flatten() before it")
        weights = _values(module.weight)
        bias = _values(module.bias) if module.bias is not None else None
        return Dense(tuple(weights[k] for k in range(weights.shape[0])), bias)
    if name == "LeakyReLU":
        if not 0 <= module.negative_slope < 1:
            raise StepperError(
                f"expected a negative_slope from 0 up to (not including) 1, found {module.negative_slope}"
            )
        return Activation("leaky_relu", _values(torch.tensor(module.negative_slope)))
    if name == "Softmax":
        if len(shape) != 1 or module.dim not in (0, 1, -1):
            raise StepperError("only Softmax over a flat vector is supported: put nn.Flatten() before it")
        return Activation("softmax")
    simple = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Identity": "identity"}
    if name in simple:
        return Activation(simple[name])
    raise StepperError(f"{name} is not supported: expected one of {', '.join(SUPPORTED)}")


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
    torch = _torch()
    nn = torch.nn
    shapes = problem.shapes()
    out = []
    for layer, shape in zip(problem.layers, shapes):
        if isinstance(layer, Conv2d):
            f, c, kh, kw = layer.filters.shape
            pad = layer.padding_for(shape)
            conv = nn.Conv2d(c, f, (kh, kw), stride=layer.stride, dilation=layer.dilation, bias=layer.bias is not None)
            conv.weight.data = _tensor(layer.kernels, torch)  # PyTorch correlates: give it the applied kernels
            if layer.bias is not None:
                conv.bias.data = _tensor(layer.bias, torch)
            module = nn.Sequential(nn.ZeroPad2d((pad.left, pad.right, pad.top, pad.bottom)), conv)
        elif isinstance(layer, ConvTranspose2d):
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
            module.weight.data = _tensor(layer.filters, torch).transpose(0, 1).contiguous()
            if layer.bias is not None:
                module.bias.data = _tensor(layer.bias, torch)
        elif isinstance(layer, Pool):
            if layer.size is None:
                module = nn.AdaptiveAvgPool2d(1)
            else:
                pad = layer.padding_for(shape)
                sides = (pad.left, pad.right, pad.top, pad.bottom)
                pooling = (nn.MaxPool2d if layer.kind == "maxpool" else nn.AvgPool2d)(layer.size, layer.stride)
                padding = nn.ConstantPad2d(sides, float("-inf")) if layer.kind == "maxpool" else nn.ZeroPad2d(sides)
                module = nn.Sequential(padding, pooling)
        elif isinstance(layer, Conv1x1):
            conv = nn.Conv2d(shape[0], 1, 1, bias=layer.bias is not None)
            conv.weight.data = _tensor(layer.weights, torch).reshape(1, -1, 1, 1)
            if layer.bias is not None:
                conv.bias.data = _tensor(layer.bias, torch)
            module = conv
        elif isinstance(layer, Dense):
            linear = nn.Linear(layer.matrix.shape[1], layer.matrix.shape[0], bias=layer.bias is not None)
            linear.weight.data = _tensor(layer.matrix, torch)
            if layer.bias is not None:
                linear.bias.data = _tensor(layer.bias, torch)
            module = linear if len(shape) == 1 else nn.Sequential(nn.Flatten(0), linear)
        elif isinstance(layer, Flatten):
            module = nn.Flatten(0)
        elif layer.kind == "softmax":
            module = nn.Sequential(nn.Flatten(0), nn.Softmax(dim=0))
        elif layer.kind == "leaky_relu":
            module = nn.LeakyReLU(float(layer.slope.floats()))
        else:
            module = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "identity": nn.Identity}[layer.kind]()
        out.append(module.double())
    return out


def to_torch(problem: Problem):
    """(model, input): an nn.Sequential (float64) computing the problem's network, and its input tensor."""
    torch = _torch()
    return torch.nn.Sequential(*torch_layers(problem)), _tensor(problem.input, torch)


def _tensor(v: Values, torch):
    if v.symbolic:
        raise StepperError("a problem with symbols has no PyTorch model: give every symbol a number first")
    return torch.tensor(v.floats(), dtype=torch.float64)
