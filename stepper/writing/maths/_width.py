"""How wide a formula sets, estimated from its LaTeX, so that rows of matrices and long sums wrap.

Separate from the writers because it reads LaTeX rather than records: a small tokenizer and a table of glyph widths
at 11 pt Computer Modern, good enough to decide where to break a line, never to typeset.
"""

from __future__ import annotations

import re
from functools import lru_cache

# A displayed formula of at most this estimated width (in points) fits the 481 pt line of A4 with 2 cm margins at
# 11 pt, with room for the estimate's error; wider rows of items wrap and wider matrices split into column blocks.
LINE_WIDTH = 430.0
# Widths in points at 11 pt (Computer Modern) of what stepper's maths is made of, spacing around operators included.
_EM = 10.95
_GLYPH = {"digit": 5.48, "lower": 5.8, "upper": 8.4, "text": 5.2, "other": 6.0}
_SYMBOL = {
    "=": 14.6,
    "+": 13.4,
    "<": 14.6,
    ">": 14.6,
    ".": 3.04,
    ",": 4.9,
    ";": 4.9,
    ":": 6.1,
    "(": 4.26,
    ")": 4.26,
    "[": 3.04,
    "]": 3.04,
    "|": 3.04,
    "'": 3.0,
    "/": 5.48,
    "!": 3.04,
    "*": 5.48,
    " ": 0.0,
    "$": 0.0,
    "~": 0.0,
}
_COMMAND = {
    "qquad": 2 * _EM,
    "quad": _EM,
    " ": 3.65,
    ",": 1.83,
    ":": 2.43,
    ";": 3.04,
    "!": -1.83,
    "cdot": 7.9,
    "times": 13.4,
    "approx": 14.6,
    "longrightarrow": 23.4,
    "rightarrow": 17.0,
    "infty": 10.95,
    "lfloor": 4.9,
    "rfloor": 4.9,
    "lbrace": 5.48,
    "rbrace": 5.48,
    "max": 18.0,
    "tanh": 20.0,
    "ldots": 14.6,
    "cdots": 14.6,
    "sum": 11.0,
    "textstyle": 0.0,
    "displaystyle": 0.0,
    "left": 0.0,
    "right": 0.0,
    "bigl": 0.0,
    "bigr": 0.0,
    "lbrack": 3.04,
    "rbrack": 3.04,
}
DELIMITER = 4.9  # an extensible bracket of \left[ ... \right] (and 1.2 pt for the empty one, \left.)
CELL_SEP = 10.0  # \arraycolsep on each side of an array's column
BOX = 4.0  # the padding a highlight box adds around a cell
_SCRIPT = 0.73  # sub- and superscripts are set at about this scale
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\s+|.", re.S)

# A matrix wider than this (estimated, in points) is written in column blocks; what stands beside it (its name,
# `\text{ReLU}`) needs the rest of the line. Each block, with its "columns 1-8" tag, stays within BLOCK_WIDTH.
GRID_WIDTH = LINE_WIDTH - 60
BLOCK_WIDTH = GRID_WIDTH - 70
# One line of a sum, after its `z_{1,2} &=` or `&\quad +`, stays within this estimated width.
SUM_WIDTH = LINE_WIDTH - 55
OPERATOR = 13.4  # a + or - between two terms, with its spacing
# A line of a sum sets narrower than this many points a character (digits 5.5, spaces none, `\cdot` 1.6 a letter)
CHAR_TYPICAL = 6.0


@lru_cache(maxsize=4096)
def tex_width(tex: str) -> float:
    """The estimated width, in points, of a formula written by this module (for wrapping, not typesetting). Kept
    for the formulas a document measures again (an exam's 50 keys measured 7,133 formulas, 2,011 of them
    different)."""
    width, _ = _span(_TOKEN.findall(tex), 0, 1.0, stop=())
    return width


def _span(tokens: list[str], i: int, scale: float, stop: tuple[str, ...]) -> tuple[float, int]:
    """The width of tokens[i:] up to (not over) a token in `stop` or an unmatched `}`; and where it stopped."""
    width = 0.0
    while i < len(tokens) and tokens[i] not in stop and tokens[i] != "}":
        w, i = _atom(tokens, i, scale)
        width += w
    return width, i


