"""Whether a drawn problem is fair to set: each constraint checked on its trace.

    [constraints]        # every one on by default; `false` turns one off
    nonzero = true       # no stage that is all zeros (the tutorial's second filter is, after ReLU)
    saturated = true     # no sigmoid, tanh or softmax stage whose every value rounds to 0 or 1
    no_ties = true       # no tie for the largest value inside a max-pooling window, or for the winning class
    largest = 99         # every product and sum a student adds is within -99..99
    integers = ["layer1"]  # these layers' (or stages') values are whole numbers
    distinct = true      # no two variants share the final answer
    tries = 1000         # candidates drawn for one variant before the template is called unsatisfiable

`judge` returns every constraint a candidate fails, not just the first, so a
stress test can say how often each one fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from ..core.errors import StepperError, suggestion
from ..core.evaluate import trace
from ..core.load import shown
from ..core.numbers import Values, plain_number
from ..core.spec import Problem
from ..core.stages import stages
from ..core.trace import (
    ConvTrace,
    DenseTrace,
    LayerTrace,
    MixTrace,
    PoolTrace,
    SoftmaxTrace,
    Trace,
    TransposedTrace,
)

# The constraints, in the order reports list them; "fits" (every layer's windows fit) is always on.
NAMES = ("fits", "nonzero", "saturated", "no_ties", "largest", "integers", "distinct")
DESCRIPTIONS = {
    "fits": "every layer fits its input",
    "nonzero": "no stage all zeros",
    "saturated": "no sigmoid, tanh or softmax stage all at 0 or 1",
    "no_ties": "no tie in a max-pooling window or for the winning class",
    "largest": "sums small enough to add by hand",
    "integers": "whole numbers where asked",
    "distinct": "final answer not used by another variant",
}


@dataclass(frozen=True)
class Constraints:
    nonzero: bool = True
    saturated: bool = True  # no sigmoid, tanh or softmax stage whose every value rounds to 0 or +-1
    no_ties: bool = True
    largest: Fraction | None = Fraction(99)  # None: no limit
    integers: tuple[str, ...] = ()  # "layer1" or stage keys such as "layer2.channel1"
    distinct: bool = True
    tries: int = 1000


class Verdict(NamedTuple):
    problem: Problem
    trace: Trace | None  # None when the problem does not fit
    failures: dict[str, str]  # constraint name -> where it fails, in words
    answer: tuple[str, ...]  # the final answer as written: what `distinct` compares


def read_constraints(raw: dict, problem: Problem) -> Constraints:
    """[constraints] as written, checked against the problem's layers and stages."""
    fields: dict[str, Any] = {}  # Constraints' fields, each of its own type
    for name, value in raw.items():
        place = f"[constraints] field {name!r}"
        if name in ("nonzero", "saturated", "no_ties", "distinct"):
            if not isinstance(value, bool):
                raise StepperError(f"expected true or false, found {shown(value)}", place=place)
            fields[name] = value
        elif name == "largest":
            if value is False:
                fields[name] = None
            elif (
                isinstance(value, (int, Decimal))
                and not isinstance(value, bool)
                and (not isinstance(value, Decimal) or value.is_finite())
                and value > 0
            ):
                fields[name] = Fraction(value)
            else:
                raise StepperError(
                    f"expected a number above 0, or false for no limit, found {shown(value)}", place=place
                )
        elif name == "integers":
            known = {s.key for s in stages(problem)} | {f"layer{n}" for n in range(1, len(problem.layers) + 1)}
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise StepperError(
                    f'expected a list of layers or stages, such as ["layer1"], found {shown(value)}', place=place
                )
            unknown = [v for v in value if v not in known]
            if unknown:
                raise StepperError(
                    f"no layer or stage is called {unknown[0]!r}: expected one such as 'layer1' "
                    f"or {stages(problem)[0].key!r}",
                    place=place,
                )
            fields[name] = tuple(value)
        elif name == "tries":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
                raise StepperError(f"expected a whole number from 1 to 1000000, found {shown(value)}", place=place)
            fields[name] = value
        else:
            names = ("nonzero", "saturated", "no_ties", "largest", "integers", "distinct", "tries")
            raise StepperError(
                f"unknown constraint {name!r}: {suggestion(name, names)}expected one of "
                + ", ".join(repr(k) for k in names),
                place=place,
            )
    return Constraints(**fields)


def judge(problem: Problem, constraints: Constraints) -> Verdict:
    """Trace `problem` and name every constraint it fails (all but `distinct`, which needs the other variants)."""
    try:
        problem.shapes()
    except StepperError as e:
        return Verdict(problem, None, {"fits": e.message if not e.place else f"{e.place}: {e.message}"}, ())
    try:
        result = trace(problem)
    except StepperError as e:  # values beyond a float: this draw cannot be worked, another may
        return Verdict(problem, None, {"fits": e.message if not e.place else f"{e.place}: {e.message}"}, ())
    failures = {}
    checks = [
        ("nonzero", constraints.nonzero, _zero_stage),
        ("saturated", constraints.saturated, _saturated),
        ("no_ties", constraints.no_ties, _tie),
        ("largest", constraints.largest is not None, lambda t: _too_large(t, constraints.largest)),
        ("integers", bool(constraints.integers), lambda t: _not_whole(t, constraints.integers)),
    ]
    for name, on, check in checks:
        where = check(result) if on else None
        if where:
            failures[name] = where
    return Verdict(problem, result, failures, final_answer(result))


def answers(result: Trace) -> dict[str, list[str]]:
    """Every stage's values as a student writes them, by stage key (flat, in reading order)."""
    found = {}
    for s in stages(result.problem):
        v = s.of(result.layers[s.layer - 1].output)
        found[s.key] = [plain_number(v, x, result.settings.decimals) for x in v.data.ravel().tolist()]
    return found


def final_answer(result: Trace) -> tuple[str, ...]:
    v = result.output
    return tuple(plain_number(v, x, result.settings.decimals) for x in v.data.ravel().tolist())


def _zero_stage(result: Trace) -> str | None:
    for s in stages(result.problem):
        v = s.of(result.layers[s.layer - 1].output)
        if not v.symbolic and not np.any(v.data):
            return f"{s.key} is all zeros"
    return None


def _saturated(result: Trace) -> str | None:
    """A squashing stage whose every value, as written, is at a limit: the working shows nothing."""
    for s in stages(result.problem):
        if result.problem.layers[s.layer - 1].kind in ("sigmoid", "tanh", "softmax"):
            v = s.of(result.layers[s.layer - 1].output)
            written = [abs(float(plain_number(v, x, result.settings.decimals))) for x in v.data.ravel().tolist()]
            if all(w in (0.0, 1.0) for w in written):
                return f"{s.key} is all 0 or 1 to {result.settings.decimals} places"
    return None


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
