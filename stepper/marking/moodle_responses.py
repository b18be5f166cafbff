"""A class marked from Moodle: the Responses report of a quiz built from stepper's `moodle = "whole"` export.

The quiz holds one random question drawn from the category of the export, so each student gets one variant as a
single cloze question whose blanks are that variant's stage cells. The teacher opens the quiz's Results >
Responses report, ticks what to include, and uses "Download table data as" Comma separated values (.csv). This
module reads that file, one attempt a row, into the rows a class spreadsheet gives (`Row`): the student, the
variant, and each stage cell's text by its column name (`layer1.filter1[1,2]`, `layer6.z1`, `layer7.values[2]`).

The layout followed, as Moodle's own code writes it: Moodle 3.1 onwards (when downloads moved to the dataformat
plugins) through the 4.x releases, as read in moodle/moodle's source; the names are the English language pack's:

- The file is UTF-8 with a byte-order mark, comma-separated, a field quoted only when it must be, with `"`
  doubled inside: the CSV dataformat (dataformat/csv/classes/writer.php) is a Spout CSV writer
  (lib/classes/dataformat/spout_base.php), and Spout's writer adds the BOM unless told not to and writes rows
  with PHP's fputcsv. The header row comes first, with no title row above it.
- The columns (mod/quiz/report/responses/report.php, and the attempts report base class,
  mod/quiz/report/attemptsreport.php, later mod/quiz/classes/local/reports/attempts_report.php): the last and
  first name ("Surname", also read as "Last name"; "First name"), the identity fields the site shows (by
  default "Email address"), "State", "Started on", "Completed", "Time taken", "Grade/10.00" when grades are
  shown (only the names, the state and the question columns are read), then for each question slot N, in this order
  and only as ticked in the report's options: "Question N" (the question text), "Response N" (the response),
  "Right answer N" (the right answer). The lang strings are mod/quiz/lang/en/quiz.php ('attemptstate' =
  "State") and mod/quiz/report/responses/lang/en/quiz_responses.php ('responsex' = "Response {$a}",
  'rightanswerx' = "Right answer {$a}"); an example download's header is described at
  https://rdrr.io/github/Lightbridge-AI/moodleQuiz/man/responses_ls.html.
- Each cell is the latest step's summary, trimmed, as plain text, or "-" when there is none (an attempt that
  never reached the question, a student with no attempt): quiz_last_responses_table::data_col in
  mod/quiz/report/responses/last_responses_table.php.
- "Question N" is not the question's name but the summary of the question text the student got (for a random
  question, the question actually drawn): qtype_multianswer_question::get_question_summary turns the text to
  plain text (question_utils::to_plain_text, html_to_text with no line wrapping) and each blank to "_____".
- "Response N" of a cloze question is qtype_multianswer_question::summarise_response
  (question/type/multianswer/question.php): each part as the lang string 'subqresponse', "part {$a->i}:
  {$a->response}" (question/type/multianswer/lang/en/qtype_multianswer.php), joined by "; ". A numerical part's
  summary is the text typed, so an empty part reads "part 3: ". "Right answer N" is the same summary of the right
  response, each part being the answer as Moodle stored it (0.4750 may come back as 0.475).
- "State" is the attempt's state name: "Finished", "In progress", "Overdue", "Never submitted" and, in later
  releases, "Not yet started".

How the variant is found. The report shows no question name, so the variant is read from the two columns that
can carry it: the first line of "Question N" (the heading of the variant's sheet, its problem's title, which
ends in "variant 001" for every variant stepper draws), or else "Right answer N", matched against the right
answers of every variant of the manifest. When both are there they must agree. The order of the cloze parts,
and so which part is which cell, is read from the question exams/moodle.py writes for the variant.

Which attempts are marked: "Finished" ones. An attempt in progress, overdue, never submitted or not started was
never handed in; its row is skipped and said so (`skipped`). A blank or "-" part is unanswered: an empty cell.
Everything in the file is the students' or the site's text and is only ever read as text.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from ..core.errors import StepperError
from ..core.evaluate import trace
from ..core.load import read_text
from ..core.spec import Problem
from ..core.text import plain_text
from ..exams import moodle
from ..exams.generate import Variant
from ..exams.manifest import Manifest
from .spreadsheet import Row, cell_names, row_place

# A responses report holds each attempt's question text: a few kilobytes a row for the tutorial's exam.
MAX_RESPONSES_BYTES = 256 * 2**20
# Moodle's English column names (see the module docstring).
STATE = "State"
FINISHED = "Finished"
FIRST_NAME = "First name"
LAST_NAMES = ("Surname", "Last name")
EMAIL = "Email address"
_SLOT = re.compile(r"(Question|Response|Right answer) ([1-9][0-9]{0,5})")
# One part's label in a cloze summary: "part 3: " (at the very end, trimmed to "part 3:").
_LABEL = re.compile(r"(?:^|; )part ([0-9]{1,9}):(?: |$)")
# A blank as exams/moodle.py writes it into a cloze question.
_BLANK = re.compile(r"\{[0-9]*:NUMERICAL:=([^:{}]*):([^{}]*)\}")
# The end of the first line of a variant's question text: its title, "...: variant 001".
_TITLED = re.compile(r"\bvariant ([0-9A-Za-z_-]{1,40})\s*$", re.IGNORECASE)
_UNANSWERED = ("", "-")


class SkippedRow(NamedTuple):
    """A row that holds no answers to mark, and why."""

    place: str
    why: str


class Cloze(NamedTuple):
    """A variant's cloze question: for each part, in Moodle's order, the cell it asks for and its right answer."""

    cells: tuple[str, ...]
    answers: tuple[str, ...]


def looks_like_responses(header: list[str]) -> bool:
    """Whether a CSV header is a Moodle quiz responses report's: a "State" column and a "Response N" column."""
    names = [h.removeprefix("\ufeff").strip() for h in header]
    return STATE in names and any(re.fullmatch(r"Response [1-9][0-9]*", n) for n in names)


