"""Activations and softmax: their names and formulas, and when `=` may stand before their values.

Separate because these values are transcendental almost everywhere: `=` before e^x, σ(x), tanh(x) or a softmax
output is written only where the maths proves it exact (x = 0, or all exponents equal), never from a float.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ...core.numbers import Values
from ...core.spec import Activation
from ...core.trace import Element, SoftmaxTrace
from ._text import TextWriter, negated, value, written_value

# Each activation's symbol in a formula, and its name in running text.
NAMES = {"relu": "\\text{ReLU}", "leaky_relu": "\\text{LeakyReLU}", "sigmoid": "\\sigma", "tanh": "\\tanh"}
TITLES = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid", "tanh": "tanh"}
# e^x, sigmoid and tanh at x = 0: the only rational argument where each is exact.
_AT_ZERO = {"exp": Fraction(1), "sigmoid": Fraction(1, 2), "tanh": Fraction(0)}
_ZERO = Values(np.array(0, dtype=np.int64), 1)


class ActivationWriter(TextWriter):
    """ReLU and its kin, sigmoid and tanh cell by cell, and softmax's exponentials and their sum."""

    def activation_name(self, layer: Activation) -> str:
        return NAMES[layer.kind]

    def activation_title(self, layer: Activation) -> str:
        return TITLES[layer.kind]

    def activation_formula(self, layer: Activation) -> str:
        name = NAMES[layer.kind]
        return {
            "relu": f"{name}(z) = \\max(0, z)",
            "leaky_relu": f"{name}(z) = \\max({self.number(layer.slope) if layer.slope is not None else ''}\\, z, z)",
            "sigmoid": f"{name}(z) = \\frac{{1}}{{1 + e^{{-z}}}}",
            "tanh": f"{name}(z) = \\frac{{e^{{z}} - e^{{-z}}}}{{e^{{z}} + e^{{-z}}}}",
        }[layer.kind]

    def curve_equation(self, lhs: str, e: Element, layer: Activation) -> str:
        """`a = σ(z) = 1 / (1 + e^{-z}) ≈ value` (or the tanh formula) for one element record."""
        z = self.number(e.x)
        minus_z = "0" if value(e.x) == 0 else negated(z)
        if layer.kind == "sigmoid":
            working = f"\\frac{{1}}{{1 + e^{{{minus_z}}}}}"
        else:
            working = f"\\frac{{e^{{{z}}} - e^{{{minus_z}}}}}{{e^{{{z}}} + e^{{{minus_z}}}}}"
        return (
            f"{lhs} = {NAMES[layer.kind]}({z}) = {working} "
            f"{self.curve_relation(layer.kind, e.x, e.y)} {self.number(e.y)}"
        )

    def curve_relation(self, kind: str, x: Values, shown: Values) -> str:
        """`=` before f(x), for f one of "exp", "sigmoid", "tanh", only when x is exactly 0 and `shown`
        is written as f(0) in full. For any other rational x these values are transcendental
        (Lindemann), so a float that rounds to 1.0 or 0.0 (σ(40), tanh(20), e^{-1000}) is no proof."""
        if not _exactly_zero(x):
            return "\\approx"
        return "=" if written_value(shown, self.number(shown)) == _AT_ZERO[kind] else "\\approx"

    def curve_relation_all(self, layer: Activation, x: Values, shown: Values) -> str:
        """curve_relation for a whole map: `=` only when every cell's argument is 0 and written in full."""
        if not (x.scale > 0 and not x.data.any()):  # any nonzero (or inexact) argument: a rounded value
            return "\\approx"
        flat = shown.reshape(-1)
        every = all(self.curve_relation(layer.kind, x.reshape(-1)[k], flat[k]) == "=" for k in range(flat.data.size))
        return "=" if every else "\\approx"

    def exp_relation(self, record: SoftmaxTrace, k: int) -> str:
        """`=` before e^{z_k} (or e^{z_k - m}) only when its exponent is exactly 0: e^0 = 1."""
        return self.curve_relation("exp", _ZERO, record.exps[k]) if _exponent_is_zero(record, k) else "\\approx"

    def exp_sum_relation(self, record: SoftmaxTrace) -> str:
        """The softmax denominator: `=` when its terms, as carried, are exact numbers (rounded exponentials
        carried forward are the values a student adds); with exponentials kept in full, only when every
        term is e^0 = 1."""
        if record.exps.exact:
            return self.relation(record.total)
        n = record.input.data.size
        every_one = all(self.exp_relation(record, k) == "=" for k in range(n))
        return "=" if every_one and written_value(record.total, self.number(record.total)) == n else "\\approx"

    def softmax_relation(self, record: SoftmaxTrace, k: int) -> str:
        """`=` before ŷ_k only when every exponent is the same, so that ŷ_k = 1/n exactly, and 1/n is
        written in full; any other softmax output holds a transcendental ratio."""
        n = record.input.data.size
        z = record.input
        same = n == 1 or (z.scale > 0 and bool((z.data == z.data.flat[0]).all()))
        shown = record.output[k]
        return "=" if same and written_value(shown, self.number(shown)) == Fraction(1, n) else "\\approx"


def _exactly_zero(x: Values) -> bool:
    """x is an exact number (not a float, whose 0.0 may be an underflow) equal to 0."""
    return x.scale > 0 and x.data.item() == 0


def _exponent_is_zero(record: SoftmaxTrace, k: int) -> bool:
    """Whether softmax's k-th exponent, z_k (or z_k - m when the largest z is subtracted), is exactly 0."""
    z = record.input
    if record.shift is None:
        return _exactly_zero(z[k])
    if z.scale > 0:  # exact: z_k ties with the largest
        return z.data[k] == record.shift.data.item()
    return k == int(np.argmax(z.floats()))  # floats: only the largest itself, as subtracted, is surely 0
