"""Mark the backward pass of a problem with [train]: the loss, each layer's gradients and the update, stage by
stage in the order they are worked (core.stages.backward_stages), with follow-through and a diagnosis.

What each stage is compared with:

- the worked solution's values, rounded as carried and in full (core.backward.training, both ways), to half a
  unit in the last of the problem's places, as a forward stage is;
- what the student's own values give, when they differ from the worked solution's: a layer's dL/d(output)
  from the student's dL/d(output) of the layer above, run back through that layer (core.backward.back_step,
  as the forward checker runs a layer on the student's values); its dL/dW and dL/db from the student's
  dL/d(output) of the layer itself; the updated weights from the student's own dL/dW (old - rate x dL/dW);
  the loss and its gradient from the student's own network output yhat. Where the student's forward values into
  a layer were their own, the layer's backward step is also worked on them;
- when still wrong, the known slips of the step (`mistakes.loss_slips`, `top_slips`, `input_slips`,
  `update_slips`), each made on what the student had coming in; the one that reproduces most of the stage is
  named, as in the forward pass.

Marks, blanks, degenerate answers (all zeros, the wrong shape: no follow-through from them), a mistake charged
once per layer and the scheme's `follow_through` are as in `marker.py`, whose records (StageResult, Diagnosis)
these are. Plain data, no formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..core.backward import back_step, loss_of, training
from ..core.gradients import LayerGrad, LossTrace
from ..core.numbers import Values, floats, round_half_away
from ..core.spec import Settings
from ..core.stages import Stage, backward_stages
from ..core.trace import LayerTrace
from ..core.train import Train
from ._diagnose import Diagnosis, close, early_tolerance, shape_words
from ._results import StageResult, assemble, charged, early_cells, filled, missing, with_early, written_values
from .mistakes import input_slips, loss_slips, record_or_none, top_slips, update_slips
from .working import Answer, Working

if TYPE_CHECKING:
    from .marker import Carried, Marker

# What a follow-through follows from, in words, by the group of stages the student's own values were in.
_WHAT = {"grad": "dL/d(output)", "dw": "dL/dW", "db": "dL/db"}


@dataclass(frozen=True)
class Basis:
    """What the student brings to one step of the backward pass: whether their values differ from the worked
    solution's (their own gradient, or their own forward values), and whether anything may follow from them."""

    own: bool = False  # something the step is worked from is the student's own
    values: Values | None = None  # their own dL/d(output) coming into the step (None: the worked solution's)
    taint: str = ""  # why nothing follows through from them ("" if it may)
    source: int | None = None  # the layer whose values they are
    what: str = ""  # those values in words, for the report: "your dL/d(output) of layer 6"


class Expected(NamedTuple):
    """A stage's (or a step's) values as they could stand: the worked solution's (carried and in full), what the
    student's own values give, and each known slip's, by name."""

    right: list[Values]
    own: list[Values]
    slips: list[tuple[str, Values]]


class BackwardMarker:
    """One problem's backward pass, worked both ways, against which every student's backward stages are judged."""

    def __init__(self, marker: Marker):
        problem, settings = marker.problem, marker.settings
        assert problem.train is not None, "a problem with [train]"
        self.marker, self.problem, self.train = marker, problem, problem.train
        self.settings = settings
        self.full_settings = replace(settings, rounding="full")
        self.carry = training(problem, settings)
        self.full = training(problem, self.full_settings) if settings.rounding == "carry" else self.carry
        self.stages = backward_stages(problem)
        self.top = len(problem.layers) - (1 if self.train.combined else 0)  # the layer the first gradient is of
        # Each layer's forward record as the worked solution has it, with the settings its backward step is worked
        # with: carried, and in full when rounding is carried.
        self.records: dict[int, list[tuple[LayerTrace, Settings]]] = {
            n: [(marker.trace.layers[n - 1], settings)]
            + ([(marker.full.layers[n - 1], self.full_settings)] if settings.rounding == "carry" else [])
            for n in range(1, len(problem.layers) + 1)
        }

    def check(self, working: Working, came: list[Carried], out: Carried) -> list[StageResult]:
        """The backward stages of `working`, judged in order; `came` is what the forward check carried into each
        layer (the student's own forward values, where they had them) and `out` what it carried out of the last."""
        return _Walk(self, working, came, out).run()


