"""Training through PyTorch: from_torch reads a loss module, an SGD optimizer and a target into [train]; one SGD
step taken in PyTorch (float64) moves every weight where stepper's training() moves it; torch_training gives the
problem's step back to PyTorch; and the train settings survive the round trips (PyTorch, problem files).

Skipped where torch is not installed (`pip install "stepper[torch]"`; .ci/setup installs it).
"""

from __future__ import annotations

import numpy as np
import pytest

from stepper import StepperError, load, loads
from stepper.core.backward import training
from stepper.core.spec import Conv1x1, Conv2d, ConvTranspose2d, Dense, Settings
from stepper.interop.dump import dumps
from tests.helpers import ROOT

pytestmark = pytest.mark.torch  # the optional torch group: pytest -m torch
torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from stepper.interop.pytorch import from_torch, half_sse_loss, to_torch, torch_training  # noqa: E402

nn = torch.nn
FULL = Settings(rounding="full")


def eighths(module, generator) -> None:
    """Every parameter a multiple of 1/8 from -1 to 1: exact in float32, so the problem holds the very values
    PyTorch computes with."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randint(-8, 9, p.shape, generator=generator).to(p.dtype) / 8)


def stepper_parameters(problem) -> list[np.ndarray]:
    """Every parameter array of the problem, in the order torch's model.parameters() gives them."""
    found = []
    for layer in problem.layers:
        if isinstance(layer, Conv2d) and not isinstance(layer, ConvTranspose2d):
            found.append(layer.kernels.floats())
        elif isinstance(layer, ConvTranspose2d):
            found.append(np.swapaxes(layer.filters.floats(), 0, 1))
        elif isinstance(layer, Dense):
            found.append(layer.matrix.floats())
        elif isinstance(layer, Conv1x1):
            found.append(layer.weights.floats().reshape(1, -1, 1, 1))
        else:
            continue
        if layer.bias is not None:
            found.append(layer.bias.floats())
    return found


def torch_step(model, x, loss, target, lr, biases=True) -> tuple[list[np.ndarray], float]:
    """One SGD step of a float64 copy of `model` in PyTorch: its parameters after, and the loss before."""
    model = model.double()
    params = [p for name, p in model.named_parameters() if biases or not name.endswith("bias")]
    optimizer = torch.optim.SGD(params, lr=lr)
    optimizer.zero_grad()
    target = target.double().reshape(-1) if target.is_floating_point() else target.reshape(())
    value = loss(model(x.double()).reshape(-1), target)
    value.backward()
    optimizer.step()
    return [p.detach().numpy().copy() for p in model.parameters()], float(value.detach())


def same(ours: list[np.ndarray], theirs: list[np.ndarray], tol: float = 1e-12) -> None:
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape, (k, a.shape, b.shape)
        assert np.allclose(a, b, rtol=1e-10, atol=tol), (k, np.abs(a - b).max())


def cnn(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2, 2, 2, stride=2, bias=False),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(2, 3),
    )
    eighths(model, g)
    x = (torch.randint(-8, 9, (1, 1, 4, 4), generator=g) / 4).float()
    return model, x


def mlp(last, seed: int = 1, outputs: int = 2):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, outputs), *last)
    eighths(model, g)
    x = (torch.randint(-8, 9, (1, 1, 1, 3), generator=g) / 8).float()
    return model, x


# ---- one step: PyTorch and stepper move the weights alike ----


@pytest.mark.parametrize("target", [torch.tensor(2), torch.tensor([0]), torch.tensor([[0.25, 0.25, 0.5]])])
def test_cross_entropy_step_equals_pytorch(target):
    """nn.CrossEntropyLoss of the logits: stepper appends the softmax; the weights after one step agree."""
    model, x = cnn()
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    problem = from_torch(model, x, loss=loss, optimizer=optimizer, target=target)
    assert problem.layers[-1].kind == "softmax" and problem.train.loss == "cross_entropy"
    assert problem.train.learning_rate == 0.5 and problem.train.update_bias
    if target.is_floating_point():
        assert problem.train.target_class is None
    else:
        assert problem.train.target_class == int(target.reshape(-1)[0]) + 1
    worked = training(problem, FULL)
    theirs, loss_before = torch_step(model, x, loss, target, 0.5)
    assert abs(worked.losses[0] - loss_before) < 1e-12
    same(stepper_parameters(worked.first.after), theirs)
    assert not np.allclose(stepper_parameters(problem)[0], theirs[0]), "the step moved the first filters"


