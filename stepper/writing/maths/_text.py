"""Numbers and words as the maths writes them: cells, scalars, subscripts, sums, and the base every writer extends.

Every family of writers starts here, so this module holds what they all share and nothing about any one layer.
Each distinct number is written once per array (`cells`), because formatting, not arithmetic, is what a large
document spends its time on. sympy is imported only where a symbolic value is written: most problems have none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.numbers import Values, write_exact, write_float
from ...core.spec import Settings
from ...core.symbols import symbol_name
from ._width import CHAR_TYPICAL, OPERATOR, SUM_WIDTH, cell_width

if TYPE_CHECKING:
    import sympy

# Sums longer than this many terms continue on the next line of an aligned block.
TERMS_PER_LINE = 10
# Arrays up to this size are written cell by cell; larger ones one distinct value at a time.
_SMALL = 64


def cells(v: Values, decimals: int) -> list[str]:
    """Every cell of `v` written, flat, in row-major order."""
    if v.symbolic:
        return [symbolic(x) for x in v.data.ravel().tolist()]
    if v.data.size <= _SMALL:
        if v.scale == 1 and v.places is None:  # whole numbers: str() of Python ints is the fastest writer
            return list(map(str, v.data.astype(np.int64, copy=False).ravel().tolist()))
        return [_one(v, x, decimals) for x in v.data.ravel().tolist()]
    distinct, where = np.unique(v.data, return_inverse=True)
    written = np.array([_one(v, x, decimals) for x in distinct.tolist()], dtype=object)
    return written[where.ravel()].tolist()


def symbolic(expr: Any) -> str:
    """A sympy expression in LaTeX, w4 written w_4 as a lecturer writes it."""
    import sympy

    expr = sympy.sympify(expr)
    return sympy.latex(expr, symbol_names={s: symbol_name(s.name) for s in expr.free_symbols})


def _one(v: Values, x: Any, decimals: int) -> str:
    if v.symbolic:
        return symbolic(x)
    if v.scale:
        return write_exact(int(x), v.scale, v.places)
    return write_float(float(x), v.places if v.places is not None else decimals)


def number(v: Values, decimals: int) -> str:
    """A scalar Values, written."""
    return _one(v, v.data.item(), decimals)


def parenthesised(text: str) -> str:
    """A factor of a product, in parentheses when it is negative or itself a sum."""
    return f"({text})" if text.startswith("-") or " + " in text or " - " in text else text


def signed_join(terms: list[str]) -> str:
    """Join written numbers into a sum: `3 - 2 + 5`, never `+ -2`, and `0` for no terms."""
    if not terms:
        return "0"
    return terms[0] + "".join([f" - {t[1:]}" if t[0] == "-" else f" + {t}" for t in terms[1:]])


def sub(name: str, *index: int) -> str:
    """`z_{1,2}` from 0-based indices."""
    return f"{name}_{{{','.join(str(i + 1) for i in index)}}}"


def negated(text: str) -> str:
    """-x written for a written (nonzero) number x."""
    return text[1:] if text.startswith("-") else f"-{text}"


def lines(pieces: list[str], per_line: int, joiner: Callable[[list[str]], str]) -> list[str]:
    """Pieces joined into lines of at most `per_line` pieces each, and no wider than SUM_WIDTH (estimated), so
    that a sum of long decimals continues on the next line rather than running off the page."""
    out = []
    for i in range(0, max(len(pieces), 1), per_line):
        chunk = pieces[i : i + per_line]
        line = joiner(chunk)
        # the usual case: a line of few characters (a whole document of windows spends its time here)
        if len(line) * CHAR_TYPICAL <= SUM_WIDTH or sum(map(cell_width, chunk)) + OPERATOR * len(chunk) <= SUM_WIDTH:
            out.append(line)
            continue
        start, used = 0, 0.0
        for k, piece in enumerate(chunk):
            width = cell_width(piece) + OPERATOR
            if k > start and used + width > SUM_WIDTH:
                out.append(joiner(chunk[start:k]))
                start, used = k, 0.0
            used += width
        out.append(joiner(chunk[start:]))
    return out


def continued(line: str) -> str:
    """A continuation line starts with its operator."""
    return f"- {line[1:]}" if line.startswith("-") else f"+ {line}"


def continued_lines(written: list[str], indent: str = "\\quad") -> str:
    """Lines of one sum in an aligned block, each after the first starting with its operator."""
    return f" \\\\ &{indent} ".join([written[0]] + [continued(line) for line in written[1:]])


def span_words(what: str, first: int, last: int, dash: str) -> str:
    """Cells first to last of an axis, counted from 1, in words: row 1, rows 7 and 8, rows 1-3."""
    if first == last:
        return f"{what} {first}"
    if last == first + 1:
        return f"{what}s {first} and {last}"
    return f"{what}s {first}{dash}{last}"


def places_words(n: int) -> str:
    """1 decimal place, 4 decimal places."""
    return f"{n} decimal place{'s' * (n != 1)}"


def value(v: Values) -> Fraction | sympy.Expr | None:
    """A scalar's exact value (a float is exactly the binary fraction it holds; None if it overflowed)."""
    x = v.data.item()
    if v.symbolic:
        return x
    if v.scale:
        return Fraction(int(x), v.scale)
    return Fraction(x) if np.isfinite(x) else None


