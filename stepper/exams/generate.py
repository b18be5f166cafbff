"""Exam variants: draw fair problems from a template, one after another, each with its seed.

Variant n tries the seeds derived from (seed, n, 0), (seed, n, 1), ... until a
candidate meets every constraint, so each variant depends only on the template,
the seed and its number (and, through `distinct`, on the variants before it).
Each of those seeds also carries the layer types dealt to variant n (balanced
over the exam, or fixed for it: see variants.py), so a variant's seed alone
draws its problem again.
A template that cannot be met stops after `tries` candidates with the
constraint that failed most, instead of looping.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..core.errors import StepperError
from ..core.numbers import Values
from ..core.spec import Problem
from ..core.trace import Trace
from .fairness import DESCRIPTIONS, MEASURES, NAMES, Constraints, Difficulty, Verdict, answers, judge, out_of_band
from .fairness import difficulty as difficulty_of
from .fairness import winners as winners_of
from .variants import Template

if TYPE_CHECKING:
    from ..core.gradients import Training

MAX_VARIANTS = 10_000
MANIFEST_FORMAT = "stepper exam manifest 1"


@dataclass(frozen=True)
class Variant:
    number: int  # 1, 2, ...
    id: str  # "001": the number as printed on the sheet, padded to the width of the largest
    seed: int  # the seed its problem was drawn with: the template and this seed give it again
    problem: Problem
    trace: Trace

    @cached_property
    def training(self) -> Training | None:
        """The backward pass of a variant whose template has [train] (its first step is what the keys, sheets
        and quizzes ask for), worked as the trace rounds; None without [train]."""
        if self.problem.train is None:
            return None
        from ..core.backward import training

        return training(self.problem, self.trace.settings, self.trace)  # the forward pass traced once

    @property
    def backward(self) -> list[BackwardAnswer]:
        """The backward stages with their values, in the order they are worked (none without [train]): what the
        keys and the quizzes' feedback list."""
        if self.training is None:
            return []
        from ..core.stages import backward_stages

        return [
            BackwardAnswer(s.title(self.problem), s.key, self.training.value(s)) for s in backward_stages(self.problem)
        ]


class BackwardAnswer(NamedTuple):
    """One backward stage's answer in a key: its name, its working-file name and its values."""

    title: str
    key: str
    values: Values


def variant_seed(seed: int, number: int, attempt: int) -> int:
    """A well-mixed 32-bit seed for one candidate, so nearby numbers do not give similar draws."""
    return int(np.random.SeedSequence([seed, number, attempt]).generate_state(1)[0])


def candidate_seed(template: Template, seed: int, number: int, attempt: int) -> int:
    """Candidate `attempt` of variant `number`: a well-mixed seed, times the template's `deals`, plus the types
    dealt to the variant (0 when none are), so that the seed alone draws the candidate again."""
    return variant_seed(seed, number, attempt) * template.deals + template.deal(seed, number)


def candidates(template: Template, seed: int, number: int) -> Iterator[tuple[int, Verdict]]:
    """Variant `number`'s candidates, judged, in the order they are tried."""
    deal = template.deal(seed, number)
    for attempt in range(template.constraints.tries):
        s = variant_seed(seed, number, attempt) * template.deals + deal
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
    raise unsatisfiable(template, number, rejected, examples, template.deal(seed, number))


