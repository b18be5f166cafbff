"""The opening of a solution's LaTeX (its file mark, preamble and page setup), made before the problem is read.

`stepper solve` hands it to the pdflatex it started first, so that pdflatex reads its packages while numpy and the
writers load and the problem is traced. It is rendered from the same templates (the user's first) with Jinja
alone. It is only ever a head start: the finished document is checked to begin with it, and typeset whole when it
does not.
"""

from __future__ import annotations

from pathlib import Path

from .latex import wrap_tex
from .output import marked
from .templating import jinja_options, search_path

PARTS = ("preamble.tex", "pages.tex")  # what templates/tex/document.tex includes before its title


def latex_opening(source: str, templates: Path | None = None) -> str:
    """How the LaTeX written from the problem file `source` (its name) begins; "" when that cannot be known
    without the problem (a user's template that needs it)."""
    import jinja2

    try:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(search_path("tex", templates)), **jinja_options())
        opening = "".join(env.get_template(name).render() for name in PARTS)
    except Exception:  # a user's template may need what only the problem gives: then there is no head start
        return ""
    return marked(wrap_tex(opening), ".tex", source)
