"""Small helpers the templates call by name, registered in the Jinja environment (stepper.writing.documents).

They write words, not maths, and need nothing of a format, so they are plain functions: `points`, `shown` and `more`
are filters (`\\VAR{marks|points}`); `step_kind`, `cell_name` and `size_words` are globals.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from ..core.trace import ConvWindow, Element, PoolWindow, Terms

# Which working a feedback note shows for each kind of step record.
_STEP_KINDS = {ConvWindow: "window", Terms: "terms", PoolWindow: "pool", Element: "element"}


def step_kind(step: Any) -> str:
    """Which working a feedback note shows for a step record: "window", "terms", "pool", "element", or ""."""
    return _STEP_KINDS.get(type(step), "")


def cell_name(index: tuple[int, ...]) -> str:
    """A cell of a stage, counted from 1 as a student counts: Row 1, column 2."""
    if len(index) == 2:
        return f"Row {index[0] + 1}, column {index[1] + 1}"
    return f"Item {index[0] + 1}" if index else "The value"


def size_words(shape: tuple[int, ...], times: str) -> str:
    """How much a stage holds, in words: one number, 2 numbers, a 4x4 map."""
    if not shape or shape == (1,):
        return "one number"
    if len(shape) == 1:
        return f"{shape[0]} numbers"
    return f"a {shape[0]}{times}{shape[1]} map"


def points(value: Fraction | float | str) -> str:
    """Marks as a marker writes them: 3, 2.5, 0.67."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def shown(items: Sequence[Any], most: int) -> list[Any]:
    """The first `most` of a list that a one-page summary cuts (`\\VAR{names|shown(6)}`); `more` says the rest."""
    return list(items[:most])


def more(items: Sequence[Any], most: int) -> str:
    """ ", and 4 more" after the `most` items `shown` gives, or "" when none were left out."""
    return f", and {len(items) - most} more" if len(items) > most else ""
