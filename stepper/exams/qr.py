"""The machine-readable mark on every page of a question sheet: a QR code naming the exam, seed and variant.

A scanned or photographed page finds its key by the code's text, a URI-like line

    stepper:exam?t=tutorial-exam.toml&s=1&v=007&sv=0.1.0

`t` is the template's file name (its name only, percent-encoded: no folder of the machine it was made on), `s` the
exam's seed (`--seed`), `v` the variant's id as printed on the sheet, and `sv` the stepper version that drew it. The
template, the seed and the variant's number give the variant again (`stepper exam t --seed s`, variant v), and the
exam's `manifest.json` maps the id to its key. `parse` reads the text back.

The code is made by `segno` and drawn in plain TeX (`tex_code`): one line of black rules per row of modules, with
the four-module quiet zone the standard asks for, so no TeX package is needed beyond those every sheet loads.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePath
from urllib.parse import parse_qsl, quote, urlencode

import segno

from .. import __version__

SCHEME = "stepper:exam?"
QUIET = 4  # modules of white around the code, as ISO/IEC 18004 asks
MODULE_MM = 0.5  # a module's side on paper: a version 4 code is 20.5 mm square with its quiet zone


def payload(template: str, seed: int, variant: str, version: str = __version__) -> str:
    """The text a sheet's code holds for `variant` of the exam drawn from the template file `template`."""
    fields = {"t": PurePath(template).name or template, "s": str(seed), "v": variant, "sv": version}
    return SCHEME + urlencode(fields, quote_via=quote, safe="")


def parse(text: str) -> dict[str, str]:
    """A code's text read back: {"t": template file name, "s": seed, "v": variant, "sv": version}."""
    if not text.startswith(SCHEME):
        raise ValueError(f"not a stepper exam code: {text[:40]!r}")
    return dict(parse_qsl(text[len(SCHEME) :], keep_blank_values=True, strict_parsing=True))


@lru_cache(maxsize=64)
def modules(text: str) -> tuple[tuple[bool, ...], ...]:
    """The code's modules, row by row from the top (True: dark), without the quiet zone. Kept for the sheets of
    the same variant (its Markdown and LaTeX sheet, the side and the drawing each ask): making a code is most of
    a sheet's time, segno trying each of the eight masks."""
    code = segno.make(text, error="m", micro=False)
    return tuple(tuple(bool(cell) for cell in row) for row in code.matrix)


def side_mm(text: str) -> float:
    """The printed code's side in millimetres, quiet zone included."""
    return (len(modules(text)) + 2 * QUIET) * MODULE_MM


def tex_code(text: str) -> str:
    """The code as TeX: a box of rows, each a line of `\\vrule`s (runs of dark modules) and `\\kern`s."""
    unit = f"{MODULE_MM}mm"
    rows = modules(text)
    lines = [f"\\hbox{{\\kern{QUIET * MODULE_MM:g}mm\\vbox{{\\offinterlineskip\\kern{QUIET * MODULE_MM:g}mm"]
    for row in rows:
        lines.append("\\hbox{" + "".join(_runs(row, unit)) + "}")
    lines.append(f"\\kern{QUIET * MODULE_MM:g}mm}}\\kern{QUIET * MODULE_MM:g}mm}}")
    return "%\n".join(lines)


def _runs(row: tuple[bool, ...], unit: str) -> list[str]:
    """One row of modules as TeX: each run of light modules a kern, each run of dark ones a rule."""
    out, start = [], 0
    for end in range(1, len(row) + 1):
        if end == len(row) or row[end] != row[start]:
            width = f"{(end - start) * MODULE_MM:g}mm"
            if row[start]:
                out.append(f"\\vrule width {width} height {unit} depth 0pt ")
            else:
                out.append(f"\\kern{width}")
            start = end
    return out  # a trailing light run stays, as a kern: every row is the code's full width
