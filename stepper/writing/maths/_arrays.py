"""Arrays as bracketed matrices, and items set side by side, wrapped to the width of the line.

Separate because every layer draws arrays the same way: a window's cells highlighted, every step-th cell for
dilation, and a matrix too wide for the line split into blocks of columns, one under another.
"""

from __future__ import annotations

from itertools import chain

from ...core.numbers import Values
from ._text import TextWriter, cells
from ._width import BLOCK_WIDTH, BOX, CELL_SEP, DELIMITER, GRID_WIDTH, LINE_WIDTH, cell_width, tex_width

# Maps with cells written longer than this are listed cell by cell rather than drawn as a matrix.
WIDE_CELL = 40
# Padded inputs up to this size are drawn whole beside each window; larger ones show only the window.
WHOLE_GRID_UP_TO = 12

Span = tuple[tuple[int, int], tuple[int, int]]  # rows and columns [start, stop)


class ArrayWriter(TextWriter):
    """Matrices, vectors and maps, and `fit` for anything set side by side."""

    def grid(self, v: Values, window: Span | None = None) -> str:
        """A 2-D array as a bracketed matrix; cells inside `window` (rows, cols) are highlighted."""
        return self._grid(cells(v, self.settings.decimals), v.shape[-1] if v.data.ndim else 1, window)

    def _grid(
        self,
        text: list[str],
        width: int,
        window: Span | None = None,
        part: Span | None = None,
        step: tuple[int, int] = (1, 1),
        fits: bool = False,
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
        written = [
            _matrix(
                [row[b] for row in table], len(range(columns)[b]), "[" if k == 0 else ".", "]" if k == last else "."
            )
            for k, b in enumerate(blocks)
        ]
        written = [f"&{line} \\quad \\text{{{_columns(b)}}}" for line, b in zip(written, blocks)]
        return "\\begin{aligned} " + " \\\\ ".join(written) + " \\end{aligned}"

    def _grid_width(self, text: list[str], width: int, whole: bool, span: Span, step: tuple[int, int]) -> float:
        """The estimated width of a window's grid, in one piece: the whole input with any window highlighted, or
        the window."""
        if whole:
            return tex_width(self._grid(text, width, fits=True)) + BOX * -(-(span[1][1] - span[1][0]) // step[1])
        return tex_width(self._grid(text, width, window=span, part=span, step=step, fits=True))

    def fit(
        self, items: list[str], gap: str = "\\qquad", widths: list[float] | None = None, gathered: bool = True
    ) -> str:
        """Items side by side, `gap` between them, as many to a line as fit: one line as it is, or several
        lines of a gathered block (or joined by \\\\ alone, for a caller's own block: `gathered=False`).
        `widths`, when the caller knows them, saves estimating them."""
        widths = widths or [tex_width(item) for item in items]
        space = cell_width(gap)
        rows: list[list[str]] = []
        row: list[str] = []
        used = 0.0
        for item, w in zip(items, widths):
            if row and used + space + w > LINE_WIDTH:
                rows.append(row)
                row, used = [], 0.0
            used += (space if row else 0.0) + w
            row.append(item)
        rows.append(row)
        joined = [f" {gap} ".join(row) if gap else " ".join(row) for row in rows]
        if len(joined) == 1 or not gathered:
            return " \\\\ ".join(joined)
        return "\\begin{gathered} " + " \\\\ ".join(joined) + " \\end{gathered}"

    def marked_grid(self, written: tuple[str, ...], shape: tuple[int, ...], marked) -> str:
        """A student's values as they wrote them, the `marked` cells ((row, column) or (k,)) highlighted."""
        width = shape[-1] if shape else 1
        flat = {(i[0] * width + i[1]) if len(i) == 2 else (i[0] if i else 0) for i in marked}
        text = [self.highlight % t if k in flat else t for k, t in enumerate(written)]
        return self._grid(text, width)

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

    def vector(self, v: Values) -> str:
        """A flat vector as a row matrix."""
        return self.grid(v.reshape(1, -1))


def _matrix(table: list[list[str]], columns: int, left: str, right: str) -> str:
    """Rows of written cells as a bracketed array; `.` leaves a side open (a block of a wider matrix)."""
    body = " \\\\ ".join(" & ".join(row) for row in table)
    return f"\\left{left}\\begin{{array}}{{{'r' * columns}}} {body} \\end{{array}}\\right{right}"


def _column_blocks(table: list[list[str]], columns: int) -> list[slice]:
    """The columns of a matrix in blocks that each fit BLOCK_WIDTH: one block when the whole fits GRID_WIDTH."""
    longest = max(map(len, chain.from_iterable(table)), default=0)
    if columns * (longest * 9.0 + CELL_SEP) + 2 * DELIMITER <= GRID_WIDTH:  # surely fits: no need to measure
        return [slice(0, columns)]
    widths = [max((cell_width(row[c]) for row in table), default=0.0) + CELL_SEP for c in range(columns)]
    if sum(widths) + 2 * DELIMITER <= GRID_WIDTH:
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
