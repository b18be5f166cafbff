"""Convolution windows, filter banks, and a transposed convolution's scattered copies of the filter.

Separate because a convolution is where a large document spends its time: every array of a filter is written once,
in bulk (`_written_filter`), and each window takes its slices of that text. The words around a window (its heading,
which rows and columns it covers) are in templates/layers/conv_windows.j2; this module writes only the maths.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from ...core.numbers import Values
from ...core.trace import ConvTrace, TransposedTrace, channel_totals, reading_order
from ._arrays import WHOLE_GRID_UP_TO, Span
from ._sums import SumWriter, WrittenSum
from ._text import TERMS_PER_LINE, cells, continued_lines, number, parenthesised, span_words, sub
from ._width import GRID_WIDTH, LINE_WIDTH, cell_width, tex_width

if TYPE_CHECKING:
    from ..formats import Format

# The name of a filter turned 180 degrees, for a true convolution.
FLIPPED = "\\tilde{K}"


class WindowText(NamedTuple):
    """One convolution window, written for a document: the parts conv_windows.j2 lays out."""

    row: int  # the output cell, counted from 1
    column: int
    rows: tuple[int, int]  # the first and last rows of the (padded) input it covers, counted from 1
    columns: tuple[int, int]
    grids: str  # displayed: the input with the window marked, beside the filter
    equation: str  # displayed: the sum of products
    heading: str  # "Output row 1, column 2", in bold
    where: str  # which rows and columns of the (padded) input it covers: "padded rows 1–3, columns 3–5"


@dataclass(frozen=True, slots=True)
class _Filter:
    """One filter's arrays, written once for all its windows."""

    record: ConvTrace
    f: int
    inputs: list[list[str]]  # each channel of the padded input, written
    kernel: list[str]  # `K_f = [...]` per channel
    kernel_cells: list[str]
    products: Values  # every window's products, (oh, ow, C, kh, kw)
    product_cells: list[str]
    product_values: list
    totals: list[str]  # every window's sum, written
    carried: Values | None  # the output, where it is a rounding of the sums
    bias: list[str]  # the bias, written, when the sum shows it
    subtotals: list[str] | None  # every window's channels added up, when they are exact
    whole: bool  # the padded input is drawn whole beside each window, not the window alone
    widths: list[list[float]]  # per channel: the estimated widths of its grid and of the filter
    side_by_side: list[bool]  # per channel: the grid and the filter fit on one line
    step: tuple[int, int]  # dilation
    groups: int  # channels bracketed apart (channels = "grouped"), else 1
    per_line: int  # terms on a line of the sum
    padded: str  # "padded " when the input has padding, for saying where a window lies
    every: str  # with dilation: ", every 2nd row and every column"


