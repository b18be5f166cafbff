"""Reading the values of a problem file's fields: grids, vectors, pairs, padding and numbers, each error located.

Matrices may be nested arrays or a whitespace grid pasted from a handout:

    input = '''
    3 2 1
    4 5 2
    '''

Numbers may be integers, decimals (kept exact: 0.1 is 1/10) or fractions as strings ("1/2"). Each layer class
reads its own [[layers]] table with these (spec.py); `load.py` reads the rest of the file.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .errors import StepperError, suggestion
from .numbers import TooManyDigits, Values, fraction, from_numbers, sympy_module

# A symbol in a grid: a letter, then letters, digits or _ (w1, a, x_2), perhaps with a minus sign.
SYMBOL = re.compile(r"(-?)([A-Za-z][A-Za-z0-9_]*)")
# Strides, window sizes and padding beyond this are mistakes, not exercises.
MAX_CELLS_PER_AXIS = 10_000
# What a number that is no number is written as, in text: refused where a number is expected,
# rather than read as a symbol called nan (which would be blamed on some later layer).
NON_FINITE = re.compile(r"[+-]?(?:s?nan|inf|infinity|\u221e)", re.IGNORECASE)


def channels(raw, place: str) -> Values:
    """One grid (one channel) or a list of grids (channels first) as a (C, H, W) array."""
    if is_channel_list(raw):
        grids = [grid(g, f"{place}, channel {c}") for c, g in enumerate(raw, 1)]
        for c, g in enumerate(grids[1:], 2):
            if g.shape != grids[0].shape:
                raise StepperError(
                    f"expected {dims(grids[0].shape)} like channel 1, found {dims(g.shape)}",
                    place=f"{place}, channel {c}",
                )
        return _exact([g.numbers() for g in grids], (len(grids),) + grids[0].shape, place)
    g = grid(raw, place)
    return g.reshape(1, *g.shape)


def filters(raw) -> Values:
    """field 'filters': one filter, or a list of them, each a grid or a list of channels, as (F, C, kh, kw)."""
    if not isinstance(raw, list) or not raw or _is_grid_rows(raw):
        raw = [raw]  # a single filter may be written without the outer list
    grids = [channels(f, f"field 'filters', filter {k}") for k, f in enumerate(raw, 1)]
    first = grids[0].shape
    for k, g in enumerate(grids[1:], 2):
        if g.shape != first:
            raise StepperError(
                f"expected every filter to be {dims(first)} like filter 1, found {dims(g.shape)}",
                place=f"field 'filters', filter {k}",
            )
    return _exact([g.numbers() for g in grids], (len(grids),) + first, "field 'filters'")


def _is_grid_text(raw) -> bool:
    """A string holding several numbers is a pasted grid; one number ("1/2") is a single cell."""
    return isinstance(raw, str) and len(raw.split()) > 1


def _is_grid_rows(raw) -> bool:
    """A list of rows of numbers: one grid written as nested arrays."""
    return (
        isinstance(raw, list)
        and bool(raw)
        and isinstance(raw[0], list)
        and not any(isinstance(c, list) or _is_grid_text(c) for c in raw[0])
    )


def is_channel_list(raw) -> bool:
    """A list of grids, one per channel."""
    return (
        isinstance(raw, list)
        and bool(raw)
        and all(_is_grid_text(g) or (isinstance(g, list) and bool(g) and isinstance(g[0], list)) for g in raw)
    )


def grid(raw, place: str) -> Values:
    if isinstance(raw, str):
        rows = [line.replace(",", " ").split() for line in raw.strip().splitlines()]
        rows = [r for r in rows if r]
    elif isinstance(raw, list) and raw and all(isinstance(r, list) for r in raw):
        rows = raw
    else:
        raise StepperError(
            f"expected a grid of numbers (rows on lines, or a list of rows), found {shown(raw)}", place=place
        )
    if not rows:
        raise StepperError("expected a grid of numbers, found an empty one", place=place)
    cells = []
    for r, row in enumerate(rows, 1):
        if len(row) != len(rows[0]):
            raise StepperError(
                f"expected {len(rows[0])} numbers as in row 1, found {len(row)}", place=f"{place}, row {r}"
            )
        cells.append([number(x, f"{place}, row {r}, column {c}") for c, x in enumerate(row, 1)])
    if not cells[0]:
        raise StepperError("expected a grid of numbers, found an empty row", place=f"{place}, row 1")
    return _exact(cells, (len(cells), len(cells[0])), place)


def vector(raw, place: str, length: int | None = None, why: str = "") -> Values:
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    if not isinstance(raw, list) or not raw:
        raise StepperError(f"expected a list of numbers, found {shown(raw)}", place=place)
    if length is not None and len(raw) != length:
        raise StepperError(f"expected {length} numbers ({why}), found {len(raw)}", place=place)
    return _exact([number(x, f"{place}, item {i}") for i, x in enumerate(raw, 1)], (len(raw),), place)


def _exact(cells, shape, place: str) -> Values:
    try:
        return from_numbers(cells, shape)
    except ValueError as e:
        # Grids of more axes are built from grids already checked, so only the cells together can fail there.
        flat = [] if len(shape) > 2 else [c for row in cells for c in row] if len(shape) == 2 else list(cells)
        raise StepperError(str(e), place=place + culprit(flat, shape)) from None


def culprit(flat: list, shape: tuple[int, ...]) -> str:
    """Where the first of the cells (row by row) is that cannot be kept exact even alone; "" when only the
    cells together cannot (their common denominator is too large)."""
    for i, c in enumerate(flat):
        try:
            from_numbers([c], (1,))
        except ValueError:
            return cell_place(i, shape)
    return ""


def cell_place(i: int, shape: tuple[int, ...]) -> str:
    """ ", row 2, column 3" or ", item 4": where the i-th cell (row by row) of a grid or list is."""
    if len(shape) == 2:
        return f", row {i // shape[1] + 1}, column {i % shape[1] + 1}"
    if len(shape) == 1:
        return f", item {i + 1}"
    return ""


def number(raw, place: str) -> Fraction | Any:  # Any: a sympy Symbol, for w1
    if isinstance(raw, bool):
        raise StepperError(f"expected a number, found {shown(raw)}", place=place)
    if isinstance(raw, int):
        return Fraction(raw)
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise StepperError(f"expected a finite number, found {shown(raw)}", place=place)
        return _fraction(raw, place)
    if isinstance(raw, str):
        text = raw.strip().replace("\u2212", "-")  # a minus sign pasted from a typeset handout
        if NON_FINITE.fullmatch(text):
            raise StepperError(f"expected a finite number, found {raw!r}", place=place)
        symbol = SYMBOL.fullmatch(text)
        if symbol:  # w1, a, -b: a symbol, worked symbolically
            value = sympy_module().Symbol(symbol[2])
            return -value if symbol[1] else value
        return _fraction(text, place, raw)
    raise StepperError(f"expected a number, found {shown(raw)}", place=place)


def _fraction(text, place: str, raw=None) -> Fraction:
    try:
        return fraction(text)
    except TooManyDigits as e:
        raise StepperError(str(e), place=place) from None
    except (ValueError, ZeroDivisionError):
        raise StepperError(
            f"expected a number such as 3, -0.5 or 1/2, or a symbol such as w1, found {raw!r}", place=place
        ) from None


def positive_int(raw, place: str, least: int = 1) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not least <= raw <= MAX_CELLS_PER_AXIS:
        raise StepperError(
            f"expected a whole number from {least} to {MAX_CELLS_PER_AXIS}, found {shown(raw)}", place=place
        )
    return raw


def pair(raw, place: str, least: int = 1) -> tuple[int, int]:
    """A size, stride or padding: one number for both axes, or [rows, columns]."""
    if isinstance(raw, list):
        if len(raw) != 2:
            raise StepperError(
                f"expected one number, or two as [rows, columns], found a list of {len(raw)}", place=place
            )
        return positive_int(raw[0], place, least), positive_int(raw[1], place, least)
    value = positive_int(raw, place, least)
    return value, value


def padding(raw, windows_only: bool = False):
    """One number (every side), [rows, columns], [top, bottom, left, right], "valid" or "same"
    (the last two not for pooling: `windows_only`)."""
    place = "field 'padding'"
    if raw in ("valid", "same") and not windows_only:
        return raw
    cells = raw if isinstance(raw, list) else [raw]
    if len(cells) not in (1, 2, 4) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= MAX_CELLS_PER_AXIS for p in cells
    ):
        raise StepperError(
            f"expected a whole number of cells from 0 to {MAX_CELLS_PER_AXIS}, [rows, columns], "
            f"[top, bottom, left, right], 'valid' or 'same', found {shown(raw)}",
            place=place,
        )
    return cells[0] if not isinstance(raw, list) else tuple(cells)


def known_fields(raw: dict, allowed: set[str], where: str) -> None:
    """Every key of `raw` is one of `allowed`; a misspelt one is told the name it is nearest."""
    for key in raw:
        if key not in allowed:
            raise StepperError(
                f"unknown field {key!r} in {where}: {suggestion(key, allowed)}"
                f"expected one of {', '.join(sorted(allowed))}",
                place=f"field {key!r}",
            )


def list_of_tables(data: dict, key: str, what: str, each: str) -> list[dict]:
    """The [[key]] tables of a file (none when absent), where `what` names them in the plural and `each` one of
    them: a single [key] table, written where [[key]] was meant, is named as that slip."""
    found = data.get(key, [])
    if isinstance(found, dict):  # [key] where [[key]] was meant: one table, not a list of them
        raise StepperError(
            f"expected a list of {what}, found one table: write [[{key}]] (two brackets) before each {each}",
            place=f"field {key!r}",
        )
    if not isinstance(found, list) or not all(isinstance(x, dict) for x in found):
        raise StepperError(f"expected [[{key}]] tables", place=f"field {key!r}")
    return found


def dims(shape) -> str:
    return "x".join(map(str, shape[-2:])) if len(shape) >= 2 else f"{shape[0]} numbers"


def shown(x) -> str:
    """A value as the user wrote it in TOML: 'text', true, 1.5, nan, 2024-01-01, a list, a table."""
    if isinstance(x, str):
        return repr(x) if len(x) < 30 else "text"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, Decimal) and not x.is_finite():
        return "nan" if x.is_nan() else ("-inf" if x < 0 else "inf")
    if isinstance(x, int) and abs(x) >= 10**30:  # str() refuses beyond 4,300 digits (a hexadecimal literal)
        return f"a whole number of about {int(abs(x).bit_length() * math.log10(2)) + 1:,} digits"
    if isinstance(x, (int, Decimal)):
        return str(x)
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "a table"
    if hasattr(x, "isoformat"):
        return x.isoformat()
    return type(x).__name__
