"""A marked class at a glance, as plain data for the class summary's templates (Markdown and a one-page PDF).

Who made which mistake, how many, and at which stages; each stage with how many went wrong there and its mean
mark, the stage where the class went wrong most named; every file skipped and why; each student's mark. Made from
the markers' feedback alone: nothing here judges a working again.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .marker import EMPTY, Feedback

if TYPE_CHECKING:
    from .classroom import Skipped


class MistakeGroup(NamedTuple):
    """One named mistake: the students it explains (each once) and the stages where it was found."""

    name: str
    students: tuple[str, ...]
    stages: tuple[str, ...]  # stage titles, in the order of the network


class StageTally(NamedTuple):
    """One stage across the class: how many answered it wrong or left it out, and its mean mark."""

    key: str
    title: str
    wrong: int
    missing: int
    mean: Fraction
    out_of: Fraction


class StudentMark(NamedTuple):
    student: str
    file: str
    marks: Fraction
    out_of: Fraction
    note: str  # "the working file is empty", or ""


class ClassView(NamedTuple):
    title: str
    students: tuple[StudentMark, ...]
    mean: Fraction | None  # None when no one was marked
    lowest: Fraction | None
    highest: Fraction | None
    out_of: tuple[Fraction, Fraction] | None  # the least and the most a student could earn (the same, mostly)
    mistakes: tuple[MistakeGroup, ...]  # most students first
    stages: tuple[StageTally, ...]  # in the order of the network
    hardest: StageTally | None  # the stage most students got wrong (None when none did)
    skipped: tuple[tuple[str, str], ...]  # (file, why) of each file not marked
    no_pdf: tuple[tuple[str, str], ...]  # (file, why) of each student marked whose PDF report could not be made


def class_view(
    title: str, marked: list[tuple[Path, Feedback]], skipped: Sequence[Skipped], no_pdf: Sequence[Skipped] = ()
) -> ClassView:
    """The class summary's data from the feedback of every student marked."""
    students = tuple(
        StudentMark(fb.working.student, path.name, fb.marks, fb.out_of, EMPTY if fb.empty else "")
        for path, fb in marked
    )
    totals = [s.marks for s in students]
    stages = _stages(marked)
    wrong = [t for t in stages if t.wrong]
    out_of = sorted({s.out_of for s in students})  # written sums or variants may make students' totals differ
    return ClassView(
        title=title,
        students=students,
        mean=Fraction(sum(totals), len(totals)) if totals else None,
        lowest=min(totals) if totals else None,
        highest=max(totals) if totals else None,
        out_of=(out_of[0], out_of[-1]) if out_of else None,
        mistakes=_mistakes(marked),
        stages=stages,
        hardest=max(wrong, key=lambda t: t.wrong) if wrong else None,  # the first of any tie, in network order
        skipped=tuple((s.path.name, s.why) for s in skipped),
        no_pdf=tuple((s.path.name, s.why) for s in no_pdf),
    )


def _mistakes(marked: list[tuple[Path, Feedback]]) -> tuple[MistakeGroup, ...]:
    """Each diagnosis with the students it explains and the stages it was found at, most students first."""
    students: dict[str, dict[Path, str]] = {}  # by the file or row, so that two students of one name count twice
    where: dict[str, dict[str, None]] = {}
    for path, fb in marked:
        for r in fb.stages:
            if r.diagnosis is not None:
                students.setdefault(r.diagnosis.name, {})[path] = fb.working.student
                where.setdefault(r.diagnosis.name, {})[r.title] = None
    groups = [MistakeGroup(name, tuple(students[name].values()), _by_layer(where[name])) for name in students]
    return tuple(sorted(groups, key=lambda g: (-len(g.students), g.name)))


def _by_layer(titles: dict[str, None]) -> tuple[str, ...]:
    """Stage titles gathered by layer: "Layer 1 (convolution): filter 1, filter 2" for its two maps."""
    parts: dict[str, list[str]] = {}
    for title in titles:
        layer, _, part = title.partition(", ")
        parts.setdefault(layer, [])
        if part:
            parts[layer].append(part)
    return tuple(f"{layer}: {', '.join(p)}" if p else layer for layer, p in parts.items())


def _stages(marked: list[tuple[Path, Feedback]]) -> tuple[StageTally, ...]:
    """Each stage of the network across the class, in the order the first feedback lists them."""
    if not marked:
        return ()
    tallies = []
    for n, first in enumerate(marked[0][1].stages):
        results = [fb.stages[n] for _, fb in marked if len(fb.stages) > n and fb.stages[n].stage.key == first.stage.key]
        tallies.append(
            StageTally(
                first.stage.key,
                first.title,
                sum(r.verdict == "wrong" for r in results),
                sum(r.verdict == "missing" for r in results),
                Fraction(sum(r.marks for r in results), len(results)),
                first.out_of,
            )
        )
    return tuple(tallies)
