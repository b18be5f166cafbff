"""The problem and its forward pass: what a problem is (spec, load), how its numbers stay exact (numbers),
the tracing evaluator (evaluate) and its records of every step (trace), and the stages a student writes down.

May import no other stepper code. numpy is its one heavy import: sympy is imported only for a problem with symbols.
"""

# The functions `trace` and `load` take the names of the modules trace.py and load.py as attributes of
# stepper.core; `from stepper.core.trace import ConvTrace` still reads the module.
from .errors import StepperError
from .evaluate import step, trace
from .load import load, loads
from .numbers import Values
from .spec import (
    Activation,
    Conv1x1,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Flatten,
    Layer,
    MarkScheme,
    Pool,
    Problem,
    Settings,
)
from .stages import Stage, stages
from .trace import LayerTrace, Trace

__all__ = [
    "Activation",
    "Conv1x1",
    "Conv2d",
    "ConvTranspose2d",
    "Dense",
    "Flatten",
    "Layer",
    "LayerTrace",
    "MarkScheme",
    "Pool",
    "Problem",
    "Settings",
    "Stage",
    "StepperError",
    "Trace",
    "Values",
    "load",
    "loads",
    "stages",
    "step",
    "trace",
]
