"""Exam variants: draw fair problems from a template, one after another, each with its seed.

Variant n tries the seeds derived from (seed, n, 0), (seed, n, 1), ... until a
candidate meets every constraint, so each variant depends only on the template,
the seed and its number (and, through `distinct`, on the variants before it).
A template that cannot be met stops after `tries` candidates with the
constraint that failed most, instead of looping.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import StepperError
from ..core.spec import Problem
from ..core.trace import Trace
from .fairness import DESCRIPTIONS, NAMES, Constraints, Verdict, answers, judge
from .fairness import winners as winners_of
from .variants import Template

MAX_VARIANTS = 10_000
MANIFEST_FORMAT = "stepper exam manifest 1"


@dataclass(frozen=True)
class Variant:
    number: int  # 1, 2, ...
    id: str  # "001": the number as printed on the sheet, padded to the width of the largest
    seed: int  # the seed its problem was drawn with: the template and this seed give it again
    problem: Problem
    trace: Trace


def variant_seed(seed: int, number: int, attempt: int) -> int:
    """A well-mixed 32-bit seed for one candidate, so nearby numbers do not give similar draws."""
    return int(np.random.SeedSequence([seed, number, attempt]).generate_state(1)[0])


def candidates(template: Template, seed: int, number: int) -> Iterator[tuple[int, Verdict]]:
    """Variant `number`'s candidates, judged, in the order they are tried."""
    for attempt in range(template.constraints.tries):
        s = variant_seed(seed, number, attempt)
        yield s, judge(template.draw(s), template.constraints)


# While one variant takes many candidates, the `attempts` callback hears how the search goes, about ten times.
ATTEMPTS_NOTE_FROM = 10_000


def generate(
    template: Template,
    count: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    attempts: Callable[[int, int, int], None] | None = None,
) -> list[Variant]:
    """`count` fair variants, each distinct in its final answer from those before it (unless turned off).
    `progress(number)` after each variant; `attempts(number, tried, tries)` every so many candidates."""
    if not 1 <= count <= MAX_VARIANTS:
        raise StepperError(f"expected from 1 to {MAX_VARIANTS:,} variants, found {count}", place="--variants")
    width = max(3, len(str(count)))
    seen: set[tuple[str, ...]] = set()
    made = []
    for number in range(1, count + 1):
        s, verdict, result = _first_fair(template, seed, number, seen, attempts)
        seen.add(verdict.answer)
        title = f"{template.base.title}: variant {number:0{width}d}"
        problem = replace(verdict.problem, title=title)
        made.append(Variant(number, f"{number:0{width}d}", s, problem, replace(result, problem=problem)))
        if progress:
            progress(number)
    return made


