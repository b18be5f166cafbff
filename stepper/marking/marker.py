"""Mark a student's working against the trace: stage by stage, with follow-through and a diagnosis.

For each stage the student gave, in the order the network runs:

1. compare every cell with the worked solution, within half a unit of the
   last decimal place in force (with rounding carried forward and in full, so
   a student is not penalised for either way of rounding);
2. if it is not right, compare it with what the student's own earlier values
   imply (the same layer run on them): right there is right by follow-through,
   unless those earlier values were degenerate (all zeros, a copy of the
   input, or a wrong shape no known mistake explains);
3. if it is still wrong, name the known mistake (`mistakes.py`) that
   reproduces most of the student's cells (`_diagnose.py`), and for the wrong
   cells left, show the cell's right working and the single slip that explains it;
4. mark it by the problem's scheme.

A cell left blank (`?` or `_`) is neither right nor wrong and earns nothing; what follows takes the student's
values where given and, where blank, what their earlier values give (the worked solution's when they are on
it). A cell is right "rounded early" when it is within half a unit of its own last figure, written to at least
the scheme's `figures` significant figures (3), or is what the layer gives with its exponentials kept to that
many figures or more (`_diagnose.early_values`). A mistake of method named in several stages of one layer costs
its first stage only when the scheme says `repeated = "once"` (the default): the others keep their marks and say
so. A written sum is judged against the window worked on the values the student came into the layer with, when
those are their own, or the worked solution's, whichever fits their terms; with `[marks] sums` it earns its
points: half for the right terms (the method), half for the right total after them.

What one layer hands the next is one record, `Carried`: the student's values,
whether they are their own, why nothing may follow from them, and where they
first went wrong. Each layer takes it with the student's answers and gives its
stages' results and a new `Carried`.

Written sums are checked term by term (`written.py`). Everything here is plain
data for the report templates: no formatting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..core.errors import StepperError
from ..core.evaluate import trace
from ..core.numbers import Values
from ..core.spec import Problem
from ..core.stages import Stage, every_stage, layer_title, stage_points, stages
from ..core.trace import (
    ConvTrace,
    ConvWindow,
    DenseTrace,
    ElementwiseTrace,
    LayerTrace,
    MixTrace,
    PoolTrace,
    Terms,
    Trace,
)
from ._diagnose import Diagnoser, close, early_tolerance, early_values, part, places
from ._results import CellNote, StageResult, assemble, charged, early_cells, filled, missing, with_early, written_values
from .mistakes import record_or_none, run_or_none
from .working import Answer, Working, WrittenSum
from .written import Expected, SumCheck, check_sum, explain_total

if TYPE_CHECKING:
    from .backward import BackwardMarker

# Wrong cells shown with their working, per stage (more would bury the first mistake).
NOTES_PER_STAGE = 3


class SumResult(NamedTuple):
    written: WrittenSum
    title: str  # "Layer 1 (convolution), filter 1, row 1, column 2"
    step: object  # the window, cell or neuron record it is judged against (worked on the student's own values
    # when `follows_from` is set)
    check: SumCheck
    marks: Fraction = Fraction(0)  # what it earns: all its points, the method half, or nothing
    out_of: Fraction = Fraction(0)  # its points ([marks] sums); 0 when written sums carry no marks
    follows_from: int | None = None  # judged against the student's own values from this layer on, not the worked
    # solution's: the values they were working from

    @property
    def terms_right(self) -> bool:
        """Every term is the window's own (or adds 0): the method, whatever the total."""
        return all(t.verdict in ("right", "zero") for t in self.check.terms)

    @property
    def credit(self) -> str:
        """right; method (the right terms, a wrong total: the method marks); total (the right total, but not
        from the right terms: nothing, as accuracy marks follow from the method); or wrong."""
        if self.terms_right:
            return "right" if self.check.correct else "method"
        return "total" if self.check.correct else "wrong"


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


