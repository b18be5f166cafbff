"""Pooling windows: the map with the window marked, and its maximum or mean.

Separate because pooling has its own rules for what is exact: a max pool's padding is written -∞ and never wins,
the largest of rounded values is no more exact than they are, and an average shows its total before dividing.
"""

from __future__ import annotations

from ...core.numbers import Values
from ...core.trace import PoolTrace, PoolWindow
from ._arrays import WHOLE_GRID_UP_TO, ArrayWriter, Span
from ._equations import EquationWriter
from ._text import TERMS_PER_LINE, cells, continued_lines, lines, signed_join, sub

# A max pool's padded cell, as written: it never wins.
POOL_PADDING = "-\\infty"


class PoolWriter(EquationWriter, ArrayWriter):
    """Max, average and global average pooling, one window at a time."""

    def pool_map(self, record: PoolTrace, c: int, window: Span | None = None) -> str:
        """Channel c as pooled: padded (a max pool's padding written -∞), a window highlighted if given;
        a map too large to draw shows the window alone."""
        text = self._pool_cells(record, c)
        height, width = record.padded.shape[1:]
        if window is not None and (height > WHOLE_GRID_UP_TO or width > WHOLE_GRID_UP_TO):
            return self._grid(text, width, part=window)
        return self._grid(text, width, window=window)

    def _pool_cells(self, record: PoolTrace, c: int) -> list[str]:
        text = cells(record.padded[c], self.settings.decimals)
        if record.padding.any and record.layer.kind == "maxpool":
            width = record.padded.shape[2]
            text = [POOL_PADDING if record.is_padding(*divmod(k, width)) else t for k, t in enumerate(text)]
        return text

    def pool_window(self, record: PoolTrace, w: PoolWindow) -> str:
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
        rows = continued_lines(lines(values, TERMS_PER_LINE, signed_join), "\\qquad")
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
