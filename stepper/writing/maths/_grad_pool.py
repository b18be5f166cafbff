"""A pooling layer's backward step: a max pool's routing of each window's gradient to its largest cell, an
average pool's equal shares, and the cells several windows reach.

Separate because pooling follows windows, as its forward pass does (_pool), but writes no sums of products: only
where each gradient goes, and what a cell adds up.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from ._grad_base import GradBase, fraction, relation_of
from ._pool import PoolWriter
from ._text import parenthesised, signed_join, sub

if TYPE_CHECKING:
    from ...core.gradients import LayerGrad


class PoolGradWriter(GradBase, PoolWriter):
    """Max pooling's routes and average pooling's shares, channel by channel."""

    def pool_routes(self, grad: LayerGrad, c: int, limit: int, ties: str) -> list[str]:
        """Max pooling: each of the first `limit` windows of channel c, its largest cell marked, and where its
        gradient goes."""
        record = grad.forward
        text = self._pool_cells(record, c)  # type: ignore[arg-type]  # a pool's record
        width = record.padded.shape[2]  # type: ignore[union-attr]
        rows = []
        for w in record.windows(c, limit):  # type: ignore[union-attr]
            winners = self._winners(w, ties)
            marked = text.copy()
            for r, col in winners:
                at = (w.rows[0] + r) * width + w.cols[0] + col
                marked[at] = self.highlight % marked[at]
            names = [self._input_cell(grad, c, w.rows[0] + r, w.cols[0] + col) for r, col in winners]
            p = sub("p", w.row, w.col)
            window = self._grid(marked, width, part=(w.rows, w.cols))
            sent = f"{self.dl(p)} = {self.number(grad.upstream[c, w.row, w.col])}"
            to = ", ".join(self.dl(x) for x in names)
            if len(names) == 1:
                rows.append(f"{p} = \\max {window} &= {names[0]}: \\quad {sent} \\;\\rightarrow\\; {to}")
            else:  # tied cells: the gradient to each, on a line of its own
                rows.append(f"{p} = \\max {window} &= {' = '.join(names)}: \\\\ &\\quad {sent} \\;\\rightarrow\\; {to}")
        return rows

    @staticmethod
    def _winners(w, ties: str) -> list[tuple[int, int]]:
        """The window's cells its gradient goes to: its first largest cell, or each tied one (ties = "all")."""
        if ties == "first":
            return [w.where]
        data = w.values.data
        return [tuple(int(i) for i in at) for at in np.argwhere(data == data.max())]  # type: ignore[misc]

    def _input_cell(self, grad: LayerGrad, c: int, row: int, col: int) -> str:
        """The name of the input cell at (row, col) of the padded map."""
        pad = grad.forward.padding  # type: ignore[union-attr]
        return self.cell("x", (c, row - pad.top, col - pad.left), grad.forward.input.shape)

    def pool_shares(self, grad: LayerGrad, c: int, limit: int, ties: str) -> list[str]:
        """Average pooling: each of the first `limit` input cells of channel c gets 1/k of the gradient of every
        window it lies in (k the window's cells, padding included); a max pool's cell reached by several windows
        adds their gradients."""
        record = grad.forward
        pad = record.padding  # type: ignore[union-attr]
        h, w = record.input.shape[1:]
        sources = self._sources(grad, c, ties)
        rows = []
        for n in range(min(limit, h * w)):
            i, j = divmod(n, w)
            found = sources.get((i + pad.top, j + pad.left), [])
            if record.layer.kind == "maxpool" and len(found) < 2:
                continue
            if not found and record.layer.kind != "maxpool":
                continue
            rows.append(self._share_row(grad, c, i, j, found))
        return rows

    def _share_row(self, grad: LayerGrad, c: int, i: int, j: int, found: list[tuple[int, int]]) -> str:
        texts = [self.number(grad.upstream[c, a, b]) for a, b in found]
        shown = self.number(grad.input[c, i, j])
        total = _sum([fraction(t) for t in texts])
        lhs = self.dl(self.cell("x", (c, i, j), grad.input.shape))
        if grad.layer.kind == "maxpool":
            return f"{lhs} &= {signed_join(texts)} {relation_of(total, shown)} {shown}"
        k = int(np.prod(grad.forward.layer.kernel(grad.forward.input.shape)))  # type: ignore[union-attr]
        exact = None if total is None else total / k
        inner = f" \\cdot {parenthesised(texts[0])}" if len(texts) == 1 else f"\\bigl({signed_join(texts)}\\bigr)"
        return f"{lhs} &= \\tfrac{{1}}{{{k}}}{inner} {relation_of(exact, shown)} {shown}"

    def _sources(self, grad: LayerGrad, c: int, ties: str) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """For each padded cell, the windows (output cells) whose gradient reaches it: a max pool's winners, or
        every window an average covers."""
        record = grad.forward
        found: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for w in record.windows(c):  # type: ignore[union-attr]
            if record.layer.kind == "maxpool":
                cells = [(w.rows[0] + r, w.cols[0] + col) for r, col in self._winners(w, ties)]
            else:
                cells = [(r, col) for r in range(*w.rows) for col in range(*w.cols)]
            for at in cells:
                found.setdefault(at, []).append((w.row, w.col))
        return found

    def pool_grids(self, grad: LayerGrad, c: int) -> str:
        """Channel c: the input (a max pool's winners marked), ∂L/∂P, and ∂L/∂X."""
        record = grad.forward
        assert grad.local is not None
        channels = grad.input.shape[0]
        x = record.input[c]
        text = self.cells(x)
        if record.layer.kind == "maxpool":
            text = [self.highlight % t if s else t for t, s in zip(text, grad.local[c].data.ravel().tolist())]
        return self.fit(
            [
                f"{self.map_name('X', c, channels)} = {self._grid(text, x.shape[-1])}",
                f"{self.dl(self.map_name('P', c, channels))} = {self.grid(grad.upstream[c])}",
                f"{self.dl(self.map_name('X', c, channels))} = {self.grid(grad.input[c])}",
            ]
        )


def _sum(values: list) -> Fraction | None:
    if any(v is None for v in values):
        return None
    return sum((v for v in values if v is not None), Fraction(0))