@dataclass(frozen=True, eq=False)
class Carried:
    """What checking one layer hands the next: the student's values, and whether anything may follow from them."""

    values: Values | None  # the student's values coming into the layer; None when their parts do not fit together
    own: bool = False  # the values differ from the worked solution's, so following from them means something
    taint: str = ""  # why nothing follows through for now (a degenerate answer earlier, or the scheme); "" if it may
    source: int | None = None  # the last layer whose values the student got wrong
    named: frozenset[str] = frozenset()  # the mistakes named so far: among equals, one already made is named again
    rounded: bool = False  # docked for rounding too early in an earlier layer: may go on at their own precision


class Implied(NamedTuple):
    """A layer run on the student's own earlier values, as the problem rounds and in full (None: nothing implied)."""

    values: Values | None
    full: Values | None


class Marker:
    """What marking many students' working against one problem shares: its traces and its mistakes."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.settings = settings = problem.settings
        self.trace = trace(problem, settings)
        self.full = trace(problem, replace(settings, rounding="full")) if settings.rounding == "carry" else self.trace
        self.tolerance = 0.5 * 10.0**-settings.decimals + 1e-9
        self.stages = stages(problem)
        self.points = stage_points(problem.marks, every_stage(problem))
        self.diagnoser = Diagnoser(problem, self.trace, self.tolerance)
        self.mistakes = self.diagnoser.mistakes
        self.no_follow = "" if problem.marks.follow_through else "the marking scheme gives no follow-through marks"
        self.backward: BackwardMarker | None = None
        if problem.train is not None:  # the backward pass's stages, judged after the forward pass's
            from .backward import BackwardMarker

            self.backward = BackwardMarker(self)

    @property
    def mistaken(self) -> list[list[Values | None]]:
        """Each mistake's output at every layer (made once, on first need)."""
        return self.diagnoser.mistaken

    def check(self, working: Working) -> Feedback:
        """The working judged stage by stage, in the order the network runs, and its written sums."""
        results: list[StageResult] = []
        carried = Carried(self.problem.input, taint=self.no_follow)
        came: list[Carried] = []  # what came into each layer: the values a written sum there is worked from
        for number, record in enumerate(self.trace.layers, 1):
            came.append(carried)
            layer_results, carried = self._layer(number, record, working, carried)
            results += layer_results
        if self.backward is not None:
            results += self.backward.check(working, came, carried)
        sums = tuple(_judge_sum(self, w, working.source, came[w.layer - 1]) for w in working.sums)
        marks = sum((r.marks for r in results), Fraction(0)) + sum((r.marks for r in sums), Fraction(0))
        out_of = sum((r.out_of for r in results), Fraction(0)) + sum((r.out_of for r in sums), Fraction(0))
        return Feedback(self.problem, self.trace, working, tuple(results), sums, marks, out_of)

    # ---- one layer: what came in, its stages, what goes on ----

    def _layer(
        self, number: int, record: LayerTrace, working: Working, before: Carried
    ) -> tuple[list[StageResult], Carried]:
        """A layer's stages judged from what the layer before carried, and what this one carries to the next."""
        implied = self._implied(number, before)
        results: list[StageResult] = []
        parts: list[Values] = []
        now = before
        first: dict[tuple[str, int], str] = {}  # each mistake of method in this layer, and the stage it was first in
        for s in (s for s in self.stages if s.layer == number):
            r = charged(self._stage(s, record, working.answer(s), implied, now), first, self.problem)
            results.append(r)
            parts.append(_carried(s, r, record, implied.values))
            now = _noted(now, r, number)
        return results, self._carry_on(now, number, record, results, parts)

    def _implied(self, number: int, carried: Carried) -> Implied:
        """What the student's own earlier values give in this layer, when they have values of their own."""
        if not carried.own or carried.values is None:
            return Implied(None, None)
        layer = self.problem.layers[number - 1]
        values = run_or_none(number, layer, carried.values, self.settings)
        if values is None:
            return Implied(None, None)
        return Implied(values, run_or_none(number, layer, carried.values, replace(self.settings, rounding="full")))

    def _carry_on(
        self, now: Carried, number: int, record: LayerTrace, results: list[StageResult], parts: list[Values]
    ) -> Carried:
        """What a layer hands the next: the worked solution's values when every stage was right, or when the
        student gave only right stages from the worked solution's values; else the student's own (their
        answers, and what their values imply for the stages they left out)."""
        now = replace(now, rounded=any(name.startswith("rounded to") for name in now.named))
        if all(r.verdict == "correct" and not r.early for r in results):
            return replace(now, values=record.output, own=False, taint=self.no_follow)
        changed = any(r.answer is not None and (r.verdict != "correct" or r.early) for r in results)
        if changed or now.own:
            values = assemble(parts, [r.stage for r in results])
            return replace(now, values=values, own=True, source=number if changed else now.source)
        return replace(now, values=record.output)

    # ---- one stage ----

    def _stage(
        self, s: Stage, record: LayerTrace, answer: Answer | None, implied: Implied, carried: Carried
    ) -> StageResult:
        """A stage judged: right, following from the student's own earlier values, wrong, or missing. A cell left
        blank is neither right nor wrong, and earns nothing."""
        out_of = self.points[s.key]
        result = missing(s, s.title(self.problem), s.of(record.output), out_of)
        if answer is None:
            return result
        written = written_values(answer)
        cells = written.size
        c = _compare(self, s, written, answer, implied, carried)
        blank = ~c.answered
        result = result._replace(answer=answer, cells=cells, blank=int(blank.sum()))
        right = c.right | c.early_right
        follows = right | c.own | c.early_own
        early = early_cells(follows & ~(c.right | c.own)), c.why
        same = written.shape == s.shape
        if same and (right | blank).all():
            n = int(right.sum())
            return with_early(
                result._replace(verdict="correct", cells_right=n, marks=self._marks(out_of, n, cells)), *early
            )
        if (follows | blank).all() and carried.taint:  # it follows from the student's values, but those earn nothing
            # The cells right in themselves still earn their share.
            wrong = tuple(i for i in _cells_of(written) if not (same and right[i]) and not blank[i])
            right_cells = int(right.sum()) if same else 0
            marks = self._marks(out_of, right_cells, cells) if same else Fraction(0)
            return result._replace(
                verdict="wrong", wrong=wrong, cells_right=right_cells, marks=marks, refused=carried.taint
            )
        if (follows | blank).all():  # `implied` had the student's shape and reproduces every cell given
            n = int(follows.sum())
            done = result._replace(
                verdict="follow-through",
                cells_right=n,
                marks=self._marks(out_of, n, cells),
                follows_from=carried.source,
            )
            return with_early(done, *early)
        # When nothing may follow through, cells that match only the student's own values earn nothing.
        ok = right if carried.taint else follows
        return with_early(self._wrong(result, record, written, ok, implied, carried), *early)

    def _wrong(
        self,
        result: StageResult,
        record: LayerTrace,
        written: np.ndarray,
        ok: np.ndarray,
        implied: Implied,
        carried: Carried,
    ) -> StageResult:
        """A wrong stage: the mistake that explains it, if one does; its right cells; a few wrong cells' working."""
        s, answer, cells = result.stage, result.answer, written.size
        assert answer is not None  # a stage left out is missing, not wrong
        answered = ~np.isnan(written)
        ok = ok & answered
        right = int(ok.sum())
        basis = carried.values if carried.own else None
        diagnosis = self.diagnoser.diagnose(s, written, basis, right, carried.named, answer)
        # A mistake of method explains every cell answered.
        method = diagnosis is not None and diagnosis.matched == int(answered.sum())
        degenerate = "" if method else self.diagnoser.degenerate(written, s, implied.values)
        wrong = tuple(
            tuple(int(i) for i in np.unravel_index(k, written.shape)) for k in np.flatnonzero((~ok & answered).ravel())
        )
        # Right cells earn their share, unless a mistake of method (or a trivial answer) explains the whole stage.
        same = written.shape == s.shape
        marks = Fraction(0) if method or degenerate or not same else self._marks(result.out_of, right, cells)
        notes: tuple[CellNote, ...] = ()
        if not method and same:
            notes = tuple(self._note(s, record, answer, i) for i in wrong[:NOTES_PER_STAGE])
        return result._replace(
            verdict="wrong",
            degenerate=degenerate,
            diagnosis=diagnosis,
            wrong=wrong,
            cells_right=right,
            marks=marks,
            notes=notes,
        )

    def _close(self, written: np.ndarray, values: Values | None, tolerance: np.ndarray | None = None) -> np.ndarray:
        return _close(self, written, values, tolerance)

    def _marks(self, out_of: Fraction, right: int, cells: int) -> Fraction:
        if self.problem.marks.per == "stage":
            return out_of if right == cells else Fraction(0)
        return out_of * right / cells

    def _note(self, s: Stage, record: LayerTrace, answer: Answer, index: tuple[int, ...]) -> CellNote:
        """A wrong cell with its right working, and the single slip that explains it when its layer adds terms."""
        written = answer.written[int(np.ravel_multi_index(index, answer.values.shape))] if index else answer.written[0]
        value = float(answer.values.floats()[index])
        step, expected = _step(record, s.index + index)
        slip, term = "", None
        if expected:  # a weighted sum: its total is the cell's right value before rounding
            slip, term = explain_total(expected, value, float(step.total.floats()), self.tolerance)
        return CellNote(index, written, record, step, slip, term)

    # ---- written sums ----