def read_responses(path, manifest: Manifest, skipped: list[SkippedRow] | None = None) -> list[Row]:
    """Each finished attempt of the report at `path` as a Row, its variant from `manifest`. Rows that are not a
    finished attempt are left out, and added to `skipped` with the reason. Errors are one line naming the file,
    the row (and its student) and the column."""
    name = str(path)
    records = _records(read_text(path, name, MAX_RESPONSES_BYTES), name)
    if not records:
        raise StepperError("expected the header row of a Moodle responses report, found an empty file", file=name)
    report = _Report(name, manifest, [h.strip() for h in records[0]])
    report.find_slot(records[1:])
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for number, record in enumerate(records[1:], 2):
        if not any(field.strip() for field in record):
            continue  # a blank line
        row = report.row(number, record, skipped)
        if row is not None:
            seen[row.student] = seen.get(row.student, 0) + 1
            if seen[row.student] > 1:  # another attempt by the same student: told apart by its row
                row = row._replace(student=f"{row.student} (row {number})")
            rows.append(row)
    return rows


def cloze(problem: Problem, variant: str) -> Cloze:
    """The parts of the variant's question as exams/moodle.py writes it for `moodle = "whole"`, read from that
    question itself, each matched to the stage cell it asks for: stage by stage, each row by row. That each
    blank's right answer is its cell's shows that the two agree."""
    v = Variant(0, variant, 0, problem, trace(problem))
    text = "\n".join(moodle._whole_question(v, "", ""))
    blanks = [a for a, _ in _BLANK.findall(text)]
    cells: list[str] = []
    answers: list[str] = []
    for found in moodle.stage_answers(v):  # with [train], the backward pass's stages after the forward pass's
        cells += cell_names(found.stage)
        answers += [a for a, _ in found.cells]
    if blanks != answers or len(cells) != len(answers):
        raise AssertionError(f"variant {variant}: the cloze parts moodle.py writes are not the stage cells in order")
    return Cloze(tuple(cells), tuple(answers))


def _records(text: str, name: str) -> list[list[str]]:
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # a question text may be longer than csv's default limit
    try:
        return list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        raise StepperError(f"not a CSV file as Moodle writes one: {e}", file=name) from None
    finally:
        csv.field_size_limit(limit)


