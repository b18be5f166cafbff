"""PyTorch as oracle and as a way in: every layer against torch, and models round-tripping through problem files.

Skipped where torch is not installed (`pip install "stepper[torch]"`; .ci/setup installs it).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from stepper import StepperError, loads, trace
from stepper.interop.dump import dumps
from tests.helpers import ROOT
from tests.helpers.problems import problems, to_toml

pytestmark = pytest.mark.torch  # the optional torch group: pytest -m torch
torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # two threads stalled sporadically on small machines

from stepper.interop.pytorch import from_torch, to_torch, torch_layers  # noqa: E402


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_every_layer_matches_pytorch(problem):
    """Layer by layer, in full precision, the trace equals PyTorch's float64 forward pass."""
    problem["settings"]["rounding"] = "full"
    result = trace(loads(to_toml(problem)))
    x = torch.tensor(result.problem.input.floats(), dtype=torch.float64)
    with torch.no_grad():
        for record, module in zip(result.layers, torch_layers(result.problem)):
            x = module(x)
            ours = record.output.floats().ravel()
            assert np.allclose(ours, x.numpy().ravel(), rtol=1e-9, atol=1e-9), f"layer {record.number}"


def small_cnn():
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=(2, 1), padding=1),
        nn.LeakyReLU(0.1),
        nn.MaxPool2d((1, 2)),
        nn.Conv2d(3, 3, 2, dilation=(1, 2), padding=(0, 1)),
        nn.ReLU(),
        nn.MaxPool2d(2, stride=1, padding=1),
        nn.ConvTranspose2d(3, 3, 2, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
        nn.Conv2d(3, 2, 2, padding="valid"),
        nn.Tanh(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 3),
        nn.Sigmoid(),
        nn.Linear(3, 2),
        nn.Softmax(dim=1),
    )
    x = torch.randint(0, 5, (1, 2, 6, 7)).float()
    return model, x


def test_a_pytorch_model_round_trips_through_a_problem_file():
    model, x = small_cnn()
    problem = from_torch(model, x)
    full = problem.settings.__class__(rounding="full")
    with torch.no_grad():
        expected = model(x).numpy().ravel()
    assert np.allclose(trace(problem, full).output.floats(), expected, rtol=1e-5, atol=1e-6)
    again = loads(dumps(problem))  # the problem file written for it reads back as the same problem
    assert dumps(again) == dumps(problem)
    assert np.allclose(trace(again, full).output.floats(), expected, rtol=1e-5, atol=1e-6)
    back, x_back = to_torch(again)
    with torch.no_grad():
        assert np.allclose(back(x_back).numpy().ravel(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "module,words",
    [
        (lambda nn: nn.BatchNorm2d(1), "BatchNorm2d is not supported"),
        (lambda nn: nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), "zero padding"),
        (lambda nn: nn.AvgPool2d(2, padding=1, count_include_pad=False), "count the padding"),
    ],
)
def test_unsupported_modules_are_named(module, words):
    model = torch.nn.Sequential(torch.nn.ReLU(), module(torch.nn))
    with pytest.raises(StepperError) as raised:
        from_torch(model, torch.zeros(1, 6, 6))
    assert "module 2" in str(raised.value) and words in str(raised.value)


def test_solve_a_model_from_the_command_line(tmp_path):
    (tmp_path / "mynet.py").write_text(
        "import torch\n"
        "torch.manual_seed(1)\n"
        "NET = (torch.nn.Sequential(torch.nn.Conv2d(1, 2, 2), torch.nn.ReLU(), torch.nn.Flatten(),\n"
        "                           torch.nn.Linear(8, 2), torch.nn.Softmax(dim=1)),\n"
        "       torch.tensor([[[1., 2, 0], [0, 1, 3], [2, 2, 1]]]))\n"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepper",
            "solve",
            "--torch",
            "mynet:NET",
            "--format",
            "md",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    problem_file = (tmp_path / "out" / "NET.toml").read_text()
    assert problem_file.startswith("# Written by stepper") and 'type = "conv2d"' in problem_file
    md = (tmp_path / "out" / "NET.md").read_text()
    assert "## Layer 1: convolution" in md and "## Layer 5: softmax" in md
    solved = trace(loads(problem_file))
    sys.path.insert(0, str(tmp_path))
    try:
        import mynet
    finally:
        sys.path.pop(0)
    with torch.no_grad():
        expected = mynet.NET[0](mynet.NET[1].unsqueeze(0)).numpy().ravel()
    assert np.allclose(solved.output.floats(), expected, atol=1e-4)  # rounded to 4 places, carried


def test_torch_errors_are_one_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "stepper", "solve", "--torch", "nosuchmodule:NET", "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "cannot import nosuchmodule" in run.stderr


@pytest.mark.parametrize(
    "pair,words",
    [
        (lambda: (torch.nn.Sequential(torch.nn.ReLU()), [[[1.0]]]), "expected the input as a torch tensor"),
        (lambda: (torch.nn.Sequential(torch.nn.ReLU()), torch.tensor([[[float("nan")]]])), "NaN or infinity"),
        (lambda: (torch.nn.Sequential(torch.nn.Conv2d(1, 1, 2)), torch.zeros(1, 1, 1)), "module 1 (Conv2d)"),
        (lambda: (torch.nn.Sequential(torch.nn.LeakyReLU(1.5)), torch.zeros(1, 2, 2)), "negative_slope"),
    ],
)
def test_from_torch_refuses_what_it_cannot_work(pair, words):
    with pytest.raises(StepperError) as raised:
        from_torch(*pair())
    assert words in str(raised.value)