def _compare(m: Marker, s: Stage, written: np.ndarray, answer: Answer, implied: Implied, carried: Carried) -> Compared:
    """Each written cell against the worked solution's values and what the student's own earlier values give:
    within the problem's tolerance, or within what early rounding allows."""
    full = s.of(m.full.layers[s.layer - 1].output)
    right = _close(m, written, s.of(m.trace.layers[s.layer - 1].output)) | _close(m, written, full)
    nothing = np.zeros(written.shape, dtype=bool)
    own = nothing
    if implied.values is not None:
        tolerance = _own_precision(answer, m.tolerance) if carried.rounded else None
        own = _close(m, written, part(s, implied.values), tolerance) | _close(m, written, part(s, implied.full))
    figures = m.problem.marks.figures
    spread = early_tolerance(answer, figures, m.settings.decimals, m.tolerance)
    before = m.trace.layers[s.layer - 2].output if s.layer > 1 else m.problem.input
    early_right, why = _early(m, s, written, full, before, spread)
    early_own, why_own = nothing, ""
    if implied.values is not None and carried.values is not None:
        early_own, why_own = _early(m, s, written, part(s, implied.full), carried.values, spread)
    return Compared(right, own, early_right & ~right, early_own & ~own, ~np.isnan(written), why or why_own)


