"""The writers: a trace written as a worked solution, in Markdown, LaTeX, PDF and Word.

`maths` writes every layer kind's working as LaTeX (one module per family, mirroring templates/layers/),
`documents` holds one Jinja environment per format with its filters and renders the templates, `output` writes
files all or nothing and typesets LaTeX, `estimate` sizes a document before any work, `docx` converts through pandoc.

May import stepper.core and stepper.interop; never exams, marking or cli.
"""

from .documents import FORMATS, escape_md, escape_tex, render, render_feedback
from .estimate import estimate
from .output import TypesetError, typeset, write_files

__all__ = [
    "FORMATS",
    "TypesetError",
    "escape_md",
    "escape_tex",
    "estimate",
    "render",
    "render_feedback",
    "typeset",
    "write_files",
]