class _Report:
    """The report being read: its header, the slot of stepper's question, and each variant's cloze once made."""

    def __init__(self, name: str, manifest: Manifest, header: list[str]):
        self.name, self.manifest, self.header = name, manifest, header
        self.columns: dict[str, int] = {}
        for k, title in enumerate(header):
            if title in self.columns and (title == STATE or _SLOT.fullmatch(title)):
                raise StepperError(f"the column {_quoted(title)} is there twice", file=name, place="row 1")
            self.columns.setdefault(title, k)
        self.slots = sorted({int(m[2]) for t in self.columns if (m := _SLOT.fullmatch(t)) and m[1] == "Response"})
        if not self.slots:
            raise StepperError(
                'not a Moodle responses report: expected a "Response 1" column (download the quiz\'s Responses '
                "report with Response ticked)",
                file=name,
                place="row 1",
            )
        self.slot = self.slots[0]
        self._clozes: dict[str, Cloze] = {}
        self._index: dict[tuple, list[str]] | None = None

    def cloze(self, variant: str) -> Cloze:
        if variant not in self._clozes:
            self._clozes[variant] = cloze(self.manifest.problems[variant], variant)
        return self._clozes[variant]

    def field(self, record: list[str], title: str) -> str | None:
        k = self.columns.get(title)
        if k is None:
            return None
        return record[k] if k < len(record) else ""

    def find_slot(self, records: list[list[str]]) -> None:
        """The question slot of stepper's random question: the one whose "Question N" or "Right answer N" tells
        a variant of the manifest (a quiz may hold other questions too)."""
        telling = [n for n in self.slots if f"Question {n}" in self.columns or f"Right answer {n}" in self.columns]
        if not telling:
            n = self.slots[0]
            raise StepperError(
                f'no "Question {n}" or "Right answer {n}" column tells which variant each student had: download '
                "the Responses report with Question text (or Right answer) ticked as well as Response",
                file=self.name,
                place="row 1",
            )
        found = telling
        if len(telling) > 1:
            found = [n for n in telling if any(self.titled(self.field(r, f"Question {n}") or "") for r in records)]
        if len(found) != 1:
            which = " and ".join(str(n) for n in (found or telling)[:2])
            raise StepperError(
                f"cannot tell which question is stepper's: questions {which} "
                + ("both name a variant" if found else f"name no variant of {self.manifest.source}")
                + "; the quiz should hold one random question from the exported category",
                file=self.name,
                place="row 1",
            )
        self.slot = found[0]

    def row(self, number: int, record: list[str], skipped: list[SkippedRow] | None) -> Row | None:
        if len(record) > len(self.header):
            raise StepperError(
                f"has {len(record)} fields but the header has {len(self.header)}: not the file Moodle wrote",
                file=self.name,
                place=f"row {number}",
            )
        student = self.student(record)
        place = row_place(number, student)
        student = student or f"row {number}"
        state = self.field(record, STATE)
        state = FINISHED if state is None else state.strip()  # no State column: Moodle 2.5 and earlier
        if state != FINISHED:
            why = "no attempt" if state in _UNANSWERED else f"the attempt is {_quoted(state)}, never submitted"
            if skipped is not None:
                skipped.append(SkippedRow(place, f"{why}: not marked"))
            return None
        variant = self.variant(record, place)
        parts = self.cloze(variant)
        column = f"Response {self.slot}"
        response = (self.field(record, column) or "").strip()
        try:
            given = [""] * len(parts.cells) if response in _UNANSWERED else _parts(response, len(parts.cells), variant)
        except StepperError as e:
            raise e.located(file=self.name, place=f"{place}, column {_quoted(column)}") from None
        cells = {cell: "" if text.strip() in _UNANSWERED else text.strip() for cell, text in zip(parts.cells, given)}
        return Row(student, variant, cells, place)

    def student(self, record: list[str]) -> str:
        first = self.field(record, FIRST_NAME) or ""
        last = next((v for t in LAST_NAMES if (v := self.field(record, t)) is not None), "")
        full = " ".join(plain_text(f"{first} {last}").split())
        return full or " ".join(plain_text(self.field(record, EMAIL) or "").split())

    # ---- which variant ----

    def variant(self, record: list[str], place: str) -> str:
        question = self.field(record, f"Question {self.slot}")
        right = self.field(record, f"Right answer {self.slot}")
        by_text = self.titled(question) if question is not None else None
        right_place = f'{place}, column "Right answer {self.slot}"'
        by_answers = self.answered(right, right_place) if right is not None else None
        if by_text and by_answers and by_text != by_answers:
            raise StepperError(
                f"the question text is variant {by_text}'s but the right answers are variant {by_answers}'s",
                file=self.name,
                place=f'{place}, column "Question {self.slot}"',
            )
        found = by_text or by_answers
        if found is None:
            column, text = (f"Question {self.slot}", question) if question is not None else (right_place, right)
            first = (text or "").strip().split("\n")[0]
            raise StepperError(
                f"names no variant of {self.manifest.source}: found {_quoted(first)}, expected the title of a "
                f'variant\'s sheet, such as "...: variant {next(iter(self.manifest.problems))}"',
                file=self.name,
                place=column if column == right_place else f"{place}, column {_quoted(column)}",
            )
        return found

    def titled(self, text: str) -> str | None:
        """The variant whose title heads a question text: its first line ends in "variant 001"."""
        first = next((line for line in text.strip().splitlines() if line.strip()), "")
        match = _TITLED.search(first)
        if match is None:
            return None
        return next((i for i in self.manifest.problems if i.casefold() == match[1].casefold()), None)

    def answered(self, right: str, place: str) -> str | None:
        """The variant whose right answers a "Right answer N" summary lists, compared as numbers."""
        right = right.strip()
        if right in _UNANSWERED:
            return None
        try:
            key = tuple(_number(p) for p in _parts(right, None, "any"))
        except StepperError as e:
            raise e.located(file=self.name, place=place) from None
        if self._index is None:
            self._index = {}
            for v in self.manifest.problems:
                self._index.setdefault(tuple(_number(a) for a in self.cloze(v).answers), []).append(v)
        matches = self._index.get(key, [])
        if len(matches) > 1:
            raise StepperError(
                f"the right answers are those of variants {matches[0]} and {matches[1]}: download the report "
                "with Question text ticked as well, to tell them apart",
                file=self.name,
                place=place,
            )
        return matches[0] if matches else None