def _early(
    m: Marker, s: Stage, written: np.ndarray, centre: Values | None, before: Values, spread: np.ndarray
) -> tuple[np.ndarray, str]:
    """Which cells are `centre` (a stage's values in full) as rounded early: within `spread` of it, or of what
    the layer gives from `before` (its input) with exponentials kept to the scheme's significant figures,
    and how early rounding explains them."""
    nothing = np.zeros(written.shape, dtype=bool)
    if centre is None or centre.shape != written.shape or centre.symbolic:
        return nothing, ""
    with np.errstate(invalid="ignore"):
        plain = np.abs(written - centre.floats()) <= spread  # written to significant figures
        kept = nothing.copy()
        figures = m.problem.marks.figures
        if not before.symbolic:
            for values in early_values(m.problem.layers[s.layer - 1].kind, before.floats(), figures):
                cells = part_of(s, values)
                if cells is not None and cells.shape == written.shape:
                    kept |= np.abs(written - cells) <= spread
        early = (plain | kept) & ~(np.abs(written - centre.floats()) <= m.tolerance)
    if not early.any():
        return early, ""
    if (early & ~plain).any():
        return early, f"the exponentials kept to {figures} or more significant figures"
    return early, f"written to {figures} or more significant figures"


def _judge_sum(m: Marker, w: WrittenSum, source: str, came: Carried) -> SumResult:
    """A written sum judged against the window as the worked solution has it, and, when the student came into
    the layer with values of their own, as those values give it: the one that fits the student's working."""
    index, where = _SUM_CELLS.get(type(m.trace.layers[w.layer - 1]), _map_cell)(w)
    title = f"{layer_title(m.problem, w.layer)}, {where}"
    options: list[tuple[Any, int | None]] = [(m.trace.layers[w.layer - 1], None)]
    if came.own and came.values is not None and not came.taint:
        own = record_or_none(w.layer, m.problem.layers[w.layer - 1], came.values, m.settings)
        if own is not None:
            options.insert(0, (own, came.source))  # preferred among equals: the values they were working from
    judged = []
    for record, follows in options:
        step, expected = _step(record, index)
        try:
            checked = check_sum(w.text, w.place, expected, step.total, m.tolerance)
        except StepperError as e:
            raise e.located(file=source) from None
        out_of = m.problem.marks.sum_points(w.layer)
        judged.append(SumResult(w, title, step, checked, Fraction(0), out_of, follows))
    best = max(judged, key=lambda r: (r.credit == "right", r.terms_right, r.check.correct, _terms_right(r)))
    return best._replace(marks=_sum_marks(best))


