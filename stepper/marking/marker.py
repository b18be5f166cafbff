"""Mark a student's working against the trace: stage by stage, with follow-through and a diagnosis.

For each stage the student gave, in the order the network runs:

1. compare every cell with the worked solution, within half a unit of the
   last decimal place in force (with rounding carried forward and in full, so
   a student is not penalised for either way of rounding);
2. if it is not right, compare it with what the student's own earlier values
   imply (the same layer run on them): right there is right by follow-through,
   unless those earlier values were degenerate (all zeros, a copy of the
   input, or a wrong shape no known mistake explains);
3. if it is still wrong, run the known mistakes (`mistakes.py`) and name the
   one that reproduces most of the student's cells, and for the wrong cells
   left, show the cell's right working and the single slip that explains it;
4. mark it by the problem's scheme.

Written sums are checked term by term (`written.py`). Everything here is plain
data for the report templates: no formatting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from ..core.errors import StepperError
from ..core.evaluate import trace
from ..core.numbers import Values, from_numbers
from ..core.spec import MarkScheme, Problem
from ..core.stages import Stage, layer_title, stages
from ..core.trace import ConvTrace, DenseTrace, ElementwiseTrace, MixTrace, PoolTrace, Trace
from .mistakes import Mistake, catalogue, outputs, run
from .working import Answer, Working, WrittenSum
from .written import Expected, SumCheck, check_sum, explain_total

# Wrong cells shown with their working, per stage (more would bury the first mistake).
NOTES_PER_STAGE = 3


class Diagnosis(NamedTuple):
    name: str  # the mistake, as the report says it
    layer: int  # where it was made
    matched: int  # how many of the student's cells it reproduces
    cells: int
    own: bool  # made in this stage, from the student's own earlier values
    also: tuple[str, ...]  # other mistakes that give the same values


class CellNote(NamedTuple):
    """A wrong cell, with its right working and the slip that explains it, if one does."""

    index: tuple[int, ...]  # the cell within the stage's part
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


class SumResult(NamedTuple):
    written: WrittenSum
    title: str  # "Layer 1 (convolution), filter 1, row 1, column 2"
    step: object  # the window, cell or neuron record
    check: SumCheck


@dataclass(frozen=True, eq=False)
class Feedback:
    problem: Problem
    trace: Trace
    working: Working
    stages: tuple[StageResult, ...]
    sums: tuple[SumResult, ...]
    marks: Fraction
    out_of: Fraction
    empty: bool = False  # the working file held nothing but blank lines and comments

    @property
    def diagnoses(self) -> list[str]:
        return [r.diagnosis.name for r in self.stages if r.diagnosis is not None]


# How a report and the terminal say that a working file held nothing at all, not even a name.
EMPTY = "the working file is empty"


class Marker:
    """What marking many students' working against one problem shares: its traces and its mistakes."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.settings = settings = problem.settings
        self.trace = trace(problem, settings)
        self.full = trace(problem, replace(settings, rounding="full")) if settings.rounding == "carry" else self.trace
        self.tolerance = 0.5 * 10.0**-settings.decimals + 1e-9
        self.stages = stages(problem)
        self.points = _points(problem.marks, self.stages)
        self.mistakes = catalogue(problem, settings)
        self._mistaken: list[list[Values | None]] | None = None

    @property
    def mistaken(self) -> list[list[Values | None]]:
        """Each mistake's output at every layer (made once, on first need)."""
        if self._mistaken is None:
            self._mistaken = [outputs(m.layers, self.problem.input, m.settings) for m in self.mistakes]
        return self._mistaken

    def check(self, working: Working) -> Feedback:
        results: list[StageResult] = []
        basis: Values | None = self.problem.input  # the student's values coming into this layer
        own = False  # whether the basis differs from the worked solution (so following from it means something)
        no_follow = "" if self.problem.marks.follow_through else "the marking scheme gives no follow-through marks"
        taint = no_follow  # why nothing follows through for now: a degenerate answer earlier, or the scheme
        source: int | None = None  # the last layer whose values the student got wrong
        for number, record in enumerate(self.trace.layers, 1):
            layer_stages = [s for s in self.stages if s.layer == number]
            implied = implied_full = None
            if own and basis is not None:
                implied = _try(number, self.problem.layers[number - 1], basis, self.settings)
                implied_full = (
                    _try(number, self.problem.layers[number - 1], basis, replace(self.settings, rounding="full"))
                    if implied is not None
                    else None
                )
            # A student docked once for rounding too early may go on at their own precision.
            rounded = any(r.diagnosis is not None and r.diagnosis.name.startswith("rounded to") for r in results)
            parts, changed = [], False
            for s in layer_stages:
                seen = {x.diagnosis.name for x in results if x.diagnosis is not None}
                r = self._stage(
                    s,
                    record,
                    working.answer(s),
                    implied,
                    implied_full,
                    basis if own else None,
                    source,
                    seen,
                    taint,
                    rounded,
                )
                results.append(r)
                parts.append(_carried(s, r, record, implied))
                changed = changed or (r.answer is not None and r.verdict != "correct")
                if r.degenerate and not taint:
                    taint = f"your layer {number} values are not an answer to follow from ({r.degenerate})"
            if all(r.verdict == "correct" for r in results[-len(layer_stages) :]):
                taint, basis, own = no_follow, record.output, False  # back on the worked solution's values
            elif changed or own:
                basis, own = _assemble(parts, layer_stages), True
                source = number if changed else source
            else:
                basis = record.output
        sums = tuple(self._sum(w, working.source) for w in working.sums)
        marks = sum((r.marks for r in results), Fraction(0))
        out_of = sum((r.out_of for r in results), Fraction(0))
        return Feedback(self.problem, self.trace, working, tuple(results), sums, marks, out_of)

    # ---- one stage ----

    def _stage(
        self,
        s: Stage,
        record,
        answer: Answer | None,
        implied,
        implied_full,
        basis,
        source,
        seen: set[str],
        taint: str = "",
        rounded: bool = False,
    ) -> StageResult:
        right = s.of(record.output)
        out_of = self.points[s.key]
        title = s.title(self.problem)
        if answer is None:
            return StageResult(
                s, title, None, right, "missing", "", None, (), 0, int(np.prod(s.shape)), Fraction(0), out_of, (), None
            )
        written = answer.values.floats()
        cells = written.size
        ok_right = self._close(written, right) | self._close(written, s.of(self.full.layers[s.layer - 1].output))
        ok = ok_right.copy()
        if implied is not None:
            tolerance = _own_precision(answer, self.tolerance) if rounded else None
            ok |= self._close(written, _part(s, implied), tolerance) | self._close(written, _part(s, implied_full))
        if written.shape == s.shape and ok_right.all():
            return StageResult(s, title, answer, right, "correct", "", None, (), cells, cells, out_of, out_of, (), None)
        if ok.all() and taint:  # it follows from the student's values, but those earn nothing to follow from
            same = written.shape == s.shape  # then the cells right in themselves still earn their share
            wrong = tuple(idx for idx in _cells_of(written) if not (same and ok_right[idx]))
            right_cells = int(ok_right.sum()) if same else 0
            marks = self._marks(out_of, right_cells, cells) if same else Fraction(0)
            return StageResult(
                s, title, answer, right, "wrong", "", None, wrong, right_cells, cells, marks, out_of, (), None, taint
            )
        if ok.all():  # `implied` had the student's shape and reproduces every cell: nothing degenerate about it
            return StageResult(
                s, title, answer, right, "follow-through", "", None, (), cells, cells, out_of, out_of, (), source
            )
        if taint:
            ok = ok_right  # no credit for following from values that earn none
        diagnosis = self._diagnose(s, written, basis, int(ok.sum()), seen, answer)
        method = diagnosis is not None and diagnosis.matched == cells  # a mistake of method explains every cell
        degenerate = "" if method else self._degenerate(written, s, implied)
        wrong = tuple(tuple(int(i) for i in np.unravel_index(k, written.shape)) for k in np.flatnonzero(~ok.ravel()))
        # Right cells earn their share, unless a mistake of method (or a trivial answer) explains the whole stage.
        marks = (
            Fraction(0)
            if method or degenerate or written.shape != s.shape
            else self._marks(out_of, int(ok.sum()), cells)
        )
        notes = ()
        if not method and written.shape == s.shape:
            notes = tuple(self._note(s, record, answer, i) for i in wrong[:NOTES_PER_STAGE])
        return StageResult(
            s,
            title,
            answer,
            right,
            "wrong",
            degenerate,
            diagnosis,
            wrong,
            int(ok.sum()),
            cells,
            marks,
            out_of,
            notes,
            None,
        )

    def _close(self, written: np.ndarray, values: Values | None, tolerance=None) -> np.ndarray:
        if values is None or values.shape != written.shape or values.symbolic:
            return np.zeros(written.shape, dtype=bool)
        with np.errstate(invalid="ignore"):
            return np.abs(written - values.floats()) <= (self.tolerance if tolerance is None else tolerance)

    def _marks(self, out_of: Fraction, right: int, cells: int) -> Fraction:
        if self.problem.marks.per == "stage":
            return out_of if right == cells else Fraction(0)
        return out_of * right / cells

    def _degenerate(self, written: np.ndarray, s: Stage, implied: Values | None = None) -> str:
        """Why a wrong answer no mistake explains is too trivial to follow through from, or "" if it is not."""
        if written.shape != s.shape and not self._shape_explained(written.shape, s, implied):
            return (
                f"{_a(_dims(written.shape))} answer where the stage is {_dims(s.shape)}, and no known mistake "
                "gives that shape"
            )
        if written.size > 1 and not written.any():
            return "every value is 0"
        image = self.problem.input.floats()
        if any(written.shape == image[c].shape and np.array_equal(written, image[c]) for c in range(image.shape[0])):
            return "a copy of the input image"
        return ""

    def _shape_explained(self, shape: tuple[int, ...], s: Stage, implied: Values | None) -> bool:
        """Whether a known mistake, or the student's own earlier values, give a stage of this shape."""
        parts = [_part(s, values[s.layer - 1]) for m, values in zip(self.mistakes, self.mistaken) if m.layer <= s.layer]
        return any(p is not None and p.shape == shape for p in parts + [_part(s, implied)])

    def _rounded(self, s: Stage, written: np.ndarray, answer: Answer) -> tuple | None:
        """The stage written to fewer places than the problem asks: a candidate diagnosis, if every cell is
        the worked solution's value rounded to the student's own number of places."""
        places = {_places(t) for t in answer.written}
        d = self.settings.decimals
        if len(places) != 1 or not 0 <= next(iter(places)) < d:
            return None
        p = places.pop()
        truth = s.of(self.trace.layers[s.layer - 1].output).floats()
        if truth.shape != written.shape or np.allclose(truth, np.round(truth, p), atol=self.tolerance):
            return None  # the right values need no more places than the student gave
        matched = int(np.sum(np.abs(written - _round_half_away(truth, p)) <= 0.5 * 10.0**-p * 1e-6 + 1e-9))
        return matched, True, 0, f"rounded to {p} decimal place{'s' * (p != 1)} instead of {d}", s.layer

    def _diagnose(
        self,
        s: Stage,
        written: np.ndarray,
        basis: Values | None,
        right: int,
        seen: set[str],
        answer: Answer | None = None,
    ) -> Diagnosis | None:
        """The known mistake that reproduces most of the stage, if it explains more than the right values
        do and at least half of the cells; among equals, one the student already made in an earlier stage."""
        found = []  # (matched, own, closeness, name, layer)
        truth = s.of(self.trace.layers[s.layer - 1].output)
        for m, values in zip(self.mistakes, self.mistaken):
            if m.layer <= s.layer and values[s.layer - 1] is not None:
                found.append(self._candidate(s, written, values[s.layer - 1], truth, m, False))
        if basis is not None:  # the mistake made here, on the student's own earlier values
            for m in self.mistakes:
                if m.layer == s.layer:
                    values = _try(s.layer, m.layers[s.layer - 1], basis, m.settings)
                    if values is not None:
                        found.append(self._candidate(s, written, values, truth, m, True))
        if written.ndim == 2 and written.shape[0] == written.shape[1] and truth.data.ndim == 2:
            turned = Values(truth.data.T, truth.scale, truth.places)
            if not np.array_equal(turned.data, truth.data):
                found.append(
                    (
                        int(self._close(written, turned).sum()),
                        True,
                        0,
                        "rows and columns swapped: the map written down its columns",
                        s.layer,
                    )
                )
        if answer is not None:
            found.append(self._rounded(s, written, answer))
        found = [f for f in found if f is not None and f[0] > right and 2 * f[0] >= written.size]
        if not found:
            return None
        found.sort(key=lambda f: (-f[0], f[3] not in seen, not f[1], f[2]))
        best = found[0]
        also = tuple(dict.fromkeys(f[3] for f in found[1:] if f[0] == best[0] and f[3] != best[3]))
        return Diagnosis(best[3], best[4], best[0], written.size, best[1], also)

    def _candidate(self, s: Stage, written: np.ndarray, output: Values, truth: Values, m: Mistake, own: bool):
        values = _part(s, output)
        if values is None or values.shape != written.shape:
            return None
        if values.shape == truth.shape and self._close(values.floats(), truth).all():
            return None  # this mistake changes nothing here
        return int(self._close(written, values).sum()), own, s.layer - m.layer, m.name, m.layer

    def _note(self, s: Stage, record, answer: Answer, index: tuple[int, ...]) -> CellNote:
        full = s.index + index
        written = answer.written[int(np.ravel_multi_index(index, answer.values.shape))] if index else answer.written[0]
        value = float(answer.values.floats()[index])
        step, expected = _step(record, full)
        slip, term = "", None
        if expected:
            right = float(record.sums[full].floats()) if record.sums.data.ndim else float(record.sums.floats())
            slip, term = explain_total(expected, value, right, self.tolerance)
        return CellNote(index, written, record, step, slip, term)

    # ---- written sums ----

    def _sum(self, w: WrittenSum, source: str) -> SumResult:
        record = self.trace.layers[w.layer - 1]
        if isinstance(record, DenseTrace):
            step, expected = _step(record, (w.row,))
            where = f"neuron {w.row + 1}"
        else:
            index = (w.map, w.row, w.col) if isinstance(record, ConvTrace) else (0, w.row, w.col)
            step, expected = _step(record, index)
            where = (
                f"filter {w.map + 1}, " if isinstance(record, ConvTrace) else ""
            ) + f"row {w.row + 1}, column {w.col + 1}"
        title = f"{layer_title(self.problem, w.layer)}, {where}"
        try:
            checked = check_sum(w.text, w.place, expected, step.total, self.tolerance)
        except StepperError as e:
            raise e.located(file=source) from None
        return SumResult(w, title, step, checked)


