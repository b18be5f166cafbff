"""The backward pass against finite differences and plain numpy, on small random networks of every layer kind.

Nothing here asks stepper for what it checks. The forward pass and the four losses are written again below in
float64 numpy (loops over windows, as on paper), and every gradient stepper gives (each layer's dL/d(output),
dL/d(input), dL/dW and dL/db, and the loss's own gradient) is compared with central differences of that loss.
The networks' numbers are drawn at random and drawn again when a ReLU's input lies near 0 or a max-pooling
window's two largest cells lie near each other, where the loss has a kink and differences mean nothing.
Gradient descent, Mazur's worked example and max pooling's ties are computed independently too.

The networks (RECIPES) are shared with the PyTorch comparison in tests/interop/test_backward_torch.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pytest

from stepper.core.backward import training
from stepper.core.load import load, loads
from stepper.core.stages import backward_stages
from tests.helpers import ROOT

# ---- the networks: each layer's table as a problem file holds it, its parameters drawn at random ----


def conv(filters: int, kernel, **fields) -> dict:
    """A conv2d layer with `filters` filters of `kernel` cells (a bias unless bias=False)."""
    return {"type": "conv2d", "filters": filters, "kernel": kernel, **fields}


def transposed(filters: int, kernel, **fields) -> dict:
    return {"type": "conv_transpose2d", "filters": filters, "kernel": kernel, **fields}


def dense(neurons: int, **fields) -> dict:
    return {"type": "dense", "neurons": neurons, **fields}


def layer(kind: str, **fields) -> dict:
    return {"type": kind, **fields}


@dataclass
class Recipe:
    """A network's shape: its input's, its layers' tables (without their numbers) and its [train] table."""

    input: tuple[int, int, int]
    layers: list[dict]
    train: dict


RECIPES = {
    "conv-relu-maxpool-padded, cross-entropy of a class": Recipe(
        (2, 5, 5),
        [
            conv(3, 3, padding=1),
            layer("relu"),
            layer("maxpool", size=2, padding=1),
            layer("flatten"),
            dense(3),
            layer("softmax"),
        ],
        {"loss": "cross_entropy", "target": 2, "learning_rate": 0.1},
    ),
    "stride 2 'same' flipped, avgpool padded, 1x1 filter, cross-entropy of probabilities": Recipe(
        (3, 6, 5),
        [
            conv(2, (3, 2), stride=2, padding="same", flip=True, bias=False),
            layer("tanh"),
            layer("avgpool", size=2, stride=1, padding=1),
            layer("conv1x1"),
            layer("sigmoid"),
            layer("flatten"),
            dense(4, bias=False),
            layer("softmax"),
        ],
        {"loss": "cross_entropy", "target": [0.1, 0.6, 0.2, 0.1], "learning_rate": 0.5},
    ),
    "dilation 2, asymmetric padding, transposed stride 2, global average, binary cross-entropy": Recipe(
        (1, 6, 6),
        [
            conv(2, 2, dilation=2, padding=[1, 0, 2, 1]),
            layer("leaky_relu", slope=0.1),
            transposed(2, 3, stride=2, padding=1, output_padding=1),
            layer("identity"),
            layer("globalavgpool"),
            layer("flatten"),
            dense(3),
            layer("sigmoid"),
        ],
        {"loss": "binary_cross_entropy", "target": [1, 0, 0.3], "learning_rate": 0.2},
    ),
    "transposed without bias, overlapping maxpool, mse after softmax": Recipe(
        (2, 3, 3),
        [
            transposed(3, (2, 3), stride=[2, 1], padding=[0, 1], bias=False),
            layer("relu"),
            layer("maxpool", size=[2, 3], stride=1, padding=1),
            dense(3),  # straight on the maps: weights as flat lists
            layer("softmax"),
        ],
        {"loss": "mse", "target": [0.2, 0.5, 0.3], "learning_rate": 1},
    ),
    "dense layers, half the summed squares": Recipe(
        (1, 1, 4),
        [dense(3), layer("sigmoid"), dense(2), layer("tanh"), dense(2, bias=False), layer("identity")],
        {"loss": "half_sse", "target": [0.3, -0.2], "learning_rate": 0.5},
    ),
    "softmax over maps, mse": Recipe(
        (2, 4, 4),
        [conv(2, 2, stride=2, padding="valid"), layer("softmax")],
        {"loss": "mse", "target": [0.1, 0.2, 0, 0, 0.3, 0.1, 0.2, 0.1], "learning_rate": 0.3},
    ),
    "stride 2 with a pair of paddings, several channels, sigmoid and binary cross-entropy": Recipe(
        (3, 5, 6),
        [
            conv(3, 3, stride=[2, 1], padding=[1, 2], bias=False),
            layer("sigmoid"),
            conv(2, 2, stride=2, padding="same", dilation=[1, 2]),
            layer("relu"),
            layer("flatten"),
            dense(2),
            layer("sigmoid"),
        ],
        {"loss": "binary_cross_entropy", "target": 2, "learning_rate": 0.1},
    ),
}


