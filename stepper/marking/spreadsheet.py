"""A class from a spreadsheet: one student per row, one column per cell of the worked solution.

The columns are named by the stages of a working file: `layer1.filter1[1,2]` is row 1, column 2 of filter 1's
map, `layer6.z1` a dense neuron, `layer7.values[2]` the second entry of a vector; `sum:layer1.filter1[1,1]` holds
the sum written for that window (a conv2d window, a 1x1 filter's cell or a neuron). A column named by a stage
alone (`layer1.filter1`) takes that stage whole, typed as in a working file, so that a map of another shape (a
convolution done without padding) can be given too. `student` names the row, and `variant` the exam variant it
answers. A blank cell (empty, `?` or `_`) is unanswered; a stage whose cells are all blank is left out.

`read_answers` reads a CSV or an .xlsx into `Row`s, and `working_from_row` makes a row into a `Working` through
`working.working_from_table`, the reader of a working file's own table; a Moodle responses report is read into
the same rows elsewhere (`moodle_responses`). Every error names the row, the column and the student.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..core.errors import StepperError, suggestion
from ..core.load import NON_FINITE, read_text
from ..core.numbers import TooManyDigits, fraction
from ..core.spec import Problem
from ..core.stages import SUM_LAYERS, Stage, every_stage
from .working import Working, WrittenSum, working_from_table

if TYPE_CHECKING:
    from ..exams.manifest import Manifest

SHEET_SUFFIXES = (".csv", ".xlsx", ".xlsm", ".ods")
BLANK = ("", "?", "_")  # an unanswered cell
STUDENT, VARIANT, SUM = "student", "variant", "sum:"
MAX_SHEET_BYTES = 64 * 2**20
MAX_ROWS = 10_000  # students in one sheet; more is no class
XLSX_INSTALL = "reading .xlsx needs openpyxl: pip install 'stepper[xlsx]'"


class Row(NamedTuple):
    """One student's answers from a sheet (or a Moodle report): each cell's text by its column's name."""

    student: str
    variant: str | None
    cells: dict[str, str]  # column name (layer1.filter1[1,2], layer6.z1, sum:layer1.filter1[1,1]) -> text
    place: str  # where the row is, for messages: 'row 14 (student "B. Lee")'


def row_place(number: int, student: str) -> str:
    """'row 14 (student "B. Lee")', the student's name cut short to keep the line short."""
    name = " ".join(student.split())
    name = name if len(name) <= 40 else name[:37] + "..."
    return f'row {number} (student "{name}")' if name else f"row {number}"


# ---- the columns of a problem ----


class Layout(NamedTuple):
    """A problem's columns: each cell's stage and place in it, each sum's window, each stage by its own name."""

    cells: dict[str, tuple[Stage, int]]
    sums: dict[str, dict[str, int]]
    whole: dict[str, Stage]

    def names(self) -> list[str]:
        """Every column a sheet may have: the answer sheet's in reading order, then whole stages."""
        return [STUDENT, VARIANT, *self.cells, *self.sums, *self.whole]


_LAYOUTS: dict[int, tuple[Problem, Layout]] = {}


def layout(problem: Problem) -> Layout:
    """The problem's columns (kept per problem: a class is many rows of one problem)."""
    kept = _LAYOUTS.get(id(problem))
    if kept is not None and kept[0] is problem:
        return kept[1]
    cells: dict[str, tuple[Stage, int]] = {}
    sums: dict[str, dict[str, int]] = {}
    for stage in every_stage(problem):
        kind = problem.layers[stage.layer - 1].kind if not stage.backward else None
        for n, name in enumerate(cell_names(stage)):
            cells[name] = (stage, n)
            if kind in SUM_LAYERS:
                sums[SUM + name] = _window(stage, n, kind)
    made = Layout(cells, sums, {s.key: s for s in every_stage(problem)})
    _LAYOUTS[id(problem)] = (problem, made)
    return made


def cell_names(stage: Stage) -> list[str]:
    """A stage's cells in reading order: layer1.filter1[1,1], [1,2], ...; layer7.values[1], ...; layer6.z1."""
    if not stage.shape:
        return [stage.key]
    if len(stage.shape) == 1:
        return [f"{stage.key}[{i}]" for i in range(1, stage.shape[0] + 1)]
    rows, cols = stage.shape[0], stage.shape[-1]
    return [f"{stage.key}[{r},{c}]" for r in range(1, rows + 1) for c in range(1, cols + 1)]