@pytest.mark.parametrize(
    "last,loss,target",
    [
        ([], nn.MSELoss(), torch.tensor([0.5, -0.25])),
        ([nn.Sigmoid()], nn.MSELoss(), torch.tensor([[0.0, 1.0]])),
        ([nn.Sigmoid()], nn.BCELoss(), torch.tensor([0.25, 1.0])),
        ([], nn.BCEWithLogitsLoss(), torch.tensor([1.0, 0.0])),
    ],
)
def test_other_losses_step_equal_pytorch(last, loss, target):
    model, x = mlp(last)
    problem = from_torch(model, x, loss=loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.25), target=target)
    expected = {"MSELoss": "mse", "BCELoss": "binary_cross_entropy", "BCEWithLogitsLoss": "binary_cross_entropy"}
    assert problem.train.loss == expected[type(loss).__name__]
    if isinstance(loss, nn.BCEWithLogitsLoss):
        assert problem.layers[-1].kind == "sigmoid" and len(problem.layers) == len(model) + 1
    worked = training(problem, FULL)
    theirs, loss_before = torch_step(model, x, loss, target, 0.25)
    assert abs(worked.losses[0] - loss_before) < 1e-12
    same(stepper_parameters(worked.first.after), theirs)


def test_an_optimizer_without_the_biases_keeps_them():
    """SGD over the weights alone is update_bias = false: the biases stay, in both."""
    model, x = mlp([nn.Sigmoid()], seed=3)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    target = torch.tensor([0.0, 1.0])
    problem = from_torch(model, x, loss=half_sse_loss()(), optimizer=torch.optim.SGD(weights, lr=0.5), target=target)
    assert problem.train.loss == "half_sse" and not problem.train.update_bias
    worked = training(problem, FULL)
    theirs, _ = torch_step(model, x, half_sse_loss()(), target, 0.5, biases=False)
    same(stepper_parameters(worked.first.after), theirs)
    before = stepper_parameters(problem)
    assert np.array_equal(before[1], theirs[1]) and np.array_equal(before[3], theirs[3]), "biases unchanged"


def test_random_float32_weights_agree_to_float32_precision():
    """Weights of any float32 value come in as their shortest decimals; the step still agrees closely."""
    torch.manual_seed(7)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4))
    x = torch.rand(1, 2, 4, 4)
    loss, target = nn.CrossEntropyLoss(), torch.tensor(1)
    problem = from_torch(model, x, loss=loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), target=target)
    worked = training(problem, FULL)
    theirs, _ = torch_step(model, x, loss, target, 0.1)
    same(stepper_parameters(worked.first.after), theirs, tol=1e-6)


# ---- torch_training: the problem's step in PyTorch ----


@pytest.mark.parametrize("name", ["tutorial-train", "mazur-backprop"])
def test_torch_training_takes_the_problems_step(name):
    problem = load(ROOT / "examples" / f"{name}.toml")
    t = torch_training(problem)
    worked = training(problem, FULL)
    if problem.train.loss == "cross_entropy":
        assert len(list(t.model.children())) == len(problem.layers) - 1, "the logits: no softmax"
        assert isinstance(t.loss, nn.CrossEntropyLoss) and t.target.dtype == torch.int64
    before = t.step()
    assert abs(before - worked.losses[0]) < 1e-12
    same(stepper_parameters(worked.first.after), [p.detach().numpy() for p in t.model.parameters()])
    assert t.steps == problem.train.steps


def test_mazur_in_pytorch():
    """Mazur's example trained in PyTorch gives his published weights (the biases stay)."""
    t = torch_training(load(ROOT / "examples" / "mazur-backprop.toml"))
    assert len(t.optimizer.param_groups[0]["params"]) == 2  # the two weight matrices, no biases
    t.step()
    w1, b1, w2, b2 = (p.detach().numpy() for p in t.model.parameters())
    assert np.allclose(w2, [[0.35891648, 0.408666186], [0.511301270, 0.561370121]], atol=1e-8)
    assert np.allclose(w1, [[0.149780716, 0.19956143], [0.24975114, 0.29950229]], atol=1e-8)
    assert np.array_equal(b1, [0.35, 0.35]) and np.array_equal(b2, [0.6, 0.6])


# ---- round trips keep the train settings ----


def train_fields(train):
    return (
        train.target.floats().tolist(),
        train.target_class,
        train.loss,
        train.learning_rate,
        train.steps,
        train.update_bias,
        train.ties,
    )


@pytest.mark.parametrize("name", ["tutorial-train", "mazur-backprop"])
def test_round_trip_through_pytorch_keeps_the_train(name):
    problem = load(ROOT / "examples" / f"{name}.toml")
    t = torch_training(problem)
    again = from_torch(t.model, t.input, loss=t.loss, optimizer=t.optimizer, target=t.target, steps=t.steps)
    assert train_fields(again.train) == train_fields(problem.train)
    as_torch = {"conv1x1": "conv2d"}  # a 1x1 filter is a 1x1 Conv2d in PyTorch, and comes back as one
    kinds = [as_torch.get(layer.kind, layer.kind) for layer in problem.layers]
    assert [layer.kind for layer in again.layers if layer.kind != "flatten"] == kinds
    assert np.allclose(training(again, FULL).losses, training(problem, FULL).losses, atol=1e-12)
    model, x = to_torch(again)  # to_torch is as it was: the whole network, softmax included
    with torch.no_grad():
        assert np.allclose(model(x).numpy().ravel(), training(problem, FULL).first.trace.output.floats().ravel())


