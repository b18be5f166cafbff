"""What differs between output formats: escaping untrusted text, a little markup, and how maths is displayed.

Templates reach a format as `mk`; the maths itself is the same LaTeX in every format (stepper.writing.maths).
Separate from the Jinja environment so that writers of other files (a class summary, a Word document) can escape
text and read `FORMATS` without it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..core.text import plain_text


def escape_tex(text: str) -> str:
    """Untrusted text (a title, a name) made safe for LaTeX's text mode: TeX's special characters as commands that
    print them, control characters as "?", and every other character as itself, in any script: a document that
    pdflatex's fonts cannot print is typeset with LuaLaTeX and its fallback fonts (latex.tex_engine)."""
    out = []
    for ch in plain_text(text):
        if ch in _TEX_SPECIALS:
            out.append(_TEX_SPECIALS[ch])
        elif ch in _TEX_TYPOGRAPHY:
            out.append(_TEX_TYPOGRAPHY[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            out.append("?")  # control characters would stop LaTeX
        else:
            out.append(ch)
    return "".join(out)


# Dashes, quotes and the minus sign as the LaTeX that draws the same character in either engine (pdftotext gives
# back the character itself), so that a title holding them still typesets with pdflatex, the faster engine.
_TEX_TYPOGRAPHY = {
    "\u2212": "$-$",
    "\u2013": "--",
    "\u2014": "---",
    "\u2018": "`",
    "\u2019": "'",
    "\u201c": "``",
    "\u201d": "''",
}

_TEX_SPECIALS = {
    "\u00d7": r"$\times$",
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"{\char36}",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def escape_md(text: str) -> str:
    """Untrusted text made inert in Markdown: no markup, no HTML, no maths."""
    out = []
    for ch in " ".join(plain_text(text).split()):
        if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            continue  # control characters have no place in a heading
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch in "\\`*_{}[]#+-.!|~$":  # not ( ): with [ ] escaped they make no link, and \( reads as maths
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


# Markdown's backslash escapes run before the maths in GitHub's renderer (and MacDown's, mdBook's): `\,` reaches
# KaTeX as `,`, and the `\\` between two matrix rows as `\`, so the rows run together; a `\\` at the end of a line
# survives (github/markup#1547). So every row separator ends its line, and the control symbols that Markdown would
# eat become what it leaves alone: a plain space for the small maths spaces (texmath, which pandoc uses for Word
# equations, has no \thinspace), and braces by name.
_ROW_END = re.compile(r"\\\\[ \t]*(?![ \t]*(?:\n|$))")
_EATEN = {"\\,": "\\ ", "\\:": "\\ ", "\\;": "\\ ", "\\!": "", "\\{": "\\lbrace ", "\\}": "\\rbrace "}
_EATEN_RE = re.compile("|".join(re.escape(k) for k in _EATEN) + r"|\\\\")
# What stepper's own maths rarely holds: an eaten symbol, or a \\ not followed by one space (at a line's end already,
# before a tab or a letter, at the very end): such formulas take the full patterns, all others a plain replace.
_UNUSUAL = re.compile(r"\\[,:;!{}]|\\\\(?! )|\\\\ \n")
_LINE_END = "\\\\\\\\\n"  # as a replacement template: \\ and a line break


def portable_maths(tex: str) -> str:
    """A displayed formula written so that every Markdown reader passes it to its maths renderer unchanged:
    one row of a matrix or aligned block per line, and no `\\` before punctuation except those row ends."""
    if not _UNUSUAL.search(tex):  # a large document's time goes here: one scan and one replace
        return tex.replace("\\\\ ", "\\\\\n")
    tex = _EATEN_RE.sub(lambda m: _EATEN.get(m.group(0), m.group(0)), tex)
    return _ROW_END.sub(_LINE_END, tex)


@dataclass(frozen=True)
class Format:
    """What differs between output formats: escaping, a little markup, and how a window's cell is marked.

    Templates reach it as `mk` (`mk.heading(2, text)`, `mk.bold(text)`, `mk.times`) and through the
    `display` filter, which wraps a block of maths for display.
    """

    name: str  # folder under templates/, and the file suffix
    escape: Callable[[str], str]
    highlight: str  # %-format for a highlighted cell, in maths
    headings: tuple[str, ...]  # %-formats for levels 2, 3, 4
    bold_format: str
    display_format: str  # %-format around a displayed formula
    item_format: str  # %-format for a numbered line: number, text
    times: str  # the multiplication sign in running text (3x3)
    dash: str  # a range of numbers in running text (rows 1-3)
    code_format: str  # %-format for a name to type as it is (a stage's key)
    # %-format around text that introduces the display after it ("Filters:"), so that the two stay on one page
    label_format: str = "%s"
    # rewrites a displayed formula into the form this format's readers all take (Markdown: see portable_maths)
    rewrite: Callable[[str], str] | None = None

    def heading(self, level: int, text: str) -> str:
        return self.headings[level - 2] % text

    def bold(self, text: str) -> str:
        return self.bold_format % text

    def code(self, text: str) -> str:
        """A name to type as it is (stepper's own names: letters, digits, dots and underscores)."""
        return self.code_format % (text if self.name == "md" else self.escape(text))

    def item(self, n: int, text: str) -> str:
        return self.item_format % (n, text)

    def table(self, header: list[str], rows: list[list[str]], widths: list[float] | None = None) -> str:
        """A table of text cells (already escaped; maths in $...$). In LaTeX the last column takes half the
        line, or each column the share of the line `widths` gives it, its text wrapped."""
        if self.name == "md":
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
        if widths:
            spec = "".join(f">{{\\raggedright\\arraybackslash}}p{{{w}\\linewidth}}" for w in widths)
        else:
            spec = "l" * (len(header) - 1) + "p{0.5\\linewidth}"
        body = " \\\\\n".join(" & ".join(r) for r in rows)
        return (
            f"\\begin{{tabular}}{{{spec}}}\n\\hline\n{' & '.join(self.bold(h) for h in header)} \\\\\n\\hline\n"
            f"{body} \\\\\n\\hline\n\\end{{tabular}}"
        )

    def display(self, maths: str, stacked: bool = False) -> str:
        """A displayed formula; `stacked` lines (joined by \\\\) are centred one under another."""
        maths = maths.strip()
        if stacked:
            maths = f"\\begin{{gathered}} {maths} \\end{{gathered}}"
        if self.rewrite is not None:
            maths = self.rewrite(maths)
        return self.display_format % maths

    def label(self, text: str) -> str:
        """Text that introduces the display after it ("Filters:"): in LaTeX, kept on the page of that display."""
        return self.label_format % text


FORMATS = {
    "md": Format(
        "md",
        escape_md,
        r"\colorbox{yellow}{$%s$}",
        ("## %s", "### %s", "#### %s"),
        "**%s**",
        "$$\n%s\n$$",
        "%d. %s",
        "×",
        "–",
        "`%s`",
        rewrite=portable_maths,
    ),
    # \steplabel is defined in templates/tex/pages.tex
    "tex": Format(
        "tex",
        escape_tex,
        r"\hl{%s}",
        (r"\section*{%s}", r"\subsection*{%s}", r"\subsubsection*{%s}"),
        r"\textbf{%s}",
        "\\[\n%s\n\\]",
        r"\noindent %d.\ %s",
        r"$\times$",
        "--",
        r"\texttt{%s}",
        label_format=r"\steplabel{%s}",
    ),
}
