"""PyTorch as a way in and a way out: an nn.Sequential and its input become a Problem, and back.

    problem = from_torch(model, x)      # then trace(problem), render(...)
    model, x = to_torch(problem)        # float64, for checking a trace against PyTorch

torch is an optional dependency (`pip install "stepper[torch]"`); it is imported only here.
Weights come in as the shortest decimals that float32 rounds to the same value (0.1, not
0.100000001490116), which is what a lecturer would have typed. A padding module just before the layer it pads is
read as that layer's padding: ZeroPad2d before a Conv2d or an AvgPool2d, ConstantPad2d(-inf) before a MaxPool2d
(as to_torch writes them).

Training (a problem's [train] table) comes in from what PyTorch trains with:

    problem = from_torch(model, x, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                         target=torch.tensor(0))          # then backward.training(problem)

- `loss`: nn.CrossEntropyLoss() -> cross_entropy. It takes the logits, so the model ends with them (no Softmax:
  a model that ends with one is refused, as CrossEntropyLoss would apply a second) and a softmax layer is appended
  to the problem, since stepper's cross_entropy follows a softmax layer (dL/dz = yhat - y at its input is the
  same gradient). nn.BCEWithLogitsLoss() -> binary_cross_entropy with a sigmoid layer appended likewise;
  nn.BCELoss() -> binary_cross_entropy (the model ends with its Sigmoid); nn.MSELoss() -> mse; half_sse_loss()()
  (this module's HalfSSELoss, 1/2 sum of squares, Mazur's, which PyTorch has no module for) -> half_sse; or
  stepper's loss name as text, taken as it is (nothing appended). Only reduction='mean' (without class weights
  or label smoothing) is taken.
- `optimizer`: a torch.optim.SGD without momentum, dampening, Nesterov, weight decay or maximize, over every
  weight of the model and either every bias (update_bias = true) or none (false), one learning rate; or a number,
  the learning rate itself. None: stepper's default rate (0.1).
- `target`: an integer tensor of one element is a class index, counted from 0 as PyTorch counts (the problem's
  target is that class + 1, as the documents count); a floating tensor of one value per output (shape (n,) or
  (1, n)) is a vector target.
- `steps`: how many steps of gradient descent the problem works (1).
Max pooling's tied windows send their gradient to the first maximum, as PyTorch does (ties = "first").

And out again, to train the same step in PyTorch:

    t = torch_training(problem)         # model, input, loss, optimizer, target, steps (float64)
    loss_before = t.step()              # zero_grad, loss(model(input), target).backward(), optimizer.step()

`t.model` is to_torch's model, without its last softmax for cross_entropy (the logits CrossEntropyLoss takes);
after `t.step()` its parameters are the updated weights that backward.training(problem) works (in full precision:
`Settings(rounding="full")`). from_torch(t.model, t.input, loss=t.loss, optimizer=t.optimizer, target=t.target,
steps=t.steps) gives the problem's [train] back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from functools import lru_cache
from typing import Any, NamedTuple

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
    "ConstantPad2d(-inf) before MaxPool2d",
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
Sides = tuple[int, int, int, int]  # a ZeroPad2d's or ConstantPad2d's padding: top, bottom, left, right


def _torch():
    try:
        import torch
    except ImportError:
        raise StepperError('PyTorch is not installed: pip install "stepper[torch]"') from None
    return torch


# ---- in: PyTorch -> Problem ----


def from_torch(
    model,
    x,
    title: str = "A PyTorch model, worked by hand",
    settings: Settings | None = None,
    *,
    loss=None,
    optimizer=None,
    target=None,
    steps: int = 1,
) -> Problem:
    """The Problem for `model` (an nn.Sequential of supported modules) applied to one input `x`
    of shape (C, H, W) or (1, C, H, W); with `loss` and `target` (and `optimizer`, `steps`) its [train] too, as
    the module's docstring says."""
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
    fill = 0.0  # the value a padding module pads with: ZeroPad2d's 0, or ConstantPad2d's
    for number, module in enumerate(modules, 1):
        name = type(module).__name__
        try:
            if name in ("ZeroPad2d", "ConstantPad2d"):
                if pad is not None:
                    raise StepperError("two padding modules in a row are not supported: give one")
                left, right, top, bottom = module.padding
                pad, fill = (top, bottom, left, right), float(getattr(module, "value", 0.0))
                continue
            layer = _layer(module, name, shape, _padding_before(name, pad, fill), torch)
            pad = None
            shape = layer.out_shape(shape)
        except StepperError as e:
            raise e.located(place=f"module {number} ({name})") from None
        layers.append(layer)
    if pad is not None:
        name = type(modules[-1]).__name__
        raise StepperError(_PADDING_PLACES, place=f"module {len(modules)} ({name})")
    problem = Problem(title, _values(image, "input"), tuple(layers), settings or Settings(), "a PyTorch model")
    problem.shapes()
    if loss is None and optimizer is None and target is None and steps == 1:
        return problem
    return _with_train(problem, modules, loss, optimizer, target, steps, torch)


