"""stepper: a neural network's forward pass, worked step by step as a lecturer writes it.

    problem file -> load() -> Problem -> trace() -> Trace -> render() -> Markdown / LaTeX / PDF
    problem with [train] -> training() -> Training (the loss, every layer's gradients, the update)
    problem file -> solve() -> Solution (its trace; .markdown(), .latex(), .pdf())
    problem + working file -> load_working() -> Working -> check_working() -> Feedback -> render_feedback()

The subpackages, each importing only those above it in this list:
    core      the problem, its numbers, the tracing evaluator and its records
    interop   PyTorch in and out, a problem written back as TOML
    writing   the maths of every layer kind, the Jinja environments, files and typesetting
    exams     randomised variants, their fairness, keys, question sheets and Moodle export
    marking   a student's working checked step by step, with follow-through; a whole class
    cli       the command line, one module per command

The public names below are imported when first used, so that `import stepper` stays quick and a script that only
traces never loads the writers, sympy or torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .core.lazy import exports

__version__ = "0.1.0"

# Each public name and the module that defines it.
_PUBLIC = {
    "solve": ".writing.worked",
    "Solution": ".writing.worked",
    "StepperError": ".core.errors",
    "load": ".core.load",
    "loads": ".core.load",
    "trace": ".core.evaluate",
    "training": ".core.backward",
    "render": ".writing.documents",
    "render_feedback": ".writing.documents",
    "from_torch": ".interop.pytorch",
    "to_torch": ".interop.pytorch",
    "load_working": ".marking.working",
    "check_working": ".marking.marker",
}

__all__ = [*_PUBLIC, "__version__"]
__getattr__, __dir__ = exports(__name__, _PUBLIC)

if TYPE_CHECKING:
    from .core.backward import training
    from .core.errors import StepperError
    from .core.evaluate import trace
    from .core.load import load, loads
    from .interop.pytorch import from_torch, to_torch
    from .marking.marker import check_working
    from .marking.working import load_working
    from .writing.documents import render, render_feedback
    from .writing.worked import Solution, solve
