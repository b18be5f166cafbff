"""A class read from Moodle's quiz Responses report ("Download table data", CSV) of a `moodle = "whole"` quiz.

The report is built here as Moodle writes it (see stepper/marking/moodle_responses.py for the sources): a UTF-8
byte-order mark, the header row first, fields quoted only when they must be; "Question 1" holds the summary of
the question text the student got, "Response 1" the cloze summary "part 1: ...; part 2: ...", "Right answer 1"
the same summary of the right answers.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest

from stepper.cli import main
from stepper.core.errors import StepperError
from stepper.core.stages import stages
from stepper.exams.manifest import load_manifest
from stepper.marking import check_working
from stepper.marking.moodle_responses import SkippedRow, cloze, looks_like_responses, read_responses
from stepper.marking.spreadsheet import working_from_row
from stepper.marking.working import loads_working
from tests.helpers import ROOT

HEADER = [
    "Surname",
    "First name",
    "Email address",
    "State",
    "Started on",
    "Completed",
    "Time taken",
    "Grade/10.00",
    "Question 1",
    "Response 1",
    "Right answer 1",
]


@pytest.fixture(scope="module")
def exam(tmp_path_factory) -> Path:
    """A 3-variant exam of the tutorial's template with `moodle = "whole"`, made by `stepper exam`."""
    folder = tmp_path_factory.mktemp("moodle-exam")
    template = (ROOT / "examples" / "tutorial-exam.toml").read_text(encoding="utf-8")
    template = re.sub(r'(?m)^moodle = "stages"', 'moodle = "whole"', template)
    assert 'moodle = "whole"' in template
    (folder / "exam.toml").write_text(template, encoding="utf-8")
    out = folder / "out"
    code = main(
        ["exam", str(folder / "exam.toml"), "--variants", "3", "--seed", "1", "--format", "md,moodle"]
        + ["--out", str(out)]
    )
    assert code == 0
    return out


@pytest.fixture(scope="module")
def manifest(exam):
    return load_manifest(exam / "manifest.json")


@pytest.fixture(scope="module")
def keys(exam) -> dict[str, dict[str, list[str]]]:
    """Each variant's answers by stage, from the manifest."""
    data = json.loads((exam / "manifest.json").read_text(encoding="utf-8"))
    return {v["id"]: v["answers"] for v in data["variants"]}


def question_summaries(exam: Path) -> dict[str, str]:
    """Each variant's "Question 1" cell, made from moodle.xml as Moodle summarises a cloze question: the text as
    plain text, a heading in capitals (html2text), each blank "_____"."""
    out = {}
    for q in ET.parse(exam / "moodle.xml").getroot().iter("question"):
        if q.get("type") != "cloze":
            continue
        text = q.findtext("questiontext/text") or ""
        text = re.sub(r"\{1:NUMERICAL:[^}]*\}", "_____", text)
        text = re.sub(r"<h[1-6]>(.*?)</h[1-6]>", lambda m: "\n\n" + m[1].upper() + "\n\n", text)
        text = re.sub(r"<strong>(.*?)</strong>", lambda m: m[1].upper(), text)
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
        out[q.findtext("idnumber") or ""] = text.strip()
    return out


def summary(values: list[str]) -> str:
    """A cloze response summary as Moodle writes it, trimmed as the report trims it."""
    return "; ".join(f"part {k}: {v}" for k, v in enumerate(values, 1)).strip()


def flat_answers(keys_of: dict[str, list[str]], manifest, variant: str) -> list[str]:
    return [a for s in stages(manifest.problems[variant]) for a in keys_of[s.key]]


def php_float(text: str) -> str:
    """An answer as Moodle stores a numerical answer (a PHP float): 0.5000 -> 0.5."""
    value = Decimal(text).normalize()
    return format(value, "f") if value != 0 else "0"


