"""How values are stored, rounded and written.

All values of one array share one denominator (`scale`), so integer inputs stay
integer arrays and decimals such as 0.5 stay exact (1/2) at numpy speed. The
numerators are int64, or float64 holding whole numbers below 2^53 (what BLAS
returns for a large convolution; converting it would cost as much again).
Values that come from an exponential are floats (`scale == 0`); in the default
`carry` rounding they are rounded to `decimals` places, which makes them exact
decimals again, as a student's written values are. Arrays holding symbols (w1,
a) are sympy expressions (`scale == SYMBOLIC`): exact, and only for layers that
add and multiply.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

# Beyond this denominator (or numerator) int64 arithmetic could overflow, so values fall back to floats.
_EXACT_LIMIT = 10**15
_INT_LIMIT = 2**52
# The scale of an array of sympy expressions.
SYMBOLIC = -1
# Arrays up to this size are rounded in plain Python.
_FEW = 16


def sympy_module():
    """sympy, imported when first needed: only a problem with symbols needs it, and importing it takes
    longer than the rest of stepper together."""
    import sympy

    return sympy


def sympy_types() -> tuple[Any, ...]:  # Any: sympy has no type information
    """sympy's base class, for isinstance, or () while sympy is not imported: no sympy object exists
    before then, so asking never imports it."""
    sympy = sys.modules.get("sympy")
    return (sympy.Basic,) if sympy is not None else ()


def is_sympy(x: object) -> bool:
    """Whether `x` is a sympy number or expression."""
    return isinstance(x, sympy_types())


@dataclass(frozen=True, eq=False)
class Values:
    """An array of numbers: exact `data / scale`, or floats when `scale == 0`.

    `places` marks values that were rounded to that many decimals: they are written
    with all of those places (0.5000), as the rounded value a student writes down.
    """

    data: np.ndarray  # numerators (int64, or float64 whole numbers; |n| <= 2^52) when exact, else float64 values
    scale: int = 1
    places: int | None = None

    @property
    def exact(self) -> bool:
        return self.scale != 0

    @property
    def symbolic(self) -> bool:
        return self.scale == SYMBOLIC

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __getitem__(self, index) -> Values:
        data = self.data[index]
        if self.scale == SYMBOLIC and not isinstance(data, np.ndarray):  # one cell of an object array: keep an array
            data = np.array(data, dtype=object)
        return Values(data, self.scale, self.places)

    def floats(self) -> np.ndarray:
        if self.symbolic:
            raise ValueError("symbols have no numeric value")
        return self.data / self.scale if self.scale else self.data

    def numbers(self) -> list:
        """The values as nested lists of Fractions (exact) or floats."""
        if self.symbolic:
            return self.data.tolist()
        if self.scale:
            return np.vectorize(lambda n: Fraction(int(n), self.scale), otypes=[object])(self.data).tolist()
        return self.data.tolist()

    def reshape(self, *shape) -> Values:
        return Values(self.data.reshape(*shape), self.scale, self.places)


def exact(data: np.ndarray, scale: int, places: int | None = None) -> Values:
    """Exact values in lowest terms; floats if they grew too large to stay exact."""
    if scale == 1:
        return Values(data, 1, places)
    if data.dtype.kind == "f":
        data = data.astype(np.int64)
    if data.size:
        g = math.gcd(int(np.gcd.reduce(data, axis=None)), scale)
        if g > 1:
            data, scale = data // g, scale // g
    if scale > _EXACT_LIMIT or (data.size and int(np.abs(data).max()) > _INT_LIMIT):
        return Values(data / scale, 0, places)
    return Values(data, scale, places)


def floats(data: np.ndarray, places: int | None = None) -> Values:
    return Values(np.asarray(data, dtype=np.float64), 0, places)


class TooManyDigits(ValueError):
    """A number that cannot be kept exact within int64 cells over one shared denominator."""

    def __init__(self):
        super().__init__(
            "too many digits to keep exact: use at most 15 decimal places, "
            "fractions with small denominators, and whole numbers below 2^52"
        )


_DIGITS_LIMIT = 400  # more digits or a larger power of ten than this cannot be one cell's value


def fraction(raw: str | Decimal) -> Fraction:
    """A typed number ("0.5", "1/2", "3e-2", or a Decimal from TOML) as an exact Fraction.

    Checks the size of an exponent before building the Fraction: "1e99999999" would otherwise
    become a hundred-million-digit integer. Raises ValueError for text that is not a number.
    """
    text = raw if isinstance(raw, Decimal) else str(raw).strip()
    if isinstance(text, Decimal) or re.search(r"[eE]", text):
        try:
            d = Decimal(text)
        except ArithmeticError:
            raise ValueError(f"not a number: {raw!r}") from None
        _, digits, exponent = d.as_tuple()
        # nan and infinity have a letter for an exponent: no digits to bound.
        if isinstance(exponent, int) and (abs(exponent) > _DIGITS_LIMIT or len(digits) > _DIGITS_LIMIT):
            raise TooManyDigits()
    return Fraction(text)


def from_numbers(cells, shape: tuple[int, ...] | None = None) -> Values:
    """Values from nested lists of Fractions, ints or floats (floats make the array inexact).

    Raises ValueError when the numbers cannot share one denominator within the exact range.
    """
    flat = list(_flatten(cells))
    if shape is None:
        shape = np.shape(np.empty(0) if not flat else np.array(cells, dtype=object))
    basic = sympy_types()
    if any(isinstance(x, basic) and not x.is_Number for x in flat):
        sympify = sympy_module().sympify
        return symbols(np.array([sympify(x) for x in flat], dtype=object).reshape(shape))
    if any(isinstance(x, float) for x in flat):
        return floats(np.array([float(x) for x in flat], dtype=np.float64).reshape(shape))
    fracs = [Fraction(str(x)) if isinstance(x, basic) else Fraction(x) for x in flat]
    scale = math.lcm(*(f.denominator for f in fracs)) if fracs else 1
    numerators = [f.numerator * (scale // f.denominator) for f in fracs]
    if scale > _EXACT_LIMIT or any(abs(n) > _INT_LIMIT for n in numerators):
        raise TooManyDigits()
    return exact(np.array(numerators, dtype=np.int64).reshape(shape), scale)


def symbols(data: np.ndarray) -> Values:
    return Values(data, SYMBOLIC)


def as_symbols(v: Values) -> np.ndarray:
    """The values as an object array of sympy numbers and expressions."""
    if v.symbolic:
        return v.data
    sympy = sympy_module()
    if v.exact:
        return np.vectorize(lambda n: sympy.Rational(int(n), v.scale), otypes=[object])(v.data)
    return np.vectorize(sympy.Float, otypes=[object])(v.data)


def _flatten(cells):
    if isinstance(cells, (list, tuple)):
        for c in cells:
            yield from _flatten(c)
    else:
        yield cells


def common(a: Values, b: Values) -> tuple[np.ndarray, np.ndarray, int]:
    """Both arrays' data over one denominator (0, as floats, when either is inexact or that would overflow;
    SYMBOLIC, as sympy expressions, when either holds symbols)."""
    if a.symbolic or b.symbolic:
        return as_symbols(a), as_symbols(b), SYMBOLIC
    if a.exact and b.exact:
        scale = math.lcm(a.scale, b.scale)
        ka, kb = scale // a.scale, scale // b.scale
        if scale <= _EXACT_LIMIT and abs_max(a.data) * ka <= _INT_LIMIT and abs_max(b.data) * kb <= _INT_LIMIT:
            return a.data * ka, b.data * kb, scale
    return a.floats(), b.floats(), 0


def add(a: Values, b: Values) -> Values:
    """a + b, broadcast, exact when both are."""
    x, y, scale = common(a, b)
    return result(x + y, scale)


def result(data: np.ndarray, scale: int) -> Values:
    """Values of an operation's result, from its data and the scale `common` or `multiplicands` gave."""
    if scale == SYMBOLIC:
        return symbols(data)
    return exact(data, scale) if scale else floats(data)