def _first_fair(
    template: Template,
    seed: int,
    number: int,
    seen: set[tuple[str, ...]],
    attempts: Callable[[int, int, int], None] | None,
) -> tuple[int, Verdict, Trace]:
    """Variant `number`'s first candidate that meets every constraint (`seen`: the answers of the variants
    before it): its seed, verdict and trace."""
    rejected: Counter = Counter()
    examples: dict[str, str] = {}
    for tried, (s, verdict) in enumerate(candidates(template, seed, number), 1):
        if attempts and tried % max(ATTEMPTS_NOTE_FROM, template.constraints.tries // 10) == 0:
            attempts(number, tried, template.constraints.tries)
        failures = dict(verdict.failures)
        if not failures and template.constraints.distinct and verdict.answer in seen:
            failures["distinct"] = f"the final answer {', '.join(verdict.answer)} is another variant's"
        if not failures:
            assert verdict.trace is not None, "a candidate that fits is traced"
            return s, verdict, verdict.trace
        rejected.update(failures.keys())
        for name, where in failures.items():
            examples.setdefault(name, where)
    raise unsatisfiable(template, number, rejected, examples)


def unsatisfiable(template: Template, number: int, rejected: Counter, examples: dict[str, str]) -> StepperError:
    tries = template.constraints.tries
    name, times = rejected.most_common(1)[0]
    others = ", ".join(f"{n!r} in {c:,}" for n, c in rejected.most_common()[1:3])
    return StepperError(
        f"cannot draw variant {number}: none of {tries:,} candidates met every constraint; most often failed: "
        f"{name!r} ({DESCRIPTIONS[name]}) in {times:,} of {tries:,}, e.g. {examples[name]}"
        + (f" (also: {others})" if others else "")
        + "; widen [random] or relax [constraints]",
        file=template.source,
        place="[constraints]",
    )


# ---- the stress test: many candidates, and what they say about the template ----

REPEAT_SHARE = 0.1  # an answer shared by more than this share of variants is one a student could guess


@dataclass(frozen=True)
class Stress:
    drawn: int
    passed: dict[str, int]  # constraint -> candidates that met it
    accepted: int  # met every constraint (distinct among the accepted ones counted as in `generate`)
    seconds: float
    spreads: list[tuple[str, float, float, float, int]]  # stage, least, largest, standard deviation, distinct answers
    repeats: list[tuple[str, str, int]]  # stage, the answer, how many accepted variants share it
    winners: dict[int, int]  # for a network ending in softmax: class (from 1; 0 for a tie) -> variants it wins


def stress(template: Template, count: int, seed: int) -> Stress:
    """Draw `count` candidates (one per variant number, no redraws) and judge each against every constraint."""
    if not 1 <= count <= 1_000_000:
        raise StepperError(f"expected from 1 to 1,000,000 candidates, found {count}", place="--stress")
    passed: Counter[str] = Counter()
    winners: Counter[int] = Counter()
    kept: list[dict[str, list[str]]] = []
    seen: set[tuple[str, ...]] = set()
    start = time.perf_counter()
    for number in range(1, count + 1):
        verdict = judge(template.draw(variant_seed(seed, number, 0)), template.constraints)
        failures = set(verdict.failures)
        if verdict.trace is not None and template.constraints.distinct and verdict.answer in seen:
            failures.add("distinct")
        passed.update(n for n in NAMES if n not in failures)
        if not failures:
            assert verdict.trace is not None, "a candidate that fits is traced"
            kept.append(answers(verdict.trace))
            seen.add(verdict.answer)
            if verdict.problem.layers and verdict.problem.layers[-1].kind == "softmax":
                top = winners_of(verdict.trace.output, verdict.trace.settings.decimals)
                winners[top[0] + 1 if len(top) == 1 else 0] += 1  # 0: a tie
    seconds = time.perf_counter() - start
    spreads, repeats = [], []
    for key in kept[0] if kept else {}:
        values = np.array([float(x) for a in kept for x in a[key]])  # all cells: shapes may differ by variant
        written = Counter(", ".join(a[key]) for a in kept)
        spreads.append((key, float(values.min()), float(values.max()), float(values.std()), len(written)))
        common, times = written.most_common(1)[0]
        if len(kept) >= 10 and times > REPEAT_SHARE * len(kept):
            repeats.append((key, common, times))
    return Stress(
        count, {n: passed[n] for n in NAMES}, len(kept), seconds, spreads, repeats, dict(sorted(winners.items()))
    )


def stress_report(result: Stress, constraints: Constraints) -> str:
    """The stress test as a plain-text report."""
    n = result.drawn
    per_variant = f", {1000 * result.seconds / result.accepted:.2f} ms per fair variant" if result.accepted else ""
    lines = [
        f"{n:,} candidates drawn in {result.seconds:.2f} s ({1000 * result.seconds / n:.2f} ms each"
        f"{per_variant}); {result.accepted:,} met every constraint ({100 * result.accepted / n:.1f}%).",
        "",
        f"{'Constraint':<64} {'met':>6}  {'rate':>5}",
    ]
    for name in NAMES:
        off = (
            (name in ("nonzero", "saturated", "no_ties", "distinct") and not getattr(constraints, name))
            or (name == "largest" and constraints.largest is None)
            or (name == "integers" and not constraints.integers)
        )
        label = f"{name} ({DESCRIPTIONS[name]})"
        lines.append(
            f"{label:<64} "
            + ("    (off)" if off else f"{result.passed[name]:>6,}  {100 * result.passed[name] / n:5.1f}%")
        )
    if result.accepted:
        lines += ["", "Answers of the accepted variants  (least .. largest, spread, distinct answers)"]
        for key, low, high, spread, distinct in result.spreads:
            lines.append(f"  {key:<24} {low:>10.4g} .. {high:<10.4g} sd {spread:<8.3g} {distinct:>6,} distinct")
        if result.winners:
            lines += [
                "",
                "Winning class (the largest softmax output): "
                + ", ".join(f"{c or 'a tie'} in {100 * n / result.accepted:.1f}%" for c, n in result.winners.items()),
            ]
        lines += [
            "",
            f"Answers shared by more than {100 * REPEAT_SHARE:.0f}% of the accepted variants "
            "(a pattern a student could guess):",
        ]
        lines += [
            f"  {key}: {answer}  ({times:,} of {result.accepted:,})" for key, answer, times in result.repeats
        ] or ["  none"]
    return "\n".join(lines) + "\n"
