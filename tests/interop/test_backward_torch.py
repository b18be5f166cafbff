"""The backward pass against PyTorch's autograd and SGD in float64: every gradient, every updated weight.

The same problem runs through stepper (rounding = "full") and through the float64 torch model to_torch builds
for it. The loss is PyTorch's own: CrossEntropyLoss on the logits (the softmax's input), MSELoss, BCELoss on the
sigmoid's output, and half the summed squares; the step is torch.optim.SGD. Max pooling's ties go to the first
maximum, as PyTorch sends them (ties = "first").

Skipped where torch is not installed (`pip install "stepper[torch]"`; .ci/setup installs it).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stepper.core.backward import training
from stepper.core.load import loads
from tests.core.test_backward import RECIPES, TIED, kink_distance, network, pooled, toml
from tests.helpers.problems import problems, to_toml

pytestmark = pytest.mark.torch  # the optional torch group: pytest -m torch
torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # two threads stalled sporadically on small machines

from stepper.interop.pytorch import to_torch  # noqa: E402

TOLERANCE = {"rtol": 1e-9, "atol": 1e-12}


def parameters(layer, module) -> dict:
    """A layer's parameters in its torch module: {field: (tensor, the tensor laid out as stepper's field)}."""
    kind = layer.kind
    if kind == "conv2d":  # a zero padding, then the convolution with the kernels as applied
        conv = module[1]
        found = {"filters": (conv.weight, lambda t: t.flip(-2, -1) if layer.flip else t)}
    elif kind == "conv_transpose2d":  # torch holds (C_in, C_out, kh, kw)
        conv = module
        found = {"filters": (conv.weight, lambda t: t.transpose(0, 1))}
    elif kind == "conv1x1":
        conv = module
        found = {"weights": (conv.weight, lambda t: t.reshape(-1))}
    elif kind == "dense":
        conv = module if isinstance(module, torch.nn.Linear) else module[1]  # after a Flatten for maps
        found = {"weights": (conv.weight, lambda t: t)}
    else:
        return {}
    if conv.bias is not None:
        found["bias"] = (conv.bias, lambda t: t)
    return found


def torch_loss(train, values: list):
    """PyTorch's loss of the model's output (values[-1]) or, for cross-entropy, of the logits (values[-2])."""
    nn = torch.nn
    y = torch.tensor(train.target.floats(), dtype=torch.float64)
    if train.loss == "cross_entropy":
        logits = values[-2].reshape(1, -1)
        target = torch.tensor([train.target_class - 1]) if train.target_class else y[None]
        return nn.CrossEntropyLoss()(logits, target)
    output = values[-1].reshape(-1)
    if train.loss == "mse":
        return nn.MSELoss()(output, y)
    if train.loss == "binary_cross_entropy":
        return nn.BCELoss()(output, y)
    return 0.5 * ((output - y) ** 2).sum()  # half_sse


def run_torch(problem) -> tuple:
    """(model, loss, every layer's input and output with their .grad) after one backward pass in torch."""
    model, x = to_torch(problem)
    values = [x.requires_grad_(True)]
    for module in model:
        values.append(module(values[-1]))
        values[-1].retain_grad()
    loss = torch_loss(problem.train, values)
    loss.backward()
    return model, loss, values


def assert_same(ours, theirs, what: str) -> None:
    theirs = theirs.detach().numpy()
    got = ours.floats()
    assert got.size == theirs.size, f"{what}: {got.shape} cells, torch {theirs.shape}"
    np.testing.assert_allclose(got, theirs.reshape(got.shape), **TOLERANCE, err_msg=what)


def check_against_torch(problem) -> None:
    """One step of stepper's training against autograd and SGD: the loss, the loss's gradient, every layer's
    gradients, and every parameter after the step (the biases only when update_bias)."""
    result = training(problem)
    step, train = result.first, problem.train
    model, loss, values = run_torch(problem)
    assert float(step.loss.value.floats()) == pytest.approx(loss.item(), rel=1e-12, abs=1e-14)
    last = len(problem.layers)
    assert_same(step.loss.grad, values[last - 1 if step.loss.combined else last].grad, "dL/dyhat")
    assert step.grads, "a network with a layer before its last"
    for grad in step.grads:
        where = f"layer {grad.number} ({grad.layer.kind})"
        assert_same(grad.upstream, values[grad.number].grad, f"{where} dL/d(output)")
        assert_same(grad.input, values[grad.number - 1].grad, f"{where} dL/dX")
        found = parameters(grad.layer, model[grad.number - 1])
        assert (grad.weights is None) == (found.keys() - {"bias"} == set()), where
        assert (grad.bias is None) == ("bias" not in found), where
        for name, (tensor, ours) in found.items():
            assert_same(grad.bias if name == "bias" else grad.weights, ours(tensor.grad), f"{where} dL/d{name}")

    updated = [
        (number, name, tensor, ours)
        for number, (layer, module) in enumerate(zip(problem.layers, model), 1)
        for name, (tensor, ours) in parameters(layer, module).items()
        if name != "bias" or train.update_bias
    ]
    if updated:  # (max pooling alone has nothing to update)
        torch.optim.SGD([t for _, _, t, _ in updated], lr=float(train.learning_rate)).step()
    news = {(u.number, u.name): u.new for u in step.updates}
    assert set(news) == {(number, name) for number, name, _, _ in updated}
    for number, name, tensor, ours in updated:
        assert_same(news[number, name], ours(tensor), f"layer {number} {name} after the step")


@pytest.mark.parametrize("update_bias", [True, False])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", RECIPES)
def test_the_recipes_match_autograd_and_sgd(name, seed, update_bias):
    net = network(RECIPES[name], seed)
    net.train["update_bias"] = update_bias
    check_against_torch(loads(net.toml()))


HEADS = {  # a last layer for each loss, after a dense layer
    "cross_entropy": ["softmax"],
    "binary_cross_entropy": ["sigmoid"],
    "mse": ["softmax", "sigmoid", None],
    "half_sse": ["tanh", "identity", None],
}


def fresh(value, rng):
    """The same nesting of lists, each number drawn afresh with 3 decimals (no sum meets 0 or ties with another
    by accident in exact arithmetic and not in floats, or the other way round)."""
    if isinstance(value, list):
        return [fresh(v, rng) for v in value]
    return round(float(rng.uniform(-1, 1)), 3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(problems(), st.sampled_from(sorted(HEADS)), st.data())
def test_random_networks_match_autograd_and_sgd(problem, loss, data):
    """Random networks of every layer kind (tests/helpers/problems.py), with a dense layer and a last layer for
    the loss put on the end."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    problem["input"] = fresh(problem["input"], rng)
    for table in problem["layers"]:
        for name in ("filters", "weights", "bias"):
            if name in table:
                table[name] = fresh(table[name], rng)
    problem["settings"] = {"rounding": "full", "decimals": 12}
    shape = loads(to_toml(problem)).shapes()[-1]
    size = int(np.prod(shape))
    outputs = data.draw(st.integers(2, 3), label="outputs")
    problem["layers"].append({"type": "dense", "weights": fresh([[0] * size] * outputs, rng)})
    last = data.draw(st.sampled_from(HEADS[loss]), label="last layer")
    if last is not None:
        problem["layers"].append({"type": last})
    if loss == "cross_entropy" and data.draw(st.booleans(), label="a class"):
        target = data.draw(st.integers(1, outputs), label="class")
    else:  # probabilities, as cross-entropy asks: they add up to 1
        shares = rng.integers(1, 6, outputs)
        target = [f"{k}/{shares.sum()}" for k in shares]
    train = {"loss": loss, "target": target, "learning_rate": 0.25, "update_bias": data.draw(st.booleans())}
    text = to_toml(problem) + "[train]\n" + "".join(f"{k} = {toml(v)}\n" for k, v in train.items())
    built = loads(text)
    _, _, values = run_torch(built)
    numbers = [v.detach().numpy() for v in values]
    tables = problem["layers"]
    assume(kink_distance(tables, numbers, exact=False) > 1e-9)  # no near (but not exact) tie or zero
    assume(np.isfinite(numbers[-1]).all() and np.abs(numbers[-1]).max() < 1e6)
    if loss in ("cross_entropy", "binary_cross_entropy"):
        assume(((numbers[-1] > 1e-12) & (numbers[-1] < 1 - 1e-12)).all())  # a finite loss
    check_against_torch(built)


@pytest.mark.parametrize("stride", [1, 2])
def test_tied_maxima_go_where_pytorch_sends_them(stride):
    """Whole numbers with ties in every window: ties = "first" is PyTorch's rule, overlapping windows included."""
    rng = np.random.default_rng(stride)
    for image in [TIED] + [rng.integers(0, 3, (5, 5)).tolist() for _ in range(10)]:
        out = (len(image) - 2) // stride + 1
        problem = loads(pooled(image, 2, stride, "first", rng.integers(-2, 3, out * out).tolist()))
        check_against_torch(problem)


def test_ties_after_a_convolution_of_whole_numbers():
    """A convolution with whole weights makes exact ties in its maps (the same in floats), then max pooling
    with padding and stride 1 picks among them."""
    rng = np.random.default_rng(7)
    for _ in range(10):
        image = rng.integers(-1, 2, (2, 5, 5)).tolist()
        filters = rng.integers(-1, 2, (2, 2, 2, 2)).tolist()
        weights = rng.integers(-2, 3, (2, 2 * 7 * 7)).tolist()  # the pooled maps are 2 of 7x7
        text = (
            f"input = {toml(image)}\n[settings]\nrounding = 'full'\n"
            f"[[layers]]\ntype = 'conv2d'\nfilters = {toml(filters)}\npadding = 1\n"
            "[[layers]]\ntype = 'maxpool'\nsize = 2\nstride = 1\npadding = 1\n"
            f"[[layers]]\ntype = 'dense'\nweights = {toml(weights)}\n"
            "[train]\nloss = 'half_sse'\ntarget = [1, -2]\nties = 'first'\n"
        )
        check_against_torch(loads(text))


@pytest.mark.parametrize("name", list(RECIPES)[:4])
def test_three_steps_follow_pytorch(name):
    """steps = 3: the loss before each step and after the last, as three SGD steps in torch give them."""
    net = network(RECIPES[name], 0)
    net.train["steps"] = 3
    problem = loads(net.toml())
    result = training(problem)
    model, x = to_torch(problem)
    optimizer = torch.optim.SGD(model.parameters(), lr=float(problem.train.learning_rate))
    losses = []
    for _ in range(4):
        values = [x]
        for module in model:
            values.append(module(values[-1]))
        loss = torch_loss(problem.train, values)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(result.losses, losses, **TOLERANCE)