def multiplicands(a: Values, b: Values, terms: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The arrays to multiply for sums of `terms` products of a cell of `a` and a cell of `b`,
    and the denominator of those sums (0 when inexact).

    Exact numerators go through float64, and so through BLAS, whenever every partial sum stays
    below 2^53: then the float result is the exact whole number. Beyond that the sums could
    overflow, so they are computed, and marked, as floats.
    """
    if a.symbolic or b.symbolic:
        return as_symbols(a), as_symbols(b), SYMBOLIC
    if a.exact and b.exact and abs_max(a.data) * abs_max(b.data) * terms <= _INT_LIMIT:
        scale = a.scale * b.scale
        if scale <= _EXACT_LIMIT:
            return a.data.astype(np.float64, copy=False), b.data.astype(np.float64, copy=False), scale
    return a.floats(), b.floats(), 0


def times(a: Values, b: Values) -> Values:
    """Cell-by-cell products, exact when both factors are and every product stays below 2^52."""
    if a.symbolic or b.symbolic:
        return symbols(as_symbols(a) * as_symbols(b))
    if a.exact and b.exact and a.scale * b.scale <= _EXACT_LIMIT:
        # A product of two whole numbers is exact in float64 whenever it is below 2^53.
        products = np.multiply(a.data, b.data, dtype=np.float64)
        if abs_max(products) <= _INT_LIMIT:
            return exact(products, a.scale * b.scale)
    return floats(a.floats() * b.floats())


def abs_max(data: np.ndarray) -> int:
    """The largest |cell|, without making a |data| copy of a large array."""
    return int(max(data.max(), -data.min())) if data.size else 0


def round_half_away(v: Values, places: int) -> Values:
    """Round to `places` decimals, halves away from zero, as taught by hand."""
    unit = 10**places
    if v.data.size <= _FEW:
        return _round_few(v, places)
    if v.exact:
        n = np.abs(v.data)
        if abs_max(n) * unit > _INT_LIMIT:  # Python integers, which cannot overflow
            n = n.astype(object)
        q, r = (n * unit) // v.scale, (n * unit) % v.scale
        q = np.sign(v.data) * (q + (2 * r >= v.scale))
        if abs_max(q) > _INT_LIMIT:
            return floats(q.astype(np.float64) / unit, places)
        return exact(q.astype(np.int64), unit, places)
    scaled = np.abs(v.data) * unit
    q = np.floor(scaled + 0.5)
    ties = np.abs(scaled + 0.5 - q) < 1e-6
    if ties.any():  # near a tie the float product may land on the wrong side: decide those cells exactly
        for index in zip(*np.nonzero(ties)):
            exact_value = Decimal(float(abs(v.data[index]))) * unit
            q[index] = float(exact_value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    q = np.copysign(q, v.data)
    if q.size and q.max() < _INT_LIMIT and -q.min() < _INT_LIMIT:
        return exact(q, unit, places)
    return floats(q / unit, places)


def _round_few(v: Values, places: int) -> Values:
    """round_half_away for a handful of cells (a softmax, a small map), in exact Python arithmetic,
    which is quicker there than a dozen numpy calls."""
    unit = 10**places
    if not v.exact and not np.isfinite(v.data).all():
        return floats(v.data, places)  # an overflowed float has no decimals to round
    rounded = []
    for x in v.data.ravel().tolist():
        # numerator / denominator: exactly the value, a float's binary one included
        numerator, denominator = (int(x), v.scale) if v.scale else x.as_integer_ratio()
        q, r = divmod(abs(numerator) * unit, denominator)
        q += 2 * r >= denominator
        rounded.append(q if numerator >= 0 else -q)
    if max(map(abs, rounded), default=0) > _INT_LIMIT:
        return floats(np.array(rounded, dtype=np.float64).reshape(v.shape) / unit, places)
    g = math.gcd(unit, *rounded)
    return Values(np.array([q // g for q in rounded], dtype=np.int64).reshape(v.shape), unit // g, places)


def carried(v: Values, places: int) -> Values:
    """What a student carries forward: exact values that fit in `places` decimals stay as they are."""
    if v.symbolic or (v.exact and (10**places) % v.scale == 0):
        return v
    return round_half_away(v, places)


# ---- writing numbers (LaTeX maths, shared by every output format) ----


@lru_cache(maxsize=65536)
def write_exact(numerator: int, denominator: int, places: int | None = None) -> str:
    f = Fraction(numerator, denominator)
    if f.denominator == 1 and places is None:
        return str(f.numerator)
    d = f.denominator
    twos_fives = d
    for p in (2, 5):
        while twos_fives % p == 0:
            twos_fives //= p
    if twos_fives != 1:  # not a terminating decimal: a fraction
        sign = "-" if f < 0 else ""
        return f"{sign}\\frac{{{abs(f.numerator)}}}{{{d}}}"
    digits = 0
    while (10**digits) % d:
        digits += 1
    if places is not None:
        digits = max(digits, places)
    scaled = abs(f.numerator) * (10**digits) // d
    text = str(scaled).rjust(digits + 1, "0")
    body = text if digits == 0 else f"{text[:-digits]}.{text[-digits:]}"
    return ("-" if f < 0 else "") + body


@lru_cache(maxsize=65536)
def write_float(x: float, places: int) -> str:
    if not math.isfinite(x):
        return "\\infty" if x > 0 else ("-\\infty" if x < 0 else "\\text{NaN}")
    if abs(x) >= 1e7:  # e^20 and beyond: fixed places would be a wall of digits
        mantissa, exponent = f"{x:.{places}e}".split("e")
        return f"{mantissa} \\times 10^{{{int(exponent)}}}"
    text = fixed(x, places)
    if float(text) == 0:
        text = text.lstrip("-")  # never print -0
    return text


def fixed(x: float, places: int) -> str:
    """A finite float to `places` decimals, halves away from zero as everywhere else (Python's own
    formatting rounds an exact tie such as 0.5 to even, which would print σ(0) to 0 places as 0)."""
    return format(Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")


def plain_number(v: Values, x, decimals: int) -> str:
    """A number as a student writes it: exact when it ends, else to `decimals` places."""
    if v.scale > 0:
        text = write_exact(int(x), v.scale, v.places)
        if "frac" not in text:
            return text
        x = int(x) / v.scale
    return write_float(float(x), v.places if v.places is not None else decimals)