def test_round_trip_through_a_problem_file_keeps_the_train():
    model, x = mlp([nn.Sigmoid()], seed=5)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    problem = from_torch(
        model,
        x,
        loss=nn.BCELoss(),
        optimizer=torch.optim.SGD(weights, lr=0.03),
        target=torch.tensor([0.5, 0.125]),
        steps=3,
    )
    text = dumps(problem)
    assert "[train]" in text and "steps = 3" in text and "update_bias = false" in text
    again = loads(text)
    assert train_fields(again.train) == train_fields(problem.train)
    assert dumps(again) == text
    assert len(training(again, FULL).losses) == 4


# ---- what cannot be trained is refused, in one line ----


@pytest.mark.parametrize(
    "change,place,words",
    [
        (dict(loss=nn.CrossEntropyLoss(reduction="sum")), "loss", "reduction='mean'"),
        (dict(loss=nn.MSELoss(reduction="none")), "loss", "reduction='mean'"),
        (dict(loss=nn.CrossEntropyLoss(label_smoothing=0.1)), "loss", "label_smoothing"),
        (dict(loss=nn.L1Loss()), "loss", "L1Loss is not supported"),
        (dict(optimizer="sgd-momentum"), "optimizer", "momentum=0.9"),
        (dict(optimizer="sgd-decay"), "optimizer", "weight_decay=0.01"),
        (dict(optimizer="adam"), "optimizer", "Adam is not supported"),
        (dict(optimizer="other-model"), "optimizer", "every weight"),
        (dict(optimizer="some-biases"), "optimizer", "every bias of the model or none"),
        (dict(target=2), "target", "torch tensor"),
        (dict(target=torch.tensor(3)), "target", "from 0 to 2"),
        (dict(target=torch.tensor([0.5, 0.5])), "target", "expected 3 numbers"),
        (dict(target=torch.tensor([0.5, 0.6, 0.0])), "target", "add up to 1"),
        (dict(target=None), "target", "needs both loss= "),
        (dict(steps=0), "steps", "whole number of steps"),
    ],
)
def test_what_cannot_be_trained_is_refused(change, place, words):
    model, x = cnn()
    args = dict(
        loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1), target=torch.tensor(0)
    )
    optimizers = {
        "sgd-momentum": lambda: torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        "sgd-decay": lambda: torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.01),
        "adam": lambda: torch.optim.Adam(model.parameters(), lr=0.1),
        "other-model": lambda: torch.optim.SGD(cnn(seed=2)[0].parameters(), lr=0.1),
        "some-biases": lambda: torch.optim.SGD([model[0].weight, model[0].bias, model[3].weight, model[6].weight]),
    }
    if isinstance(change.get("optimizer"), str):
        change = dict(optimizer=optimizers[change["optimizer"]]())
    with pytest.raises(StepperError) as raised:
        from_torch(model, x, **(args | change))
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"{place}: ") and words in message, message


def test_cross_entropy_after_a_softmax_is_refused():
    """CrossEntropyLoss applies its own softmax: a model that ends with one would have it twice."""
    model, x = mlp([nn.Softmax(dim=1)], outputs=3)
    with pytest.raises(StepperError, match="ends with nn.Softmax: remove it"):
        from_torch(model, x, loss=nn.CrossEntropyLoss(), target=torch.tensor(0))
    problem = from_torch(model, x, loss="cross_entropy", target=torch.tensor(0))  # stepper's loss by name: as is
    assert [layer.kind for layer in problem.layers][-2:] == ["dense", "softmax"]


def test_without_training_arguments_nothing_changes():
    model, x = cnn()
    assert from_torch(model, x).train is None
    with pytest.raises(StepperError, match="no \\[train\\] table"):
        torch_training(from_torch(model, x))


def test_padded_pools_come_back_from_pytorch():
    """to_torch pads a max pool with ConstantPad2d(-inf) and an average with ZeroPad2d: from_torch reads both back
    as the pools' padding, so that any problem trained in PyTorch comes back."""
    problem = loads(
        """
title = "padded pools"
input = "1 -2 3 0\\n4 5 -6 1\\n7 8 9 -1\\n0 2 1 3"
[[layers]]
type = "maxpool"
size = 2
padding = 1
[[layers]]
type = "avgpool"
size = 2
stride = 1
padding = [1, 0]
[[layers]]
type = "flatten"
[[layers]]
type = "softmax"
[train]
target = 2
"""
    )
    model, x = to_torch(problem)
    again = from_torch(model, x, loss="cross_entropy", target=torch.tensor(1))
    assert [(layer.kind, layer.padding) for layer in again.layers[:2]] == [("maxpool", 1), ("avgpool", (1, 0))]
    assert np.allclose(training(again, FULL).losses, training(problem, FULL).losses, atol=1e-12)
    with pytest.raises(StepperError, match="ConstantPad2d\\(-inf\\) just before a MaxPool2d"):
        from_torch(nn.Sequential(nn.ZeroPad2d(1), nn.MaxPool2d(2)), x)
