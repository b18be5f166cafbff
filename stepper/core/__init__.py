"""The problem and its forward pass: what a problem is (spec, its TOML read by load and reading, the settings'
allowed values in choices), how its numbers stay exact (numbers),
the tracing evaluator (evaluate) and its records of every step (trace), the backward pass of a problem with [train]
(train, backward, gradients), and the stages a student writes down.

May import no other stepper code. numpy is its one heavy import: sympy is imported only for a problem with symbols.
The names below load their modules on first use (see lazy.py). The functions that trace and load a problem are
`stepper.trace` and `stepper.load`, and the stages of a problem `stepper.core.stages.stages`: here each would take
the name of its module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import exports

_PUBLIC = {
    "StepperError": ".errors",
    "step": ".evaluate",
    "loads": ".load",
    "Values": ".numbers",
    "Activation": ".spec",
    "Conv1x1": ".spec",
    "Conv2d": ".spec",
    "ConvTranspose2d": ".spec",
    "Dense": ".spec",
    "Flatten": ".spec",
    "Layer": ".spec",
    "MarkScheme": ".spec",
    "Pool": ".spec",
    "Problem": ".spec",
    "Settings": ".spec",
    "Stage": ".stages",
    "LayerGrad": ".gradients",
    "Training": ".gradients",
    "Train": ".train",
    "LayerTrace": ".trace",
    "Trace": ".trace",
}
__all__ = list(_PUBLIC)
__getattr__, __dir__ = exports(__name__, _PUBLIC)

if TYPE_CHECKING:
    from .errors import StepperError
    from .evaluate import step
    from .gradients import LayerGrad, Training
    from .load import loads
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
    from .stages import Stage
    from .trace import LayerTrace, Trace
    from .train import Train
