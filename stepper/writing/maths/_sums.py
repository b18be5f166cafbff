"""Sums of products: a window's, a neuron's, a 1x1 filter's, written term by term and grouped by channel.

Separate because the same sum is written for convolutions, dense layers, 1x1 filters and scattered copies, and
`settings.terms` and `settings.channels` decide its shape in one place: every product or only the nonzero ones,
one flat sum or a bracket and subtotal per channel (d2l's way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ...core.numbers import Values
from ...core.trace import ConvWindow, Terms, channel_totals
from ._arrays import ArrayWriter
from ._equations import EquationWriter
from ._text import TERMS_PER_LINE, cells, continued_lines, lines, number, parenthesised, signed_join


class WrittenSum(NamedTuple):
    """A sum of products as written cells, before it is laid out in steps."""

    factors: list[str]
    weights: list[str]
    products: list[str]
    values: list  # the products' values, to leave out zeros
    bias: list[str]  # the bias, written, when it is added; else empty
    symbolic: bool = False
    groups: int = 1  # channels of equal size, each bracketed (channels = "grouped")
    subtotals: list[str] | None = None  # each channel's products added up, where that is exact


class SumWriter(EquationWriter, ArrayWriter):
    """Sums of products laid out in steps, and the equations of windows and neurons built on them."""

    def term(self, e) -> str:
        """One term of a window's sum as it should be: `x \\cdot w = p` (weight first with symbols), or the bias.
        `e` is the marker's record of an expected term (x, w, p, weight_first; x is None for the bias)."""
        if e.x is None:
            return f"b = {self.number(e.p)}"
        x, w = parenthesised(self.number(e.x)), parenthesised(self.number(e.w))
        first, second = (w, x) if e.p.symbolic or e.weight_first else (x, w)
        product = "" if e.p.symbolic else f" = {self.number(e.p)}"
        return f"{first} \\cdot {second}{product}"

    def long_sum(self, v: Values) -> str:
        """The cells of `v` added up, continuing on new lines of an aligned block when there are many."""
        return continued_lines(lines(cells(v, self.settings.decimals), TERMS_PER_LINE, signed_join))

    def sum_lines(
        self,
        factors: Values,
        weights: Values,
        products: Values,
        bias: Values | None,
        per_line: int = TERMS_PER_LINE,
        show_factors: bool = False,
    ) -> list[list[str]]:
        """The right-hand sides of a sum's working, each a list of lines; the caller adds the total. Products
        of a window over several channels, (C, kh, kw), are grouped by channel (channels = "grouped")."""
        d = self.settings.decimals
        bias_text = [] if bias is None or (self.settings.terms != "all" and bias.data == 0) else [number(bias, d)]
        groups = products.shape[0] if products.data.ndim == 3 and self.settings.channels == "grouped" else 1
        exact = groups > 1 and products.exact and not products.symbolic
        written = WrittenSum(
            cells(factors, d),
            cells(weights, d),
            cells(products, d),
            products.data.ravel().tolist(),
            bias_text,
            products.symbolic,
            groups,
            cells(channel_totals(products), d) if exact else None,
        )
        return self._sum_steps(written, per_line, show_factors)

    def _sum_steps(self, s: WrittenSum, per_line: int, show_factors: bool) -> list[list[str]]:
        """sum_lines from written cells (and the products' values, to leave out zeros).

        terms = "all": every product as `a \\cdot w`, then every product's value.
        terms = "nonzero": only the nonzero products (the tutorial's `= -2 - 5`),
        preceded by their factors when `show_factors` (decimals are not multiplied in one's head), or when
        a single product is left: `1 \\cdot 2 = 2` shows where the 2 comes from.
        Channels of a window over several, each with its subtotal: see _grouped_steps.
        """
        every = self.settings.terms == "all"
        kept = range(len(s.values)) if every else [k for k, value in enumerate(s.values) if value]
        show_factors = show_factors or (not every and not s.symbolic and len(kept) == 1)
        if s.groups > 1:
            size = len(s.values) // s.groups
            by_group = [[k for k in kept if k // size == g] for g in range(s.groups)]
            if sum(map(bool, by_group)) > 1:  # one channel alone needs no brackets
                return _grouped_steps(s, by_group, per_line, every or show_factors or s.symbolic)
        factors, weights, products = s.factors, s.weights, s.products
        if not every:  # a product of 0 is left out
            factors, weights, products = ([t[k] for k in kept] for t in (factors, weights, products))
        steps = []
        if every or show_factors or s.symbolic:
            pieces = [f"{parenthesised(x)} \\cdot {parenthesised(y)}" for x, y in zip(factors, weights)]
            if s.symbolic:  # as the tutorial writes a symbolic sum: (w_1 \\cdot 1) + (w_2 \\cdot 2) + ...
                pieces = [f"({p})" for p in pieces]
            written = lines(pieces, per_line, " + ".join)
            if s.bias:
                written[-1] = signed_join([written[-1], s.bias[0]]) if pieces else s.bias[0]
            if pieces:
                steps.append(written)
        steps.append(lines(products + s.bias, per_line, signed_join))
        return steps

    def window_equation(self, lhs: str, w: ConvWindow, carried: Values | None = None) -> str:
        per_line = w.kernel.shape[-1] if self.settings.terms == "all" else TERMS_PER_LINE
        if w.products.symbolic:  # weight first, as the tutorial writes it: (w_1 \\cdot 1)
            steps = self.sum_lines(w.kernel, w.inputs, w.products, w.bias, per_line)
        else:
            steps = self.sum_lines(w.inputs, w.kernel, w.products, w.bias, per_line)
        return self.equation(lhs, steps, w.total, carried, w.products.exact, w.kernel)

    def terms_equation(self, lhs: str, t: Terms, carried: Values | None = None) -> str:
        # weight first, as a lecturer writes a neuron: 0.1 \\cdot 0.9526
        steps = self.sum_lines(t.weights, t.factors, t.products, t.bias, 5, show_factors=True)
        return self.equation(lhs, steps, t.total, carried, t.products.exact, t.weights)

    def mix_formula(self, weights: Values, bias: Values | None) -> str:
        """`y = w_1 x_1 + w_2 x_2 (+ b)` with the 1x1 filter's own weights."""
        terms = [f"{w}\\, x_{{{c + 1}}}" for c, w in enumerate(cells(weights, self.settings.decimals))]
        return "y = " + signed_join(terms + (["b"] if bias is not None else []))

    def weighted_maps(self, weights: Values, maps: Values, bias: Values | None) -> str:
        """`w_1 X_1 + w_2 X_2 (+ b)`: the 1x1 filter over whole channels."""
        d = self.settings.decimals
        w = cells(weights, d)
        text = " + ".join(f"{parenthesised(wc)} {self.grid(maps[c])}" for c, wc in enumerate(w))
        if bias is not None and bias.data.any():
            text = signed_join([text, number(bias[0], d)])
        return text


def _grouped_steps(s: WrittenSum, by_group: list[list[int]], per_line: int, show_factors: bool) -> list[list[str]]:
    """A sum over several channels as d2l writes it: each channel's terms in brackets, then one subtotal
    per channel added up: `(1 \\cdot 1 + 2 \\cdot 2) + (0 \\cdot 0 + 1 \\cdot 1) = 5 + 1`. Channels whose
    products are all left out (terms = "nonzero") are left out too. Symbols get square brackets, since each
    of their products is in parentheses already, and no subtotals: the sum of their products, written whole,
    is their answer."""
    used = [g for g, kept in enumerate(by_group) if kept]
    brackets = ("\\bigl[", "\\bigr]") if s.symbolic else ("(", ")")
    steps = []
    if show_factors:
        pieces = [[_product(s.factors[k], s.weights[k], s.symbolic) for k in by_group[g]] for g in used]
        steps.append(_bracketed(pieces, per_line, " + ".join, brackets))
    kept = [[s.products[k] for k in by_group[g]] for g in used]
    # a symbolic sum's last step is its answer: written whole, as one sum
    steps.append(
        lines(sum(kept, []), per_line, signed_join) if s.symbolic else _bracketed(kept, per_line, signed_join, brackets)
    )
    if s.subtotals is not None and any(len(by_group[g]) > 1 for g in used):
        steps.append(lines([s.subtotals[g] for g in used], TERMS_PER_LINE, signed_join))
    for step in steps:  # the bias is added once, after the channels
        step[-1] = signed_join([step[-1]] + s.bias)
    return steps


def _product(x: str, w: str, symbolic: bool) -> str:
    """`x \\cdot w`, negative factors in parentheses; a product of symbols in parentheses as a whole, as the
    tutorial writes a symbolic sum: (w_1 \\cdot 1) + (w_2 \\cdot 2)."""
    text = f"{parenthesised(x)} \\cdot {parenthesised(w)}"
    return f"({text})" if symbolic else text


def _bracketed(
    groups: list[list[str]], per_line: int, joiner: Callable[[list[str]], str], brackets: tuple[str, str]
) -> list[str]:
    """The terms of each group joined and bracketed (a group of one term needs none), the groups added: on one
    line when all the terms fit in one, else each group starting a line of its own."""

    def bracket(text: str, first: bool, last: bool, many: bool) -> str:
        return (brackets[0] if first and many else "") + text + (brackets[1] if last and many else "")

    if sum(map(len, groups)) <= per_line:
        return [signed_join([bracket(joiner(g), True, True, len(g) > 1) for g in groups])]
    out = []
    for g in groups:
        chunks = lines(g, per_line, joiner)
        out += [bracket(c, k == 0, k == len(chunks) - 1, len(g) > 1) for k, c in enumerate(chunks)]
    return out