class _Walk:
    """One working's backward pass, step by step: what each step brings to the next."""

    def __init__(self, m: BackwardMarker, working: Working, came: list[Carried], out: Carried):
        self.m, self.working = m, working
        self.came = [*came, out]  # what the student carried into each layer, and out of the last
        self.results: dict[Stage, StageResult] = {}

    def run(self) -> list[StageResult]:
        m = self.m
        forward = self._forward(len(m.problem.layers) + 1)
        own_loss = self._own_loss(len(m.problem.layers) + 1)
        self._judge_group([m.stages[0]], lambda s: self._loss_expected(own_loss), forward)
        came = forward, self._top_expected(own_loss)
        carried: dict[int, tuple[Basis, dict[Stage, Values]]] = {}  # each layer's dL/dW and dL/db as carried
        for n in range(m.top, 0, -1):
            up = self._gradients(n, came)
            carried[n] = self._parameters(n, up)
            came = self._input(n, up)
        for n in range(1, m.top + 1):
            self._updates(n, *carried[n])
        return [self.results[s] for s in m.stages]

    # ---- the student's forward values, and the loss ----

    def _forward(self, number: int) -> Basis:
        """Whether the student's forward values coming into layer `number` (out of the last, past it) are their
        own, and may be followed."""
        c = self.came[number - 1]
        if not c.own or c.values is None or c.taint:
            return Basis()
        return Basis(own=True, source=c.source, what=f"your layer {c.source} values" if c.source else "")

    def _own_loss(self, number: int) -> LossTrace | None:
        """The loss and its gradient worked from the student's own yhat, when it is their own."""
        if not self._forward(number).own:
            return None
        m, yhat = self.m, self.came[number - 1].values
        last = m.marker.trace.layers[-1]
        try:
            mine = replace(m.marker.trace, run=lambda: (replace(last, output=yhat),))  # type: ignore[arg-type]
            return loss_of(mine, m.train, m.settings)
        except Exception:  # noqa: BLE001 - values no loss can be worked from give nothing to follow
            return None

    def _loss_expected(self, own: LossTrace | None) -> Expected:
        m = self.m
        right = [m.carry.first.loss.value, m.full.first.loss.value]
        n = m.train.target.data.size
        losses = [right[0]] + ([own.value] if own is not None else [])
        slips = [(name, floats(v)) for x in losses for name, v in loss_slips(m.train.loss, float(x.floats()), n)]
        return Expected(right, [own.value] if own is not None else [], slips)

    def _top_expected(self, own: LossTrace | None) -> Expected:
        """The first gradient (dL/dyhat, or yhat - y at the last layer's input for a combined loss), shaped like the
        output of the layer it is of."""
        m = self.m
        shape = m.marker.trace.layers[m.top - 1].output.shape
        right = [m.carry.first.loss.grad.reshape(*shape), m.full.first.loss.grad.reshape(*shape)]
        mine = [own.grad.reshape(*shape)] if own is not None else []
        slips = [(name, floats(v)) for g in right[:1] + mine for name, v in top_slips(m.train.loss, g.floats())]
        return Expected(right, mine, slips)

    # ---- one layer: its gradient, its parameters' gradients, and what it passes down ----

    def _gradients(self, n: int, came: tuple[Basis, Expected]) -> Basis:
        """Layer n's dL/d(output) stages judged; the student's dL/d(output) as it goes on to the layer's step."""
        basis, expected = came
        grads = [s for s in self.m.stages if s.layer == n and s.part.startswith("grad.")]
        results = self._judge_group(grads, lambda s: _parted(s, expected), basis)
        changed = any(r.answer is not None and r.verdict != "correct" for r in results)
        if all(r.verdict == "correct" for r in results) or not (changed or basis.values is not None):
            return Basis(taint=_taint(results, basis))
        right = expected.right[0]
        fill = expected.own[0] if basis.values is not None and expected.own else right
        values = assemble([filled(r, s.of(fill)) for s, r in zip(grads, results)], grads)
        if values is None or values.data.size != right.data.size:
            return Basis(taint=f"your dL/d(output) of layer {n} does not have the layer's shape")
        taint = _taint(results, basis)
        if changed and values.data.size > 1 and not values.floats().any() and right.floats().any():
            taint = taint or f"your dL/d(output) of layer {n} is 0 everywhere, which is not an answer to follow from"
        return Basis(
            True,
            values.reshape(*right.shape),
            taint,
            n if changed else basis.source,
            f"your {_WHAT['grad']} of layer {n}" if changed else basis.what,
        )

    def _records(self, n: int) -> list[tuple[LayerTrace, Settings]]:
        """Layer n's forward record as worked on the student's own values into it, when they are their own
        (carried and in full), then as the worked solution has it."""
        m = self.m
        records = list(m.records[n])
        if self._forward(n).own:
            values = self.came[n - 1].values
            own = record_or_none(n, m.problem.layers[n - 1], values, m.settings) if values is not None else None
            if own is not None:
                records = [(own, m.settings), (own, m.full_settings)] + records
        return records

    def _upstream(self, n: int, up: Basis) -> Values:
        """The student's dL/d(output) of layer n, or the worked solution's where theirs is not their own."""
        if up.values is not None:
            return up.values
        grad = self.m.carry.grad(n)
        assert grad is not None, "every layer up to the top has a backward record"
        return grad.upstream

    def _mine(self, n: int, up: Basis) -> list[LayerGrad]:
        """Layer n's backward step worked on the student's own values (their dL/d(output), their forward values
        into the layer, or both); none when both are the worked solution's."""
        if not (up.values is not None or self._forward(n).own):
            return []
        upstream = self._upstream(n, up)
        return [g for rec, st in self._records(n) if (g := _back(rec, upstream, self.m.train, st)) is not None]

    def _parameters(self, n: int, up: Basis) -> tuple[Basis, dict[Stage, Values]]:
        """Layer n's dL/dW and dL/db judged, and the student's values of them as carried to the update."""
        m = self.m
        stages = [s for s in m.stages if s.layer == n and (s.part.startswith("dw.") or s.part == "db")]
        if not stages:
            return Basis(), {}
        mine = self._mine(n, up)
        basis = _joined(up, self._forward(n))
        expected = {
            s: Expected([m.carry.value(s), m.full.value(s)], [v for g in mine if (v := _param(g, s)) is not None], [])
            for s in stages
        }
        results = self._judge_group(stages, expected.__getitem__, basis)
        carried = {s: filled(r, (expected[s].own or expected[s].right)[0]) for s, r in zip(stages, results)}
        changed = any(r.answer is not None and r.verdict != "correct" for r in results)
        what = f"your {_WHAT['dw' if any(r.stage.part != 'db' for r in results) else 'db']} of layer {n}"
        return Basis(
            True, None, _taint(results, basis), n if changed else basis.source, what if changed else basis.what
        ), carried

    def _input(self, n: int, up: Basis) -> tuple[Basis, Expected]:
        """What layer n passes down, dL/d(its input): the layer below's dL/d(output) as it will be judged."""
        m = self.m
        if n == 1:
            return Basis(), Expected([], [], [])
        below, full_below = m.carry.grad(n - 1), m.full.grad(n - 1)
        assert below is not None and full_below is not None, "every layer below the top has a backward record"
        upstream = self._upstream(n, up)
        # Each slip made on each record (the student's own, the worked solution's), rounded and in full: in full, a
        # value is within the tolerance of the student's however they round a half.
        slips = [
            (name, floats(v))
            for rec, st in self._records(n)
            for name, v in input_slips(rec, upstream, m.train, st)
            if v is not None
        ]
        expected = Expected([below.upstream, full_below.upstream], [g.input for g in self._mine(n, up)], slips)
        return _joined(up, self._forward(n)), expected

    def _updates(self, n: int, basis: Basis, carried: dict[Stage, Values]) -> None:
        """Layer n's updated weights and bias judged, each against old - rate x the student's own gradient."""
        m = self.m
        rate = float(m.train.learning_rate)

        def expected(s: Stage) -> Expected:
            old, grad = _old(m, s), carried.get(_gradient_of(s))
            right = [m.carry.value(s), m.full.value(s)]
            if grad is None or grad.shape != old.shape or grad.symbolic:
                return Expected(right, [], [])
            g, o = grad.floats().astype(np.float64), old.floats().astype(np.float64)
            own = [_kept(o - rate * g, st) for st in (m.settings, m.full_settings)]
            slips = [
                (name, floats(v)) for st in (m.settings, m.full_settings) for name, v in update_slips(o, g, rate, st)
            ]
            return Expected(right, own, slips)

        updates = [s for s in m.stages if s.layer == n and (s.part.startswith("new.") or s.part == "new_bias")]
        self._judge_group(updates, expected, basis)

    # ---- judging ----

    def _judge_group(
        self, group: list[Stage], expected: Callable[[Stage], Expected], basis: Basis
    ) -> list[StageResult]:
        """The stages of one step (a layer's dL/d(output) parts, its dL/dW, its updates), each against what
        `expected` gives for it; a mistake of method repeated in them is charged once, as the scheme says."""
        first: dict[tuple[str, int], str] = {}
        found = []
        for s in group:
            seen = frozenset(r.diagnosis.name for r in self.results.values() if r.diagnosis is not None)
            judged = _judge(self.m.marker, s, self.working.answer(s), expected(s), basis, seen)
            r = charged(judged, first, self.m.problem)
            self.results[s] = r
            found.append(r)
        return found


