"""Whether a drawn problem is fair to set: each constraint checked on its trace, and how hard it is to work.

    [constraints]        # every one on by default; `false` turns one off
    nonzero = true       # no stage that is all zeros (the tutorial's second filter is, after ReLU); with [train]
                         # the backward pass's stages too, as written
    saturated = 0.01     # no sigmoid, tanh or softmax value within 0.01 of 0 or 1 as written (true: 0.01);
                         # { within = 0.01, at_most = 1 }: at most one such value in a stage
    no_ties = true       # no tie for the largest value inside a max-pooling window, or for the winning class
    largest = 99         # every product and sum a student adds is within -99..99
    integers = ["layer1"]  # these layers' (or stages') values are whole numbers
    difficulty = { products = [40, 60], exponent = 4 }  # each measure of `Difficulty` within its band (off
                         # by default): a number is the most allowed, a pair [least, most] both ends
    distinct = true      # no two variants share the final answer
    tries = 1000         # candidates drawn for one variant before the template is called unsatisfiable

`judge` returns every constraint a candidate fails, not just the first, so a
stress test can say how often each one fails. `difficulty` measures a traced
problem (`Difficulty`): the work it asks for and how awkward its numbers are.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..core.errors import StepperError, suggestion
from ..core.evaluate import trace
from ..core.load import shown
from ..core.numbers import Values, plain_number
from ..core.spec import Problem
from ..core.stages import backward_stages, stages
from ..core.trace import (
    ConvTrace,
    DenseTrace,
    ElementwiseTrace,
    LayerTrace,
    MixTrace,
    PoolTrace,
    SoftmaxTrace,
    Trace,
    TransposedTrace,
)

if TYPE_CHECKING:
    from ..core.gradients import Training

# The constraints, in the order reports list them; "fits" (every layer's windows fit) is always on.
NAMES = ("fits", "nonzero", "saturated", "no_ties", "largest", "integers", "difficulty", "distinct")
DESCRIPTIONS = {
    "fits": "every layer fits its input",
    "nonzero": "no stage all zeros",
    "saturated": "no sigmoid, tanh or softmax value near 0 or 1",
    "no_ties": "no tie in a max-pooling window or for the winning class",
    "largest": "sums small enough to add by hand",
    "integers": "whole numbers where asked",
    "difficulty": "every difficulty measure within its band",
    "distinct": "final answer not used by another variant",
}
SQUASHING = ("sigmoid", "tanh", "softmax")  # the kinds whose values saturate near 0 or 1 (tanh: near -1 or 1)


class Saturation(NamedTuple):
    """`saturated`: a stage may hold at most `at_most` values within `within` of 0 or 1, as written."""

    within: Fraction = Fraction(1, 100)
    at_most: int = 0


class Band(NamedTuple):
    """One measure of `Difficulty` kept within least..most (None: no bound at that end)."""

    measure: str
    least: Fraction | None
    most: Fraction | None

    def holds(self, x: float | None) -> bool:
        return x is None or not (
            (self.least is not None and x < self.least) or (self.most is not None and x > self.most)
        )

    def text(self) -> str:
        if self.least is None:
            return f"at most {_g(self.most)}"
        return f"from {_g(self.least)} to {_g(self.most)}" if self.most is not None else f"at least {_g(self.least)}"


@dataclass(frozen=True)
class Constraints:
    nonzero: bool = True
    saturated: Saturation | None = Saturation()  # None: off
    no_ties: bool = True
    largest: Fraction | None = Fraction(99)  # None: no limit
    integers: tuple[str, ...] = ()  # "layer1" or stage keys such as "layer2.channel1"
    difficulty: tuple[Band, ...] = ()  # none by default
    distinct: bool = True
    tries: int = 1000

    def on(self, name: str) -> bool:
        """Whether the constraint `name` can reject a candidate ("fits" always can)."""
        value = getattr(self, name, True)
        return value is not None and value is not False and value != ()


class Difficulty(NamedTuple):
    """How hard a variant is to work by hand, from its trace: each field is one measure (see MEASURES)."""

    products: int  # the products a student writes and adds (only the nonzero ones when terms = "nonzero")
    magnitude: float  # the largest |value| written: a product, a sum, an exponential, any stage's value
    exponentials: int  # e^x to work out: one per sigmoid value, two per tanh value, one per softmax input
    exponent: float  # the largest |x| of those e^x (a softmax's inputs less their largest, when it shifts)
    saturation: float | None  # the least distance of a sigmoid or softmax value from 0 or 1 (tanh: from -1 or 1)
    ties: int  # max-pooling windows with a tie for the largest, and softmax inputs equal to another


MEASURES = {
    "products": "multiply-adds written",
    "magnitude": "largest value written",
    "exponentials": "exponentials to work out",
    "exponent": "largest |x| of an e^x",
    "saturation": "least distance from 0 or 1",
    "ties": "tied max-pooling windows, equal softmax inputs",
}


class Verdict(NamedTuple):
    problem: Problem
    trace: Trace | None  # None when the problem does not fit
    failures: dict[str, str]  # constraint name -> where it fails, in words
    answer: tuple[str, ...]  # the final answer as written: what `distinct` compares
    difficulty: Difficulty | None = None  # measured when [constraints] difficulty sets a band


def read_constraints(raw: dict, problem: Problem) -> Constraints:
    """[constraints] as written, checked against the problem's layers and stages."""
    fields: dict[str, Any] = {}  # Constraints' fields, each of its own type
    readers = {
        "nonzero": _switch,
        "saturated": _saturation,
        "no_ties": _switch,
        "largest": _largest,
        "integers": lambda value, place: _integers(value, place, problem),
        "difficulty": _bands,
        "distinct": _switch,
        "tries": _tries,
    }
    for name, value in raw.items():
        place = f"[constraints] field {name!r}"
        if name not in readers:
            names = tuple(readers)
            raise StepperError(
                f"unknown constraint {name!r}: {suggestion(name, names)}expected one of "
                + ", ".join(repr(k) for k in names),
                place=place,
            )
        fields[name] = readers[name](value, place)
    return Constraints(**fields)


