"""A class from a spreadsheet: one student a row, one column a cell (`layer1.filter1[1,2]`, `layer6.z1`,
`layer7.values[2]`, `sum:layer1.filter1[1,1]`), marked as the same students' working files are.

The rows are made here from the example working files, each student's TOML file written first (with a planted
slip for some) and its row made from that file's values as read, with column names written out by this module's
own rules, so a mistake in stepper's naming would show as a difference from marking the files.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import tomllib
from pathlib import Path

import pytest

from stepper.cli import main
from stepper.core.load import load
from stepper.marking.marker import check_working
from stepper.marking.working import load_working, loads_working
from stepper.writing.filters import points
from stepper.writing.output import written_by_stepper
from tests.helpers import ROOT
from tests.helpers.one_line import run_stepper

TUTORIAL = ROOT / "examples" / "tutorial.toml"
PROBLEM = load(TUTORIAL)
EXAMPLES = sorted((ROOT / "examples").glob("tutorial-working-*.toml"))


# ---- rows made from working files, by this module's own rules ----


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def dump(data: dict) -> str:
    """A working file from its table (strings, numbers, tables of strings, [[window]] sums)."""
    lines = [f"{k} = {toml_string(v)}" for k, v in data.items() if isinstance(v, str)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines += [f"[{key}]"] + [
                f"{part} = {toml_string(v) if isinstance(v, str) else v}" for part, v in table.items()
            ]
    for window in data.get("window", []):
        lines += ["[[window]]"] + [f"{k} = {toml_string(v) if isinstance(v, str) else v}" for k, v in window.items()]
    return "\n".join(lines) + "\n"


def plant(data: dict, k: int) -> None:
    """A slip in some students' working: a wrong first cell of filter 1, or a wrong z1."""
    layer1 = data.get("layer1", {})
    if k % 3 == 1 and "filter1" in layer1:
        first = layer1["filter1"].split()[0]
        layer1["filter1"] = layer1["filter1"].replace(first, str(int(first) + 3), 1)
    elif k % 3 == 2 and "z1" in data.get("layer6", {}):
        data["layer6"]["z1"] = 0.25


def row_of(path: Path) -> dict[str, str]:
    """A working file as one spreadsheet row: each cell in its column; a stage of another shape whole."""
    working = load_working(path, PROBLEM)
    row = {"student": working.student}
    for answer in working.answers:
        key, shape, written = answer.stage.key, answer.values.shape, answer.written
        if shape != answer.stage.shape:
            width = shape[-1] if shape else 1
            row[key] = "\n".join(" ".join(written[i : i + width]) for i in range(0, len(written), width))
        elif len(shape) == 2:
            row |= {f"{key}[{n // shape[1] + 1},{n % shape[1] + 1}]": t for n, t in enumerate(written)}
        elif len(shape) == 1:
            row |= {f"{key}[{n + 1}]": t for n, t in enumerate(written)}
        else:
            row[key] = written[0]
    for s in working.sums:
        column = (
            f"sum:layer6.z{s.row + 1}"
            if s.layer == 6
            else f"sum:layer{s.layer}.filter{s.map + 1}[{s.row + 1},{s.col + 1}]"
        )
        row[column] = s.text
    return row


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    columns = list(dict.fromkeys(c for row in rows for c in row))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def a_class(tmp_path_factory) -> tuple[Path, list[dict[str, str]]]:
    """200 students' working files (the 15 examples over and over, some with a planted slip) and their rows."""
    folder = tmp_path_factory.mktemp("class")
    rows = []
    for k in range(200):
        data = tomllib.loads(EXAMPLES[k % len(EXAMPLES)].read_text(encoding="utf-8"))
        data["student"] = f"{data['student']} {k:03d}"
        plant(data, k)
        path = folder / f"student-{k:03d}.toml"
        path.write_text(dump(data), encoding="utf-8")
        rows.append(row_of(path))
    return folder, rows


