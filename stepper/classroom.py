"""Mark a folder of working files: one report each, a class summary, the most common mistakes.

A working file that cannot be read is reported in one line and skipped; the
rest are marked. The class summary is a CSV (one row per student: marks per
stage, total, diagnoses) and a short Markdown page of the most common mistakes.
"""
from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

from .check import Feedback, Marker
from .errors import StepperError
from .output import CSV_MARK
from .render import escape_md, points
from .spec import Problem
from .working import load_working

# Folders with at least this many files show a progress bar (on a terminal, or when asked).
PROGRESS_FROM = 20


def working_files(folder: Path, problem_path: Path | None = None) -> list[Path]:
    """The folder's TOML files, sorted, without the problem file itself if it sits there."""
    found = sorted(p for p in folder.iterdir() if p.suffix == ".toml" and p.is_file())
    if problem_path is not None:
        found = [p for p in found if p.resolve() != problem_path.resolve()]
    return found


def mark_all(source, paths: list[Path], progress: Callable[[int, int], None] | None = None,
             warn: Callable[[str], None] = print) -> tuple[list[tuple[Path, Feedback]], list[Path]]:
    """Each working file marked against `source` (a Problem, or an exam Manifest whose variant each working
    file names); those that cannot be read are reported through `warn` and skipped."""
    marker = Markers(source)
    marked, skipped = [], []
    for n, path in enumerate(paths, 1):
        try:
            marked.append((path, marker.check(path)))
        except StepperError as e:
            warn(f"stepper: skipped: {e}")
            skipped.append(path)
        if progress:
            progress(n, len(paths))
    return marked, skipped


class Markers:
    """One Marker per problem: the problem itself, or each variant of an exam as working files name them."""

    def __init__(self, source):
        self.source = source
        self._markers: dict[int, Marker] = {}

    def check(self, path: Path) -> Feedback:
        if isinstance(self.source, Problem):
            problem = self.source
        else:
            from .manifest import working_variant
            problem = self.source.problem_for(working_variant(path), str(path))
        marker = self._markers.get(id(problem))
        if marker is None:
            marker = self._markers[id(problem)] = Marker(problem)
        return marker.check(load_working(path, problem))


def summary_csv(problem_stages: Iterable, marked: list[tuple[Path, Feedback]]) -> str:
    """One row per student; spreadsheet formulas in names are defused."""
    keys = [s.key for s in problem_stages]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = CSV_MARK.rstrip(",").split(",") + keys + ["total", "out_of", "diagnoses"]
    writer.writerow(header)
    for path, fb in marked:
        marks = {r.stage.key: points(r.marks) for r in fb.stages}
        writer.writerow([_cell(fb.working.student), _cell(path.name), _cell(fb.working.variant or "")]
                        + [marks[k] for k in keys]
                        + [points(fb.marks), points(fb.out_of), _cell("; ".join(dict.fromkeys(fb.diagnoses)))])
    return out.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet would run a cell starting with = + - @ as a formula: a quote keeps it text."""
    text = " ".join(str(text).split())
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def common_mistakes(marked: list[tuple[Path, Feedback]]) -> list[tuple[str, int]]:
    """Each diagnosis with how many students made it, most common first."""
    counts = Counter(name for _, fb in marked for name in dict.fromkeys(fb.diagnoses))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def summary_md(problem: Problem, marked: list[tuple[Path, Feedback]], skipped: list[Path]) -> str:
    """The class at a glance: marks, and the most common mistakes."""
    lines = [f"# Class summary: {escape_md(problem.title)}", ""]
    if marked:
        totals = [fb.marks for _, fb in marked]
        out_of = marked[0][1].out_of
        mean = sum(totals) / len(totals)
        lines += [f"{len(marked)} working files marked; mean mark {points(mean)} out of {points(out_of)}, "
                  f"lowest {points(min(totals))}, highest {points(max(totals))}.", ""]
    if skipped:
        lines += [f"Skipped (could not be read): {', '.join(escape_md(p.name) for p in skipped)}.", ""]
    lines += ["## Most common mistakes", ""]
    common = common_mistakes(marked)
    if common:
        lines += ["| Mistake | Students |", "|---|---|"] + [f"| {escape_md(name)} | {n} |" for name, n in common]
    else:
        lines.append("No known mistake was found.")
    lines += ["", "## Marks", "", "| Student | File | Mark |", "|---|---|---|"]
    lines += [f"| {escape_md(fb.working.student)} | {escape_md(path.name)} | {points(fb.marks)} / {points(fb.out_of)} |"
              for path, fb in marked]
    return "\n".join(lines) + "\n"


class ProgressBar:
    """`marking  12/30 [########          ]` on one line of stderr, redrawn in place."""

    def __init__(self, stream=None, width: int = 30, label: str = "marking"):
        self.stream = stream or sys.stderr
        self.width = width
        self.label = label

        self.drawn = False  # a bar is on the line, so a message must start a new one

    def interrupt(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        self.drawn = done < total
        filled = self.width * done // total
        self.stream.write(f"\r{self.label} {done:>{len(str(total))}}/{total} [{'#' * filled}{' ' * (self.width - filled)}]")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()