def _group(tokens: list[str], i: int, scale: float) -> tuple[float, int]:
    """A `{...}` group, or a single atom where a group could stand."""
    if i < len(tokens) and tokens[i] == "{":
        width, i = _span(tokens, i + 1, scale, stop=())
        return width, i + 1
    return _atom(tokens, i, scale) if i < len(tokens) else (0.0, i)


def _raw(tokens: list[str], i: int) -> tuple[str, int]:
    """The raw text of a `{...}` group (an environment's name, a colour), and the index after it."""
    depth, start = 0, i
    while i < len(tokens):
        depth += {"{": 1, "}": -1}.get(tokens[i], 0)
        i += 1
        if depth == 0:
            break
    return "".join(tokens[start + 1 : i - 1]), i


def _atom(tokens: list[str], i: int, scale: float) -> tuple[float, int]:
    token = tokens[i]
    if token == "{":
        return _group(tokens, i, scale)
    if token in ("_", "^"):
        return _group(tokens, i + 1, scale * _SCRIPT)
    if token.startswith("\\") and len(token) > 1:
        return _command(tokens, i, scale)
    if token.isspace():
        return 0.0, i + 1
    return _char(token, tokens, i) * scale, i + 1


def _char(token: str, tokens: list[str], i: int) -> float:
    if token.isdigit():
        return _GLYPH["digit"]
    if token.isalpha():
        return _GLYPH["upper" if token.isupper() else "lower"]
    if token == "-":  # a binary minus has spaces around it; a sign does not
        binary = 0 < i < len(tokens) - 1 and tokens[i - 1].isspace() and tokens[i + 1].isspace()
        return 13.4 if binary else 8.5
    return _SYMBOL.get(token, _GLYPH["other"])


def _command(tokens: list[str], i: int, scale: float) -> tuple[float, int]:
    name = tokens[i][1:]
    if name == "begin":
        return _environment(tokens, i, scale)
    if name in ("left", "right", "bigl", "bigr"):  # the delimiter after it
        delimiter = tokens[i + 1] if i + 1 < len(tokens) else "."
        return (1.2 if delimiter == "." else DELIMITER) * scale, i + 2
    if name in ("text", "mathrm", "mathit", "textbf", "mathbf"):
        text, j = _raw(tokens, i + 1)
        return sum(_GLYPH["text"] if c != " " else 3.65 for c in re.sub(r"\\[A-Za-z]+|[{}]", "x", text)) * scale, j
    if name in ("frac", "tfrac"):
        top, j = _group(tokens, i + 1, scale * (_SCRIPT if name == "tfrac" else 1))
        bottom, j = _group(tokens, j, scale * (_SCRIPT if name == "tfrac" else 1))
        return max(top, bottom) + 2.4 * scale, j
    if name == "colorbox":
        _, j = _raw(tokens, i + 1)
        width, j = _group(tokens, j, scale)
        return width + BOX * scale, j
    if name == "hl":
        width, j = _group(tokens, i + 1, scale)
        return width + BOX * scale, j
    if name in ("hat", "tilde", "bar", "boxed", "underline", "overline", "mathbf"):
        return _group(tokens, i + 1, scale)
    return _COMMAND.get(name, _GLYPH["other"]) * scale, i + 1


def _environment(tokens: list[str], i: int, scale: float) -> tuple[float, int]:
    """An array (columns side by side) or an aligned/gathered block (rows one under another): its widest row."""
    name, i = _raw(tokens, i + 1)
    columns = 1
    if name == "array":
        spec, i = _raw(tokens, i)
        columns = len(spec)
    rows, row, cell = [], [], 0.0
    while i < len(tokens):
        if tokens[i] == "\\end":
            _, i = _raw(tokens, i + 1)
            break
        if tokens[i] in ("&", "\\\\"):
            row.append(cell)
            cell = 0.0
            if tokens[i] == "\\\\":
                rows.append(row)
                row = []
            i += 1
            continue
        w, i = _atom(tokens, i, scale)
        cell += w
    rows.append(row + [cell])
    if name != "array":
        return max(sum(r) for r in rows), i
    widths = [max((r[c] for r in rows if c < len(r)), default=0.0) for c in range(columns)]
    return sum(widths) + CELL_SEP * columns * scale, i


@lru_cache(maxsize=8192)
def cell_width(text: str) -> float:
    """tex_width of a short piece met many times over (a cell, an operator, a gap)."""
    return tex_width(text)
