"""Ways in and out: a PyTorch nn.Sequential and its input as a Problem, and a Problem as a PyTorch model (torch
is imported only when these run), and a Problem written back as a problem file (TOML).

May import stepper.core only; never writing, exams, marking or cli.
"""

from .dump import dumps
from .pytorch import from_torch, to_torch

__all__ = ["dumps", "from_torch", "to_torch"]