def written_value(v: Values, text: str) -> Fraction | sympy.Expr | None:
    """The value a reader takes from `text`, the scalar `v` as written (None when it is not a plain decimal)."""
    if v.exact:
        return value(v)  # exact values are written exactly, as decimals or fractions
    try:
        return Fraction(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class TextWriter:
    """The base of every writer: the settings and highlight of one output format, and scalars and cells."""

    settings: Settings
    highlight: str  # a %-format string with one %s for a highlighted cell

    def number(self, v: Values) -> str:
        return number(v, self.settings.decimals)

    def cells(self, v: Values) -> list[str]:
        return cells(v, self.settings.decimals)

    def sub(self, name: str, *index: int) -> str:
        return sub(name, *index)

    @staticmethod
    def element_name(name: str, index: tuple[int, ...], shape: tuple[int, ...]) -> str:
        """`a_{i,j}` for a cell of a one-channel map, `a_{c,i,j}` when there are several channels."""
        return sub(name, *(index[1:] if len(shape) == 3 and shape[0] == 1 else index))

    def expr(self, x: Any) -> str:
        """A sympy value from a written sum: a decimal when it ends, else a fraction or the symbols."""
        import sympy

        x = sympy.sympify(x)
        if x.is_Rational:
            return write_exact(int(x.p), int(x.q))
        if x.is_number:
            return write_float(float(x), self.settings.decimals)
        return symbolic(x)

    def relation(self, full: Values, shown: Values | None = None) -> str:
        """`=` when `shown`, as written, is exactly the value `full`; `\\approx` when it is rounded."""
        if shown is None or shown is full:
            if full.exact:
                return "="  # exact values are written exactly
            shown = full
        return "=" if written_value(shown, self.number(shown)) == value(full) else "\\approx"

    def relation_all(self, full: Values, shown: Values) -> str:
        """`=` when every cell of `shown` is exactly its cell of `full`, else `\\approx`."""
        if full is shown and full.exact:
            return "="
        flat_full, flat_shown = full.reshape(-1), shown.reshape(-1)
        every = all(self.relation(flat_full[k], flat_shown[k]) == "=" for k in range(flat_full.data.size))
        return "=" if every else "\\approx"

    def argmax(self, v: Values) -> int:
        """The first largest cell of a flat vector (the predicted class)."""
        return int(np.argmax(v.floats()))

    def winners(self, v: Values) -> list[int]:
        """The cells of a flat vector holding its largest value as written: one, or several that tie."""
        written = [float(t) for t in cells(v, self.settings.decimals)]
        return [k for k, w in enumerate(written) if w == max(written)]

    @staticmethod
    def classes(indices: list[int]) -> str:
        """0-based cells as classes counted from 1: "1 and 2", "1, 3 and 4"."""
        names = [str(k + 1) for k in indices]
        return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)

    @staticmethod
    def places(n: int) -> str:
        """1 decimal place, 4 decimal places: how a document says how far values are rounded."""
        return places_words(n)

    @staticmethod
    def span(what: str, first: int, last: int, dash: str) -> str:
        """row 1, rows 7 and 8, rows 1-3 (counted from 1, `dash` as the format writes a range)."""
        return span_words(what, first, last, dash)
