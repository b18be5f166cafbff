"""The writers: a trace written as a worked solution, in Markdown, LaTeX, PDF and Word.

`maths` writes every layer kind's working as LaTeX (one module per family, mirroring templates/layers/),
`documents` renders the templates through one Jinja environment per format (`formats`, `filters`, `describe`),
`output` writes files all or nothing, `latex` typesets, `estimate` sizes a document before any work, `solution`
makes and writes a problem's documents for the command line, `worked` is `stepper.solve`, `docx` converts through
pandoc.

May import stepper.core and stepper.interop; never exams, marking or cli. The names below load their modules on
first use (see stepper/core/lazy.py), so typesetting can start before Jinja and numpy are loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import exports

_PUBLIC = {
    "FORMATS": ".formats",
    "escape_md": ".formats",
    "escape_tex": ".formats",
    "render": ".documents",
    "render_feedback": ".documents",
    "TypesetError": ".latex",
    "EarlyTypeset": ".latex",
    "typeset": ".latex",
    "write_files": ".output",
    "solve": ".worked",
    "Solution": ".worked",
}
__all__ = list(_PUBLIC)
__getattr__, __dir__ = exports(__name__, _PUBLIC)

if TYPE_CHECKING:
    from .documents import render, render_feedback
    from .formats import FORMATS, escape_md, escape_tex
    from .latex import EarlyTypeset, TypesetError, typeset
    from .output import write_files
    from .worked import Solution, solve