def summary(folder: Path) -> dict[str, dict[str, str]]:
    """The class summary's marks per stage and total, by student."""
    with (folder / "class-summary.csv").open(encoding="utf-8") as f:
        return {
            r["student"]: {k: v for k, v in r.items() if k not in ("file", "variant", "diagnoses")}
            for r in csv.DictReader(f)
        }


def test_a_class_from_a_csv_gets_the_marks_of_its_working_files(a_class, tmp_path, capsys):
    folder, rows = a_class
    sheet = tmp_path / "answers.csv"
    write_csv(sheet, rows)
    assert main(["check", str(TUTORIAL), str(folder), "--out", str(tmp_path / "files")]) == 0
    assert main(["check", str(TUTORIAL), str(sheet), "--out", str(tmp_path / "rows")]) == 0
    by_files, by_rows = summary(tmp_path / "files"), summary(tmp_path / "rows")
    assert len(by_rows) == 200 and by_rows == by_files
    assert len({r["total"] for r in by_rows.values()}) > 3  # the planted slips cost marks
    out = capsys.readouterr().out
    assert "answers.csv, row 2: Student average pooling 000: 10 / 11" in out
    assert (tmp_path / "rows" / "Ada-Right-007-feedback.md").is_file()
    assert "200 marked" in out


def xlsx_value(text: str):
    """A cell as a spreadsheet holds it: a number when the number is all it says (0.5000 stays text)."""
    for kind in (int, float):
        try:
            if str(kind(text)) == text:
                return kind(text)
        except ValueError:
            pass
    return text


def workbook(rows: list[dict[str, str]]):
    """The rows as an openpyxl workbook (a header row, then a row per student), and its columns."""
    openpyxl = pytest.importorskip("openpyxl")
    columns = list(dict.fromkeys(c for row in rows for c in row))
    book = openpyxl.Workbook()
    book.active.append(columns)
    for row in rows:
        book.active.append([xlsx_value(row[c]) if c in row else None for c in columns])
    return book, columns


def test_a_class_from_an_xlsx_workbook_gets_the_same_marks(a_class, tmp_path):
    rows = a_class[1][:45]
    book, _ = workbook(rows)
    book.save(tmp_path / "answers.xlsx")
    write_csv(tmp_path / "answers.csv", rows)
    assert main(["check", str(TUTORIAL), str(tmp_path / "answers.xlsx"), "--out", str(tmp_path / "x")]) == 0
    assert main(["check", str(TUTORIAL), str(tmp_path / "answers.csv"), "--out", str(tmp_path / "c")]) == 0
    assert summary(tmp_path / "x") == summary(tmp_path / "c")
    assert "Mark: 5 out of 11" in (tmp_path / "x" / "Student-no-padding-004-feedback.md").read_text(encoding="utf-8")


