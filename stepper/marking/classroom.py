"""Mark a folder of working files: one report each, a class summary, the most common mistakes.

A working file that cannot be read is reported in one line and skipped, and so
is a folder entry that looks like one but cannot be marked (a broken link, a
folder named x.toml, win.toml.txt); the rest are marked. The class summary is a CSV (one row per student: marks per
stage, total, diagnoses) and a short Markdown page of the most common mistakes.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TextIO

from ..core.errors import StepperError
from ..core.load import read_text
from ..core.spec import Problem
from ..core.text import plain_text
from ..writing.documents import points
from ..writing.output import CSV_MARK
from .marker import Feedback, Marker
from .working import loads_working

if TYPE_CHECKING:
    from ..core.stages import Stage
    from ..exams.manifest import Manifest
    from .spreadsheet import Row

# Folders with at least this many files show a progress bar (on a terminal, or when asked).
PROGRESS_FROM = 20


class Script(NamedTuple):
    """One student's working to mark: a working file, or a row of a class's spreadsheet."""

    path: Path  # how the summary and the terminal name it: the working file, or `answers.csv, row 14`
    stem: str  # its reports are <stem>-feedback.<format>
    mark: Callable[[Markers], Feedback]  # reads and marks it; a StepperError when it cannot be read


def file_script(path: Path) -> Script:
    """A working file to mark."""
    return Script(path, path.stem, lambda markers: markers.check(path))


class Skipped(NamedTuple):
    """A working file, or a folder entry that looks like one, that was not marked (or not typeset), and why."""

    path: Path
    why: str


def working_files(folder: Path, problem_path: Path | None = None) -> list[Path]:
    """The folder's working files, sorted, without the problem file itself if it sits there."""
    return scan_folder(folder, problem_path)[0]