def report_csv(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    """The bytes of a CSV download as Moodle's dataformat writes them: BOM, then fputcsv-like rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def attempt(last, first, state, question, response, right, grade="7.50") -> list[str]:
    email = f"{first.lower()}@example.org"
    done = "-" if state != "Finished" else "3 December 2026  10:31 AM"
    return [
        last,
        first,
        email,
        state,
        "3 December 2026  10:02 AM",
        done,
        "29 mins 4 secs",
        grade,
        question,
        response,
        right,
    ]


# ---- the class file and its expected marks ----


PLANTED = {  # variant -> (cell index, wrong value) planted into one student's answers
    "001": (0, "99"),
    "002": (70, "1.5"),
}


@pytest.fixture(scope="module")
def classroom(exam, manifest, keys):
    """The responses report of a class of five: three finished attempts (one with planted wrong values and a
    blank stage, one left wholly blank), one in progress, one never submitted; and the answers each finished
    student typed, stage by stage, for the TOML working files."""
    questions = question_summaries(exam)
    rows, typed = [], {}
    students = [("Lee", "B.", "001"), ("O'Neil, Jr", 'Ann "Annie"', "002"), ("Ng", "Chi", "003")]
    for last, first, variant in students:
        answers = flat_answers(keys[variant], manifest, variant)
        right = summary([php_float(a) for a in answers] if variant == "002" else answers)
        given = list(answers)
        if variant in PLANTED:
            k, wrong = PLANTED[variant]
            given[k] = wrong
        if variant == "002":  # layer 6's first neuron left blank, and layer 7 left out altogether
            cells = cloze(manifest.problems[variant], variant).cells
            given = ["" if c.startswith(("layer6.z1", "layer7.")) else g for c, g in zip(cells, given)]
        if variant == "003":  # never touched the question: Moodle shows "-"
            given = [""] * len(given)
        response = summary(given) if any(given) else "-"
        rows.append(attempt(last, first, "Finished", questions[variant], response, right))
        typed[f"{first} {last}"] = (variant, given)
    rows.append(attempt("Park", "Dee", "In progress", questions["001"], summary(["1"] * 84), "-", grade="-"))
    rows.append(attempt("Quist", "Eve", "Never submitted", questions["003"], "-", "-", grade="-"))
    return report_csv(rows), typed


def toml_working(student: str, variant: str, given: list[str], manifest) -> str:
    """The same answers typed as a TOML working file: a stage with every cell blank is left out."""
    lines = [f"student = {json.dumps(student)}", f'variant = "{variant}"']
    parts = iter(given)
    layer = 0
    for s in stages(manifest.problems[variant]):
        cells = [next(parts) for _ in range(_size(s.shape))]
        if all(c == "" for c in cells):
            continue
        if s.layer != layer:
            lines.append(f"[layer{s.layer}]")
            layer = s.layer
        columns = s.shape[-1] if s.shape else 1
        grid = "\n".join(" ".join(cells[i : i + columns]) for i in range(0, len(cells), columns))
        lines.append(f"{s.part} = '''\n{grid}\n'''")
    return "\n".join(lines) + "\n"


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def working_of(row, manifest, source: str):
    return working_from_row(row, manifest.problems[row.variant], source)


def test_a_responses_report_gives_the_marks_of_the_same_answers_typed_as_working_files(tmp_path, manifest, classroom):
    data, typed = classroom
    path = tmp_path / "responses.csv"
    path.write_bytes(data)
    skipped: list[SkippedRow] = []
    rows = read_responses(path, manifest, skipped)
    assert [(r.student, r.variant) for r in rows] == [
        ("B. Lee", "001"),
        ('Ann "Annie" O\'Neil, Jr', "002"),
        ("Chi Ng", "003"),
    ]
    assert rows[0].place == 'row 2 (student "B. Lee")'
    assert [s.why for s in skipped] == [
        'the attempt is "In progress", never submitted: not marked',
        'the attempt is "Never submitted", never submitted: not marked',
    ]
    assert skipped[0].place == 'row 5 (student "Dee Park")'
    for row in rows:
        variant, given = typed[row.student]
        problem = manifest.problems[variant]
        assert list(row.cells.values()) == given  # blanks are empty cells, planted values kept as typed
        from_report = check_working(problem, working_of(row, manifest, str(path)))
        from_toml = check_working(problem, loads_working(toml_working(row.student, variant, given, manifest), problem))
        assert from_report.marks == from_toml.marks
        assert [(r.stage, r.verdict, r.marks) for r in from_report.stages] == [
            (r.stage, r.verdict, r.marks) for r in from_toml.stages
        ]
    lee, annie, chi = (check_working(manifest.problems[r.variant], working_of(r, manifest, "x")) for r in rows)
    assert lee.marks < lee.out_of and lee.stages[0].verdict == "wrong"  # the planted 99
    assert annie.marks < annie.out_of
    assert [r.verdict for r in annie.stages[-3:]] == ["missing", "correct", "missing"]  # z1 and layer 7 left blank
    assert chi.marks == 0 and all(r.verdict == "missing" for r in chi.stages)  # a wholly blank response


def test_the_cells_are_named_as_the_answer_sheet_names_them_in_the_order_of_the_cloze(manifest, keys):
    parts = cloze(manifest.problems["001"], "001")
    assert parts.cells[:2] == ("layer1.filter1[1,1]", "layer1.filter1[1,2]")
    assert parts.cells[4] == "layer1.filter1[2,1]"
    assert parts.cells[-4:] == ("layer6.z1", "layer6.z2", "layer7.values[1]", "layer7.values[2]")
    assert list(parts.answers) == flat_answers(keys["001"], manifest, "001")


def test_the_header_is_recognised_with_and_without_its_byte_order_mark():
    assert looks_like_responses(["\ufeffSurname", "First name", "State", "Response 1"])
    assert looks_like_responses(["Last name", "First name", "State", "Question 1", "Response 1", "Right answer 1"])
    assert not looks_like_responses(["student", "variant", "layer1.filter1[1,1]"])
    assert not looks_like_responses(["Surname", "First name", "State", "Grade/10.00"])  # the overview report


# ---- finding the variant ----


def test_the_variant_comes_from_the_right_answers_when_the_question_text_is_not_downloaded(
    tmp_path, exam, manifest, keys
):
    header = [h for h in HEADER if h != "Question 1"]
    answers = flat_answers(keys["003"], manifest, "003")
    row = attempt("Lee", "B.", "Finished", "", summary(answers), summary([php_float(a) for a in answers]))
    del row[HEADER.index("Question 1")]
    path = tmp_path / "r.csv"
    path.write_bytes(report_csv([row], header))
    (only,) = read_responses(path, manifest)
    assert only.variant == "003" and list(only.cells.values()) == answers


def test_the_variant_comes_from_the_question_text_alone(tmp_path, exam, manifest, keys):
    header = [h for h in HEADER if h != "Right answer 1"]
    answers = flat_answers(keys["002"], manifest, "002")
    row = attempt("Lee", "B.", "Finished", question_summaries(exam)["002"], summary(answers), "")[:-1]
    path = tmp_path / "r.csv"
    path.write_bytes(report_csv([row], header))
    assert read_responses(path, manifest)[0].variant == "002"


def test_another_question_of_the_quiz_is_told_apart_from_stepper_s(tmp_path, exam, manifest, keys):
    header = HEADER + ["Question 2", "Response 2", "Right answer 2"]
    answers = flat_answers(keys["001"], manifest, "001")
    row = attempt("Lee", "B.", "Finished", question_summaries(exam)["001"], summary(answers), summary(answers))
    row += ["I promise the work is my own. _____", "True", "True"]
    path = tmp_path / "r.csv"
    path.write_bytes(report_csv([row], header))
    assert read_responses(path, manifest)[0].variant == "001"
    swapped = header[:8] + header[11:] + header[8:11]
    path.write_bytes(report_csv([row[:8] + row[11:] + row[8:11]], swapped))
    assert read_responses(path, manifest)[0].variant == "001"


# ---- errors: one line, naming the file, the row (and student) and the column ----


def one_line_error(path: Path, manifest) -> str:
    with pytest.raises(StepperError) as e:
        read_responses(path, manifest)
    text = str(e.value)
    assert "\n" not in text and text.startswith(str(path))
    return text


def test_an_unknown_variant_is_named_with_its_row_student_and_column(tmp_path, exam, manifest, keys):
    question = re.sub("(?i)variant 001", "VARIANT 009", question_summaries(exam)["001"])  # every mention
    answers = flat_answers(keys["001"], manifest, "001")
    path = tmp_path / "r.csv"
    path.write_bytes(report_csv([attempt("Lee", "B.", "Finished", question, summary(answers), "-")]))
    text = one_line_error(path, manifest)
    assert 'row 2 (student "B. Lee"), column "Question 1": names no variant of' in text
    assert "VARIANT 009" in text


def test_a_response_with_more_parts_than_the_question_is_refused(tmp_path, exam, manifest, keys):
    answers = flat_answers(keys["001"], manifest, "001")
    path = tmp_path / "r.csv"
    path.write_bytes(
        report_csv([attempt("Lee", "B.", "Finished", question_summaries(exam)["001"], summary(answers + ["4"]), "-")])
    )
    text = one_line_error(path, manifest)
    assert 'row 2 (student "B. Lee"), column "Response 1": has 85 parts, more than variant 001\'s question' in text


def test_a_response_that_forges_a_part_label_is_refused_not_misread(tmp_path, exam, manifest, keys):
    answers = flat_answers(keys["001"], manifest, "001")
    answers[1] = "7; part 3: 8"  # typed into one blank: would shift every later cell
    path = tmp_path / "r.csv"
    path.write_bytes(
        report_csv([attempt("Lee", "B.", "Finished", question_summaries(exam)["001"], summary(answers), "-")])
    )
    text = one_line_error(path, manifest)
    assert "cannot tell its parts apart: part 3 comes where part 4 should" in text


def test_question_text_and_right_answers_that_disagree_are_refused(tmp_path, exam, manifest, keys):
    answers = flat_answers(keys["001"], manifest, "001")
    right = summary(flat_answers(keys["002"], manifest, "002"))
    path = tmp_path / "r.csv"
    path.write_bytes(
        report_csv([attempt("Lee", "B.", "Finished", question_summaries(exam)["001"], summary(answers), right)])
    )
    assert "the question text is variant 001's but the right answers are variant 002's" in one_line_error(
        path, manifest
    )


def test_a_report_without_question_or_right_answer_says_what_to_tick(tmp_path, manifest):
    path = tmp_path / "r.csv"
    path.write_bytes(report_csv([["Lee", "B.", "b@x", "Finished", "part 1: 4"]], HEADER[:4] + ["Response 1"]))
    assert "download the Responses report with Question text (or Right answer) ticked" in one_line_error(path, manifest)


def test_hostile_names_stay_on_one_line(tmp_path, exam, manifest):
    name = "Bob\n\x1b[31m\u202eevil"
    path = tmp_path / "r.csv"
    path.write_bytes(
        report_csv([attempt(name, "=cmd|", "Finished", question_summaries(exam)["001"], "part 1: 4", "-")])
    )
    text = one_line_error(path, manifest)
    assert "has 1 parts, fewer than variant 001's question" in text
    assert "\x1b" not in text and "\u202e" not in text


def test_a_file_that_is_not_csv_or_not_utf8_is_one_error(tmp_path, manifest):
    path = tmp_path / "r.csv"
    path.write_bytes(b"\xff\xfeS\x00")
    one_line_error(path, manifest)
    path.write_bytes(b'State,Response 1\nFinished,"part 1: 4\n')  # an unclosed quote
    one_line_error(path, manifest)


def test_the_command_marks_a_report_and_lists_the_attempts_not_finished(tmp_path, exam, classroom, capsys):
    """`stepper check manifest.json responses.csv`: the finished attempts marked, the others named as skipped on the
    terminal and in the class summary."""
    from tests.helpers.one_line import run_stepper

    data, typed = classroom
    (tmp_path / "responses.csv").write_bytes(data)
    code, out, err = run_stepper(
        capsys, "check", exam / "manifest.json", tmp_path / "responses.csv", "--format", "md", "--out", tmp_path / "fb"
    )
    assert code == 2  # some attempts were passed over, as for files that cannot be marked
    for student in typed:
        assert student in out
    summary = (tmp_path / "fb" / "class-summary.md").read_text(encoding="utf-8")
    assert 'row 5 (student "Dee Park")' in err and 'row 6 (student "Eve Quist")' in err
    assert 'row 5 (student "Dee Park") (the attempt is "In progress"' in summary and "Never submitted" in summary
