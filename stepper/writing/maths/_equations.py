"""An equation's working as one line or an aligned block: `lhs = step = step = total (≈ carried)`.

Separate because windows, neurons, pools and scattered copies all end the same way: the steps their family writes,
then the total with `=` only where it is exact, and the value carried forward where it was rounded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.numbers import Values
from ._text import TextWriter, continued, continued_lines, symbolic, value

# Working shorter than this many characters stays on one line.
ONE_LINE = 60


class EquationWriter(TextWriter):
    """Steps, total and relation put together; `equation` is what the templates call."""

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
            return self._equation(lhs, steps[:-1], continued_lines(steps[-1]) + self._collected(total, by), "=", "")
        relation = self.relation(total) if exact_terms else "\\approx"
        return self._equation(lhs, steps, self.number(total), relation, self._approx(total, carried))

    def _collected(self, total: Values, by: Values | None) -> str:
        """With `simplify = true`: ` \\\\ &= ` the symbolic total with its terms collected by the weights'
        symbols (w_1 (a + 1) + ...), when that reads differently from the sum as written."""
        if not self.settings.simplify:
            return ""
        import sympy

        expr: Any = total.data.item() if isinstance(total.data, np.ndarray) else total.data
        weights = sorted(
            set().union(*(x.free_symbols for x in by.data.ravel())) if by is not None and by.symbolic else set(),
            key=str,
        )
        collected = sympy.collect(sympy.expand(expr), weights) if weights else sympy.simplify(expr)
        if symbolic(collected) == symbolic(expr) or sympy.srepr(collected) == sympy.srepr(expr):
            return ""
        return f" \\\\ &= {symbolic(collected)}"

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
            rows.extend(f"&\\quad {continued(line)}" for line in step[1:])
        rows.append(f"&{relation} {total}")
        return f"\\begin{{aligned}} {lhs} " + " \\\\ ".join(rows) + " \\end{aligned}"

    def _approx(self, total: Values, carried: Values | None) -> str:
        """` \\approx 0.7762` when the value carried forward is a rounding of the total."""
        if carried is None or (carried.places is None and carried.scale == 1):
            return ""  # whole numbers are carried as they are
        if value(carried) == value(total):
            return ""
        return f" \\approx {self.number(carried)}"