def _judge(
    marker: Marker, s: Stage, answer: Answer | None, expected: Expected, basis: Basis, seen: frozenset[str]
) -> StageResult:
    """A stage judged: right, following from the student's own values, wrong (with the slip that explains it,
    if one does; among equals one in `seen`, already named), or missing. A cell left blank is neither right nor
    wrong, and earns nothing."""
    out_of = marker.points[s.key]
    result = missing(s, s.title(marker.problem), expected.right[0], out_of)
    if answer is None:
        return result
    written = written_values(answer)
    cells = written.size
    answered = ~np.isnan(written)
    result = result._replace(answer=answer, cells=cells, blank=int((~answered).sum()))
    nothing = np.zeros(written.shape, dtype=bool)
    right = _any_close(written, expected.right, marker.tolerance)
    own = _any_close(written, expected.own, marker.tolerance) if basis.own else None
    right, follows, early = _rounded_early(marker, answer, written, expected, right, own)
    same = written.shape == s.shape
    if same and (right | ~answered).all():
        n = int(right.sum())
        return with_early(
            result._replace(verdict="correct", cells_right=n, marks=marker._marks(out_of, n, cells)), *early
        )
    taint = basis.taint or marker.no_follow
    if (follows | ~answered).all() and taint:  # it follows from the student's values, but those earn nothing
        n = int(right.sum()) if same else 0
        refused = result._replace(
            verdict="wrong",
            wrong=tuple(_cells(written, ~(right if same else nothing) & answered)),
            cells_right=n,
            marks=marker._marks(out_of, n, cells) if same else Fraction(0),
            refused=taint,
        )
        return with_early(refused, *early)
    if (follows | ~answered).all():
        n = int(follows.sum())
        done = result._replace(
            verdict="follow-through",
            cells_right=n,
            marks=marker._marks(out_of, n, cells),
            follows_from=basis.source,
            follows_what=basis.what,
        )
        return with_early(done, *early)
    ok = (right if taint else follows) & answered
    n = int(ok.sum())
    diagnosis = _diagnose(s, written, expected, n, seen, marker.tolerance, basis.own)
    method = diagnosis is not None and diagnosis.matched == int(answered.sum())
    degenerate = "" if method else _degenerate(written, s)
    wrong = result._replace(
        verdict="wrong",
        degenerate=degenerate,
        diagnosis=diagnosis,
        wrong=tuple(_cells(written, ~ok & answered)),
        cells_right=n,
        marks=Fraction(0) if method or degenerate or not same else marker._marks(out_of, n, cells),
    )
    return with_early(wrong, *early)