def _switch(value, place: str) -> bool:
    if not isinstance(value, bool):
        raise StepperError(f"expected true or false, found {shown(value)}", place=place)
    return value


def _positive(value) -> bool:
    return (
        isinstance(value, (int, Decimal))
        and not isinstance(value, bool)
        and (not isinstance(value, Decimal) or value.is_finite())
        and value >= 0
    )


def _largest(value, place: str) -> Fraction | None:
    if value is False:
        return None
    if not _positive(value) or value == 0:
        raise StepperError(f"expected a number above 0, or false for no limit, found {shown(value)}", place=place)
    return Fraction(value)


def _saturation(value, place: str) -> Saturation | None:
    """true (within 0.01, none), false, a distance, or { within = 0.01, at_most = 1 }."""
    if isinstance(value, bool):
        return Saturation() if value else None
    if _positive(value) and value < Fraction(1, 2):
        return Saturation(Fraction(value))
    if isinstance(value, dict) and value and set(value) <= {"within", "at_most"}:
        within, at_most = value.get("within", Decimal("0.01")), value.get("at_most", 0)
        if not _positive(within) or within >= Fraction(1, 2):
            raise StepperError(f"'within': expected a distance from 0 up to 0.5, found {shown(within)}", place=place)
        if isinstance(at_most, bool) or not isinstance(at_most, int) or at_most < 0:
            raise StepperError(f"'at_most': expected a whole number from 0, found {shown(at_most)}", place=place)
        return Saturation(Fraction(within), at_most)
    raise StepperError(
        "expected true, false, a distance from 0 up to 0.5 such as 0.01, or { within = 0.01, at_most = 1 }, "
        f"found {shown(value)}",
        place=place,
    )


def _integers(value, place: str, problem: Problem) -> tuple[str, ...]:
    known = {s.key for s in stages(problem)} | {f"layer{n}" for n in range(1, len(problem.layers) + 1)}
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StepperError(
            f'expected a list of layers or stages, such as ["layer1"], found {shown(value)}', place=place
        )
    unknown = [v for v in value if v not in known]
    if unknown:
        raise StepperError(
            f"no layer or stage is called {unknown[0]!r}: expected one such as 'layer1' or {stages(problem)[0].key!r}",
            place=place,
        )
    return tuple(value)