def _close(m: Marker, written: np.ndarray, values: Values | None, tolerance: np.ndarray | None = None) -> np.ndarray:
    return close(written, values, m.tolerance if tolerance is None else tolerance)


def _terms_right(r: SumResult) -> int:
    return sum(1 for t in r.check.terms if t.verdict in ("right", "zero"))


def _sum_marks(r: SumResult) -> Fraction:
    """A written sum's points: half for the method (every term the window's own), half for accuracy (the right
    total, after the right terms): a slip in the addition keeps the method half."""
    return {"right": r.out_of, "method": r.out_of / 2}.get(r.credit, Fraction(0))


def check_working(problem: Problem, working: Working, marker: Marker | None = None) -> Feedback:
    marker = marker or Marker(problem)
    return marker.check(working)


def _noted(carried: Carried, r: StageResult, number: int) -> Carried:
    """What is carried past one stage: the mistake it was diagnosed with, and why nothing follows from it."""
    named = carried.named | {r.diagnosis.name} if r.diagnosis is not None else carried.named
    taint = carried.taint
    if r.degenerate and not taint:
        taint = f"your layer {number} values are not an answer to follow from ({r.degenerate})"
    return replace(carried, named=named, taint=taint)


# ---- one cell's working, by the kind of layer record ----


def _conv_window(record: ConvTrace, index: tuple[int, ...]) -> tuple[ConvWindow, list[Expected]]:
    w = record.window(*index)
    c, kh, kw = w.kernel.shape
    expected = []
    for k in range(c * kh * kw):
        at = np.unravel_index(k, (c, kh, kw))
        expected.append(Expected(k, _where(k, c, kh, kw), w.inputs[at], w.kernel[at], w.products[at]))
    return w, _with_bias(expected, w.bias)


def _terms(t: Terms, what: str) -> tuple[Terms, list[Expected]]:
    """A neuron or a 1×1 filter's cell: inputs (or channels) times weights, weight first."""
    n = t.factors.shape[0]
    expected = [Expected(k, f"{what} {k + 1}", t.factors[k], t.weights[k], t.products[k], True) for k in range(n)]
    return t, _with_bias(expected, t.bias)