class ConvWriter(SumWriter):
    """A convolution's windows and filters; a transposed convolution's copies, canvas and cells."""

    flipped = FLIPPED

    def conv_windows(self, record: ConvTrace, f: int, limit: int, mk: Format) -> Iterator[WindowText]:
        """The first `limit` windows of filter f, written: every array once, in bulk, and each window its slices."""
        written = self._written_filter(record, f)
        for i, j in reading_order(record.sums.shape[1:], limit):
            yield self._window(written, i, j, mk)

    def _written_filter(self, record: ConvTrace, f: int) -> _Filter:
        """Filter f's arrays written, and what every one of its windows will ask, decided once."""
        d, every = self.settings.decimals, self.settings.terms == "all"
        channels, kh, kw = record.filters.shape[1:]
        height, width = record.padded.shape[1:]
        whole = height <= WHOLE_GRID_UP_TO and width <= WHOLE_GRID_UP_TO
        step = record.layer.dilation
        kernel = self.kernel_grids(record.filters, f, FLIPPED if record.layer.flip else "K")
        inputs = [cells(record.padded[c], d) for c in range(channels)]
        products = record.products(f)
        bias_counts = record.bias is not None and (every or record.bias.data[f] != 0)
        # a window over several channels: each channel's products in brackets, then their subtotals (d2l)
        groups = channels if self.settings.channels == "grouped" else 1
        # subtotals only where they are exact: rounded products (kept in full) would make `=` before them untrue
        exact = groups > 1 and products.exact and not products.symbolic
        # whether a channel's grid and the filter fit side by side: measured once, highlights allowed for
        widths = [
            [self._grid_width(text, width, whole, record.span(0, 0), step), tex_width(k)]
            for text, k in zip(inputs, kernel)
        ]
        return _Filter(
            record=record,
            f=f,
            inputs=inputs,
            kernel=kernel,
            kernel_cells=cells(record.filters[f], d),
            products=products,
            product_cells=cells(products, d),
            product_values=products.data.ravel().tolist(),
            totals=cells(record.sums[f], d),
            carried=None if record.output is record.sums else record.output[f],  # nothing rounded: nothing to add
            bias=[number(record.bias[f], d)] if record.bias is not None and bias_counts else [],
            subtotals=cells(channel_totals(products), d) if exact else None,
            whole=whole,
            widths=widths,
            side_by_side=[grid + cell_width("\\quad") + k <= LINE_WIDTH for grid, k in widths],
            step=step,
            groups=groups,
            per_line=kw if every else TERMS_PER_LINE,
            padded="padded " if record.padding.any else "",
            every="" if step == (1, 1) else f", {_every(step[0], 'row')} and {_every(step[1], 'column')}",
        )

    def _window(self, p: _Filter, i: int, j: int, mk: Format) -> WindowText:
        """Window (i, j): its slices of the filter's written arrays, laid out."""
        span = p.record.span(i, j)
        (r0, r1), (c0, c1) = span
        size = len(p.kernel_cells)
        n = (i * p.record.sums.shape[2] + j) * size
        values = p.product_values[n : n + size]
        # the window's inputs are written out only when its products are written as a . w: every product
        # (terms = "all"), symbols, or a lone nonzero product (1 . 2 = 2, never just 2)
        if self.settings.terms == "all" or p.products.symbolic or len(values) - values.count(0) == 1:
            width, (dh, dw) = p.record.padded.shape[2], p.step
            factors = [t[r * width + c] for t in p.inputs for r in range(r0, r1, dh) for c in range(c0, c1, dw)]
        else:
            factors = p.product_cells[n : n + size]
        return WindowText(
            i + 1,
            j + 1,
            (r0 + 1, r1),
            (c0 + 1, c1),
            mk.display(self._pictures(p, span), True),
            mk.display(self._window_sum(p, i, j, n, values, factors)),
            # said here, not in the template: 1000 windows cost 10 ms less, and users' copies of the template
            # that read these keep working
            mk.bold(f"Output row {i + 1}, column {j + 1}"),
            f"{p.padded}{span_words('row', r0 + 1, r1, mk.dash)}, {span_words('column', c0 + 1, c1, mk.dash)}{p.every}",
        )

    def _pictures(self, p: _Filter, span: Span) -> str:
        """Each channel of the input with the window marked (or the window alone), beside the filter."""
        width = p.record.padded.shape[2]
        pictures = []
        for text, kernel, measured, together in zip(p.inputs, p.kernel, p.widths, p.side_by_side):
            fits = measured[0] <= GRID_WIDTH
            if p.whole:
                grid = self._grid(text, width, window=span, step=p.step, fits=fits)
            else:
                grid = self._grid(text, width, part=span, step=p.step, fits=fits)
            pictures.append(
                f"{grid} \\quad {kernel}" if together else self.fit([grid, kernel], "\\quad", measured, gathered=False)
            )
        return " \\\\ ".join(pictures)

    def _window_sum(self, p: _Filter, i: int, j: int, n: int, values: list, factors: list[str]) -> str:
        """The window's sum of products, from the filter's written cells."""
        symbolic, size, record = p.products.symbolic, len(values), p.record
        k = i * record.sums.shape[2] + j
        channels = len(p.inputs)
        subtotals = p.subtotals and p.subtotals[k * channels : (k + 1) * channels]
        first, second = (p.kernel_cells, factors) if symbolic else (factors, p.kernel_cells)
        written = WrittenSum(
            first, second, p.product_cells[n : n + size], values, p.bias, symbolic, p.groups, subtotals
        )
        steps = self._sum_steps(written, p.per_line, False)
        if symbolic:  # the sum of the products, in the order written, is the answer
            collected = self._collected(record.sums[p.f, i, j], record.filters[p.f])
            return self._equation(sub("z", i, j), steps[:-1], continued_lines(steps[-1]) + collected, "=", "")
        # the exact sum is looked up only where it is needed (inexact sums, a rounded value carried forward)
        if record.sums.exact:
            relation = "="
        else:
            relation = self.relation(record.sums[p.f, i, j]) if p.products.exact else "\\approx"
        approx = "" if p.carried is None else self._approx(record.sums[p.f, i, j], p.carried[i, j])
        return self._equation(sub("z", i, j), steps, p.totals[k], relation, approx)

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

    # ---- transposed convolution as scattered copies of the filter (transposed = "scatter") ----
    def scatter_copy(self, record: TransposedTrace, f: int, c: int, i: int, j: int) -> str:
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
        x = parenthesised(self.number(record.input[c, i, j]))
        return (
            f"{sub('x', *index)} \\cdot {kernel} = {x} \\cdot {kernel} \\;\\longrightarrow\\; {self._grid(text, width)}"
        )

    def scatter_sum(self, record: TransposedTrace, f: int) -> str:
        """The copies added up on the canvas, the cells the padding keeps marked, then those cells (plus the bias):
        the output before it is carried forward."""
        canvas = record.canvas[f]
        (ph, pw), (oh, ow) = record.layer.padding, record.sums.shape[1:]
        kept = ((ph, ph + oh), (pw, pw + ow)) if ph or pw else None
        text = f"\\textstyle\\sum \\text{{copies}} = {self.grid(canvas, kept)}"
        if ph or pw:
            text += f" \\;\\longrightarrow\\; {self.grid(canvas[ph : ph + oh, pw : pw + ow])}"
        if record.layer.bias is not None:
            text += f" + {parenthesised(self.number(record.layer.bias[f]))} = {self.grid(record.sums[f])}"
        return text

    def scatter_cell(self, record: TransposedTrace, f: int, i: int, j: int) -> str:
        """Output cell (i, j) as the sum of the copies' cells that land on it: each input cell times the filter
        cell it lays there, input first, as each copy is the input cell times the filter."""
        t = record.cell(f, i, j)
        steps = self.sum_lines(t.factors, t.weights, t.products, t.bias, TERMS_PER_LINE, show_factors=True)
        carried = None if record.output is record.sums else record.output[f, i, j]
        return self.equation(sub("z", i, j), steps, t.total, carried, t.products.exact, t.weights)


ORDINALS = {2: "2nd", 3: "3rd"}


def _every(n: int, what: str) -> str:
    """every row, every 2nd column, every 21th row (as the worked solution has always said it)."""
    return f"every {what}" if n == 1 else f"every {ORDINALS.get(n, f'{n}th')} {what}"