def _leaves(model, torch):
    if isinstance(model, torch.nn.Sequential):
        for child in model.children():
            yield from _leaves(child, torch)
    else:
        yield model


# Where a padding module may stand: just before the layer whose padding it is.
_PADDING_PLACES = (
    "ZeroPad2d must come just before a Conv2d or an AvgPool2d, and ConstantPad2d(-inf) just before a MaxPool2d"
)


def _padding_before(name: str, pad: Sides | None, fill: float) -> Sides | None:
    """The padding a ZeroPad2d or ConstantPad2d gives the module after it (`name`): zeros for a convolution or an
    average, -inf (which never wins) for a max pool, as to_torch writes them; padding of no cells is none."""
    if pad is None or not any(pad):
        return None
    if (name in ("Conv2d", "AvgPool2d") and fill == 0) or (name == "MaxPool2d" and fill == float("-inf")):
        return pad
    raise StepperError(_PADDING_PLACES)


def _layer(module, name: str, shape: Shape, pad: Sides | None, torch) -> Layer:
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
    padding: tuple[int, ...] = _pair(module.padding)
    if pad is not None:
        if padding != (0, 0):
            raise StepperError(f"a padding module before a {name} that pads too is not supported")
        top, bottom, left, right = pad
        padding = (top, left) if (top, left) == (bottom, right) else pad
    return Pool(
        "maxpool" if name == "MaxPool2d" else "avgpool",
        _pair(module.kernel_size),
        _pair(module.stride or module.kernel_size),
        padding[0] if len(padding) == 2 and padding[0] == padding[1] else padding,
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


# ---- in: what PyTorch trains with -> [train] ----

# The loss modules from_torch reads, by class name: (stepper's loss, the layer appended for it, if any).
_LOSSES: dict[str, tuple[str, str | None]] = {
    "CrossEntropyLoss": ("cross_entropy", "softmax"),
    "BCEWithLogitsLoss": ("binary_cross_entropy", "sigmoid"),
    "BCELoss": ("binary_cross_entropy", None),
    "MSELoss": ("mse", None),
    "HalfSSELoss": ("half_sse", None),
}
# Where read_train's complaints point, as from_torch's arguments.
_ARGUMENTS = {
    "[train]": "loss",
    "[train] field 'loss'": "loss",
    "[train] field 'target'": "target",
    "[train] field 'learning_rate'": "optimizer",
    "[train] field 'steps'": "steps",
}


def _with_train(problem: Problem, modules: list, loss, optimizer, target, steps: int, torch) -> Problem:
    """The problem with the [train] that `loss`, `optimizer`, `target` and `steps` make."""
    from ..core.choices import LOSSES
    from ..core.train import read_train

    if loss is None or target is None:
        missing = "loss" if loss is None else "target"
        raise StepperError(
            "training needs both loss= (a torch loss module) and target= (a class index or a vector tensor)",
            place=missing,
        )
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise StepperError(
                f"expected a torch loss module or one of {', '.join(LOSSES)}, found {loss!r}", place="loss"
            )
        kind, appended = loss, None
    else:
        kind, appended = _loss(loss, torch)
    if appended is not None:
        last = problem.layers[-1].kind if problem.layers else None
        if last == appended:
            raise StepperError(
                f"{type(loss).__name__} applies its own {appended} to the model's output, but the model ends with "
                f"nn.{appended.capitalize()}: remove it (stepper works the {appended} as the problem's last layer)",
                place="loss",
            )
        if len(problem.shapes()[-1]) != 1:
            raise StepperError(
                f"{type(loss).__name__} needs the model to end in a vector of logits: put nn.Flatten() at its end",
                place="loss",
            )
        problem = replace(problem, layers=problem.layers + (Activation(appended),))
    raw: dict[str, Any] = {"loss": kind, "target": _target(target, problem.shapes()[-1], torch), "steps": steps}
    if optimizer is not None:
        raw["learning_rate"], raw["update_bias"] = _optimizer(optimizer, modules, torch)
    try:
        return replace(problem, train=read_train(raw, problem))
    except StepperError as e:
        raise StepperError(e.message, place=_ARGUMENTS.get(e.place or "", e.place)) from None


def _loss(module, torch) -> tuple[str, str | None]:
    """stepper's loss for a torch loss module, and the layer to append for it (a softmax or sigmoid that the
    module applies itself)."""
    name = type(module).__name__
    if name == "HalfSSELoss" and isinstance(module, half_sse_loss()):
        return _LOSSES[name]
    if name not in _LOSSES or not isinstance(module, torch.nn.modules.loss._Loss):
        raise StepperError(
            f"{name} is not supported: expected nn.CrossEntropyLoss, nn.BCEWithLogitsLoss, nn.BCELoss, nn.MSELoss "
            "or HalfSSELoss, or stepper's loss name",
            place="loss",
        )
    if module.reduction != "mean":
        raise StepperError(
            f"{name}(reduction={module.reduction!r}) is not supported: only reduction='mean', the loss stepper works",
            place="loss",
        )
    if getattr(module, "weight", None) is not None or getattr(module, "pos_weight", None) is not None:
        raise StepperError(f"{name} with class weights is not supported", place="loss")
    if getattr(module, "label_smoothing", 0.0):
        raise StepperError(f"{name} with label_smoothing is not supported: give the smoothed target", place="loss")
    return _LOSSES[name]


def _optimizer(optimizer, modules: list, torch) -> tuple[str, bool]:
    """(the learning rate as text, update_bias) of a plain SGD over the model's parameters, or of a number."""
    if isinstance(optimizer, (int, float, Fraction)) and not isinstance(optimizer, bool):
        return str(Fraction(repr(float(optimizer)))), True
    if not isinstance(optimizer, torch.optim.SGD):
        raise StepperError(
            f"{type(optimizer).__name__} is not supported: expected torch.optim.SGD (or the learning rate as a "
            "number), whose step is new = old - lr x grad",
            place="optimizer",
        )
    rates = set()
    for group in optimizer.param_groups:
        for option, plain in (("momentum", 0), ("dampening", 0), ("weight_decay", 0), ("nesterov", False)):
            if group.get(option, plain) != plain:
                raise StepperError(
                    f"SGD with {option}={group[option]} is not supported: stepper's step is new = old - lr x grad",
                    place="optimizer",
                )
        if group.get("maximize", False):
            raise StepperError("SGD with maximize=True is not supported", place="optimizer")
        rates.add(float(group["lr"]))
    if len(rates) != 1:
        raise StepperError(f"expected one learning rate for every parameter, found {sorted(rates)}", place="optimizer")
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    weights = [m.weight for m in modules if getattr(m, "weight", None) is not None]
    biases = [m.bias for m in modules if getattr(m, "bias", None) is not None]
    if not all(id(w) in held for w in weights):
        raise StepperError(
            "the optimizer must hold every weight of the model (made for another model, or a part of it?): "
            "stepper's step updates them all",
            place="optimizer",
        )
    kept = [id(b) in held for b in biases]
    if any(kept) and not all(kept):
        raise StepperError(
            "the optimizer must hold every bias of the model or none of them (update_bias = false)", place="optimizer"
        )
    if len(held) != len(weights) + sum(kept):
        raise StepperError("the optimizer holds parameters that are not the model's", place="optimizer")
    return str(Fraction(repr(rates.pop()))), all(kept)


def _target(target, output: Shape, torch) -> int | list[str]:
    """A class index tensor (from 0) as the class counted from 1, or a vector tensor as its values as text."""
    if not isinstance(target, torch.Tensor):
        raise StepperError(
            f"expected the target as a torch tensor (a class index, or one value per output), found "
            f"{type(target).__name__}",
            place="target",
        )
    t = target.detach().cpu()
    if t.dtype == torch.bool or t.is_complex():
        raise StepperError(f"expected a class index or a vector of floats, found a {t.dtype} tensor", place="target")
    n = output[0] if len(output) == 1 else 0
    if not t.is_floating_point():
        if t.numel() != 1:
            raise StepperError(
                f"expected a class index, one number (a batch of one), found shape {tuple(t.shape)}", place="target"
            )
        index = int(t.reshape(-1)[0])
        if not 0 <= index < n:
            raise StepperError(
                f"expected a class index from 0 to {n - 1} (PyTorch counts from 0), found {index}", place="target"
            )
        return index + 1
    if t.dim() == 2 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 1:
        raise StepperError(f"expected a vector target of shape (n,) or (1, n), found {tuple(t.shape)}", place="target")
    if not bool(torch.isfinite(t).all()):
        raise StepperError("the target holds NaN or infinity", place="target")
    if t.dtype == torch.float64:
        return [repr(v) for v in t.tolist()]
    return [str(np.float32(v)) for v in t.float().tolist()]  # the shortest float32 decimal, as the weights


@lru_cache(maxsize=1)
def half_sse_loss() -> type:
    """The class of stepper's half_sse as a torch loss: L = 1/2 sum (output - target)^2 (Mazur's), which PyTorch
    has no module for. `half_sse_loss()()` is one."""
    module: Any = _torch().nn.Module

    class HalfSSELoss(module):
        """L = 1/2 sum_i (output_i - target_i)^2."""

        def forward(self, output, target):
            return 0.5 * ((output - target) ** 2).sum()

    return HalfSSELoss


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


# ---- out: [train] -> what PyTorch trains with ----


class TorchTraining(NamedTuple):
    """The problem's training step as PyTorch takes it (float64). `step()` runs one step and returns the loss
    before it; the updated weights are then the model's parameters."""

    model: Any  # nn.Sequential: to_torch's, without its last softmax for cross_entropy (CrossEntropyLoss's logits)
    input: Any  # the input tensor, as to_torch gives it
    loss: Any  # nn.CrossEntropyLoss(), nn.BCELoss(), nn.MSELoss() or HalfSSELoss()
    optimizer: Any  # torch.optim.SGD over every weight (and bias, with update_bias) at the problem's learning rate
    target: Any  # a class index (0-dimensional, counted from 0) or a float64 vector
    steps: int  # the steps the problem works

    def step(self) -> float:
        """One step of gradient descent: zero_grad, loss(model(input), target).backward(), optimizer.step()."""
        self.optimizer.zero_grad()
        value = self.loss(self.model(self.input).reshape(-1), self.target)
        value.backward()
        self.optimizer.step()
        return float(value.detach())


def torch_training(problem: Problem) -> TorchTraining:
    """The model, input, loss module, SGD optimizer and target that train the problem's [train] step in PyTorch."""
    train = problem.train
    if train is None:
        raise StepperError("the problem has no [train] table: nothing to train", file=problem.source)
    torch = _torch()
    nn = torch.nn
    modules = torch_layers(problem)
    if train.loss == "cross_entropy":  # CrossEntropyLoss applies the softmax itself: the model gives the logits
        modules = modules[:-1]
    model = nn.Sequential(*modules)
    loss = {
        "cross_entropy": nn.CrossEntropyLoss,
        "binary_cross_entropy": nn.BCELoss,
        "mse": nn.MSELoss,
        "half_sse": half_sse_loss(),
    }[train.loss]()
    params = [p for name, p in model.named_parameters() if train.update_bias or not name.endswith("bias")]
    optimizer = torch.optim.SGD(params, lr=float(train.learning_rate))
    if train.target_class is not None:
        target = torch.tensor(train.target_class - 1)
    else:
        target = _tensor(train.target).reshape(-1)
    return TorchTraining(model, _tensor(problem.input), loss, optimizer, target, train.steps)