def unsatisfiable(
    template: Template, number: int, rejected: Counter, examples: dict[str, str], deal: int = 0
) -> StepperError:
    tries = template.constraints.tries
    name, times = rejected.most_common(1)[0]
    others = ", ".join(f"{n!r} in {c:,}" for n, c in rejected.most_common()[1:3])
    dealt = ", ".join(f"{path} = {kind!r}" for path, kind in template.dealt_values(deal).items())
    return StepperError(
        f"cannot draw variant {number}"
        + (f" (dealt {dealt}: [random] balance = false draws types freely)" if dealt else "")
        + f": none of {tries:,} candidates met every constraint; most often failed: "
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
    difficulty: list[tuple[str, float, float, float]] = field(default_factory=list)  # measure, least, median, most
    outside: dict[str, int] = field(default_factory=dict)  # measure -> candidates outside its [constraints] band
    types: dict[str, dict[str, int]] = field(default_factory=dict)  # drawn type path -> type -> accepted variants


def stress(template: Template, count: int, seed: int) -> Stress:
    """Draw `count` candidates (one per variant number, no redraws) and judge each against every constraint."""
    if not 1 <= count <= 1_000_000:
        raise StepperError(f"expected from 1 to 1,000,000 candidates, found {count}", place="--stress")
    passed: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    kept: list[Verdict] = []
    seen: set[tuple[str, ...]] = set()
    start = time.perf_counter()
    for number in range(1, count + 1):
        verdict = judge(template.draw(candidate_seed(template, seed, number, 0)), template.constraints)
        failures = set(verdict.failures)
        if verdict.trace is not None and template.constraints.distinct and verdict.answer in seen:
            failures.add("distinct")
        passed.update(n for n in NAMES if n not in failures)
        if verdict.difficulty is not None:
            outside.update(out_of_band(verdict.difficulty, template.constraints.difficulty).keys())
        if not failures:
            kept.append(verdict)
            seen.add(verdict.answer)
    seconds = time.perf_counter() - start
    spreads, repeats = _spreads([answers(v.trace) for v in kept if v.trace is not None])
    return Stress(
        count,
        {n: passed[n] for n in NAMES},
        len(kept),
        seconds,
        spreads,
        repeats,
        _winners(kept),
        _difficulty_spread(kept),
        {m: outside[m] for m in MEASURES if outside[m]},
        _types(template, kept),
    )


def _spreads(kept: list[dict[str, list[str]]]) -> tuple[list, list]:
    """Each stage's spread over the accepted variants, and the answers shared by too many of them."""
    spreads, repeats = [], []
    for key in kept[0] if kept else {}:
        values = np.array([float(x) for a in kept for x in a[key]])  # all cells: shapes may differ by variant
        written = Counter(", ".join(a[key]) for a in kept)
        spreads.append((key, float(values.min()), float(values.max()), float(values.std()), len(written)))
        common, times = written.most_common(1)[0]
        if len(kept) >= 10 and times > REPEAT_SHARE * len(kept):
            repeats.append((key, common, times))
    return spreads, repeats


def _winners(kept: list[Verdict]) -> dict[int, int]:
    winners: Counter[int] = Counter()
    for v in kept:
        if v.trace is not None and v.problem.layers and v.problem.layers[-1].kind == "softmax":
            top = winners_of(v.trace.output, v.trace.settings.decimals)
            winners[top[0] + 1 if len(top) == 1 else 0] += 1  # 0: a tie
    return dict(sorted(winners.items()))


def _difficulty_spread(kept: list[Verdict]) -> list[tuple[str, float, float, float]]:
    """Each difficulty measure's least, median and largest over the accepted variants."""
    measured: list[Difficulty] = [
        v.difficulty if v.difficulty is not None else difficulty_of(v.trace) for v in kept if v.trace is not None
    ]
    spread = []
    for measure in MEASURES:
        values = [x for x in (getattr(d, measure) for d in measured) if x is not None]
        if values:
            spread.append((measure, float(min(values)), float(np.median(values)), float(max(values))))
    return spread


def _types(template: Template, kept: list[Verdict]) -> dict[str, dict[str, int]]:
    """How often each drawn layer type came in the accepted variants."""
    found: dict[str, dict[str, int]] = {}
    for choice in template.choices:
        if choice.how == "type" and choice.layer is not None:
            times = Counter(v.problem.layers[choice.layer - 1].kind for v in kept)
            found[choice.path] = {kind: times[kind] for kind in dict.fromkeys(choice.values)}
    return found


LABEL = 70  # the width of a constraint's name and description in the report


def stress_report(result: Stress, constraints: Constraints) -> str:
    """The stress test as a plain-text report."""
    n = result.drawn
    per_variant = f", {1000 * result.seconds / result.accepted:.2f} ms per fair variant" if result.accepted else ""
    lines = [
        f"{n:,} candidates drawn in {result.seconds:.2f} s ({1000 * result.seconds / n:.2f} ms each"
        f"{per_variant}); {result.accepted:,} met every constraint ({100 * result.accepted / n:.1f}%).",
        "",
        f"{'Constraint':<{LABEL}} {'met':>6}  {'rate':>5}",
    ]
    for name in NAMES:
        label = f"{name} ({_describe(name, constraints)})"
        lines.append(
            f"{label:<{LABEL}} "
            + (f"{result.passed[name]:>6,}  {100 * result.passed[name] / n:5.1f}%" if constraints.on(name) else "(off)")
        )
        if name == "difficulty":
            for band in constraints.difficulty:
                if result.outside.get(band.measure):
                    where = f"  outside its band: {band.measure} ({band.text()})"
                    lines.append(f"{where:<{LABEL}} {result.outside[band.measure]:>6,}  rejected")
    if result.accepted:
        lines += _accepted_report(result)
    return "\n".join(lines) + "\n"


def _describe(name: str, constraints: Constraints) -> str:
    """A constraint in words, with its threshold where it has one."""
    saturation = constraints.saturated
    if name == "saturated" and saturation is not None:
        allowed = f", more than {saturation.at_most} a stage" if saturation.at_most else ""
        return f"no sigmoid, tanh or softmax value within {float(saturation.within):g} of 0 or 1{allowed}"
    return DESCRIPTIONS[name]


def _accepted_report(result: Stress) -> list[str]:
    """What the report says of the accepted variants: answers, difficulty, types, winners, repeats."""
    lines = ["", "Answers of the accepted variants  (least .. largest, spread, distinct answers)"]
    for key, low, high, spread, distinct in result.spreads:
        lines.append(f"  {key:<24} {low:>10.4g} .. {high:<10.4g} sd {spread:<8.3g} {distinct:>6,} distinct")
    if result.difficulty:
        lines += ["", f"{'Difficulty of the accepted variants':<58} {'least':>8} {'median':>8} {'largest':>8}"]
        for measure, low, middle, high in result.difficulty:
            label = f"{measure} ({MEASURES[measure]})"
            lines.append(f"  {label:<56} {low:>8.4g} {middle:>8.4g} {high:>8.4g}")
    for path, times in result.types.items():
        if len(times) < 2:
            continue
        shares = ", ".join(f"{kind} in {times[kind]:,}" for kind in times)
        lines += ["", f"Types drawn for {path}: {shares} of {result.accepted:,}"]
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
    lines += [f"  {key}: {answer}  ({times:,} of {result.accepted:,})" for key, answer, times in result.repeats] or [
        "  none"
    ]
    return lines
