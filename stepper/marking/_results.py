"""The record of one stage judged (`StageResult`, with its wrong cells' notes, `CellNote`), and what the forward
checker (`marker`) and the backward one (`backward`) share in making it: a stage left out, the written values as
floats, a layer's parts put together, the values a student carries on, a mistake charged once. Plain data.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import numpy as np

from ..core.numbers import Values, from_numbers
from ..core.spec import Problem
from ..core.stages import Stage, layer_title
from ._diagnose import Diagnosis
from .working import Answer
from .written import Expected


class CellNote(NamedTuple):
    """A wrong cell, with its right working and the slip that explains it, if one does."""

    index: tuple[int, ...]  # type: ignore[assignment]  # the cell within the stage's part; templates read n.index
    written: str
    record: object  # the layer's trace record
    step: object  # the window, neuron, cell or element record whose working is shown
    slip: str  # missing, sign, bias (see written.explain_total), or ""
    term: Expected | None


class StageResult(NamedTuple):
    stage: Stage
    title: str
    answer: Answer | None
    right: Values  # the worked solution's values for the stage
    verdict: str  # correct, follow-through, wrong, missing
    degenerate: str  # why a wrong answer earns no follow-through after it ("" if it may)
    diagnosis: Diagnosis | None
    wrong: tuple[tuple[int, ...], ...]  # the cells neither right nor following from earlier values
    cells_right: int
    cells: int
    marks: Fraction
    out_of: Fraction
    notes: tuple[CellNote, ...]
    follows_from: int | None  # for follow-through: the layer whose (student's) values it follows from
    refused: str = ""  # why values that follow from the student's own earlier ones earn nothing ("" if they do)
    blank: int = 0  # cells left blank: unanswered, never wrong, earning nothing
    early: tuple[tuple[int, ...], ...] = ()  # cells right only as rounded early (within what early rounding allows)
    early_why: str = ""  # how early rounding explains them: "the exponentials kept to 3 significant figures"
    charged: str = ""  # a repeated mistake charged once: "the same mistake as channel 1: charged once"
    follows_what: str = ""  # for follow-through in the backward pass, what it follows from, in words: "your
    # dL/d(output) of layer 6" ("": the student's layer `follows_from` values)


def missing(s: Stage, title: str, right: Values, out_of: Fraction) -> StageResult:
    """A stage left out, which earns nothing: where every stage's result starts."""
    cells = int(np.prod(s.shape))
    return StageResult(s, title, None, right, "missing", "", None, (), 0, cells, Fraction(0), out_of, (), None)


def early_cells(mask: np.ndarray) -> tuple[tuple[int, ...], ...]:
    if mask.ndim == 0:
        return ((),) if mask else ()
    return tuple(tuple(int(i) for i in idx) for idx in zip(*np.nonzero(mask)))


def with_early(r: StageResult, early: tuple[tuple[int, ...], ...], why: str) -> StageResult:
    """A result with the cells it accepted as rounded early, and how early rounding explains them."""
    return r._replace(early=early, early_why=why) if early else r


def written_values(answer: Answer) -> np.ndarray:
    """The written values as floats, NaN where a cell was left blank (NaN is close to nothing)."""
    written = answer.values.floats().astype(float)
    return np.where(answer.answered, written, np.nan)


def assemble(parts: list[Values], layer_stages: list[Stage]) -> Values | None:
    """One layer's output from its stages' parts; None when the parts do not fit together."""
    if len(parts) == 1 and layer_stages[0].index == ():
        return parts[0]
    shapes = {p.shape for p in parts}
    if len(shapes) != 1:
        return None
    try:
        return from_numbers([p.numbers() for p in parts])
    except ValueError:
        return None


def filled(r: StageResult, fill: Values) -> Values:
    """A stage's values as the student carries them on: their answer, its blank cells (or the whole stage, left
    out) filled from `fill`."""
    if r.answer is None:
        return fill
    if not r.answer.blank or fill.shape != r.answer.values.shape or fill.symbolic:
        return r.answer.values
    given = _flat(r.answer.values.numbers())
    other = _flat(fill.numbers())
    merged = [o if b else g for g, o, b in zip(given, other, r.answer.blank)]
    try:
        return from_numbers(merged, fill.shape)
    except ValueError:  # too many digits to share one denominator: as floats
        return from_numbers([float(x) for x in merged], fill.shape)


def _flat(cells) -> list:
    return [x for c in cells for x in _flat(c)] if isinstance(cells, list) else [cells]


def charged(r: StageResult, first: dict[tuple[str, int], str], problem: Problem) -> StageResult:
    """A mistake of method already charged in an earlier stage of this layer (`first` holds each, with the stage
    it was first in) is charged once when the scheme says `repeated = "once"`: this stage keeps its marks, and
    says so."""
    d = r.diagnosis
    if r.verdict != "wrong" or d is None or d.matched != d.cells or r.marks == r.out_of:
        return r
    key = (d.name, d.layer)
    if key not in first:
        first[key] = r.title[len(layer_title(problem, r.stage.layer)) + 2 :] or r.title
        return r
    if problem.marks.repeated != "once":
        return r
    return r._replace(marks=r.out_of, charged=f"the same mistake as {first[key]}: charged once")