def _rounded_early(
    marker: Marker, answer: Answer, written: np.ndarray, expected: Expected, right: np.ndarray, own: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, tuple[tuple[tuple[int, ...], ...], str]]:
    """The cells right, and those right or following from the student's own values (`own`: those within the
    tolerance of them, None when nothing follows), counting in those only rounded early, as in the forward pass:
    written to fewer places than asked but to the scheme's significant figures, within half a unit of their own
    last place (0.00213 for 0.0021 to 4 places). Measured from the value worked in full (the last of each list):
    from the carried value a half unit would be allowed twice."""
    figures = marker.problem.marks.figures
    spread = early_tolerance(answer, figures, marker.settings.decimals, marker.tolerance)
    early_right = _any_close(written, expected.right[-1:], spread) & ~right
    if own is None:
        early_own, own = np.zeros(written.shape, dtype=bool), np.zeros(written.shape, dtype=bool)
    else:
        early_own = _any_close(written, expected.own[-1:], spread) & ~own
    cells = early_cells((early_right | early_own) & ~(right | own))
    right = right | early_right
    return right, right | own | early_own, (cells, f"written to {figures} or more significant figures")


def _taint(results: list[StageResult], basis: Basis) -> str:
    """Why nothing may follow from a step's values: a degenerate answer in it, or in what it was worked from
    (unless every stage of it is right)."""
    for r in results:
        if r.degenerate:
            return f"your {r.title[0].lower()}{r.title[1:]} is not an answer to follow from ({r.degenerate})"
    return "" if all(r.verdict == "correct" for r in results) else basis.taint


def _joined(up: Basis, forward: Basis) -> Basis:
    """What a layer's own step is worked from: the student's dL/d(output), when theirs (or tainted), else their
    forward values into the layer."""
    return up if up.own or up.taint else forward


