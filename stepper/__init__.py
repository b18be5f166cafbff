"""stepper: a neural network's forward pass, worked step by step as a lecturer writes it.

problem file -> load() -> Problem -> trace() -> Trace -> render() -> Markdown / LaTeX / PDF
problem + working file -> load_working() -> Working -> check_working() -> Feedback -> render_feedback()
"""

from .core.errors import StepperError
from .core.evaluate import trace
from .core.load import load, loads
from .interop.pytorch import from_torch, to_torch  # torch itself is imported only when these are called
from .marking.marker import check_working
from .marking.working import load_working
from .writing.documents import render, render_feedback

__version__ = "0.1.0"
__all__ = [
    "StepperError",
    "load",
    "loads",
    "trace",
    "render",
    "from_torch",
    "to_torch",
    "load_working",
    "check_working",
    "render_feedback",
    "__version__",
]
