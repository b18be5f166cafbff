"""What every part of the backward pass writes the same way: gradient names, rows of working, and `=` or `≈`.

Separate because gradients are floats (or values rounded to the places a student keeps), so the forward writers'
rule for `=` (exact values) says `≈` almost everywhere. Here `=` stands where the working, as written, is exact:
the written operands, multiplied or added exactly, give the written result; `≈` where the result is rounded. The
writers only choose the sign: every number they write is a record's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from fractions import Fraction

from ...core.numbers import Values, write_exact
from ._sums import SumWriter
from ._text import cells, lines, parenthesised, signed_join, sub, written_value
from ._width import SUM_WIDTH, tex_width

# The rows of working set in one aligned block: a display no taller than this breaks across pages (and slides)
# between blocks.
ROWS_PER_BLOCK = 10
_FRAC = re.compile(r"(-?)\\frac\{(\d+)\}\{(\d+)\}")

__all__ = ["ROWS_PER_BLOCK", "GradBase", "fraction", "relation_of"]


def fraction(text: str) -> Fraction | None:
    """The value a reader takes from a written number: `-0.5663`, `3`, `\\frac{1}{3}`; None for anything else
    (`1.2 \\times 10^{8}`, `\\infty`), which is then never said to be exact."""
    if text.startswith("(") and text.endswith(")"):  # a negative factor, parenthesised
        text = text[1:-1]
    found = _FRAC.fullmatch(text)
    if found:
        value = Fraction(int(found[2]), int(found[3]))
        return -value if found[1] else value
    try:
        return Fraction(text)
    except ValueError:
        return None


def relation_of(value: Fraction | None, shown: str) -> str:
    """`=` when the written `shown` is exactly `value` (the exact result of written operands), else `\\approx`."""
    return "=" if value is not None and fraction(shown) == value else "\\approx"


def _read(texts: Iterable[str]) -> list[Fraction] | None:
    """The exact values of written numbers, None when one cannot be read."""
    values = [fraction(t) for t in texts]
    return None if any(v is None for v in values) else values  # type: ignore[return-value]


def _product(texts: Iterable[str]) -> Fraction | None:
    """The exact product of written numbers, None when one cannot be read."""
    values = _read(texts)
    return None if values is None else math.prod(values, start=Fraction(1))


def _total(texts: Iterable[str]) -> Fraction | None:
    """The exact sum of written numbers, None when one cannot be read."""
    values = _read(texts)
    return None if values is None else sum(values, Fraction(0))


class GradBase(SumWriter):
    """Gradient names, blocks of rows, sums of products with their signs chosen from what is written."""

    @staticmethod
    def dl(name: str) -> str:
        """`\\partial L/\\partial name`: how every gradient is written."""
        return f"\\partial L/\\partial {name}"

    def cell(self, name: str, index: tuple[int, ...], shape: tuple[int, ...]) -> str:
        """A cell's name: `x_{2}` in a vector, `x_{1,2}` in a one-channel map, `x_{c,1,2}` with channels."""
        return self.element_name(name, index, shape)

    @staticmethod
    def map_name(name: str, c: int, channels: int) -> str:
        """A map's name: `Z` alone, or `Z_{c}` among several."""
        return sub(name, c) if channels > 1 else name

    def blocks(self, rows: list[str]) -> list[str]:
        """Rows `lhs &= ...` as aligned blocks of at most ROWS_PER_BLOCK rows, each to be displayed."""
        count = -(-len(rows) // ROWS_PER_BLOCK)
        size = -(-len(rows) // count) if rows else 1  # blocks of even size: 9 rows as 5 and 4, not 8 and 1
        return [
            "\\begin{aligned} " + " \\\\ ".join(rows[k : k + size]) + " \\end{aligned}"
            for k in range(0, len(rows), size)
        ]

    def maps(self, name: str, v: Values) -> list[str]:
        """`name = [grid]` for a vector, or one per channel of maps (`name_{c}` when there are several)."""
        if v.data.ndim == 1:
            return [f"{name} = {self.vector(v)}"]
        if v.data.ndim == 2:
            return [f"{name} = {self.grid(v)}"]
        return [f"{self.map_name(name, c, v.shape[0])} = {self.grid(v[c])}" for c in range(v.shape[0])]

    def scaled(self, texts: list[str], factor: Fraction | None, shown: str) -> str:
        """The sign between `a \\cdot b \\cdots` (written `texts`, times an exact `factor`) and its written result."""
        value = _product(texts)
        return relation_of(None if value is None or factor is None else value * factor, shown)

    def product_row(self, lhs: str, factors: list[Values], result: Values, formula: str = "") -> str:
        """`lhs &= formula = a \\cdot b \\approx result`: one product, its sign chosen from what is written."""
        texts = [self.number(f) for f in factors]
        shown = self.number(result)
        working = " \\cdot ".join(parenthesised(t) for t in texts)
        lead = f"{formula} = " if formula else ""
        return f"{lhs} &= {lead}{working} {self.scaled(texts, Fraction(1), shown)} {shown}"

    def sum_equation(self, lhs: str, factors: Values, weights: Values, products: Values, carried: Values) -> str:
        """`lhs = a \\cdot b + ... = p + ... = total` from a record's products (a `Terms`), the total as carried;
        channels grouped when the products come in several (C, kh, kw). Zero products are left out unless
        `terms = "all"`; a sum with none left is 0."""
        steps = self.sum_lines(factors, weights, products, None, self._per_line(products), show_factors=True)
        shown = self.number(carried)
        if len(steps) == 1:  # nothing but zeros: no product to write
            return f"{lhs} = {shown}"
        d = self.settings.decimals
        f_cells, w_cells, p_cells = cells(factors, d), cells(weights, d), cells(products, d)
        kept = [k for k, p in enumerate(products.data.ravel().tolist()) if p or self.settings.terms == "all"]
        exact = all(relation_of(_product([f_cells[k], w_cells[k]]), p_cells[k]) == "=" for k in kept)
        total = relation_of(_total(p_cells[k] for k in kept), shown)
        return self.steps_equation(lhs, [("=", steps[0]), ("=" if exact else "\\approx", steps[-1]), (total, [shown])])

    def _per_line(self, products: Values) -> int:
        return products.shape[-1] if self.settings.terms == "all" and products.data.ndim > 1 else 5

    def steps_equation(self, lhs: str, steps: list[tuple[str, list[str]]]) -> str:
        """`lhs rel step rel step ...`, each step its lines: one line when short, else an aligned block with long
        steps continuing on new lines. A step that reads as the one before it is left out."""
        kept: list[tuple[str, list[str]]] = []
        for rel, step in steps:
            if kept and step == kept[-1][1]:
                continue
            kept.append((rel, step))
        line = lhs + "".join(f" {rel} {step[0]}" for rel, step in kept)
        if all(len(step) == 1 for _, step in kept) and tex_width(line) <= SUM_WIDTH:
            return line
        rows = []
        for rel, step in kept:
            rows.append(f"&{rel} {step[0]}")
            rows.extend(f"&\\quad {_continued(part)}" for part in step[1:])
        return f"\\begin{{aligned}} {lhs} " + " \\\\ ".join(rows) + " \\end{aligned}"

    def sum_of(self, lhs: str, terms: list[str], shown: str, exact: Fraction | None) -> str:
        """`lhs = a + b + ... (=|≈) shown` for written terms whose exact sum (or None) is given."""
        if not terms:  # every term is 0
            return f"{lhs} = {shown}"
        written = lines(terms, 10, signed_join)
        return self.steps_equation(lhs, [("=", written), (relation_of(exact, shown), [shown])])

    def exactly(self, v: Values) -> str:
        """A mask or share (1, 0, 0.25) written as the exact number it is, not to the places of a rounded value."""
        x = float(v.data.item())
        short = Fraction(x).limit_denominator(1000)
        if float(short) == x:  # the float is the short fraction it stands for (a slope of 0.1, a share of 1/3)
            return write_exact(short.numerator, short.denominator)
        return self.number(v)

    def value_of(self, v: Values) -> Fraction | None:
        """The exact value a reader takes from scalar `v` as written."""
        value = written_value(v, self.number(v))
        return value if isinstance(value, Fraction) else None


def _continued(line: str) -> str:
    return f"- {line[1:]}" if line.startswith("-") else f"+ {line}"