def _with_bias(expected: list[Expected], bias: Values | None) -> list[Expected]:
    return expected + [Expected(-1, "the bias", None, None, bias)] if bias is not None else expected


# The record of one output cell's working, and its terms when it is a weighted sum. Each entry takes its own
# kind of record; a record not here (softmax, flatten, transposed convolution) shows no cell's working.
_STEPS: dict[type, Callable[[Any, tuple[int, ...]], tuple[Any, list[Expected]]]] = {
    ConvTrace: _conv_window,
    MixTrace: lambda record, index: _terms(record.cell(*index[1:]), "channel"),
    DenseTrace: lambda record, index: _terms(record.neuron(index[0]), "input"),
    PoolTrace: lambda record, index: (record.window(*index), []),
    ElementwiseTrace: lambda record, index: (record.element(index), []),
}


def _step(record: LayerTrace, index: tuple[int, ...]) -> tuple[Any, list[Expected]]:
    """The record of one output cell's working, and its terms when it is a weighted sum."""
    step = _STEPS.get(type(record))
    return step(record, index) if step else (None, [])


def _map_cell(w: WrittenSum) -> tuple[tuple[int, ...], str]:
    """A cell of a 1×1 filter's one map."""
    return (0, w.row, w.col), f"row {w.row + 1}, column {w.col + 1}"


# Which output cell a written sum is for, and how a report names it, by the layer's record (a working file may
# write sums only for a convolution, a 1×1 filter or a dense layer).
_SUM_CELLS: dict[type, Callable[[WrittenSum], tuple[tuple[int, ...], str]]] = {
    ConvTrace: lambda w: ((w.map, w.row, w.col), f"filter {w.map + 1}, row {w.row + 1}, column {w.col + 1}"),
    MixTrace: _map_cell,
    DenseTrace: lambda w: ((w.row,), f"neuron {w.row + 1}"),
}


def _where(k: int, c: int, kh: int, kw: int) -> str:
    ch, rest = divmod(k, kh * kw)
    i, j = divmod(rest, kw)
    return (f"channel {ch + 1}, " if c > 1 else "") + f"row {i + 1}, column {j + 1} of the window"


def _carried(s: Stage, r: StageResult, record: LayerTrace, implied: Values | None) -> Values:
    """What the student carries out of a stage: their own values where given, else what their earlier values
    imply (the worked solution's, when they are on it): a cell left blank is filled the same way."""
    return filled(r, s.of(implied) if implied is not None else s.of(record.output))


class Compared(NamedTuple):
    """Each written cell of a stage against what it could stand for."""

    right: np.ndarray  # within the problem's tolerance of the worked solution's values
    own: np.ndarray  # within it of what the student's own earlier values give
    early_right: np.ndarray  # only within what early rounding allows, of the worked solution's values
    early_own: np.ndarray  # ... of what the student's own earlier values give
    answered: np.ndarray  # not left blank
    why: str  # how early rounding explains the cells it accepts


def part_of(s: Stage, cells: np.ndarray) -> np.ndarray | None:
    """A stage's part of a layer's output as a plain array (None when it does not have the stage's layout)."""
    if cells.ndim != len(s.index) + len(s.shape) or (s.index and s.index[0] >= cells.shape[0]):
        return None
    return cells[s.index] if s.index else cells


def _own_precision(answer: Answer, tolerance: float) -> np.ndarray:
    """Half a unit in the last place each cell was written to (never less than the usual tolerance)."""
    written = np.array([places(t) for t in answer.written], dtype=float).reshape(answer.values.shape)
    return np.maximum(0.5 * 10.0**-written + 1e-9, tolerance)


def _cells_of(written: np.ndarray) -> list[tuple[int, ...]]:
    return [tuple(int(i) for i in idx) for idx in np.ndindex(*written.shape)]