@dataclass
class Net:
    """A network with its numbers: the input, each layer's table (parameters as float64 arrays), [train]."""

    input: np.ndarray
    layers: list[dict]
    train: dict
    settings: dict = field(default_factory=lambda: {"rounding": "full", "decimals": 12})

    @property
    def target(self) -> np.ndarray:
        target, n = self.train["target"], forward(self.layers, self.input)[-1].size
        return np.eye(n)[target - 1] if isinstance(target, int) else np.array(target, dtype=float)

    def toml(self) -> str:
        lines = [f"input = {toml(self.input)}", "[settings]"]
        lines += [f"{k} = {toml(v)}" for k, v in self.settings.items()]
        for table in self.layers:
            lines.append("[[layers]]")
            for k, v in table.items():
                value = v[0] if table["type"] == "conv1x1" and k == "bias" else v  # one number
                lines.append(f"{k} = {toml(value)}")
        lines.append("[train]")
        lines += [f"{k} = {toml(v)}" for k, v in self.train.items()]
        return "\n".join(lines) + "\n"


def toml(v) -> str:
    if isinstance(v, (np.ndarray, np.generic)):
        v = v.tolist()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml(x) for x in v) + "]"
    return repr(v)  # numbers of at most 3 decimals: their repr is their decimal, as a problem file writes it


def numbers(rng, shape, scale: float = 1.0) -> np.ndarray:
    """Random numbers of 3 decimals (so that the problem file holds exactly the floats used here)."""
    return np.round(rng.uniform(-scale, scale, shape), 3)


def draw(recipe: Recipe, rng) -> Net:
    """The recipe's network with random numbers: weights scaled by the fan-in, so no sigmoid saturates."""
    x = numbers(rng, recipe.input, 2.0)
    layers, shape = [], x.shape
    for table in recipe.layers:
        table = dict(table)
        kind, with_bias = table["type"], table.pop("bias", True)
        if kind in ("conv2d", "conv_transpose2d"):
            kh, kw = pair(table.pop("kernel"))
            f, c = table["filters"], shape[0]
            table["filters"] = numbers(rng, (f, c, kh, kw), 1.5 / math.sqrt(c * kh * kw))
        elif kind == "dense":
            f, d = table.pop("neurons"), math.prod(shape)
            table["weights"] = numbers(rng, (f, d), 2 / math.sqrt(d))
        elif kind == "conv1x1":
            f, table["weights"] = 1, numbers(rng, shape[0], 1.5)
        if ("weights" in table or "filters" in table) and with_bias:
            table["bias"] = numbers(rng, f, 0.5)
        layers.append(table)
        shape = apply(table, np.zeros(shape)).shape
    return Net(x, layers, dict(recipe.train))


def network(recipe: Recipe, seed: int, margin: float = 1e-3) -> Net:
    """A draw of the recipe whose loss is smooth near its numbers: redrawn while a kink lies within `margin`."""
    for attempt in range(200):
        net = draw(recipe, np.random.default_rng([seed, attempt]))
        if kink_distance(net.layers, forward(net.layers, net.input)) > margin:
            return net
    raise AssertionError("no draw of the recipe is far enough from a kink")


# ---- the forward pass and the losses, in plain float64 numpy ----


def pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def sides(padding, size, reach, stride) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) cells of zeros: a number, a pair, four numbers, "valid" or "same" (TensorFlow's:
    ceil(n / s) outputs, the odd cell after)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        rows, cols = (max((-(-n // s) - 1) * s + k - n, 0) for n, k, s in zip(size, reach, stride))
        return (rows // 2, rows - rows // 2, cols // 2, cols - cols // 2)
    if isinstance(padding, int):
        return (padding,) * 4
    return (padding[0], padding[0], padding[1], padding[1]) if len(padding) == 2 else tuple(padding)


def bias_of(table: dict, n: int) -> np.ndarray:
    return table["bias"] if "bias" in table else np.zeros(n)


def conv2d(x: np.ndarray, table: dict) -> np.ndarray:
    """Each filter slid over the padded input, reading every d-th cell: sum of products, plus the bias."""
    k = table["filters"][..., ::-1, ::-1] if table.get("flip") else table["filters"]
    (sh, sw), (dh, dw) = pair(table.get("stride", 1)), pair(table.get("dilation", 1))
    f, _, kh, kw = k.shape
    rh, rw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    top, bottom, left, right = sides(table.get("padding", 0), x.shape[1:], (rh, rw), (sh, sw))
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right)))
    out = np.zeros((f, (xp.shape[1] - rh) // sh + 1, (xp.shape[2] - rw) // sw + 1))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            window = xp[:, i * sh : i * sh + rh : dh, j * sw : j * sw + rw : dw]
            out[:, i, j] = np.tensordot(k, window, axes=3)
    return out + bias_of(table, f)[:, None, None]


def conv_transpose2d(x: np.ndarray, table: dict) -> np.ndarray:
    """Each input cell adds the filter times its value, stride apart; the padding is then cut from each side."""
    k = table["filters"]  # (F, C, kh, kw)
    (sh, sw), (ph, pw) = pair(table.get("stride", 1)), pair(table.get("padding", 0))
    ah, aw = pair(table.get("output_padding", 0))
    f, _, kh, kw = k.shape
    _, h, w = x.shape
    full = np.zeros((f, (h - 1) * sh + kh + ah, (w - 1) * sw + kw + aw))
    for i in range(h):
        for j in range(w):
            full[:, i * sh : i * sh + kh, j * sw : j * sw + kw] += np.einsum("fcuv,c->fuv", k, x[:, i, j])
    return full[:, ph : full.shape[1] - ph, pw : full.shape[2] - pw] + bias_of(table, f)[:, None, None]


def pool(x: np.ndarray, table: dict) -> np.ndarray:
    """Max pooling over the padded map (padding never wins), or the average (padding counted as 0)."""
    if table["type"] == "globalavgpool":
        return x.mean(axis=(1, 2), keepdims=True)
    (kh, kw), (ph, pw) = pair(table["size"]), pair(table.get("padding", 0))
    sh, sw = pair(table.get("stride", table["size"]))
    maximum = table["type"] == "maxpool"
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf if maximum else 0.0)
    out = np.zeros((x.shape[0], (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            window = xp[:, i * sh : i * sh + kh, j * sw : j * sw + kw]
            out[:, i, j] = window.max(axis=(1, 2)) if maximum else window.sum(axis=(1, 2)) / (kh * kw)
    return out


def apply(table: dict, x: np.ndarray) -> np.ndarray:
    kind = table["type"]
    if kind == "conv2d":
        return conv2d(x, table)
    if kind == "conv_transpose2d":
        return conv_transpose2d(x, table)
    if kind in ("maxpool", "avgpool", "globalavgpool"):
        return pool(x, table)
    if kind == "conv1x1":
        return np.einsum("c,chw->hw", table["weights"], x)[None] + bias_of(table, 1)[0]
    if kind == "dense":
        return table["weights"] @ x.reshape(-1) + bias_of(table, len(table["weights"]))
    if kind == "flatten":
        return x.reshape(-1)
    if kind == "softmax":
        e = np.exp(x.reshape(-1) - x.max())
        return e / e.sum()
    functions: dict[str, Callable] = {
        "relu": lambda v: np.where(v > 0, v, 0.0),
        "leaky_relu": lambda v: np.where(v > 0, v, table.get("slope", 0.01) * v),
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "tanh": np.tanh,
        "identity": lambda v: v.copy(),
    }
    return functions[kind](x)


def forward(layers: list[dict], x: np.ndarray) -> list[np.ndarray]:
    """The input and each layer's output."""
    values = [x]
    for table in layers:
        values.append(apply(table, values[-1]))
    return values


def loss(kind: str, p: np.ndarray, y: np.ndarray) -> float:
    p = p.reshape(-1)
    if kind == "cross_entropy":
        return float(-np.sum(y * np.log(p)))
    if kind == "mse":
        return float(np.mean((p - y) ** 2))
    if kind == "half_sse":
        return float(0.5 * np.sum((p - y) ** 2))
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))  # binary cross-entropy


def kink_distance(layers: list[dict], values: list[np.ndarray], exact: bool = True) -> float:
    """How near the loss is to a kink: the smallest |x| going into a ReLU, and the smallest gap between the
    largest and the second largest cell of a max-pooling window. `exact=False` leaves out a distance of exactly
    0 (an input of exactly 0, an exact tie), which any arithmetic meets alike."""
    distances = [np.array([math.inf])]
    for table, x in zip(layers, values):
        if table["type"] in ("relu", "leaky_relu"):
            distances.append(np.abs(x).ravel())
        elif table["type"] == "maxpool":
            (kh, kw), (ph, pw) = pair(table["size"]), pair(table.get("padding", 0))
            (sh, sw), size = pair(table.get("stride", table["size"])), kh * kw
            xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
            for i in range(0, xp.shape[1] - kh + 1, sh):
                for j in range(0, xp.shape[2] - kw + 1, sw):
                    ranked = np.sort(xp[:, i : i + kh, j : j + kw].reshape(len(x), size), axis=1)
                    if size > 1:
                        distances.append(ranked[:, -1] - ranked[:, -2])
    found = np.concatenate(distances)
    return float((found if exact else found[found != 0]).min())


def numeric_gradient(f: Callable[[], float], array: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """dF/d(array) by central differences, moving each cell of `array` in place (and putting it back)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        kept = array[index]
        array[index] = kept + h
        up = f()
        array[index] = kept - h
        down = f()
        array[index] = kept
        grad[index] = (up - down) / (2 * h)
    return grad


def assert_close(ours, expected: np.ndarray, what: str, tolerance: float = 1e-7) -> None:
    got = ours.floats() if hasattr(ours, "floats") else np.asarray(ours)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=tolerance, err_msg=what)


def parameter(table: dict) -> str | None:
    """The field of a layer's weights: filters, weights, or none."""
    return next((name for name in ("filters", "weights") if name in table), None)


# ---- every gradient against finite differences ----


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", RECIPES)
def test_every_gradient_matches_finite_differences(name, seed):
    net = network(RECIPES[name], seed)
    result = training(loads(net.toml()))
    step, kind, y, layers = result.first, net.train["loss"], net.target, net.layers
    values = forward(layers, net.input)
    assert_close(step.loss.value, np.array(loss(kind, values[-1], y)), "the loss", 1e-12)

    def loss_after(k: int) -> Callable[[], float]:
        """The loss as a function of layer k's input (values[k], moved in place)."""
        return lambda: loss(kind, forward(layers[k:], values[k])[-1], y)

    # the loss's own gradient: dL/dyhat, or dL/dz of the last layer's input when softmax (sigmoid) and
    # (binary) cross-entropy are taken together
    combined = kind in ("cross_entropy", "binary_cross_entropy")
    start = len(layers) - 1 if combined else len(layers)
    assert step.loss.combined == combined
    assert_close(step.loss.grad, numeric_gradient(loss_after(start), values[start]).reshape(-1), "dL/dyhat")
    numbers = [g.number for g in step.grads]
    assert numbers == list(range(start, 0, -1)), "a record per layer, the last first"

    for number, table in enumerate(layers[:start], 1):
        grad = result.grad(number)
        assert grad is not None and grad.layer.kind == table["type"]
        where = f"layer {number} ({table['type']})"
        assert_close(grad.upstream, numeric_gradient(loss_after(number), values[number]), f"{where} dL/d(output)")
        # shaped as the forward record holds the layer's input and output (softmax's z is flat: one vector)
        assert grad.input.shape == grad.forward.input.shape and grad.upstream.shape == grad.forward.output.shape
        d_input = numeric_gradient(loss_after(number - 1), values[number - 1])
        assert_close(grad.input.reshape(*d_input.shape), d_input, f"{where} dL/dX")
        whole = loss_after(0)
        name = parameter(table)
        if name is None:
            assert grad.weights is None and grad.bias is None, where
            continue
        assert_close(grad.weights, numeric_gradient(whole, table[name]), f"{where} dL/d{name}")
        if "bias" in table:
            assert_close(grad.bias, numeric_gradient(whole, table["bias"]), f"{where} dL/db")
        else:
            assert grad.bias is None, where


@pytest.mark.parametrize("name", [*RECIPES, "tutorial-train", "mazur-backprop"])
def test_each_backward_stage_has_its_values(name):
    """Every stage backward_stages names is there in the first step, in the stage's shape."""
    if name in RECIPES:
        problem = loads(network(RECIPES[name], 0).toml())
    else:
        problem = load(ROOT / "examples" / f"{name}.toml")
    result = training(problem)
    for stage in backward_stages(problem):
        assert result.value(stage).shape == stage.shape, stage.key


@pytest.mark.parametrize("name", RECIPES)
def test_the_worked_sums_add_up_to_the_gradients(name):
    """The sums a solution writes out, cell by cell: a filter weight's over the windows it touched, a cell of
    the full convolution that gives dL/dX, a dense input's over the neurons; each adds up to the gradient."""
    result = training(loads(network(RECIPES[name], 0).toml()))
    for grad in result.first.grads:
        where = f"layer {grad.number} ({grad.layer.kind})"
        if grad.layer.kind in ("conv2d", "conv_transpose2d"):
            flipped = grad.layer.kind == "conv_transpose2d" or grad.layer.flip  # the kernels as applied
            applied = grad.weights.floats()[..., ::-1, ::-1] if flipped else grad.weights.floats()
            for f, c, u, v in np.ndindex(applied.shape):
                terms = grad.weight_terms(f, c, u, v)
                assert np.isclose(terms.products.floats().sum(), applied[f, c, u, v], rtol=1e-12, atol=1e-15)
                assert np.isclose(float(terms.total.floats()), applied[f, c, u, v], rtol=1e-12, atol=1e-15), where
            conv = getattr(grad.forward, "conv", grad.forward)
            d_padded = np.array(
                [[[float(grad.input_terms(c, a, b).total.floats()) for b in range(conv.padded.shape[2])]
                  for a in range(conv.padded.shape[1])] for c in range(conv.padded.shape[0])]
            )  # fmt: skip
            (h, w), (sh, sw) = grad.input.shape[1:], grad.layer.stride
            if grad.layer.kind == "conv2d":  # the input inside its padding
                top, left, sh, sw = conv.padding.top, conv.padding.left, 1, 1
            else:  # the input's cells stride apart in the expanded input, k - 1 - p cells of zeros around
                top, left = (k - 1 - p for k, p in zip(grad.layer.filters.shape[2:], grad.layer.padding))
            cells = d_padded[:, top : top + (h - 1) * sh + 1 : sh, left : left + (w - 1) * sw + 1 : sw]
            assert np.allclose(cells, grad.input.floats(), rtol=1e-12, atol=1e-15), where
        elif grad.layer.kind == "dense":
            flat = grad.input.floats().reshape(-1)
            for d in range(flat.size):
                assert np.isclose(float(grad.back_terms(d).total.floats()), flat[d], rtol=1e-12, atol=1e-15), where


# ---- the update ----


@pytest.mark.parametrize("update_bias", [True, False])
@pytest.mark.parametrize("name", RECIPES)
def test_the_update_is_old_minus_rate_times_gradient(name, update_bias):
    net = network(RECIPES[name], 1)
    net.train["update_bias"] = update_bias
    rate = float(net.train["learning_rate"])
    result = training(loads(net.toml()))
    step = result.first
    expected = set()
    for number, table in enumerate(net.layers, 1):
        name = parameter(table)
        if name is not None:
            expected.add((number, name))
        if "bias" in table and update_bias:
            expected.add((number, "bias"))
    assert {(u.number, u.name) for u in step.updates} == expected
    assert [u.number for u in step.updates] == sorted(u.number for u in step.updates), "in the order of the layers"
    for u in step.updates:
        table, grad, where = net.layers[u.number - 1], result.grad(u.number), f"layer {u.number} {u.name}"
        old = table[u.name]
        assert np.array_equal(u.old.floats().reshape(old.shape), old), where
        assert np.array_equal(u.grad.floats(), (grad.bias if u.name == "bias" else grad.weights).floats()), where
        assert np.array_equal(u.new.floats(), old.reshape(u.new.shape) - rate * u.grad.floats()), where
        kept = step.after.layers[u.number - 1]
        now = kept.matrix if table["type"] == "dense" and u.name == "weights" else getattr(kept, u.name)
        assert np.array_equal(now.floats().reshape(u.new.shape), u.new.floats()), f"{where}: the problem after"
    for number, table in enumerate(net.layers, 1):
        if "bias" in table and not update_bias:
            assert np.array_equal(step.after.layers[number - 1].bias.floats(), table["bias"]), "the bias stays"


def test_three_steps_follow_plain_gradient_descent():
    """A 3-2-2 sigmoid network trained 3 steps on the mean squared error: the losses before each step and after
    the last, and the weights at the end, as a plain numpy loop gives them."""
    x = np.array([0.5, -1.2, 0.8])
    w1, b1 = np.array([[0.1, -0.4, 0.3], [0.7, 0.2, -0.5]]), np.array([0.1, -0.2])
    w2, b2 = np.array([[0.6, -0.3], [-0.8, 0.9]]), np.array([0.05, 0.3])
    y, rate = np.array([0.9, 0.1]), 0.5
    net = Net(
        x.reshape(1, 1, 3),
        [
            {"type": "dense", "weights": w1.copy(), "bias": b1.copy()},
            {"type": "sigmoid"},
            {"type": "dense", "weights": w2.copy(), "bias": b2.copy()},
            {"type": "sigmoid"},
        ],
        {"loss": "mse", "target": y.tolist(), "learning_rate": rate, "steps": 3},
    )
    result = training(loads(net.toml()))

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    losses = []
    for _ in range(3):
        h = sigmoid(w1 @ x + b1)
        o = sigmoid(w2 @ h + b2)
        losses.append(np.mean((o - y) ** 2))
        delta2 = 2 * (o - y) / len(y) * o * (1 - o)
        delta1 = (w2.T @ delta2) * h * (1 - h)
        w2, b2 = w2 - rate * np.outer(delta2, h), b2 - rate * delta2
        w1, b1 = w1 - rate * np.outer(delta1, x), b1 - rate * delta1
    losses.append(np.mean((sigmoid(w2 @ sigmoid(w1 @ x + b1) + b2) - y) ** 2))

    assert len(result.steps) == 3 and [s.step for s in result.steps] == [1, 2, 3]
    np.testing.assert_allclose(result.losses, losses, rtol=0, atol=1e-14)
    assert losses[-1] < losses[0]
    last = result.steps[-1].after.layers
    for ours, theirs in ((last[0], (w1, b1)), (last[2], (w2, b2))):
        np.testing.assert_allclose(ours.matrix.floats(), theirs[0], rtol=0, atol=1e-14)
        np.testing.assert_allclose(ours.bias.floats(), theirs[1], rtol=0, atol=1e-14)


# ---- Mazur's "A step by step backpropagation example" ----


def test_mazur_example_to_nine_decimals():
    """examples/mazur-backprop.toml against the arithmetic of Mazur's post, done here in numpy: E_total, every
    gradient, the updated weights; the biases stay. The numbers he prints are checked at the end."""
    i, t, rate = np.array([0.05, 0.10]), np.array([0.01, 0.99]), 0.5
    w_hidden, w_out, b_hidden, b_out = (
        np.array([[0.15, 0.20], [0.25, 0.30]]),
        np.array([[0.40, 0.45], [0.50, 0.55]]),
        0.35,
        0.60,
    )
    out_h = 1 / (1 + np.exp(-(w_hidden @ i + b_hidden)))
    out_o = 1 / (1 + np.exp(-(w_out @ out_h + b_out)))
    e_total = 0.5 * np.sum((t - out_o) ** 2)
    d_out_o = out_o - t  # dE/d(out_o)
    delta_o = d_out_o * out_o * (1 - out_o)  # dE/d(net_o)
    d_w_out = np.outer(delta_o, out_h)  # dE/dw5..w8
    d_out_h = w_out.T @ delta_o  # dE/d(out_h): both outputs' share
    delta_h = d_out_h * out_h * (1 - out_h)
    d_w_hidden = np.outer(delta_h, i)  # dE/dw1..w4
    new_out, new_hidden = w_out - rate * d_w_out, w_hidden - rate * d_w_hidden

    problem = load(ROOT / "examples" / "mazur-backprop.toml")
    result = training(problem)
    step = result.first
    assert problem.settings.decimals == 9 and not problem.train.update_bias

    def nine(ours, theirs, what):
        assert np.array_equal(np.round(ours.floats(), 9), np.round(theirs, 9)), what
        assert_close(ours, theirs, what, 1e-15)

    nine(step.loss.value, np.array(e_total), "E_total")
    nine(step.loss.grad, d_out_o, "dE/d(out_o)")
    assert [g.number for g in step.grads] == [4, 3, 2, 1]
    nine(result.grad(4).input, delta_o, "dE/d(net_o)")
    nine(result.grad(3).weights, d_w_out, "dE/dw5..w8")
    nine(result.grad(3).input.reshape(2), d_out_h, "dE/d(out_h)")
    nine(result.grad(2).input.reshape(2), delta_h, "dE/d(net_h)")
    nine(result.grad(1).weights, d_w_hidden, "dE/dw1..w4")
    updates = {(u.number, u.name): u.new for u in step.updates}
    assert set(updates) == {(1, "weights"), (3, "weights")}, "the biases stay as they are"
    nine(updates[3, "weights"], new_out, "w5..w8 after the step")
    nine(updates[1, "weights"], new_hidden, "w1..w4 after the step")
    # the total error after the step, with the new weights and the biases as they were
    out_after = 1 / (1 + np.exp(-(new_out @ (1 / (1 + np.exp(-(new_hidden @ i + b_hidden)))) + b_out)))
    e_after = 0.5 * np.sum((t - out_after) ** 2)
    assert result.losses == pytest.approx((e_total, e_after), rel=0, abs=1e-15)
    assert round(e_after, 9) == 0.291027774  # Mazur's post prints 0.291027924
    assert step.after.layers[0].bias.floats().tolist() == [0.35, 0.35]
    assert step.after.layers[2].bias.floats().tolist() == [0.6, 0.6]

    # the numbers of Mazur's post, to the places he prints them, as the arithmetic above gives them
    for ours, printed in [
        (e_total, "0.298371109"),
        (out_h[0], "0.593269992"),
        (out_o[0], "0.75136507"),
        (d_w_out[0, 0], "0.082167041"),
        (d_w_hidden[0, 0], "0.000438568"),
        *zip(new_out.ravel(), ["0.35891648", "0.408666186", "0.511301270", "0.561370121"]),
        *zip(new_hidden.ravel(), ["0.149780716", "0.19956143", "0.24975114", "0.29950229"]),
    ]:
        assert round(float(ours), len(printed) - 2) == float(printed), (ours, printed)


# ---- carried rounding ----


def carried(result) -> list[tuple[str, object]]:
    """Every gradient of a training run's first step, and the updated weights: (what, values)."""
    step = result.first
    found: list[tuple[str, object]] = [("loss", step.loss.value), ("dL/dyhat", step.loss.grad)]
    for g in step.grads:
        where = f"layer {g.number} ({g.layer.kind})"
        found += [(f"{where} upstream", g.upstream), (f"{where} dL/dX", g.input)]
        found += [(f"{where} {what}", v) for what, v in (("dW", g.weights), ("db", g.bias)) if v is not None]
        if g.layer.kind in ("sigmoid", "tanh"):
            found.append((f"{where} f'(x)", g.local))
    found += [(f"layer {u.number} new {u.name}", u.new) for u in step.updates]
    return found


@pytest.mark.parametrize("name", list(RECIPES) + ["the tutorial"])
def test_carried_rounding_rounds_every_gradient(name):
    if name == "the tutorial":
        problem = load(ROOT / "examples" / "tutorial-train.toml")
        assert (problem.settings.rounding, problem.settings.decimals) == ("carry", 4)
    else:
        net = network(RECIPES[name], 2)
        net.settings = {"rounding": "carry", "decimals": 4}
        problem = loads(net.toml())
    for what, values in carried(training(problem)):
        scaled = values.floats() * 10**4
        assert np.allclose(scaled, np.round(scaled), rtol=0, atol=1e-6), f"{what}: {values.floats()}"


def by_hand(x: Fraction, places: int = 4) -> Fraction:
    """x rounded to `places` decimals, halves away from zero, in exact arithmetic."""
    q, r = divmod(abs(x) * 10**places, 1)
    q += r >= Fraction(1, 2)
    return Fraction(int(q) if x >= 0 else -int(q), 10**places)


def exactly(values) -> np.ndarray:
    """Values as an object array of Fractions (a carried value is exact: a decimal of a few places)."""
    return np.array(values.numbers(), dtype=object).reshape(values.shape)


def rounded(cells: np.ndarray) -> np.ndarray:
    return np.vectorize(by_hand, otypes=[object])(cells)


def conv_on_paper(grad, g: np.ndarray) -> dict[str, np.ndarray]:
    """A convolution's dL/dK (as written: turned back for a true convolution), dL/db and dL/dX, every product
    of the upstream gradient with a padded input cell (for dL/dK) or a kernel cell (for dL/dX) added up."""
    conv, layer = grad.forward, grad.layer
    padded, kernels = exactly(conv.padded), exactly(layer.kernels)
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    d_kernels, d_padded = np.zeros(kernels.shape, dtype=object), np.zeros(padded.shape, dtype=object)
    for f, i, j in np.ndindex(g.shape):
        for c, u, v in np.ndindex(kernels.shape[1:]):
            d_kernels[f, c, u, v] += g[f, i, j] * padded[c, i * sh + u * dh, j * sw + v * dw]
            d_padded[c, i * sh + u * dh, j * sw + v * dw] += g[f, i, j] * kernels[f, c, u, v]
    (h, w), pad = grad.input.shape[1:], conv.padding
    found = {
        "weights": d_kernels[..., ::-1, ::-1] if layer.flip else d_kernels,
        "input": d_padded[:, pad.top : pad.top + h, pad.left : pad.left + w],
    }
    if layer.bias is not None:
        found["bias"] = g.sum(axis=(1, 2))
    return found


def average_on_paper(grad, g: np.ndarray) -> np.ndarray:
    """Average pooling's dL/dX: each window's gradient shared equally among its cells, padding included."""
    (kh, kw), (sh, sw) = grad.layer.kernel(grad.input.shape), grad.layer.stride
    d_padded = np.zeros(grad.forward.padded.shape, dtype=object)
    for c, i, j in np.ndindex(g.shape):
        for u, v in np.ndindex(kh, kw):
            d_padded[c, i * sh + u, j * sw + v] += g[c, i, j] / (kh * kw)
    (h, w), pad = grad.input.shape[1:], grad.forward.padding
    return d_padded[:, pad.top : pad.top + h, pad.left : pad.left + w]


def on_paper(grad) -> dict[str, np.ndarray]:
    """A layer's gradients worked in exact decimals from its carried upstream gradient and forward values, before
    they are rounded: {"input": dL/dX, "weights": ..., "bias": ..., "local": f'(x)}. Max pooling and the
    transposed convolution are left out."""
    g, x, kind = exactly(grad.upstream), exactly(grad.forward.input), grad.layer.kind
    if kind == "dense":
        w = exactly(grad.forward.weights)
        found = {"weights": np.outer(g, x.reshape(-1)), "input": (w.T @ g).reshape(x.shape)}
        return found | ({"bias": g} if grad.layer.bias is not None else {})
    if kind == "conv1x1":
        w = exactly(grad.forward.weights)
        found = {"weights": np.einsum("hw,chw->c", g[0], x), "input": w[:, None, None] * g[0]}
        return found | ({"bias": np.array([g.sum()])} if grad.layer.bias is not None else {})
    if kind == "conv2d":
        return conv_on_paper(grad, g)
    if kind in ("avgpool", "globalavgpool"):
        return {"input": average_on_paper(grad, g)}
    if kind in ("sigmoid", "tanh"):
        y = exactly(grad.forward.output)
        local = rounded(y * (1 - y) if kind == "sigmoid" else 1 - y * y)  # written down, then multiplied
        return {"local": local, "input": g * local}
    if kind in ("relu", "leaky_relu"):
        slope = Fraction(0) if kind == "relu" else exactly(grad.layer.slope)[()]
        return {"input": np.where(x > 0, g, g * slope)}
    if kind == "softmax":  # softmax's Jacobian: the loss is not cross-entropy
        s = exactly(grad.forward.output)
        return {"input": s * (g - (g * s).sum())}
    if kind in ("identity", "flatten"):
        return {"input": g.reshape(x.shape)}
    return {}


@pytest.mark.parametrize("name", ["tutorial-train", *RECIPES])
def test_carried_gradients_are_worked_as_on_paper(name):
    """With carried rounding, each gradient is worked from the values as written, in exact decimals, and rounded
    half away from zero: -0.0283 x 1/2 = -0.01415 is written -0.0142, as a student writes it."""
    if name in RECIPES:
        net = network(RECIPES[name], 2)
        net.settings = {"rounding": "carry", "decimals": 4}
        problem = loads(net.toml())
    else:
        problem = load(ROOT / "examples" / f"{name}.toml")
    train, step = problem.train, training(problem).first
    p, y = exactly(step.loss.output), exactly(step.loss.target)
    loss_grad = {"half_sse": p - y, "mse": 2 * (p - y) / len(p), "cross_entropy": p - y}
    expected = loss_grad.get(train.loss, (p - y) / len(p))  # binary cross-entropy: (yhat - y) / n
    assert np.array_equal(exactly(step.loss.grad), rounded(expected)), "dL/dyhat"
    checked = set()
    for grad in step.grads:
        for what, cells in on_paper(grad).items():
            ours = exactly(getattr(grad, what))
            assert np.array_equal(ours, rounded(cells).reshape(ours.shape)), f"layer {grad.number} {what}"
            checked.add(grad.layer.kind)
    assert checked >= {layer.kind for layer in problem.layers[:-1]} - {"maxpool", "conv_transpose2d"}
    for u in step.updates:
        new = rounded(exactly(u.old) - train.learning_rate * exactly(u.grad))
        assert np.array_equal(exactly(u.new), new), f"layer {u.number} {u.name}"


# ---- max pooling's ties ----

TIED = [[5, 1, 2, 7], [2, 5, 7, 0], [0, 3, 4, 4], [3, 1, 4, 4]]  # each 2x2 window holds two or four maxima


def pooled(image, size: int, stride: int, ties: str, target) -> str:
    rows = "\n".join(" ".join(map(str, row)) for row in image)
    return (
        f'input = """\n{rows}\n"""\n[settings]\nrounding = "full"\n'
        f'[[layers]]\ntype = "maxpool"\nsize = {size}\nstride = {stride}\n'
        f'[[layers]]\ntype = "flatten"\n'
        f'[train]\nloss = "half_sse"\ntarget = {toml(target)}\nties = "{ties}"\n'
    )


@pytest.mark.parametrize(
    "ties,expected",
    [
        # windows' gradients 4, 5, 3, 5 (the maximum minus its target); the first maximum in reading order: the
        # top right window's 7 on the top row, not the one below it
        ("first", [[4, 0, 0, 5], [0, 0, 0, 0], [0, 3, 5, 0], [0, 0, 0, 0]]),
        ("all", [[4, 0, 0, 5], [0, 4, 5, 0], [0, 3, 5, 5], [3, 0, 5, 5]]),
    ],
)
def test_a_tied_window_sends_its_gradient_as_ties_says(ties, expected):
    result = training(loads(pooled(TIED, 2, 2, ties, [1, 2, 0, -1])))
    grad = result.grad(1)
    assert grad.upstream.floats().tolist() == [[[4, 5], [3, 5]]]
    assert grad.input.floats().tolist() == [expected]


def routed(image: np.ndarray, upstream: np.ndarray, size: int, stride: int, ties: str) -> np.ndarray:
    """Max pooling's dL/dX worked window by window: each maximum of a window (the first, or all) gets the
    window's gradient, added up where windows overlap."""
    grad = np.zeros_like(image, dtype=float)
    for i in range(upstream.shape[0]):
        for j in range(upstream.shape[1]):
            cells = [(i * stride + a, j * stride + b) for a in range(size) for b in range(size)]  # reading order
            best = max(image[c] for c in cells)
            winners = [c for c in cells if image[c] == best]
            for c in winners[:1] if ties == "first" else winners:
                grad[c] += upstream[i, j]
    return grad


@pytest.mark.parametrize("ties", ["first", "all"])
@pytest.mark.parametrize("seed", range(5))
def test_overlapping_windows_add_their_gradients(ties, seed):
    """Stride 1: a cell that is the maximum of several windows gets each one's gradient; small whole numbers
    make ties frequent."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 3, (5, 5))
    size, out = 2 + seed % 2, 5 - (2 + seed % 2) + 1
    target = rng.integers(-3, 3, out * out)
    result = training(loads(pooled(image.tolist(), size, 1, ties, target.tolist())))
    out_values = np.array([[image[i : i + size, j : j + size].max() for j in range(out)] for i in range(out)])
    upstream = out_values - target.reshape(out, out)
    assert np.array_equal(result.grad(1).upstream.floats()[0], upstream)
    assert np.array_equal(result.grad(1).input.floats()[0], routed(image, upstream, size, 1, ties))


def test_a_loss_at_a_half_of_the_last_place_rounds_away_from_zero():
    """L = 1/2 (1 - 0.5)^2 = 0.125 exactly, a single number (a 0-d array) at a half of the second place: 0.13."""
    problem = loads(
        'input = "1"\n[[layers]]\ntype = "dense"\nweights = [[1]]\n'
        '[train]\ntarget = [0.5]\nloss = "half_sse"\n[settings]\ndecimals = 2\n'
    )
    assert training(problem).first.loss.value.floats() == pytest.approx(0.13, abs=1e-12)


def test_a_carried_loss_is_the_total_of_the_carried_terms_it_shows():
    """Binary cross-entropy of three outputs, carried to 4 places: each term rounded as written, then their mean
    rounded, as by hand (1.6558 / 3 = 0.55193 -> 0.5519), not the mean of the unrounded terms (0.55199 -> 0.5520)."""
    problem = loads(
        'input = "1 2"\n[[layers]]\ntype = "dense"\nweights = [[0.1, 0.2], [0.3, -0.1], [0.2, 0.2]]\n'
        '[[layers]]\ntype = "sigmoid"\n[train]\ntarget = [1, 0, 1]\nloss = "binary_cross_entropy"\n'
    )
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([round_4(1 / (1 + math.exp(-z))) for z in (0.5, 0.1, 0.6)])
    terms = [round_4(-(t * math.log(q) + (1 - t) * math.log(1 - q))) for t, q in zip(y, p)]
    loss = training(problem).first.loss
    assert loss.terms.floats().tolist() == pytest.approx(terms, abs=1e-12)
    assert float(loss.value.floats()) == pytest.approx(round_4(sum(terms) / 3), abs=1e-12)


def round_4(x: float) -> float:
    """x to 4 places, halves away from zero, in decimal arithmetic as on paper."""
    from decimal import ROUND_HALF_UP, Decimal

    return float(Decimal(repr(float(x))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def test_a_forward_trace_given_is_the_first_steps_when_its_numbers_are_the_same():
    """A document that has traced the forward pass hands it over; one traced with other rounding is not used."""
    from dataclasses import replace

    from stepper.core.evaluate import trace

    problem = load(ROOT / "examples" / "tutorial-train.toml")
    forward = trace(problem)
    given, own = training(problem, forward=forward), training(problem)
    assert given.first.trace is forward and own.first.trace is not forward
    assert [u.new.floats().tolist() for u in given.first.updates] == [
        u.new.floats().tolist() for u in own.first.updates
    ]
    full = replace(problem.settings, rounding="full")
    assert training(problem, full, forward=forward).first.trace is not forward


def test_a_loss_that_has_no_value_after_a_step_says_after_which_step():
    """Cross-entropy of an output carried as 0.00 is infinite: before the first step the error names the field,
    and after a later step it also says which step led there."""
    from stepper.core.backward import _step_loss
    from stepper.core.errors import StepperError
    from stepper.core.evaluate import trace

    problem = loads(
        'input = "1"\n[settings]\ndecimals = 2\n[[layers]]\ntype = "dense"\nweights = [[0], [20]]\n'
        '[[layers]]\ntype = "softmax"\n[train]\ntarget = 1\nsteps = 3\n',
        name="far.toml",
    )
    with pytest.raises(StepperError) as first:
        training(problem)
    assert "after step" not in str(first.value) and "[train] field 'loss'" in str(first.value)
    with pytest.raises(StepperError) as later:
        _step_loss(trace(problem), problem.train, problem.settings, 3)
    assert str(later.value).startswith("far.toml: [train] field 'loss': after step 2 of 3: the loss is infinite")