def _window(stage: Stage, n: int, kind: str) -> dict[str, int]:
    """The [[window]] fields that pick the sum of a stage's n-th cell."""
    if kind == "dense":
        return {"layer": stage.layer, "neuron": stage.index[0] + 1}
    row, col = divmod(n, stage.shape[-1])
    picked = {"filter": stage.index[0] + 1} if SUM_LAYERS[kind] == "filter" else {}
    return {"layer": stage.layer, **picked, "row": row + 1, "column": col + 1}


def sheet_columns(source: Problem | Manifest) -> list[str]:
    """The blank answer sheet's columns: `student`, `variant` for an exam, each cell in reading order, then each
    written sum in the same order. An exam whose variants differ in shape gets every variant's columns, sorted
    by layer, part, row and column (cells first, then sums), so the order is the same whichever variant is
    first."""
    if isinstance(source, Problem):
        found = layout(source)
        return [STUDENT, *found.cells, *found.sums]
    union: dict[str, None] = {}
    for problem in source.problems.values():
        found = layout(problem)
        union.update(dict.fromkeys([*found.cells, *found.sums]))
    return [STUDENT, VARIANT, *sorted(union, key=_column_order)]


def _column_order(name: str) -> tuple:
    """sum: after cells, the backward pass's after the forward pass's (the loss first); then layer, part name,
    part number, row, column, all as numbers."""
    m = re.fullmatch(r"(sum:)?layer(\d+)\.((?:grad|dw|new)\.)?([a-z0-9_]+?)(\d*)(?:\[(\d+)(?:,(\d+))?\])?", name)
    if m is None:
        loss = re.fullmatch(r"loss(?:\[(\d+)\])?", name)
        return (False, 1, 0, "", 0, int(loss[1] or 0)) if loss else (2, name)
    is_sum, layer, group, part, number, *index = m.groups()
    backward = group is not None or part in ("db", "new_bias")
    return (bool(is_sum), int(backward), int(layer), group or "", part, int(number or 0), *(int(i or 0) for i in index))


def answer_sheet(source: Problem | Manifest) -> str:
    """The blank answer sheet as CSV: its header alone, which is stepper's mark (`writing.output`)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(sheet_columns(source))
    return out.getvalue()


def row_of_working(working: Working, problem: Problem) -> dict[str, str]:
    """A working as one row of the class sheet, cells as the student typed them: each cell in its column, a
    stage of another shape than the worked solution's (3x3 maps without padding) whole in the stage's column,
    each written sum in its `sum:` column. How a folder of working files becomes one spreadsheet."""
    row = {STUDENT: working.student} | ({VARIANT: working.variant} if working.variant else {})
    for answer in working.answers:
        stage, shape = answer.stage, answer.values.shape
        if shape == stage.shape and shape:
            row |= dict(zip(cell_names(stage), answer.written))
        else:
            width = shape[-1] if shape else 1
            written = answer.written
            row[stage.key] = "\n".join(" ".join(written[i : i + width]) for i in range(0, len(written), width))
    for w in working.sums:
        row[sum_column(w, problem)] = w.text
    return row


def sum_column(w: WrittenSum, problem: Problem) -> str:
    """The sheet's column of a written sum: sum:layer1.filter1[1,2], sum:layer4.map[1,1], sum:layer6.z1."""
    kind = problem.layers[w.layer - 1].kind
    if kind == "dense":
        return f"sum:layer{w.layer}.z{w.row + 1}"
    part = f"filter{w.map + 1}" if kind == "conv2d" else "map"
    return f"sum:layer{w.layer}.{part}[{w.row + 1},{w.col + 1}]"