def _back(record: LayerTrace, upstream: Values, train: Train, settings: Settings) -> LayerGrad | None:
    """A layer's backward step on any upstream gradient, or None when the layer cannot take it."""
    try:
        return back_step(record, upstream, train, settings)
    except Exception:  # noqa: BLE001 - values the layer cannot take imply nothing
        return None


def _param(grad: LayerGrad, s: Stage) -> Values | None:
    """A dL/dW or dL/db stage's values in a layer's backward record."""
    v = grad.bias if s.part == "db" else grad.weights
    return None if v is None else _weight_part(v, s)


def _weight_part(v: Values, s: Stage) -> Values:
    """A stage's part of a parameter array (all of it for a bias), in the stage's shape."""
    if s.part in ("db", "new_bias"):
        return v
    return (v[s.index] if s.index else v).reshape(*s.shape)


def _parted(s: Stage, expected: Expected) -> Expected:
    """A dL/d(output) stage's part of what a layer's whole dL/d(output) could be."""
    return Expected(
        [v for v in (_part(s, v) for v in expected.right) if v is not None],
        [v for v in (_part(s, v) for v in expected.own) if v is not None],
        [(name, v) for name, v in ((name, _part(s, v)) for name, v in expected.slips) if v is not None],
    )


def _part(s: Stage, v: Values) -> Values | None:
    """A dL/d(output) stage's part of a layer's dL/d(output), parted as its output (None: not of its layout)."""
    if v.data.ndim != len(s.index) + len(s.shape) or (s.index and s.index[0] >= v.shape[0]):
        return None
    return s.of(v)


def _gradient_of(s: Stage) -> Stage:
    """The dL/dW or dL/db stage an updated weight or bias is worked from."""
    if s.part == "new_bias":
        return s._replace(part="db")
    return s._replace(part="dw." + s.part.partition(".")[2])


def _old(m: BackwardMarker, s: Stage) -> Values:
    """The weights or bias an update stage starts from, in the stage's shape."""
    bias = s.part == "new_bias"
    u = next(u for u in m.carry.first.updates if u.number == s.layer and (u.name == "bias") == bias)
    return _weight_part(u.old, s)


def _kept(data: np.ndarray, settings: Settings) -> Values:
    """Values as the settings carry them: rounded to their places, or in full."""
    v = floats(np.asarray(data, dtype=np.float64))
    return round_half_away(v, settings.decimals) if settings.rounding == "carry" else v


def _any_close(written: np.ndarray, values: Sequence[Values | None], tolerance: float | np.ndarray) -> np.ndarray:
    found = np.zeros(written.shape, dtype=bool)
    for v in values:
        found |= close(written, v, tolerance)
    return found


def _cells(written: np.ndarray, mask: np.ndarray) -> list[tuple[int, ...]]:
    return [tuple(int(i) for i in np.unravel_index(k, written.shape)) for k in np.flatnonzero(mask.ravel())]


def _diagnose(
    s: Stage,
    written: np.ndarray,
    expected: Expected,
    right: int,
    seen: frozenset[str],
    tolerance: float,
    own: bool,
) -> Diagnosis | None:
    """The slip that reproduces most of the stage, if it explains more cells than the right values do and at
    least half of those answered; among equals, one the student already made. A slip that changes nothing
    here is passed over."""
    truth = expected.right[0]
    answered = int(np.count_nonzero(~np.isnan(written)))
    found: dict[str, int] = {}
    for name, values in expected.slips:
        if values is None or values.shape != written.shape:
            continue
        if values.shape == truth.shape and close(values.floats().astype(float), truth, tolerance).all():
            continue  # this slip gives the right values here
        matched = int(close(written, values, tolerance).sum())
        found[name] = max(found.get(name, 0), matched)
    fits = [(matched, name) for name, matched in found.items() if matched > right and 2 * matched >= answered]
    if not fits:
        return None
    fits.sort(key=lambda f: (-f[0], f[1] not in seen))
    matched, name = fits[0]
    also = tuple(other for k, other in fits[1:] if k == matched)
    return Diagnosis(name, s.layer, matched, answered, own, also)


def _degenerate(written: np.ndarray, s: Stage) -> str:
    """Why a wrong answer no slip explains is too trivial to follow from, or ""."""
    if written.shape != s.shape:
        return f"{shape_words(written.shape, s.shape)}, and no known mistake gives that shape"
    given = written[~np.isnan(written)]
    if given.size > 1 and not given.any():
        return "every value is 0"
    return ""