def _bands(value, place: str) -> tuple[Band, ...]:
    """{ measure = most, measure = [least, most], ... }: a band for each measure named."""
    if not isinstance(value, dict) or not value:
        raise StepperError(
            f"expected a table of measures, such as {{ products = [40, 60], exponent = 4 }}, found {shown(value)}",
            place=place,
        )
    bands = []
    for measure, bound in value.items():
        if measure not in MEASURES:
            raise StepperError(
                f"no difficulty measure is called {measure!r}: {suggestion(measure, tuple(MEASURES))}expected "
                + ", ".join(map(repr, MEASURES)),
                place=place,
            )
        if _positive(bound):
            bands.append(Band(measure, None, Fraction(bound)))
        elif isinstance(bound, list) and len(bound) == 2 and all(map(_positive, bound)) and bound[0] <= bound[1]:
            bands.append(Band(measure, Fraction(bound[0]), Fraction(bound[1])))
        else:
            raise StepperError(
                f"{measure!r}: expected the most allowed (a number from 0), or [least, most], found {shown(bound)}",
                place=place,
            )
    return tuple(bands)


def _tries(value, place: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise StepperError(f"expected a whole number from 1 to 1000000, found {shown(value)}", place=place)
    return value


def judge(problem: Problem, constraints: Constraints) -> Verdict:
    """Trace `problem` and name every constraint it fails (all but `distinct`, which needs the other variants)."""
    try:
        problem.shapes()
    except StepperError as e:
        return Verdict(problem, None, {"fits": e.message if not e.place else f"{e.place}: {e.message}"}, ())
    backward = None
    try:
        result = trace(problem)
        if problem.train is not None:  # its backward pass must be workable too: a loss of log(0) is not
            from ..core.backward import training

            backward = training(problem, result.settings, result)
    except StepperError as e:  # values beyond a float: this draw cannot be worked, another may
        return Verdict(problem, None, {"fits": e.message if not e.place else f"{e.place}: {e.message}"}, ())
    failures = {}
    saturation, bands = constraints.saturated, constraints.difficulty
    checks = [
        ("nonzero", constraints.nonzero, lambda t: _zero_stage(t, backward)),
        ("saturated", saturation is not None, lambda t: _saturated(t, saturation or Saturation())),
        ("no_ties", constraints.no_ties, _tie),
        ("largest", constraints.largest is not None, lambda t: _too_large(t, constraints.largest)),
        ("integers", bool(constraints.integers), lambda t: _not_whole(t, constraints.integers)),
    ]
    for name, on, check in checks:
        where = check(result) if on else None
        if where:
            failures[name] = where
    measured = difficulty(result) if bands else None
    if measured is not None:
        outside = out_of_band(measured, bands)
        if outside:
            failures["difficulty"] = "; ".join(outside.values())
    return Verdict(problem, result, failures, final_answer(result), measured)


def out_of_band(measured: Difficulty, bands: tuple[Band, ...]) -> dict[str, str]:
    """The measures outside their bands, each with a line saying how."""
    found = {}
    for band in bands:
        x = getattr(measured, band.measure)
        if not band.holds(x):
            found[band.measure] = f"{band.measure} is {_g(x)}, outside its band ({band.text()})"
    return found


def answers(result: Trace, backward: Training | None = None) -> dict[str, list[str]]:
    """Every stage's values as a student writes them, by stage key (flat, in reading order); with [train], the
    backward pass's after them (`backward`: its training, worked here when not given)."""
    found = {}
    for s in stages(result.problem):
        v = s.of(result.layers[s.layer - 1].output)
        found[s.key] = [plain_number(v, x, result.settings.decimals) for x in v.data.ravel().tolist()]
    if result.problem.train is not None:
        if backward is None:
            from ..core.backward import training

            backward = training(result.problem, result.settings)
        for s in backward_stages(result.problem):
            v = backward.value(s)
            found[s.key] = [plain_number(v, x, result.settings.decimals) for x in v.data.ravel().tolist()]
    return found


def final_answer(result: Trace) -> tuple[str, ...]:
    v = result.output
    return tuple(plain_number(v, x, result.settings.decimals) for x in v.data.ravel().tolist())


def _zero_stage(result: Trace, backward: Training | None = None) -> str | None:
    """The first stage that is all zeros: forward, or with [train] backward as written (a gradient that rounds to
    0 everywhere, such as a filter's whose every ReLU output is 0, asks nothing of the student)."""
    for s in stages(result.problem):
        v = s.of(result.layers[s.layer - 1].output)
        if not v.symbolic and not np.any(v.data):
            return f"{s.key} is all zeros"
    if backward is not None:
        places = result.settings.decimals
        for s in backward_stages(result.problem):
            v = backward.value(s)
            if all(Decimal(plain_number(v, x, places)) == 0 for x in v.data.ravel().tolist()):
                return f"{s.key} is all zeros" + (f" to {places} decimal places" if np.any(v.data) else "")
    return None


def _saturated(result: Trace, limit: Saturation) -> str | None:
    """A squashing stage with more values near a limit, as written, than allowed: their working shows little."""
    places = result.settings.decimals
    for key, kind, written, distance in squashed(result):
        near = distance <= float(limit.within)
        if np.count_nonzero(near) > limit.at_most:
            values = ", ".join(f"{x:.{places}f}" for x in written[near][:4]) + (", ..." if near.sum() > 4 else "")
            return (
                f"{key} has {np.count_nonzero(near)} of {near.size} values within {_g(limit.within)} of "
                f"{'-1 or 1' if kind == 'tanh' else '0 or 1'} ({values}); at most {limit.at_most} may be"
            )
    return None


def squashed(result: Trace) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """Each sigmoid, tanh or softmax stage: its key, its layer's kind, its values as written (rounded to the
    decimals) and each value's distance from saturation, rounded alike: from 0 or 1, or for tanh from -1 or 1."""
    places, found = result.settings.decimals, []
    for s in stages(result.problem):
        kind = result.problem.layers[s.layer - 1].kind
        v = s.of(result.layers[s.layer - 1].output)
        if kind in SQUASHING and not v.symbolic:
            written = np.round(v.floats().ravel().astype(float), places)
            distance = 1 - np.abs(written) if kind == "tanh" else np.minimum(written, 1 - written)
            found.append((s.key, kind, written, np.round(distance, places)))
    return found


def _tie(result: Trace) -> str | None:
    for record in result.layers:
        if isinstance(record, PoolTrace) and record.layer.kind == "maxpool":
            for c in range(record.sums.shape[0]):
                for w in record.windows(c):
                    cells = w.values.data.ravel()
                    if np.count_nonzero(cells == cells.max()) > 1:
                        return (
                            f"layer{record.number}, channel {c + 1}: the window at row {w.row + 1}, "
                            f"column {w.col + 1} has a tie for the largest"
                        )
    if result.layers and result.problem.layers[-1].kind == "softmax":
        top = winners(result.output, result.settings.decimals)
        if len(top) > 1:
            return f"classes {' and '.join(str(k + 1) for k in top)} tie for the highest probability, as written"
    return None


def winners(v: Values, decimals: int) -> list[int]:
    """The cells holding the largest value as written (rounded as the key writes it): the predicted class,
    or several when they tie."""
    written = [float(plain_number(v, x, decimals)) for x in v.data.ravel().tolist()]
    return [k for k, w in enumerate(written) if w == max(written)]


def _too_large(result: Trace, limit: Fraction | None) -> str | None:
    if limit is None:  # no limit: `largest = false`
        return None
    for record in result.layers:
        for what, v in _added(record):
            if v.symbolic:
                continue
            biggest = float(np.abs(v.floats()).max()) if v.data.size else 0.0
            if biggest > limit:
                return f"layer{record.number}: a {what} reaches {biggest:g} (the limit is {float(limit):g})"
    return None


def _added(record: LayerTrace) -> list[tuple[str, Values]]:
    """The numbers a student adds up in a layer: its products and its sums."""
    if isinstance(record, ConvTrace):
        return [("product", record.products(f)) for f in range(record.sums.shape[0])] + [("sum", record.sums)]
    if isinstance(record, TransposedTrace):
        return [("sum", record.sums)]
    if isinstance(record, MixTrace):
        return [
            ("product", record.cell(i, j).products)
            for i in range(record.sums.shape[1])
            for j in range(record.sums.shape[2])
        ] + [("sum", record.sums)]
    if isinstance(record, DenseTrace):
        return [("product", record.neuron(k).products) for k in range(record.sums.shape[0])] + [("sum", record.sums)]
    if isinstance(record, PoolTrace) and record.layer.kind != "maxpool":
        kh, kw = record.layer.kernel(record.input.shape)  # the window's sum, before it is divided
        return [("window sum", Values(record.sums.floats() * (kh * kw), 0))]
    if isinstance(record, SoftmaxTrace):
        return [("sum of exponentials", record.total)]
    return []


def difficulty(result: Trace) -> Difficulty:
    """How hard the traced problem is to work by hand: each measure of `Difficulty`, from the trace alone."""
    places, nonzero = result.settings.decimals, result.settings.terms == "nonzero"
    products = exponentials = ties = 0
    magnitude = exponent = 0.0
    for record in result.layers:
        written = _added(record) + [("value", record.output)]
        if isinstance(record, SoftmaxTrace):
            written.append(("exponential", record.exps))
        for what, v in written:
            if v.symbolic or not v.data.size:
                continue
            magnitude = max(magnitude, float(np.abs(v.floats()).max()))
            if what == "product":
                products += int(np.count_nonzero(v.data)) if nonzero else int(v.data.size)
        if isinstance(record, TransposedTrace):
            products += _copies(record, nonzero)
        count, largest = _exponentials(record)
        exponentials, exponent = exponentials + count, max(exponent, largest)
        ties += _ties(record, places)
    distances = [d for *_, d in squashed(result) if d.size]
    saturation = min(float(d.min()) for d in distances) if distances else None
    return Difficulty(products, round(magnitude, places), exponentials, round(exponent, places), saturation, ties)


def _copies(record: TransposedTrace, nonzero: bool) -> int:
    """A transposed convolution's products: each input cell times each cell of the filter's grid for its channel."""
    x, w = record.input.data, record.layer.filters.data  # (C, H, W), (F, C, kh, kw)
    if not nonzero:
        return int(x.size * w.shape[0] * w.shape[2] * w.shape[3])
    per_channel = np.count_nonzero(x.reshape(x.shape[0], -1), axis=1)  # (C,)
    return int((np.count_nonzero(w.reshape(w.shape[0], w.shape[1], -1), axis=2) * per_channel).sum())


def _exponentials(record: LayerTrace) -> tuple[int, float]:
    """How many e^x the layer needs, and the largest |x|: sigmoid 1 / (1 + e^-z), tanh (e^z - e^-z) / (e^z + e^-z),
    softmax e^(z - shift)."""
    if isinstance(record, ElementwiseTrace) and record.layer.kind in ("sigmoid", "tanh") and record.input.data.size:
        z = np.abs(record.input.floats())
        return z.size * (2 if record.layer.kind == "tanh" else 1), float(z.max())
    if isinstance(record, SoftmaxTrace) and record.input.data.size:
        z = record.input.floats() - (float(record.shift.floats()) if record.shift is not None else 0.0)
        return z.size, float(np.abs(z).max())
    return 0, 0.0


def _ties(record: LayerTrace, places: int) -> int:
    """Max-pooling windows with a tie for the largest, or softmax inputs (as written) equal to another."""
    if isinstance(record, PoolTrace) and record.layer.kind == "maxpool":
        return sum(
            int(np.count_nonzero(w.values.data == w.values.data.max()) > 1)
            for c in range(record.sums.shape[0])
            for w in record.windows(c)
        )
    if isinstance(record, SoftmaxTrace):
        z = np.round(record.input.floats().ravel(), places)
        return int(z.size - np.unique(z).size)
    return 0


def _g(x: Fraction | float | None) -> str:
    return "none" if x is None else f"{float(x):g}"


def _not_whole(result: Trace, names: tuple[str, ...]) -> str | None:
    for s in stages(result.problem):
        if s.key in names or f"layer{s.layer}" in names:
            v = s.of(result.layers[s.layer - 1].output)
            if v.symbolic:
                continue
            whole = v.data % v.scale == 0 if v.exact else np.equal(np.floor(v.data), v.data)
            if not np.all(whole):
                return f"{s.key} holds a value that is not a whole number"
    return None