def scan_folder(folder: Path, problem_path: Path | None = None) -> tuple[list[Path], list[Skipped]]:
    """The folder's working files (*.toml, in any case), sorted, without the problem file itself; and the
    entries that look like working files but cannot be marked (a broken link, a folder named x.toml,
    win.toml.txt), each with why, so that none is passed over in silence."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as e:
        raise StepperError(f"cannot list it: {e.strerror or e}", file=str(folder)) from None
    found, odd = [], []
    for path in entries:
        why = _not_working(path)
        if why is None:
            found.append(path)
        elif why:
            odd.append(Skipped(path, why))
    if problem_path is not None:
        found = [p for p in found if p.resolve() != problem_path.resolve()]
    return found, odd


def _not_working(path: Path) -> str | None:
    """None for a working file; why a look-alike cannot be marked; "" for an unrelated file (notes.txt)."""
    toml = path.suffix.lower() == ".toml"
    try:
        if path.is_symlink() and not path.exists():
            return "a broken link: what it points to is missing"
        if toml and path.is_dir():
            return "a folder, not a working file"
        if toml and not path.is_file():
            return "not a regular file"
    except OSError as e:
        return f"cannot be read: {e.strerror or e}"
    if toml:
        return None
    if re.search(r"\.toml\.[^.]+$", path.name, re.IGNORECASE):
        return f"named like a working file, but ends in {path.suffix}, not .toml: rename it to mark it"
    return ""


def mark_all(
    source: Problem | Manifest,
    paths: Sequence[Path | Script],
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] = print,
) -> tuple[list[tuple[Path, Feedback]], list[Skipped]]:
    """Each working file (or spreadsheet row) marked against `source` (a Problem, or an exam Manifest whose
    variant each names); those that cannot be read are reported through `warn` and skipped."""
    marker = Markers(source)
    scripts = [p if isinstance(p, Script) else file_script(p) for p in paths]
    marked, skipped = [], []
    for n, script in enumerate(scripts, 1):
        try:
            marked.append((script.path, script.mark(marker)))
        except StepperError as e:
            warn(plain_text(f"stepper: skipped: {e}"))
            skipped.append(Skipped(script.path, why(e)))
        if progress:
            progress(n, len(scripts))
    return marked, skipped


def why(error: StepperError) -> str:
    """An error without its file, which the summary names already (and whose folder may be anyone's)."""
    return ": ".join(part for part in (error.place, error.message) if part)


class Markers:
    """One Marker per problem: the problem itself, or each variant of an exam as working files name them."""

    def __init__(self, source: Problem | Manifest):
        self.source = source
        self._markers: dict[int, Marker] = {}

    def check(self, path: Path) -> Feedback:
        if isinstance(self.source, Problem):
            problem = self.source
        else:
            from ..exams.manifest import working_variant

            problem = self.source.problem_for(working_variant(path), str(path))
        text = read_text(path, str(path))
        feedback = self.marker(problem).check(loads_working(text, problem, name=str(path), default_student=path.stem))
        return replace(feedback, empty=True) if is_empty(text) else feedback

    def check_row(self, row: Row, sheet: str) -> Feedback:
        """A spreadsheet's row marked against the problem, or the variant its `variant` column names."""
        from .spreadsheet import sum_column, working_from_row

        problem = self.source
        if not isinstance(problem, Problem):
            place = f"{row.place}, column variant"
            if row.variant is None:
                ids = list(problem.problems)
                raise StepperError(
                    f"no variant given: fill in the variant on the student's question sheet ({ids[0]} to {ids[-1]})",
                    file=sheet,
                    place=place,
                )
            try:
                problem = problem.problem_for(row.variant, sheet)
            except StepperError as e:
                raise StepperError(e.message, file=sheet, place=place) from None
        working = working_from_row(row, problem, sheet)
        try:
            return self.marker(problem).check(working)
        except StepperError as e:  # a written sum that cannot be read: placed at its row and column, as a cell is
            found = re.fullmatch(r"\[\[window\]\] ([0-9]+)", e.place or "")
            if found is None or not 0 < int(found[1]) <= len(working.sums):
                raise
            column = sum_column(working.sums[int(found[1]) - 1], problem)
            message = e.message if len(e.message) <= 200 else e.message[:200] + "..."
            raise StepperError(message, file=sheet, place=f"{row.place}, column {column}") from None

    def marker(self, problem: Problem) -> Marker:
        """The one Marker of this problem (a variant's), made when first needed."""
        marker = self._markers.get(id(problem))
        if marker is None:
            marker = self._markers[id(problem)] = Marker(problem)
        return marker


def is_empty(text: str) -> bool:
    """Nothing but blank lines and comments: a working file saved before anything was typed in."""
    return all(not line.strip() or line.strip().startswith("#") for line in text.splitlines())


def summary_csv(problem_stages: Iterable[Stage], marked: list[tuple[Path, Feedback]]) -> str:
    """One row per student; spreadsheet formulas in names are defused."""
    keys = [s.key for s in problem_stages]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = CSV_MARK.rstrip(",").split(",") + keys + ["total", "out_of", "diagnoses"]
    writer.writerow(header)
    for path, fb in marked:
        marks = {r.stage.key: points(r.marks) for r in fb.stages}
        writer.writerow(
            [_cell(fb.working.student), _cell(path.name), _cell(fb.working.variant or "")]
            + [marks[k] for k in keys]
            + [points(fb.marks), points(fb.out_of), _cell("; ".join(dict.fromkeys(fb.diagnoses)))]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet would run a cell starting with = + - @ as a formula: a quote keeps it text. Control and
    bidi characters are taken out first, so none can hide such a start or reorder what a reader sees."""
    text = " ".join(plain_text(text).split())
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def common_mistakes(marked: list[tuple[Path, Feedback]]) -> list[tuple[str, int]]:
    """Each diagnosis with how many students made it, most common first."""
    counts = Counter(name for _, fb in marked for name in dict.fromkeys(fb.diagnoses))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def summary_md(
    problem: Problem,
    marked: list[tuple[Path, Feedback]],
    skipped: Sequence[Skipped],
    no_pdf: Sequence[Skipped] = (),
    templates: Path | None = None,
) -> str:
    """The class at a glance (templates/md/class-summary.md): marks, who made which mistake, each stage across the
    class, what was skipped and why."""
    from ..writing.documents import render_class_summary
    from .class_view import class_view

    return render_class_summary(class_view(problem.title, marked, skipped, no_pdf), problem, "md", templates)


def summary_tex(
    problem: Problem,
    marked: list[tuple[Path, Feedback]],
    skipped: Sequence[Skipped],
    no_pdf: Sequence[Skipped] = (),
    templates: Path | None = None,
) -> str:
    """The class summary as one page of LaTeX for the marker (templates/tex/class-summary.tex)."""
    from ..writing.documents import render_class_summary
    from .class_view import class_view

    return render_class_summary(class_view(problem.title, marked, skipped, no_pdf), problem, "tex", templates)


class ProgressBar:
    """`marking  12/30 [########          ]` on one line of stderr, redrawn in place."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, label: str = "marking"):
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
        self.stream.write(
            f"\r{self.label} {done:>{len(str(total))}}/{total} [{'#' * filled}{' ' * (self.width - filled)}]"
        )
        if done == total:
            self.stream.write("\n")
        self.stream.flush()