def check_working(problem: Problem, working: Working, marker: Marker | None = None) -> Feedback:
    marker = marker or Marker(problem)
    return marker.check(working)


def _step(record, index: tuple[int, ...]):
    """The record of one output cell's working, and its terms when it is a weighted sum."""
    if isinstance(record, ConvTrace):
        w = record.window(*index)
        c, kh, kw = w.kernel.shape
        expected = [
            Expected(
                k,
                _where(k, c, kh, kw),
                w.inputs[np.unravel_index(k, (c, kh, kw))],
                w.kernel[np.unravel_index(k, (c, kh, kw))],
                w.products[np.unravel_index(k, (c, kh, kw))],
            )
            for k in range(c * kh * kw)
        ]
        if w.bias is not None:
            expected.append(Expected(-1, "the bias", None, None, w.bias))
        return w, expected
    if isinstance(record, (MixTrace, DenseTrace)):
        t = record.cell(*index[1:]) if isinstance(record, MixTrace) else record.neuron(index[0])
        n = t.factors.shape[0]
        what = "channel" if isinstance(record, MixTrace) else "input"
        expected = [Expected(k, f"{what} {k + 1}", t.factors[k], t.weights[k], t.products[k], True) for k in range(n)]
        if t.bias is not None:
            expected.append(Expected(-1, "the bias", None, None, t.bias))
        return t, expected
    if isinstance(record, PoolTrace):
        return record.window(*index), []
    if isinstance(record, ElementwiseTrace):
        return record.element(index), []
    return None, []