def _parts(summary: str, count: int | None, variant: str) -> list[str]:
    """The parts of a cloze summary, "part 1: 4; part 2: ; part 3: -1", in order: exactly `count` of them when
    `count` is given. A part holding "; part 5: " of its own makes the labels run out of order: refused."""
    labels = list(_LABEL.finditer(summary))
    if not labels or labels[0].start() != 0:
        raise StepperError(
            f'expected the parts of a cloze question, "part 1: ...; part 2: ...", found {_quoted(summary)}'
        )
    numbers = [int(m[1]) for m in labels]
    if numbers != list(range(1, len(numbers) + 1)):
        at = next(k for k, n in enumerate(numbers, 1) if n != k)
        raise StepperError(
            f"cannot tell its parts apart: part {numbers[at - 1]} comes where part {at} should "
            '(a response holding "; part ...:")'
        )
    if count is not None and len(numbers) != count:
        more = "more" if len(numbers) > count else "fewer"
        raise StepperError(f"has {len(numbers)} parts, {more} than variant {variant}'s question, which has {count}")
    ends = [m.start() for m in labels[1:]] + [len(summary)]
    return [summary[m.end() : end] for m, end in zip(labels, ends)]


def _number(text: str) -> Decimal | str:
    """A right answer as a number, so that 0.475 is 0.4750 (a decimal comma, as some language packs write it,
    read as a point); text that is no number stays text, and matches nothing."""
    text = text.strip()
    try:
        value = Decimal(text if "." in text else text.replace(",", "."))
    except InvalidOperation:
        return text
    return value if value.is_finite() else text


def _quoted(text: str) -> str:
    text = plain_text(text)
    return '"' + (text if len(text) <= 40 else text[:30] + "...") + '"'