def sheet_of_rows(rows: list[dict[str, str]], source: Problem | Manifest) -> str:
    """Rows (`row_of_working`) as a filled class sheet in CSV: the blank sheet's columns, then any whole-stage
    column a row needs, in the same order."""
    columns = sheet_columns(source)
    extra = sorted({c for row in rows for c in row} - set(columns), key=_column_order)
    out = io.StringIO()
    writer = csv.DictWriter(out, columns + extra, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# ---- a row made into a working ----


def working_from_row(row: Row, problem: Problem, source: str) -> Working:
    """The row's working against `problem` (its variant's, for an exam); `source` is the sheet's name, and
    errors are located in it at the row and the column."""
    found = layout(problem)
    grids: dict[Stage, list[str | None]] = {}
    whole: dict[Stage, str] = {}
    windows: list[tuple[str, dict]] = []  # each sum's column and its [[window]] table
    try:
        _cells(row, found, grids, whole, windows)
    except StepperError as e:
        raise e.located(file=source) from None
    tables: dict[str, Any] = {}
    for stage in every_stage(problem):
        if stage in whole and stage in grids:
            raise StepperError(
                f"{stage.key} is given whole and cell by cell: leave one of them blank",
                file=source,
                place=f"{row.place}, column {stage.key}",
            )
        text = whole.get(stage) or (_grid_text(stage, grids[stage]) if stage in grids else None)
        if text is not None:  # in the working file's table its stage's name gives: layer6.dw.neuron1, loss
            *path, part = stage.key.split(".")
            table: dict[str, Any] = tables
            for name in path:
                table = table.setdefault(name, {})
            table[part] = text
    data: dict = {STUDENT: row.student, **tables, "window": [w for _, w in windows]}
    if row.variant is not None:
        data[VARIANT] = row.variant
    try:
        return working_from_table(data, problem, name=source, default_student=row.student)
    except StepperError as e:
        column = _column_of(e.place, [c for c, _ in windows])
        raise StepperError(e.message, file=source, place=f"{row.place}, {column}") from None


def _cells(
    row: Row,
    found: Layout,
    grids: dict[Stage, list[str | None]],
    whole: dict[Stage, str],
    windows: list[tuple[str, dict]],
) -> None:
    """The row's cells sorted into each stage's grid, the stages given whole and the written sums."""
    for column, text in row.cells.items():
        text = text.strip()
        if text in BLANK:
            continue
        place = f"{row.place}, column {column}"
        if column in found.cells:
            stage, n = found.cells[column]
            grids.setdefault(stage, [None] * _size(stage))[n] = cell_number(text, place)
        elif column in found.sums:
            windows.append((column, {**found.sums[column], "sum": text}))
        elif column in found.whole:
            whole[found.whole[column]] = text
        else:
            raise _unknown_column(column, found, place=place)


def _size(stage: Stage) -> int:
    size = 1
    for n in stage.shape:
        size *= n
    return size


def _grid_text(stage: Stage, cells: list[str | None]) -> str:
    """The stage as a working file types it: a map's rows on lines, a vector on one; `?` for a blank."""
    typed = ["?" if c is None else c for c in cells]
    if len(stage.shape) < 2:
        return " ".join(typed)
    width = stage.shape[-1]
    return "\n".join(" ".join(typed[i : i + width]) for i in range(0, len(typed), width))


def _column_of(place: str | None, sums: list[str]) -> str:
    """A working file's place ('[layer1] filter1, row 2', '[[window]] 3') as the sheet's ('column
    layer1.filter1, row 2', 'column sum:layer6.z1')."""
    m = re.match(r"\[(layer\d+)\] (\w+)(.*)", place or "")
    if m:
        return f"column {m[1]}.{m[2]}{m[3]}"
    m = re.match(r"\[\[window\]\] (\d+)", place or "")
    if m and 0 < int(m[1]) <= len(sums):
        return f"column {sums[int(m[1]) - 1]}"
    return place or "its cells"


def cell_number(text: str, place: str) -> str:
    """The cell's text, checked to be one number as a working file takes it (`-7`, `0.9526`, `1/2`)."""
    typed = text.replace("\u2212", "-")  # a pasted minus sign
    if re.fullmatch(r"-?\d+,\d+", typed):
        raise StepperError(
            f"expected a number, found {_quoted(text)}: write decimals with a point (0.5, not 0,5)", place=place
        )
    if len(typed.split()) > 1:
        raise StepperError(f"expected one number, found {_quoted(text)}", place=place)
    if NON_FINITE.fullmatch(typed):
        raise StepperError(f"expected a finite number, found {_quoted(text)}", place=place)
    try:
        fraction(typed)
    except TooManyDigits as e:
        raise StepperError(str(e), place=place) from None
    except (ValueError, ZeroDivisionError, ArithmeticError):
        raise StepperError(f"expected a number such as -7, 0.9526 or 1/2, found {_quoted(text)}", place=place) from None
    return typed


def _quoted(text: str) -> str:
    return '"' + (text if len(text) <= 30 else text[:27] + "...") + '"'


def _unknown_column(column: str, found: Layout, *, place: str, file: str | None = None) -> StepperError:
    names = found.names()
    shown = column if len(column) <= 40 else column[:37] + "..."
    near = suggestion(column, names) or suggestion(re.sub(r"\s+", "", column), names)
    return StepperError(
        f"unknown column {shown!r}: {near}expected student, variant, a cell such as {names[2]} or a sum "
        "such as " + next(iter(found.sums), "sum:layer1.filter1[1,1]") + " (see `stepper check "
        "--answer-sheet`)",
        file=file,
        place=place,
    )


def check_columns(header: Iterable[str], source: Problem | Manifest, file: str) -> None:
    """Every column of the sheet is one that the problem (or some variant of the exam) knows."""
    problems = [source] if isinstance(source, Problem) else list(source.problems.values())
    known = [layout(p) for p in problems]
    for column in header:
        if column in (STUDENT, VARIANT) or any(
            column in k.cells or column in k.sums or column in k.whole for k in known
        ):
            continue
        raise _unknown_column(column, known[0], place=f"row 1, column {column}", file=file)


# ---- reading a sheet ----


def is_sheet(path: Path) -> bool:
    return path.suffix.lower() in SHEET_SUFFIXES


def read_answers(path: Path) -> list[Row]:
    """The sheet's rows, one per student (rows left wholly blank are passed over). Each row's cells hold every
    column but `student` and `variant`, blank ones as ""."""
    return rows_from_table(_table(path), str(path))


def read_header(path: Path) -> list[str]:
    """The sheet's first row, as it stands."""
    return next(iter(_table(path)), [])


def _table(path: Path) -> list[list[str]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_table(path)
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_table(path)
    if suffix == ".ods":
        raise StepperError("an .ods spreadsheet cannot be read: save it as .xlsx or .csv", file=str(path))
    raise StepperError(f"not a spreadsheet: expected {', '.join(SHEET_SUFFIXES[:-1])}", file=str(path))


def _csv_table(path: Path) -> list[list[str]]:
    """The CSV's rows of text; a sheet saved with semicolons or tabs between cells (as a spreadsheet in a
    language with a decimal comma saves it) is read too."""
    try:
        text = read_text(path, str(path), MAX_SHEET_BYTES)
    except StepperError as e:
        if "decode" in e.message:
            raise StepperError("not UTF-8 text: save the sheet as CSV UTF-8", file=str(path)) from None
        raise
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=lambda d: _header_score(first, d))
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as e:
        raise StepperError(f"not a readable CSV: {e}", file=str(path)) from None


def _header_score(line: str, delimiter: str) -> tuple[bool, int]:
    try:
        header = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return (False, 0)
    return (any(h.strip().casefold() == STUDENT for h in header), len(header))


def _xlsx_table(path: Path) -> list[list[str]]:
    """The first worksheet's rows of text: numbers as typed (6, not 6.0), formulas by their last value."""
    try:
        import openpyxl
    except ImportError:
        raise StepperError(XLSX_INSTALL, file=str(path)) from None
    from ..core.load import read_regular

    data = read_regular(path, str(path), MAX_SHEET_BYTES)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        # The same sheet with its formulas: a formula whose value was never saved (a file written by a program,
        # not by Excel or LibreOffice) reads as empty, which would mark a student's answer as left blank.
        written = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        try:
            sheet, formulas = book.worksheets[0], written.worksheets[0].iter_rows(values_only=True)
            rows = []
            for n, cells in enumerate(sheet.iter_rows(), 1):
                if n > MAX_ROWS + 1:
                    raise StepperError(f"more than {MAX_ROWS:,} rows: split the class", file=str(path))
                _no_unsaved_formula(cells, next(formulas, ()), n, path)
                rows.append([_xlsx_text(c.value) for c in cells])
            return rows
        finally:
            book.close()
            written.close()
    except StepperError:
        raise
    except Exception as e:  # noqa: BLE001 - a broken workbook, in whatever way openpyxl finds it broken
        raise StepperError(f"not a readable .xlsx workbook: {type(e).__name__}: {e}", file=str(path)) from None


def _no_unsaved_formula(cells: tuple, formulas: tuple, row: int, path: Path) -> None:
    """Refuse a cell that holds a formula but no saved value: its answer cannot be read. (A formula whose saved
    result is the empty string, as Excel saves `=IF(..., "", ...)`, is typed as a string: a blank answer.)"""
    from openpyxl.utils import get_column_letter

    for k, (cell, formula) in enumerate(zip(cells, formulas)):
        formula = getattr(formula, "text", formula)  # an array formula keeps its text apart
        unsaved = cell.value is None and getattr(cell, "data_type", "n") not in ("s", "str", "inlineStr")
        if unsaved and isinstance(formula, str) and formula.startswith("="):
            shown = formula if len(formula) <= 40 else formula[:37] + "..."
            raise StepperError(
                f"cell {get_column_letter(k + 1)}{row} holds a formula ({shown}) with no saved value: open the "
                "workbook in Excel or LibreOffice and save it, so that its values are stored, or type the values",
                file=str(path),
            )


def _xlsx_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if hasattr(value, "isoformat"):  # a spreadsheet turned 1/2 into a date: say so, in the cell's error
        return f"a date ({value.isoformat()})"
    return str(value)


def rows_from_table(table: list[list[str]], file: str) -> list[Row]:
    """Rows from a sheet's cells: the first row names the columns (one of them `student`)."""
    if not table:
        raise StepperError("is empty: expected a header row naming the columns (student, ...)", file=file)
    header = [_column_name(h) for h in table[0]]
    while header and not header[-1]:
        header.pop()  # empty columns after the last named one
    _check_header(header, file)
    if len(table) > MAX_ROWS + 1:
        raise StepperError(f"more than {MAX_ROWS:,} rows: split the class", file=file)
    keys = {h.casefold(): h for h in header if h.casefold() in (STUDENT, VARIANT)}
    rows = []
    for number, cells in enumerate(table[1:], 2):
        if not any(c.strip() for c in cells):
            continue
        rows.append(_row(number, header, cells, keys, file))
    if not rows:
        raise StepperError("holds no students: each row after the header is one student's answers", file=file)
    return rows


def _column_name(text: str) -> str:
    """A header cell as a column's name: spaces taken out (`layer1.filter1[1, 2]`), a student column in any
    case."""
    name = "".join(unicodedata.normalize("NFKC", text).split())
    return name.casefold() if name.casefold() in (STUDENT, VARIANT) else name


def _check_header(header: list[str], file: str) -> None:
    if STUDENT not in header:
        raise StepperError(
            "no 'student' column: the first row names the columns (student, then layer1.filter1[1,1], ...); "
            "`stepper check --answer-sheet PROBLEM` writes a blank sheet",
            file=file,
            place="row 1",
        )
    for number, name in enumerate(header, 1):
        if not name:
            raise StepperError(
                "a column with no name: every column needs one", file=file, place=f"row 1, column {number}"
            )
        if header.index(name) != number - 1:
            raise StepperError(
                f"the column {name!r} is named twice, as columns {header.index(name) + 1} and {number}",
                file=file,
                place="row 1",
            )


def _row(number: int, header: list[str], cells: list[str], keys: dict[str, str], file: str) -> Row:
    extra = [c for c in cells[len(header) :] if c.strip()]
    student = cells[header.index(STUDENT)].strip() if header.index(STUDENT) < len(cells) else ""
    if extra:
        raise StepperError(
            f"has a cell beyond the last named column ({len(header)}): {extra[0][:20]!r}",
            file=file,
            place=row_place(number, student),
        )
    values = dict(zip(header, [*cells, *[""] * (len(header) - len(cells))]))
    if not student:
        raise StepperError(
            "no student named: each row is one student's answers", file=file, place=f"row {number}, column student"
        )
    variant = values.pop(VARIANT, "").strip() or None
    del values[STUDENT]
    return Row(student, variant, values, row_place(number, student))


def duplicates(rows: list[Row]) -> Iterator[tuple[str, list[Row]]]:
    """Each student name that more than one row gives, with those rows."""
    by_name: dict[str, list[Row]] = {}
    for row in rows:
        by_name.setdefault(" ".join(row.student.split()).casefold(), []).append(row)
    for same in by_name.values():
        if len(same) > 1:
            yield same[0].student, same


# ---- report names ----

_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def file_stem(student: str, fallback: str) -> str:
    """A student's name as the start of a file name: letters, digits, `.`, `_` and `-` only, no leading dot,
    at most 60 characters; `fallback` when nothing is left (the name is untrusted text)."""
    text = unicodedata.normalize("NFKC", student)
    stem = re.sub(r"\W+", "-", text).strip("-_")[:60].strip("-_")
    stem = re.sub(r"\.{2,}", ".", stem)
    if not stem or stem.casefold().split(".")[0] in _RESERVED:
        stem = f"{fallback}-{stem}" if stem else fallback
    return stem


def unique_stems(rows: list[Row], taken: set[str]) -> list[str]:
    """A report name for each row, from its student's name, none the same as another's or one in `taken`
    (compared without case, as some file systems do): B-Lee, then B-Lee-2."""
    seen = {t.casefold() for t in taken}
    stems = []
    for n, row in enumerate(rows, 1):
        base = file_stem(row.student, f"row-{row.place.split()[1] if row.place.startswith('row ') else n}")
        stem, k = base, 1
        while stem.casefold() in seen:
            k += 1
            stem = f"{base}-{k}"
        seen.add(stem.casefold())
        stems.append(stem)
    return stems