def _where(k: int, c: int, kh: int, kw: int) -> str:
    ch, rest = divmod(k, kh * kw)
    i, j = divmod(rest, kw)
    return (f"channel {ch + 1}, " if c > 1 else "") + f"row {i + 1}, column {j + 1} of the window"


def _try(number: int, layer, x: Values, settings) -> Values | None:
    try:
        return run(number, layer, x, settings)
    except Exception:  # noqa: BLE001 - a student's values a layer cannot take simply imply nothing
        return None


def _part(s: Stage, output: Values | None) -> Values | None:
    """A stage's part of an output that may not have the worked solution's shape (but has its layout)."""
    if output is None or output.data.ndim != len(s.index) + len(s.shape):
        return None
    if s.index and s.index[0] >= output.shape[0]:
        return None
    return s.of(output)


def _carried(s: Stage, r: StageResult, record, implied: Values | None) -> Values:
    """What the student carries out of a stage: their own values if given, else what they imply."""
    if r.answer is not None:
        return r.answer.values
    if implied is not None:
        return s.of(implied)
    return s.of(record.output)


def _assemble(parts: list[Values], layer_stages: list[Stage]) -> Values | None:
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


def _points(scheme: MarkScheme, all_stages: tuple[Stage, ...]) -> dict[str, Fraction]:
    given = dict(scheme.points)
    points = {}
    for s in all_stages:
        if s.key in given:
            points[s.key] = Fraction(given[s.key])
        elif f"layer{s.layer}" in given:
            share = sum(1 for t in all_stages if t.layer == s.layer and t.key not in given)
            points[s.key] = Fraction(given[f"layer{s.layer}"]) / share
        else:
            points[s.key] = Fraction(scheme.default)
    return points


def _own_precision(answer: Answer, tolerance: float) -> np.ndarray:
    """Half a unit in the last place each cell was written to (never less than the usual tolerance)."""
    places = np.array([_places(t) for t in answer.written], dtype=float).reshape(answer.values.shape)
    return np.maximum(0.5 * 10.0**-places + 1e-9, tolerance)


def _places(text: str) -> int:
    """Decimal places as written: 0.95 has 2; 3 and 1/2 have none to speak of (0)."""
    digits = text.lstrip("+-")
    return len(digits.split(".", 1)[1]) if "." in digits and "/" not in digits and "e" not in digits.lower() else 0


def _round_half_away(x: np.ndarray, places: int) -> np.ndarray:
    unit = 10.0**places
    return np.sign(x) * np.floor(np.abs(x) * unit + 0.5 + 1e-9) / unit


def _cells_of(written: np.ndarray) -> list[tuple[int, ...]]:
    return [tuple(int(i) for i in idx) for idx in np.ndindex(*written.shape)]


def _a(words: str) -> str:
    """ "a" or "an" before a size as it is read aloud: an 8×8, a 4×4, an 11×2."""
    return ("an " if words[:1] == "8" or words.startswith(("11", "18")) else "a ") + words


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape)) if shape else "single-number"
