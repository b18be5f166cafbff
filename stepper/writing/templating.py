"""Where templates are found and how Jinja reads them: shared by the document environments (documents.py) and
the LaTeX opening sent to pdflatex before the problem is read (opening.py), and light enough to import first.

The user's `--templates` folder is searched before the built-in one: `DIR/<format>/` first, then `DIR/`, then the
built-in `templates/<format>/` and `templates/layers/`. Every template uses LaTeX-safe delimiters, `\\VAR{...}`,
`\\BLOCK{...}` and `\\#{...}`, and StrictUndefined, so a missing field fails loudly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import StepperError

PACKAGE = Path(__file__).resolve().parent.parent  # the stepper package folder


def builtin_templates() -> Path:
    """The built-in templates: inside the installed package, or at the top of the source tree."""
    for candidate in (PACKAGE / "templates", PACKAGE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise StepperError("the built-in templates are missing from this installation")


def search_path(fmt: str, templates: Path | None) -> list[str]:
    """The folders a format's templates are looked for in, first to last."""
    builtin = builtin_templates()
    found = [str(templates / fmt), str(templates)] if templates is not None else []
    return found + [str(builtin / fmt), str(builtin / "layers")]


def jinja_options() -> dict[str, Any]:
    """The settings of every Jinja environment stepper makes (jinja2 imported here, when first needed)."""
    import jinja2

    from .template_cache import template_cache

    options: dict[str, Any] = dict(
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    return options | {"bytecode_cache": template_cache(repr(sorted(options.items())))}