def test_a_formula_without_a_saved_value_is_refused_not_read_as_blank(a_class, tmp_path, capsys):
    """A workbook written by a program (openpyxl here) keeps a formula's text but no value: read as it is, the
    student's answer would be blank and marked so. It is refused in one line naming the cell; once a value is
    saved with the formula (as Excel and LibreOffice save), that value is read."""
    import zipfile

    rows = a_class[1][:3]
    book, columns = workbook(rows)
    sheet = book.active
    answer = next(k for k, c in enumerate(columns) if c not in ("student", "variant") and xlsx_value(rows[1][c]) == 0)
    cell = sheet.cell(row=3, column=answer + 1)
    cell.value = "=1-1"
    book.save(tmp_path / "answers.xlsx")
    out = tmp_path / "out"
    code, _, err = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.xlsx", "--out", out)
    assert code == 2 and err.count("\n") == 1, err
    assert f"answers.xlsx: cell {cell.coordinate} holds a formula (=1-1) with no saved value" in err, err
    assert not out.exists()
    # The same workbook with the formula's value saved beside it: read as that value, as typed.
    with zipfile.ZipFile(tmp_path / "answers.xlsx") as z:
        parts = {n: z.read(n) for n in z.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode("utf-8")
    assert "<f>1-1</f><v></v>" in xml or "<f>1-1</f><v />" in xml or "<f>1-1</f>" in xml
    xml = xml.replace("<f>1-1</f><v></v>", "<f>1-1</f><v>0</v>").replace("<f>1-1</f><v />", "<f>1-1</f><v>0</v>")
    if "<f>1-1</f><v>0</v>" not in xml:
        xml = xml.replace("<f>1-1</f>", "<f>1-1</f><v>0</v>")
    parts["xl/worksheets/sheet1.xml"] = xml.encode("utf-8")
    with zipfile.ZipFile(tmp_path / "saved.xlsx", "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    # A formula whose saved result is the empty string (Excel marks such a cell t="str") is a blank answer.
    blank = xml.replace("<f>1-1</f><v>0</v>", '<f>IF(1,"","x")</f><v></v>').replace(
        f'<c r="{cell.coordinate}"', f'<c r="{cell.coordinate}" t="str"', 1
    )
    assert blank != xml and f'<c r="{cell.coordinate}" t="str"' in blank
    with zipfile.ZipFile(tmp_path / "blank.xlsx", "w") as z:
        for name, data in {**parts, "xl/worksheets/sheet1.xml": blank.encode("utf-8")}.items():
            z.writestr(name, data)
    assert main(["check", str(TUTORIAL), str(tmp_path / "blank.xlsx"), "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    write_csv(tmp_path / "answers.csv", rows)
    assert main(["check", str(TUTORIAL), str(tmp_path / "saved.xlsx"), "--out", str(tmp_path / "x")]) == 0
    assert main(["check", str(TUTORIAL), str(tmp_path / "answers.csv"), "--out", str(tmp_path / "c")]) == 0
    assert summary(tmp_path / "x") == summary(tmp_path / "c")


def test_xlsx_without_openpyxl_says_what_to_install(tmp_path, capsys, monkeypatch):
    (tmp_path / "answers.xlsx").write_bytes(b"PK")
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    code, _, err = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.xlsx", "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1
    assert "answers.xlsx: reading .xlsx needs openpyxl: pip install 'stepper[xlsx]'" in err


def test_an_ods_sheet_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "answers.ods").write_bytes(b"PK")
    code, _, err = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.ods", "--out", tmp_path / "out")
    assert code == 2 and "save it as .xlsx or .csv" in err and err.count("\n") == 1


# ---- the blank answer sheet ----


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return next(csv.reader(f))


def test_the_tutorials_answer_sheet_names_every_cell_in_reading_order(tmp_path, capsys):
    code, out, _ = run_stepper(capsys, "check", "--answer-sheet", TUTORIAL, "--out", tmp_path)
    assert code == 0 and "84 cells and 38 written sums" in out
    columns = header(tmp_path / "answer-sheet.csv")
    assert columns[:6] == ["student"] + [f"layer1.filter1[1,{c}]" for c in range(1, 5)] + ["layer1.filter1[2,1]"]
    cells = columns[1:85]
    assert cells[16] == "layer1.filter2[1,1]" and cells[64:68] == [
        f"layer3.channel1[{r},{c}]" for r in (1, 2) for c in (1, 2)
    ]
    assert cells[-6:] == [
        "layer5.map[2,1]",
        "layer5.map[2,2]",
        "layer6.z1",
        "layer6.z2",
        "layer7.values[1]",
        "layer7.values[2]",
    ]
    sums = columns[85:]
    assert sums[0] == "sum:layer1.filter1[1,1]" and sums[32:34] == ["sum:layer4.map[1,1]", "sum:layer4.map[1,2]"]
    assert sums[-2:] == ["sum:layer6.z1", "sum:layer6.z2"] and len(sums) == 38
    assert (tmp_path / "answer-sheet.csv").read_text(encoding="utf-8").count("\n") == 1  # the header alone
    assert written_by_stepper(tmp_path / "answer-sheet.csv")
    assert run_stepper(capsys, "check", "--answer-sheet", TUTORIAL, "--out", tmp_path)[0] == 0  # replaced


def test_a_filled_in_answer_sheet_is_never_replaced(tmp_path, capsys):
    assert run_stepper(capsys, "check", "--answer-sheet", TUTORIAL, "--out", tmp_path)[0] == 0
    sheet = tmp_path / "answer-sheet.csv"
    sheet.write_text(sheet.read_text(encoding="utf-8") + "B. Lee" + "," * 122 + "\n", encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", "--answer-sheet", TUTORIAL, "--out", tmp_path)
    assert code == 2 and "not written by stepper" in err and "B. Lee" in sheet.read_text(encoding="utf-8")


def test_an_exams_answer_sheet_has_a_variant_column_and_marks_each_row_against_its_variant(tmp_path, capsys):
    exam = tmp_path / "exam"
    assert (
        run_stepper(
            capsys, "exam", ROOT / "examples" / "tutorial-exam.toml", "--variants", 3, "--seed", 1, "--out", exam
        )[0]
        == 0
    )
    code, _, _ = run_stepper(capsys, "check", "--answer-sheet", exam / "manifest.json", "--out", tmp_path)
    assert code == 0
    columns = header(tmp_path / "answer-sheet.csv")
    assert columns[:3] == ["student", "variant", "layer1.filter1[1,1]"]
    assert columns[2:] == header_of_tutorial(tmp_path / "tutorial", capsys)[1:]  # the same shapes as the tutorial
    manifest = json.loads((exam / "manifest.json").read_text(encoding="utf-8"))
    answers = manifest["variants"][1]["answers"]
    row = {"student": "V. Two", "variant": "2", **flat_answers(answers)}
    write_csv(tmp_path / "answers.csv", [row, {**row, "student": "No Variant", "variant": ""}])
    code, out, err = run_stepper(
        capsys, "check", exam / "manifest.json", tmp_path / "answers.csv", "--out", tmp_path / "fb"
    )
    assert "V. Two: 11 / 11" in out and code == 2
    assert 'answers.csv: row 3 (student "No Variant"), column variant: no variant given' in err


def header_of_tutorial(folder: Path, capsys) -> list[str]:
    assert run_stepper(capsys, "check", "--answer-sheet", TUTORIAL, "--out", folder)[0] == 0
    return header(folder / "answer-sheet.csv")


def flat_answers(answers: dict) -> dict[str, str]:
    """A manifest's answers by stage (a map flat, row by row) as one row's cells."""
    cells = {}
    for key, value in answers.items():
        if not isinstance(value, list) or ".z" in key:  # a neuron: one number
            cells[key] = str(value[0] if isinstance(value, list) else value)
        elif key.endswith(".values"):
            cells |= {f"{key}[{i + 1}]": str(x) for i, x in enumerate(value)}
        else:
            width = math.isqrt(len(value))
            cells |= {f"{key}[{n // width + 1},{n % width + 1}]": str(x) for n, x in enumerate(value)}
    return cells


def test_variants_of_different_shapes_give_the_union_of_their_columns_in_a_stable_order():
    from stepper.core.load import loads
    from stepper.exams.manifest import Manifest
    from stepper.marking.spreadsheet import sheet_columns

    text = TUTORIAL.read_text(encoding="utf-8")
    wider = loads(text.replace("padding = 1", "padding = 2"), name="wider")  # 5x5 maps, 2x2 after pooling
    one = sheet_columns(Manifest("m", "t", {"1": PROBLEM, "2": wider}))
    assert one == sheet_columns(Manifest("m", "t", {"1": wider, "2": PROBLEM}))
    assert one[:2] == ["student", "variant"]
    assert one[2:28] == [f"layer1.filter1[{r},{c}]" for r in range(1, 6) for c in range(1, 6)] + ["layer1.filter2[1,1]"]
    assert set(one) == set(sheet_columns(wider)) | {"variant"}  # a 4x4 map's cells are among the 5x5's
    assert one.index("layer7.values[2]") + 1 == one.index("sum:layer1.filter1[1,1]")


# ---- errors and untrusted names ----


def right_row(student: str) -> dict[str, str]:
    return {**row_of(ROOT / "examples" / "tutorial-working-right.toml"), "student": student}


def test_a_bad_cell_names_its_row_column_and_student_and_the_rest_are_marked(tmp_path, capsys):
    bad = {**right_row("B. Lee"), "layer1.filter1[2,3]": "4,5"}
    write_csv(tmp_path / "answers.csv", [right_row("A. Ok"), bad, {**right_row("C. Text"), "layer6.z1": "half"}])
    code, out, err = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.csv", "--out", tmp_path / "fb")
    assert code == 2 and "A. Ok: 11 / 11" in out
    lines = err.splitlines()
    assert (
        'answers.csv: row 3 (student "B. Lee"), column layer1.filter1[2,3]: expected a number, found "4,5"' in lines[0]
    )
    assert 'row 4 (student "C. Text"), column layer6.z1: expected a number' in lines[1]
    assert lines[-1] == "stepper: 2 of 3 students skipped (see above)"
    assert "csv, row 3 (row 3 (student" in (tmp_path / "fb" / "class-summary.md").read_text(encoding="utf-8")


def test_an_unknown_column_is_an_error_with_a_suggestion(tmp_path, capsys):
    row = right_row("A. Ok")
    row["layer1.filtre1[1,1]"] = row.pop("layer1.filter1[1,1]")
    write_csv(tmp_path / "answers.csv", [row])
    code, _, err = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.csv", "--out", tmp_path / "fb")
    assert code == 2 and err.count("\n") == 1
    assert "answers.csv: row 1, column layer1.filtre1[1,1]: unknown column" in err
    assert "did you mean 'layer1.filter1[1,1]'?" in err


def test_a_sheet_without_a_student_column_is_refused(tmp_path, capsys):
    (tmp_path / "answers.csv").write_text("name,layer6.z1\nA,0.5\n", encoding="utf-8")
    code, _, err = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.csv", "--out", tmp_path / "fb")
    assert code == 2 and "row 1: no 'student' column" in err


def test_two_students_of_one_name_are_reported_and_keep_their_own_reports(tmp_path, capsys):
    slips = {**row_of(ROOT / "examples" / "tutorial-working-slips.toml"), "student": "B. Lee"}
    write_csv(tmp_path / "answers.csv", [right_row("B. Lee"), slips])
    code, _, err = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.csv", "--out", tmp_path / "fb")
    assert code == 0 and 'row 2 and row 3 all name the student "B. Lee"' in err
    assert "11 out of 11" in (tmp_path / "fb" / "B-Lee-feedback.md").read_text(encoding="utf-8")
    assert "3.88 out of 11" in (tmp_path / "fb" / "B-Lee-2-feedback.md").read_text(encoding="utf-8")


def test_hostile_student_names_stay_inside_the_folder_and_are_text_in_the_summary(tmp_path, capsys):
    names = ['=HYPERLINK("http://evil.example","x")', "../../x", "a\nb", "..", "CON", "-1+2"]
    write_csv(tmp_path / "answers.csv", [right_row(n) for n in names])
    out_dir = tmp_path / "deep" / "fb"
    code, _, _ = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.csv", "--out", out_dir)
    assert code == 0
    reports = sorted(p.name for p in out_dir.iterdir() if p.name.endswith("-feedback.md"))
    assert (
        len(reports) == len(names)
        and not list(tmp_path.glob("x*"))
        and not (tmp_path / "deep" / "x-feedback.md").exists()
    )
    assert all("/" not in r and not r.startswith((".", "-")) for r in reports)
    with (out_dir / "class-summary.csv").open(encoding="utf-8") as f:
        students = [r["student"] for r in csv.DictReader(f)]
    assert students[0].startswith("'=HYPERLINK") and "a b" in students and "'-1+2" in students


def test_blank_cells_are_unanswered_and_a_stage_left_blank_is_left_out(tmp_path, capsys):
    row = right_row("P. Artial")
    for c in range(1, 5):
        row[f"layer1.filter1[4,{c}]"] = "" if c % 2 else "?"
    for key in [k for k in row if k.startswith("layer7.")]:
        row[key] = ""
    write_csv(tmp_path / "answers.csv", [row])
    code, out, _ = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.csv", "--out", tmp_path / "fb")
    assert code == 0 and "P. Artial" in out
    with (tmp_path / "fb" / "class-summary.csv").open(encoding="utf-8") as f:
        marks = next(csv.DictReader(f))
    assert marks["layer7.values"] == "0" and marks["layer2.channel1"] == "1"
    assert float(marks["layer1.filter1"]) > 0  # right on the rows it has, never wrong for a blank


def test_a_fully_blank_stage_is_left_out_today(tmp_path, capsys):
    row = {k: ("" if k.startswith("layer7.") else v) for k, v in right_row("No Softmax").items()}
    write_csv(tmp_path / "answers.csv", [row])
    code, out, _ = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.csv", "--out", tmp_path / "fb")
    assert code == 0 and "No Softmax: 10 / 11" in out


def test_check_needs_working_or_answer_sheet(capsys, tmp_path):
    code, _, err = run_stepper(capsys, "check", TUTORIAL)
    assert code == 2 and "or --answer-sheet" in err
    code, _, err = run_stepper(capsys, "check", "--answer-sheet", TUTORIAL, tmp_path / "x.csv")
    assert code == 2 and "marks nothing" in err


def test_a_semicolon_sheet_as_a_spreadsheet_in_a_decimal_comma_language_saves_it(tmp_path, capsys):
    row = right_row("S. Colon")
    text = ";".join(row) + "\n" + ";".join(row.values()) + "\n"
    (tmp_path / "answers.csv").write_text("\ufeff" + text, encoding="utf-8")
    code, out, _ = run_stepper(capsys, "check", TUTORIAL, tmp_path / "answers.csv", "--out", tmp_path / "fb")
    assert code == 0 and "S. Colon: 11 / 11" in out


def test_a_folder_of_working_files_becomes_one_class_sheet_with_the_same_marks(tmp_path, capsys):
    """row_of_working and sheet_of_rows (how tools/regenerate_output.py makes output/feedback's class sheet) give
    each working file's row as this test's own conversion does, and the sheet marks as the files do."""
    from stepper.marking.spreadsheet import row_of_working, sheet_of_rows

    paths = sorted((ROOT / "examples").glob("tutorial-working-*.toml"))
    rows = [row_of_working(load_working(p, PROBLEM), PROBLEM) for p in paths]
    assert rows == [row_of(p) for p in paths]
    (tmp_path / "class.csv").write_text(sheet_of_rows(rows, PROBLEM), encoding="utf-8")
    code, out, _ = run_stepper(capsys, "check", TUTORIAL, tmp_path / "class.csv", "--out", tmp_path / "fb")
    assert code == 0
    marks = {line.split(": ")[1]: line.split(": ")[2] for line in out.splitlines() if line.count(": ") >= 3}
    for p in paths:
        fb = check_working(PROBLEM, load_working(p, PROBLEM))
        assert marks[fb.working.student] == f"{points(fb.marks)} / {points(fb.out_of)}"


def test_a_written_sum_that_cannot_be_read_is_placed_at_its_row_and_column(tmp_path, capsys):
    problem = tmp_path / "sums.toml"
    problem.write_text(TUTORIAL.read_text(encoding="utf-8") + "\n[marks]\nsums = 1\n", encoding="utf-8")
    rows = [
        {**right_row("A. Ok")},
        {**right_row("B. Zero"), "sum:layer1.filter1[1,1]": "1/0"},
        {**right_row("C. Long"), "sum:layer1.filter1[1,1]": "(" * 300},
    ]
    write_csv(tmp_path / "sums.csv", rows)
    code, out, err = run_stepper(
        capsys, "check", problem, tmp_path / "sums.csv", "--format", "md", "--out", tmp_path / "fb"
    )
    assert code == 2 and "A. Ok" in out
    lines = [line for line in err.splitlines() if line.startswith("stepper: skipped:")]
    assert 'row 3 (student "B. Zero"), column sum:layer1.filter1[1,1]:' in lines[0]
    assert 'row 4 (student "C. Long"), column sum:layer1.filter1[1,1]:' in lines[1] and len(lines[1]) < 400
