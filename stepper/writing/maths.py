"""Working written as LaTeX maths, shared by every output format.

Markdown (KaTeX, MathJax) and LaTeX take the same maths; they differ only in
how a window's cells are highlighted, which the renderer passes in. Each
distinct number is written once per array (`cells`), because formatting, not
arithmetic, is what a large document spends its time on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import chain
from typing import NamedTuple

import numpy as np
import sympy

from ..core.numbers import Values, write_exact, write_float
from ..core.spec import Settings
from ..core.stages import TITLES
from ..core.symbols import symbol_name
from ..core.trace import ConvWindow, GrowStep, PoolWindow, SizeStep, Terms, channel_totals, reading_order

# The name of a filter turned 180 degrees, for a true convolution.
FLIPPED = "\\tilde{K}"
# A max pool's padded cell, as written: it never wins.
POOL_PADDING = "-\\infty"
# Sums longer than this many terms continue on the next line of an aligned block.
TERMS_PER_LINE = 10
# Working shorter than this many characters stays on one line.
ONE_LINE = 60
# Maps with cells written longer than this are listed cell by cell rather than drawn as a matrix.
WIDE_CELL = 40
# Arrays up to this size are written cell by cell; larger ones one distinct value at a time.
_SMALL = 64
# Padded inputs up to this size are drawn whole beside each window; larger ones show only the window.
WHOLE_GRID_UP_TO = 12


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


def symbolic(expr) -> str:
    """A sympy expression in LaTeX, w4 written w_4 as a lecturer writes it."""
    expr = sympy.sympify(expr)
    return sympy.latex(expr, symbol_names={s: symbol_name(s.name) for s in expr.free_symbols})


def _one(v: Values, x, decimals: int) -> str:
    if v.symbolic:
        return symbolic(x)
    if v.scale:
        return write_exact(int(x), v.scale, v.places)
    return write_float(float(x), v.places if v.places is not None else decimals)


def number(v: Values, decimals: int) -> str:
    """A scalar Values, written."""
    return _one(v, v.data.item(), decimals)


def _parenthesised(text: str) -> str:
    """A factor of a product, in parentheses when it is negative or itself a sum."""
    return f"({text})" if text.startswith("-") or " + " in text or " - " in text else text


def signed_join(terms: list[str]) -> str:
    """Join written numbers into a sum: `3 - 2 + 5`, never `+ -2`, and `0` for no terms."""
    if not terms:
        return "0"
    return terms[0] + "".join([f" - {t[1:]}" if t[0] == "-" else f" + {t}" for t in terms[1:]])


def _lines(pieces: list[str], per_line: int, joiner) -> list[str]:
    """Pieces joined into lines of at most `per_line` pieces each, and no wider than SUM_WIDTH (estimated), so
    that a sum of long decimals continues on the next line rather than running off the page."""
    lines = []
    for i in range(0, max(len(pieces), 1), per_line):
        chunk = pieces[i : i + per_line]
        line = joiner(chunk)
        # the usual case: a line of few characters (a whole document of windows spends its time here)
        if len(line) * _CHAR_TYPICAL <= SUM_WIDTH or sum(map(_cell_width, chunk)) + _OPERATOR * len(chunk) <= SUM_WIDTH:
            lines.append(line)
            continue
        start, used = 0, 0.0
        for k, piece in enumerate(chunk):
            width = _cell_width(piece) + _OPERATOR
            if k > start and used + width > SUM_WIDTH:
                lines.append(joiner(chunk[start:k]))
                start, used = k, 0.0
            used += width
        lines.append(joiner(chunk[start:]))
    return lines


class WindowText(NamedTuple):
    """One convolution window, written for a document: the parts a template lays out."""

    heading: str
    where: str  # which rows and columns of the (padded) input it covers
    grids: str  # displayed: the input with the window marked, beside the filter
    equation: str  # displayed: the sum of products


@dataclass(frozen=True)
class Maths:
    """Writes records as maths for one output format."""

    settings: Settings
    highlight: str  # a %-format string with one %s for a highlighted cell
    flipped = FLIPPED

    # ---- arrays ----
    def grid(self, v: Values, window: tuple[tuple[int, int], tuple[int, int]] | None = None) -> str:
        """A 2-D array as a bracketed matrix; cells inside `window` (rows, cols) are highlighted."""
        return self._grid(cells(v, self.settings.decimals), v.shape[-1] if v.data.ndim else 1, window)

    def _grid(
        self, text: list[str], width: int, window=None, part=None, step: tuple[int, int] = (1, 1), fits: bool = False
    ) -> str:
        """A matrix from written cells (row-major, `width` to a row): every step-th row and column of
        `part` if given, or the whole, with every step-th cell of `window` highlighted. A matrix too wide for
        the line is written in column blocks, unless the caller knows it `fits`."""
        if part is not None:
            (r0, r1), (c0, c1) = part
            rows, cols = range(r0, r1, step[0]), range(c0, c1, step[1])
        else:
            rows, cols = range(len(text) // width), range(width)
        if window is not None:
            text = text.copy()
            (h0, h1), (k0, k1) = window
            for r in range(h0, h1, step[0]):
                for c in range(k0, k1, step[1]):
                    text[r * width + c] = self.highlight % text[r * width + c]
        # each row one slice of the written cells (every step-th of them with dilation)
        c0, c1, sc = cols.start, cols.stop, cols.step
        table = [text[r * width + c0 : r * width + c1 : sc] for r in rows]
        columns = len(cols)
        blocks = [slice(0, columns)] if fits else _column_blocks(table, columns)
        if len(blocks) == 1:
            return _matrix(table, len(cols), "[", "]")
        # too wide for the line: the columns in blocks one under another, the brackets open between them
        last = len(blocks) - 1
        lines = [
            _matrix(
                [row[b] for row in table], len(range(columns)[b]), "[" if k == 0 else ".", "]" if k == last else "."
            )
            for k, b in enumerate(blocks)
        ]
        lines = [f"&{line} \\quad \\text{{{_columns(b)}}}" for line, b in zip(lines, blocks)]
        return "\\begin{aligned} " + " \\\\ ".join(lines) + " \\end{aligned}"

    def _grid_width(self, text: list[str], width: int, whole: bool, span, step: tuple[int, int]) -> float:
        """The estimated width of a window's grid, in one piece: the whole input with any window highlighted, or
        the window."""
        if whole:
            return tex_width(self._grid(text, width, fits=True)) + _BOX * -(-(span[1][1] - span[1][0]) // step[1])
        return tex_width(self._grid(text, width, window=span, part=span, step=step, fits=True))

    def fit(
        self, items: list[str], gap: str = "\\qquad", widths: list[float] | None = None, gathered: bool = True
    ) -> str:
        """Items side by side, `gap` between them, as many to a line as fit: one line as it is, or several
        lines of a gathered block (or joined by \\\\ alone, for a caller's own block: `gathered=False`).
        `widths`, when the caller knows them, saves estimating them."""
        widths = widths or [tex_width(item) for item in items]
        space = _cell_width(gap)
        lines, line, used = [], [], 0.0
        for item, w in zip(items, widths):
            if line and used + space + w > LINE_WIDTH:
                lines.append(line)
                line, used = [], 0.0
            used += (space if line else 0.0) + w
            line.append(item)
        lines.append(line)
        joined = [f" {gap} ".join(line) if gap else " ".join(line) for line in lines]
        if len(joined) == 1 or not gathered:
            return " \\\\ ".join(joined)
        return "\\begin{gathered} " + " \\\\ ".join(joined) + " \\end{gathered}"

    def number(self, v: Values) -> str:
        return number(v, self.settings.decimals)

    def marked_grid(self, written: tuple[str, ...], shape: tuple[int, ...], marked) -> str:
        """A student's values as they wrote them, the `marked` cells ((row, column) or (k,)) highlighted."""
        width = shape[-1] if shape else 1
        flat = {(i[0] * width + i[1]) if len(i) == 2 else (i[0] if i else 0) for i in marked}
        text = [self.highlight % t if k in flat else t for k, t in enumerate(written)]
        return self._grid(text, width)

    def expr(self, x) -> str:
        """A sympy value from a written sum: a decimal when it ends, else a fraction or the symbols."""
        x = sympy.sympify(x)
        if x.is_Rational:
            return write_exact(int(x.p), int(x.q))
        if x.is_number:
            return write_float(float(x), self.settings.decimals)
        return symbolic(x)

    def term(self, e) -> str:
        """One term of a window's sum as it should be: `x \\cdot w = p` (weight first with symbols), or the bias."""
        if e.x is None:
            return f"b = {self.number(e.p)}"
        x, w = _parenthesised(self.number(e.x)), _parenthesised(self.number(e.w))
        first, second = (w, x) if e.p.symbolic or e.weight_first else (x, w)
        product = "" if e.p.symbolic else f" = {self.number(e.p)}"
        return f"{first} \\cdot {second}{product}"

    def named_map(self, name: str, v: Values) -> str:
        """`name = [map]`; a map of long entries (symbolic sums) would run off the page, so it is written
        one cell per line instead: `name(1,2) &= ...`."""
        text = cells(v, self.settings.decimals)
        if max(map(len, text), default=0) <= WIDE_CELL:
            return f"{name} = {self._grid(text, v.shape[-1] if v.data.ndim else 1)}"
        width = v.shape[-1] if v.data.ndim > 1 else len(text)
        rows = [
            f"{name}({k // width + 1},{k % width + 1}) &= {t}" if v.data.ndim > 1 else f"{name}({k + 1}) &= {t}"
            for k, t in enumerate(text)
        ]
        return "\\begin{aligned} " + " \\\\ ".join(rows) + " \\end{aligned}"

    def sub(self, name: str, *index: int) -> str:
        return sub(name, *index)

    def relation(self, full: Values, shown: Values | None = None) -> str:
        """`=` when `shown`, as written, is exactly the value `full`; `\\approx` when it is rounded."""
        if shown is None or shown is full:
            if full.exact:
                return "="  # exact values are written exactly
            shown = full
        return "=" if _written_value(shown, self.number(shown)) == _value(full) else "\\approx"

    @staticmethod
    def element_name(name: str, index: tuple[int, ...], shape: tuple[int, ...]) -> str:
        """`a_{i,j}` for a cell of a one-channel map, `a_{c,i,j}` when there are several channels."""
        return sub(name, *(index[1:] if len(shape) == 3 and shape[0] == 1 else index))

    def cells(self, v: Values) -> list[str]:
        return cells(v, self.settings.decimals)

    def long_sum(self, v: Values) -> str:
        """The cells of `v` added up, continuing on new lines of an aligned block when there are many."""
        return self._continued_lines(_lines(cells(v, self.settings.decimals), TERMS_PER_LINE, signed_join))

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

    def vector(self, v: Values) -> str:
        """A flat vector as a row matrix."""
        return self.grid(v.reshape(1, -1))

    def conv_windows(self, record, f: int, limit: int, mk) -> Iterator[WindowText]:
        """The first `limit` windows of filter f, written. A document of many windows spends its time
        here, so every array is written once, in bulk, and each window takes its slices of the text."""
        d = self.settings.decimals
        channels, kh, kw = record.filters.shape[1:]
        height, width = record.padded.shape[1:]
        whole = height <= WHOLE_GRID_UP_TO and width <= WHOLE_GRID_UP_TO
        kernel = self.kernel_grids(record.filters, f, FLIPPED if record.layer.flip else "K")
        kernel_cells = cells(record.filters[f], d)
        inputs = [cells(record.padded[c], d) for c in range(channels)]
        products = record.products(f)
        product_cells, product_values = cells(products, d), products.data.ravel().tolist()
        symbolic = products.symbolic
        totals = cells(record.sums[f], d)
        carried = None if record.output is record.sums else record.output[f]  # nothing rounded: nothing to add
        bias = [] if record.bias is None else [number(record.bias[f], d)]
        bias_counts = record.bias is not None and (self.settings.terms == "all" or record.bias.data[f] != 0)
        where = "padded " if record.padding.any else ""
        # a window over several channels: each channel's products in brackets, then their subtotals (d2l)
        groups = channels if self.settings.channels == "grouped" else 1
        # subtotals only where they are exact: rounded products (kept in full) would make `=` before them untrue
        subtotals = cells(channel_totals(products), d) if groups > 1 and products.exact and not symbolic else None
        dh, dw = record.layer.dilation
        every = "" if (dh, dw) == (1, 1) else f", {_every(dh, 'row')} and {_every(dw, 'column')}"
        size, ow = channels * kh * kw, record.sums.shape[2]
        per_line = kw if self.settings.terms == "all" else TERMS_PER_LINE
        # whether a channel's grid and the filter fit side by side: measured once, highlights allowed for
        sizes = [
            [self._grid_width(text, width, whole, record.span(0, 0), (dh, dw)), tex_width(k)]
            for text, k in zip(inputs, kernel)
        ]
        side_by_side = [grid + _cell_width("\\quad") + k <= LINE_WIDTH for grid, k in sizes]
        for i, j in reading_order(record.sums.shape[1:], limit):
            n = (i * ow + j) * size
            (r0, r1), (c0, c1) = record.span(i, j)
            values = product_values[n : n + size]
            # the window's inputs are written out only when its products are written as a . w: every product
            # (terms = "all"), symbols, or a lone nonzero product (1 . 2 = 2, never just 2)
            factors = (
                [t[r * width + c] for t in inputs for r in range(r0, r1, dh) for c in range(c0, c1, dw)]
                if self.settings.terms == "all" or symbolic or _one_nonzero(values)
                else product_cells[n : n + size]
            )
            span = ((r0, r1), (c0, c1))
            pictures = []
            for text, kernel_text, measured, together in zip(inputs, kernel, sizes, side_by_side):
                fits = measured[0] <= GRID_WIDTH
                grid = (
                    self._grid(text, width, window=span, step=(dh, dw), fits=fits)
                    if whole
                    else self._grid(text, width, part=span, step=(dh, dw), fits=fits)
                )
                pictures.append(
                    f"{grid} \\quad {kernel_text}"
                    if together
                    else self.fit([grid, kernel_text], "\\quad", measured, gathered=False)
                )
            grids = " \\\\ ".join(pictures)
            first, second = (kernel_cells, factors) if symbolic else (factors, kernel_cells)
            steps = self._sum_steps(
                first,
                second,
                product_cells[n : n + size],
                values,
                bias if bias_counts else [],
                per_line,
                False,
                symbolic,
                groups,
                subtotals and subtotals[(i * ow + j) * channels : (i * ow + j + 1) * channels],
            )
            if symbolic:  # the sum of the products, in the order written, is the answer
                collected = self._collected(record.sums[f, i, j], record.filters[f])
                steps, total, relation, approx = steps[:-1], self._continued_lines(steps[-1]) + collected, "=", ""
            else:
                total = totals[i * ow + j]
                relation = (
                    "="
                    if record.sums.exact
                    else (self.relation(record.sums[f, i, j]) if products.exact else "\\approx")
                )
                approx = "" if carried is None else self._approx(record.sums[f, i, j], carried[i, j])
            yield WindowText(
                mk.bold(f"Output row {i + 1}, column {j + 1}"),
                f"{where}{span_words('row', r0 + 1, r1, mk.dash)}, {span_words('column', c0 + 1, c1, mk.dash)}{every}",
                mk.display(grids, True),
                mk.display(self._equation(sub("z", i, j), steps, total, relation, approx)),
            )

    def kernel_grids(self, filters: Values, f: int, name: str = "K") -> list[str]:
        """`K_f = [...]` (or `K_{f,c}` per channel) for filter f, written once for all its windows."""
        channels = filters.shape[1]
        return [
            f"{sub(name, f) if channels == 1 else sub(name, f, c)} = {self.grid(filters[f, c])}"
            for c in range(channels)
        ]

    def filter_bank(self, filters: Values, bias: Values | None, name: str = "K") -> str:
        """Every filter (and bias) of a layer, named K_f (K_{f,c} per channel), rows joined for a gathered block.

        One row per filter when filters have depth or bias; otherwise three filters to a row; a row too wide
        for the line wraps.
        """
        count, channels = filters.shape[:2]
        rows = []
        for f in range(count):
            items = self.kernel_grids(filters, f, name)
            if bias is not None:
                items.append(f"{sub('b', f)} = {self.number(bias[f])}")
            rows.append(items)
        if channels == 1 and bias is None:
            flat = [item for row in rows for item in row]
            rows = [flat[i : i + 3] for i in range(0, len(flat), 3)]
        return " \\\\ ".join(self.fit(row, gathered=False) for row in rows)

    # ---- activations ----
    _NAMES = {"relu": "\\text{ReLU}", "leaky_relu": "\\text{LeakyReLU}", "sigmoid": "\\sigma", "tanh": "\\tanh"}
    _TITLES = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid", "tanh": "tanh"}

    def activation_name(self, layer) -> str:
        return self._NAMES[layer.kind]

    def activation_title(self, layer) -> str:
        return self._TITLES[layer.kind]

    def activation_formula(self, layer) -> str:
        name = self._NAMES[layer.kind]
        return {
            "relu": f"{name}(z) = \\max(0, z)",
            "leaky_relu": f"{name}(z) = \\max({self.number(layer.slope) if layer.slope is not None else ''}\\, z, z)",
            "sigmoid": f"{name}(z) = \\frac{{1}}{{1 + e^{{-z}}}}",
            "tanh": f"{name}(z) = \\frac{{e^{{z}} - e^{{-z}}}}{{e^{{z}} + e^{{-z}}}}",
        }[layer.kind]

    def curve_equation(self, lhs: str, e, layer) -> str:
        """`a = σ(z) = 1 / (1 + e^{-z}) ≈ value` (or the tanh formula) for one element record."""
        z = self.number(e.x)
        minus_z = "0" if _value(e.x) == 0 else negated(z)
        if layer.kind == "sigmoid":
            working = f"\\frac{{1}}{{1 + e^{{{minus_z}}}}}"
        else:
            working = f"\\frac{{e^{{{z}}} - e^{{{minus_z}}}}}{{e^{{{z}}} + e^{{{minus_z}}}}}"
        return (
            f"{lhs} = {self._NAMES[layer.kind]}({z}) = {working} "
            f"{self.curve_relation(layer.kind, e.x, e.y)} {self.number(e.y)}"
        )

    # ---- e^x, sigmoid, tanh and softmax: exact only where the maths says so, never from a float ----
    def curve_relation(self, kind: str, x: Values, shown: Values) -> str:
        """`=` before f(x), for f one of "exp", "sigmoid", "tanh", only when x is exactly 0 and `shown`
        is written as f(0) in full. For any other rational x these values are transcendental
        (Lindemann), so a float that rounds to 1.0 or 0.0 (σ(40), tanh(20), e^{-1000}) is no proof."""
        if not _exactly_zero(x):
            return "\\approx"
        return "=" if _written_value(shown, self.number(shown)) == _AT_ZERO[kind] else "\\approx"

    def curve_relation_all(self, layer, x: Values, shown: Values) -> str:
        """curve_relation for a whole map: `=` only when every cell's argument is 0 and written in full."""
        if not (x.scale > 0 and not x.data.any()):  # any nonzero (or inexact) argument: a rounded value
            return "\\approx"
        flat = shown.reshape(-1)
        return (
            "="
            if all(self.curve_relation(layer.kind, x.reshape(-1)[k], flat[k]) == "=" for k in range(flat.data.size))
            else "\\approx"
        )

    def exp_relation(self, record, k: int) -> str:
        """`=` before e^{z_k} (or e^{z_k - m}) only when its exponent is exactly 0: e^0 = 1."""
        return self.curve_relation("exp", _ZERO, record.exps[k]) if _exponent_is_zero(record, k) else "\\approx"

    def exp_sum_relation(self, record) -> str:
        """The softmax denominator: `=` when its terms, as carried, are exact numbers (rounded exponentials
        carried forward are the values a student adds); with exponentials kept in full, only when every
        term is e^0 = 1."""
        if record.exps.exact:
            return self.relation(record.total)
        n = record.input.data.size
        every_one = all(self.exp_relation(record, k) == "=" for k in range(n))
        return "=" if every_one and _written_value(record.total, self.number(record.total)) == n else "\\approx"

    def softmax_relation(self, record, k: int) -> str:
        """`=` before ŷ_k only when every exponent is the same, so that ŷ_k = 1/n exactly, and 1/n is
        written in full; any other softmax output holds a transcendental ratio."""
        n = record.input.data.size
        z = record.input
        same = n == 1 or (z.scale > 0 and bool((z.data == z.data.flat[0]).all()))
        shown = record.output[k]
        return "=" if same and _written_value(shown, self.number(shown)) == Fraction(1, n) else "\\approx"

    def relation_all(self, full: Values, shown: Values) -> str:
        """`=` when every cell of `shown` is exactly its cell of `full`, else `\\approx`."""
        if full is shown and full.exact:
            return "="
        flat_full, flat_shown = full.reshape(-1), shown.reshape(-1)
        return (
            "="
            if all(self.relation(flat_full[k], flat_shown[k]) == "=" for k in range(flat_full.data.size))
            else "\\approx"
        )

    def mix_formula(self, weights: Values, bias: Values | None) -> str:
        """`y = w_1 x_1 + w_2 x_2 (+ b)` with the 1x1 filter's own weights."""
        terms = [f"{w}\\, x_{{{c + 1}}}" for c, w in enumerate(cells(weights, self.settings.decimals))]
        return "y = " + signed_join(terms + (["b"] if bias is not None else []))

    def weighted_maps(self, weights: Values, maps: Values, bias: Values | None) -> str:
        """`w_1 X_1 + w_2 X_2 (+ b)`: the 1x1 filter over whole channels."""
        d = self.settings.decimals
        w = cells(weights, d)
        text = " + ".join(f"{_parenthesised(wc)} {self.grid(maps[c])}" for c, wc in enumerate(w))
        if bias is not None and bias.data.any():
            text = signed_join([text, number(bias[0], d)])
        return text

    # ---- sizes ----
    def size_step(self, step: SizeStep) -> str:
        """floor((n + 2*p - k) / s) + 1 = out, with the floor's argument worked out."""
        if step.before == step.after:
            pads = f" + 2 \\cdot {step.before}" if step.before else ""
        else:  # padding differs per side ("same" with an odd total)
            pads = "".join(f" + {p}" for p in (step.before, step.after) if p)
        top = f"{step.n}{pads} - {step.k}"
        quotient = write_exact(step.span - step.k, step.stride)
        whole = (step.span - step.k) % step.stride == 0
        floor = f" = {quotient} + 1" if whole else f" = \\lfloor {quotient} \\rfloor + 1"
        return f"\\left\\lfloor \\frac{{{top}}}{{{step.stride}}} \\right\\rfloor + 1{floor} = {step.out}"

    def transposed_size(self, layer, shape) -> str:
        """(n - 1)s - 2p + k + a = out, for rows and columns, as an aligned block."""
        kh, kw = layer.filters.shape[-2:]
        rows = []
        for axis, n, s, p, k, a in (
            ("rows", shape[1], layer.stride[0], layer.padding[0], kh, layer.output_padding[0]),
            ("columns", shape[2], layer.stride[1], layer.padding[1], kw, layer.output_padding[1]),
        ):
            out = (n - 1) * s - 2 * p + k + a
            rows.append(f"\\text{{{axis}}} &= ({n} - 1) \\cdot {s} - 2 \\cdot {p} + {k} + {a} = {out}")
        return "\\begin{aligned} " + " \\\\ ".join(rows) + " \\end{aligned}"

    # ---- sums ----
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
        subtotals = (
            cells(channel_totals(products), d) if groups > 1 and products.exact and not products.symbolic else None
        )
        return self._sum_steps(
            cells(factors, d),
            cells(weights, d),
            cells(products, d),
            products.data.ravel().tolist(),
            bias_text,
            per_line,
            show_factors,
            products.symbolic,
            groups,
            subtotals,
        )

    def _sum_steps(
        self,
        factors: list[str],
        weights: list[str],
        products: list[str],
        values: list,
        bias: list[str],
        per_line: int,
        show_factors: bool,
        symbolic: bool = False,
        groups: int = 1,
        subtotals: list[str] | None = None,
    ) -> list[list[str]]:
        """sum_lines from written cells (and the products' values, to leave out zeros).

        terms = "all": every product as `a \\cdot w`, then every product's value.
        terms = "nonzero": only the nonzero products (the tutorial's `= -2 - 5`),
        preceded by their factors when `show_factors` (decimals are not multiplied in one's head), or when
        a single product is left: `1 \\cdot 2 = 2` shows where the 2 comes from.
        `groups` channels of equal size, with their written `subtotals`: see _grouped_steps.
        """
        every = self.settings.terms == "all"
        kept = range(len(values)) if every else [k for k, value in enumerate(values) if value]
        show_factors = show_factors or (not every and not symbolic and len(kept) == 1)
        if groups > 1:
            size = len(values) // groups
            by_group = [[k for k in kept if k // size == g] for g in range(groups)]
            if sum(map(bool, by_group)) > 1:  # one channel alone needs no brackets
                return self._grouped_steps(
                    factors,
                    weights,
                    products,
                    by_group,
                    bias,
                    per_line,
                    every or show_factors or symbolic,
                    symbolic,
                    subtotals,
                )
        if not every:  # a product of 0 is left out
            factors, weights, products = ([t[k] for k in kept] for t in (factors, weights, products))
        steps = []
        if every or show_factors or symbolic:
            pieces = [f"{_parenthesised(x)} \\cdot {_parenthesised(y)}" for x, y in zip(factors, weights)]
            if symbolic:  # as the tutorial writes a symbolic sum: (w_1 \\cdot 1) + (w_2 \\cdot 2) + ...
                pieces = [f"({p})" for p in pieces]
            written = _lines(pieces, per_line, " + ".join)
            if bias:
                written[-1] = signed_join([written[-1], bias[0]]) if pieces else bias[0]
            if pieces:
                steps.append(written)
        steps.append(_lines(products + bias, per_line, signed_join))
        return steps

    def _grouped_steps(
        self,
        factors: list[str],
        weights: list[str],
        products: list[str],
        by_group: list[list[int]],
        bias: list[str],
        per_line: int,
        show_factors: bool,
        symbolic: bool,
        subtotals: list[str] | None,
    ) -> list[list[str]]:
        """A sum over several channels as d2l writes it: each channel's terms in brackets, then one subtotal
        per channel added up: `(1 \\cdot 1 + 2 \\cdot 2) + (0 \\cdot 0 + 1 \\cdot 1) = 5 + 1`. Channels whose
        products are all left out (terms = "nonzero") are left out too. Symbols get square brackets, since each
        of their products is in parentheses already, and no subtotals: the sum of their products, written whole,
        is their answer."""
        used = [g for g, kept in enumerate(by_group) if kept]
        brackets = ("\\bigl[", "\\bigr]") if symbolic else ("(", ")")
        steps = []
        if show_factors:
            pieces = [[_product(factors[k], weights[k], symbolic) for k in by_group[g]] for g in used]
            steps.append(_bracketed(pieces, per_line, " + ".join, brackets))
        kept = [[products[k] for k in by_group[g]] for g in used]
        # a symbolic sum's last step is its answer: written whole, as one sum
        steps.append(
            _lines(sum(kept, []), per_line, signed_join)
            if symbolic
            else _bracketed(kept, per_line, signed_join, brackets)
        )
        if subtotals is not None and any(len(by_group[g]) > 1 for g in used):
            steps.append(_lines([subtotals[g] for g in used], TERMS_PER_LINE, signed_join))
        for step in steps:  # the bias is added once, after the channels
            step[-1] = signed_join([step[-1]] + bias)
        return steps

    def equation(
        self,
        lhs: str,
        steps: list[list[str]],
        total: Values,
        carried: Values | None = None,
        exact_terms: bool = True,
        by: Values | None = None,
    ) -> str:
        """`lhs = step = step = total (≈ carried)` as an aligned block, long steps continuing on new lines.
        `=` before the total only when it is written exactly and so are the terms added to make it."""
        if total.symbolic:  # the sum of the products, in the order written, is the answer
            return self._equation(
                lhs, steps[:-1], self._continued_lines(steps[-1]) + self._collected(total, by), "=", ""
            )
        relation = self.relation(total) if exact_terms else "\\approx"
        return self._equation(lhs, steps, self.number(total), relation, self._approx(total, carried))

    def _collected(self, total: Values, by: Values | None) -> str:
        """With `simplify = true`: ` \\\\ &= ` the symbolic total with its terms collected by the weights'
        symbols (w_1 (a + 1) + ...), when that reads differently from the sum as written."""
        if not self.settings.simplify:
            return ""
        expr = total.data.item() if isinstance(total.data, np.ndarray) else total.data
        weights = sorted(
            set().union(*(x.free_symbols for x in by.data.ravel())) if by is not None and by.symbolic else set(),
            key=str,
        )
        collected = sympy.collect(sympy.expand(expr), weights) if weights else sympy.simplify(expr)
        if symbolic(collected) == symbolic(expr) or sympy.srepr(collected) == sympy.srepr(expr):
            return ""
        return f" \\\\ &= {symbolic(collected)}"

    @staticmethod
    def _continued_lines(lines: list[str], indent: str = "\\quad") -> str:
        """Lines of one sum in an aligned block, each after the first starting with its operator."""
        return f" \\\\ &{indent} ".join([lines[0]] + [_continued(line) for line in lines[1:]])

    def _equation(self, lhs: str, steps: list[list[str]], total: str, relation: str, approx: str) -> str:
        # A step that already reads as the total adds nothing: `= -7 = -7` becomes `= -7`.
        steps = [s for s in steps if s != [total]]
        total += approx
        if (
            all(len(step) == 1 for step in steps)
            and sum(len(step[0]) for step in steps) <= ONE_LINE
            and "\\\\" not in total
        ):
            return " = ".join([lhs] + [step[0] for step in steps]) + f" {relation} {total}"
        rows = []
        for step in steps:
            rows.append(f"&= {step[0]}")
            rows.extend(f"&\\quad {_continued(line)}" for line in step[1:])
        rows.append(f"&{relation} {total}")
        return f"\\begin{{aligned}} {lhs} " + " \\\\ ".join(rows) + " \\end{aligned}"

    def _approx(self, total: Values, carried: Values | None) -> str:
        """` \\approx 0.7762` when the value carried forward is a rounding of the total."""
        if carried is None or (carried.places is None and carried.scale == 1):
            return ""  # whole numbers are carried as they are
        if _value(carried) == _value(total):
            return ""
        return f" \\approx {self.number(carried)}"

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

    def pool_map(self, record, c: int, window: tuple | None = None) -> str:
        """Channel c as pooled: padded (a max pool's padding written -∞), a window highlighted if given;
        a map too large to draw shows the window alone."""
        text = self._pool_cells(record, c)
        height, width = record.padded.shape[1:]
        if window is not None and (height > WHOLE_GRID_UP_TO or width > WHOLE_GRID_UP_TO):
            return self._grid(text, width, part=window)
        return self._grid(text, width, window=window)

    def _pool_cells(self, record, c: int) -> list[str]:
        text = cells(record.padded[c], self.settings.decimals)
        if record.padding.any and record.layer.kind == "maxpool":
            width = record.padded.shape[2]
            text = [POOL_PADDING if record.is_padding(*divmod(k, width)) else t for k, t in enumerate(text)]
        return text

    def pool_window(self, record, w: PoolWindow) -> str:
        """One pooling window: the map with the window marked, and its working."""
        text = self._pool_cells(record, w.channel)
        width = record.padded.shape[2]
        values = [text[r * width + col] for r in range(*w.rows) for col in range(*w.cols)]
        carried = record.output[w.channel, w.row, w.col]
        return self.fit(
            [
                self.pool_map(record, w.channel, (w.rows, w.cols)),
                self.pool_equation(sub("p", w.row, w.col), w, carried, values),
            ]
        )

    def pool_equation(
        self, lhs: str, w: PoolWindow, carried: Values | None = None, values: list[str] | None = None
    ) -> str:
        values = values or cells(w.values, self.settings.decimals)
        # an average of rounded values adds up to the written mean only approximately, and the largest of
        # values kept in full (σ(40), a float 1.0) is no more exact than they are
        relation = self.relation(w.result) if w.values.exact else "\\approx"
        result = f"{self.number(w.result)}{self._approx(w.result, carried)}"
        if w.kind == "maxpool":
            return f"{lhs} = \\max({', '.join(values)}) {relation} {result}"
        total = self._window_total(w, len(values))
        total = f"{relation} {total} " if total and total != self.number(w.result) else ""
        if len(values) <= TERMS_PER_LINE:
            return f"{lhs} = \\frac{{{signed_join(values)}}}{{{len(values)}}} {total}{relation} {result}"
        # a long sum continues on new lines: 1/n (a + b + ... \\ + ...)
        lines = _lines(values, TERMS_PER_LINE, signed_join)
        rows = self._continued_lines(lines, "\\qquad")
        total = f"&{total}\\\\ " if total else ""
        return (
            f"\\begin{{aligned}} {lhs} &= \\tfrac{{1}}{{{len(values)}}} \\bigl({rows}\\bigr) \\\\ "
            f"{total}&{relation} {result} \\end{{aligned}}"
        )

    def _window_total(self, w: PoolWindow, count: int) -> str:
        """An average's total over its count, `\\frac{15}{4}`, written before it is divided out, as a student
        adds first; "" for symbols (their sum as written is the total) and for a window of one cell."""
        if w.total is None or w.total.symbolic or count == 1:
            return ""
        return f"\\frac{{{self.number(w.total)}}}{{{count}}}"

    # ---- transposed convolution as scattered copies of the filter (transposed = "scatter") ----
    def scatter_copy(self, record, f: int, c: int, i: int, j: int) -> str:
        """`x_{i,j} \\cdot K_f = 2 \\cdot K_f \\longrightarrow` the canvas with input cell (c, i, j)'s copy of
        the filter in its place, as d2l draws each copy; a dot marks each cell the copy does not reach (a blank
        would let the columns shrink, and the copy's place could no longer be seen)."""
        channels, height, width = record.input.shape[0], *record.canvas.shape[1:]
        index, kernel = ((i, j), f"K_{{{f + 1}}}") if channels == 1 else ((c, i, j), sub("K", f, c))
        (r0, r1), (c0, c1) = record.place(i, j)
        text = ["\\cdot"] * (height * width)
        copy = cells(record.copy(f, c, i, j), self.settings.decimals)
        for k, t in enumerate(copy):
            text[(r0 + k // (c1 - c0)) * width + c0 + k % (c1 - c0)] = t
        x = _parenthesised(self.number(record.input[c, i, j]))
        return (
            f"{sub('x', *index)} \\cdot {kernel} = {x} \\cdot {kernel} \\;\\longrightarrow\\; {self._grid(text, width)}"
        )

    def scatter_sum(self, record, f: int) -> str:
        """The copies added up on the canvas, the cells the padding keeps marked, then those cells (plus the bias):
        the output before it is carried forward."""
        canvas = record.canvas[f]
        (ph, pw), (oh, ow) = record.layer.padding, record.sums.shape[1:]
        text = f"\\textstyle\\sum \\text{{copies}} = {self.grid(canvas, ((ph, ph + oh), (pw, pw + ow)) if ph or pw else None)}"
        if ph or pw:
            text += f" \\;\\longrightarrow\\; {self.grid(canvas[ph : ph + oh, pw : pw + ow])}"
        if record.layer.bias is not None:
            text += f" + {_parenthesised(self.number(record.layer.bias[f]))} = {self.grid(record.sums[f])}"
        return text

    def scatter_cell(self, record, f: int, i: int, j: int) -> str:
        """Output cell (i, j) as the sum of the copies' cells that land on it: each input cell times the filter
        cell it lays there, input first, as each copy is the input cell times the filter."""
        t = record.cell(f, i, j)
        steps = self.sum_lines(t.factors, t.weights, t.products, t.bias, TERMS_PER_LINE, show_factors=True)
        carried = None if record.output is record.sums else record.output[f, i, j]
        return self.equation(sub("z", i, j), steps, t.total, carried, t.products.exact, t.weights)

    # ---- shapes, parameters and multiply-adds (detail = "shapes") ----
    @staticmethod
    def count(n: int) -> str:
        """61{,}706: thousands grouped, braced so that maths does not space the comma as punctuation."""
        return f"{n:,}".replace(",", "{,}")

    @staticmethod
    def dims(shape: tuple[int, ...]) -> str:
        """6 \\times 28 \\times 28, or 400 for a vector."""
        return " \\times ".join(map(str, shape))

    @staticmethod
    def layer_title(layer) -> str:
        """The layer's kind as the worked solution's headings name it: Convolution, Max pooling."""
        title = TITLES.get(layer.kind, layer.kind)
        return title[0].upper() + title[1:]

    def size_formulas(self, row) -> list[tuple[str, str]]:
        """A shapes-table row's size arithmetic, inline: [("", formula)] when both axes work alike or the layer
        flattens, [("rows", ...), ("columns", ...)] when they differ, [] when the size is simply kept or given."""
        if row.sizes is not None:
            texts = [_size_inline(step) for step in row.sizes]
            return [("", texts[0])] if texts[0] == texts[1] else [(s.axis, t) for s, t in zip(row.sizes, texts)]
        if len(row.input) == 3 and len(row.output) == 1 and row.layer.kind in ("flatten", "softmax"):
            return [("", f"{_CDOT.join(map(str, row.input))} = {self.count(row.output[0])}")]
        return []

    def parameter_count(self, row) -> str:
        """weights + biases = parameters, the weights as their factors: 6 \\cdot 1 \\cdot 5 \\cdot 5 + 6 = 156."""
        if not row.weights:
            return "0"
        text = _CDOT.join(map(self.count, row.weights)) + (f" + {self.count(row.biases)}" if row.biases else "")
        return text if len(row.weights) == 1 and not row.biases else f"{text} = {self.count(row.parameters)}"

    def multiply_add_count(self, row) -> str:
        """(cells that multiply-add) \\cdot (products per cell) = multiply-adds."""
        cells_, per_cell = row.multiply_adds
        if not per_cell:
            return "0"
        parts = [_CDOT.join(map(self.count, g)) for g in (cells_, per_cell)]
        parts = [f"({t})" if len(g) > 1 else t for t, g in zip(parts, (cells_, per_cell))]
        return f"{_CDOT.join(parts)} = {self.count(row.macs)}"

    def count_sum(self, counts: list[int], total: int) -> str:
        """The nonzero counts added up to the total: 156 + 2{,}416 + ... = 61{,}706."""
        shown = [self.count(n) for n in counts if n]
        return f"{' + '.join(shown)} = {self.count(total)}" if len(shown) > 1 else self.count(total)


_CDOT = " \\cdot "


def _size_inline(step) -> str:
    """One axis's size on one line: \\lfloor (28 + 2 \\cdot 2 - 5)/1 \\rfloor + 1 = 28 for windows (a SizeStep),
    (2 - 1) \\cdot 2 - 2 \\cdot 1 + 3 + 1 = 4 for a transposed convolution (a GrowStep)."""
    if isinstance(step, GrowStep):
        return f"({step.n} - 1) \\cdot {step.stride} - 2 \\cdot {step.padding} + {step.k} + {step.extra} = {step.out}"
    if step.before == step.after:
        pads = f" + 2 \\cdot {step.before}" if step.before else ""
    else:
        pads = "".join(f" + {p}" for p in (step.before, step.after) if p)
    return f"\\lfloor ({step.n}{pads} - {step.k})/{step.stride} \\rfloor + 1 = {step.out}"


def _one_nonzero(values: list) -> bool:
    """Exactly one of a sum's products is nonzero (counted in C: a document asks this of every window)."""
    return len(values) - values.count(0) == 1


def _product(x: str, w: str, symbolic: bool) -> str:
    """`x \\cdot w`, negative factors in parentheses; a product of symbols in parentheses as a whole, as the
    tutorial writes a symbolic sum: (w_1 \\cdot 1) + (w_2 \\cdot 2)."""
    text = f"{_parenthesised(x)} \\cdot {_parenthesised(w)}"
    return f"({text})" if symbolic else text


def _bracketed(groups: list[list[str]], per_line: int, joiner, brackets: tuple[str, str]) -> list[str]:
    """The terms of each group joined and bracketed (a group of one term needs none), the groups added: on one
    line when all the terms fit in one, else each group starting a line of its own."""

    def bracket(text: str, first: bool, last: bool, many: bool) -> str:
        return (brackets[0] if first and many else "") + text + (brackets[1] if last and many else "")

    if sum(map(len, groups)) <= per_line:
        return [signed_join([bracket(joiner(g), True, True, len(g) > 1) for g in groups])]
    lines = []
    for g in groups:
        chunks = _lines(g, per_line, joiner)
        lines += [bracket(c, k == 0, k == len(chunks) - 1, len(g) > 1) for k, c in enumerate(chunks)]
    return lines


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


def _every(n: int, what: str) -> str:
    """every row, every 2nd row, every 3rd row, every 4th row..."""
    return f"every {what}" if n == 1 else f"every {ORDINALS.get(n, f'{n}th')} {what}"


ORDINALS = {2: "2nd", 3: "3rd"}


def _continued(line: str) -> str:
    """A continuation line starts with its operator."""
    return f"- {line[1:]}" if line.startswith("-") else f"+ {line}"


def sub(name: str, *index: int) -> str:
    """`z_{1,2}` from 0-based indices."""
    return f"{name}_{{{','.join(str(i + 1) for i in index)}}}"


def negated(text: str) -> str:
    """-x written for a written (nonzero) number x."""
    return text[1:] if text.startswith("-") else f"-{text}"


def _value(v: Values) -> Fraction | sympy.Expr | None:
    """A scalar's exact value (a float is exactly the binary fraction it holds; None if it overflowed)."""
    x = v.data.item()
    if v.symbolic:
        return x
    if v.scale:
        return Fraction(int(x), v.scale)
    return Fraction(x) if np.isfinite(x) else None


# e^x, sigmoid and tanh at x = 0: the only rational argument where each is exact.
_AT_ZERO = {"exp": Fraction(1), "sigmoid": Fraction(1, 2), "tanh": Fraction(0)}
_ZERO = Values(np.array(0, dtype=np.int64), 1)


def _exactly_zero(x: Values) -> bool:
    """x is an exact number (not a float, whose 0.0 may be an underflow) equal to 0."""
    return x.scale > 0 and x.data.item() == 0


def _exponent_is_zero(record, k: int) -> bool:
    """Whether softmax's k-th exponent, z_k (or z_k - m when the largest z is subtracted), is exactly 0."""
    z = record.input
    if record.shift is None:
        return _exactly_zero(z[k])
    if z.scale > 0:  # exact: z_k ties with the largest
        return z.data[k] == record.shift.data.item()
    return k == int(np.argmax(z.floats()))  # floats: only the largest itself, as subtracted, is surely 0


def _written_value(v: Values, text: str) -> Fraction | None:
    """The value a reader takes from `text`, the scalar `v` as written (None when it is not a plain decimal)."""
    if v.exact:
        return _value(v)  # exact values are written exactly, as decimals or fractions
    try:
        return Fraction(text)
    except ValueError:
        return None


# ---- widths: how wide a formula sets, estimated, so that rows of matrices and wide matrices wrap ----
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
_DELIMITER = 4.9  # an extensible bracket of \left[ ... \right] (and 1.2 pt for the empty one, \left.)
_CELL_SEP = 10.0  # \arraycolsep on each side of an array's column
_BOX = 4.0  # the padding a highlight box adds around a cell
_SCRIPT = 0.73  # sub- and superscripts are set at about this scale
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\s+|.", re.S)


def tex_width(tex: str) -> float:
    """The estimated width, in points, of a formula written by this module (for wrapping, not typesetting)."""
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


def _text(tokens: list[str], i: int) -> tuple[str, int]:
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
        return (1.2 if delimiter == "." else _DELIMITER) * scale, i + 2
    if name in ("text", "mathrm", "mathit", "textbf", "mathbf"):
        text, j = _text(tokens, i + 1)
        return sum(_GLYPH["text"] if c != " " else 3.65 for c in re.sub(r"\\[A-Za-z]+|[{}]", "x", text)) * scale, j
    if name in ("frac", "tfrac"):
        top, j = _group(tokens, i + 1, scale * (_SCRIPT if name == "tfrac" else 1))
        bottom, j = _group(tokens, j, scale * (_SCRIPT if name == "tfrac" else 1))
        return max(top, bottom) + 2.4 * scale, j
    if name == "colorbox":
        _, j = _text(tokens, i + 1)
        width, j = _group(tokens, j, scale)
        return width + _BOX * scale, j
    if name == "hl":
        width, j = _group(tokens, i + 1, scale)
        return width + _BOX * scale, j
    if name in ("hat", "tilde", "bar", "boxed", "underline", "overline", "mathbf"):
        return _group(tokens, i + 1, scale)
    return _COMMAND.get(name, _GLYPH["other"]) * scale, i + 1


def _environment(tokens: list[str], i: int, scale: float) -> tuple[float, int]:
    """An array (columns side by side) or an aligned/gathered block (rows one under another): its widest row."""
    name, i = _text(tokens, i + 1)
    columns = 1
    if name == "array":
        spec, i = _text(tokens, i)
        columns = len(spec)
    rows, row, cell = [], [], 0.0
    while i < len(tokens):
        if tokens[i] == "\\end":
            _, i = _text(tokens, i + 1)
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
    return sum(widths) + _CELL_SEP * columns * scale, i


# A matrix wider than this (estimated, in points) is written in column blocks; what stands beside it (its name,
# `\text{ReLU}`) needs the rest of the line. Each block, with its "columns 1-8" tag, stays within BLOCK_WIDTH.
GRID_WIDTH = LINE_WIDTH - 60
# One line of a sum, after its `z_{1,2} &=` or `&\quad +`, stays within this estimated width.
SUM_WIDTH = LINE_WIDTH - 55
_OPERATOR = 13.4  # a + or - between two terms, with its spacing
# A line of a sum sets narrower than this many points a character (digits 5.5, spaces none, `\cdot` 1.6 a letter)
_CHAR_TYPICAL = 6.0
BLOCK_WIDTH = GRID_WIDTH - 70


def _matrix(table: list[list[str]], columns: int, left: str, right: str) -> str:
    """Rows of written cells as a bracketed array; `.` leaves a side open (a block of a wider matrix)."""
    body = " \\\\ ".join(" & ".join(row) for row in table)
    return f"\\left{left}\\begin{{array}}{{{'r' * columns}}} {body} \\end{{array}}\\right{right}"


@lru_cache(maxsize=8192)
def _cell_width(text: str) -> float:
    return tex_width(text)


def _column_blocks(table: list[list[str]], columns: int) -> list[slice]:
    """The columns of a matrix in blocks that each fit BLOCK_WIDTH: one block when the whole fits GRID_WIDTH."""
    longest = max(map(len, chain.from_iterable(table)), default=0)
    if columns * (longest * 9.0 + _CELL_SEP) + 2 * _DELIMITER <= GRID_WIDTH:  # surely fits: no need to measure
        return [slice(0, columns)]
    widths = [max((_cell_width(row[c]) for row in table), default=0.0) + _CELL_SEP for c in range(columns)]
    if sum(widths) + 2 * _DELIMITER <= GRID_WIDTH:
        return [slice(0, columns)]
    # the fewest blocks of equal column counts (the last may be shorter) that each fit
    for count in range(2, columns + 1):
        size = -(-columns // count)
        blocks = [slice(start, min(start + size, columns)) for start in range(0, columns, size)]
        if all(sum(widths[b]) <= BLOCK_WIDTH for b in blocks):
            return blocks
    return [slice(c, c + 1) for c in range(columns)]


def _columns(block: slice) -> str:
    """Which columns a block of a matrix holds, counted from 1: column 9, columns 1--8."""
    return f"column {block.stop}" if block.stop - block.start == 1 else f"columns {block.start + 1}--{block.stop}"
