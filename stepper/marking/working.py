"""A student's working: read from a working file, checked against the problem's stages.

A working file is TOML, typed in from paper. Each layer's table holds the
values written for its stages, as whitespace grids; any stage may be left out.
A `[[window]]` entry holds one written sum:

    student = "A. Student"

    [layer1]                # or [conv2d], when only one layer is a conv2d
    filter1 = '''
    -7 ...
    '''

    [dense]
    z1 = 0.5095

    [[window]]
    layer = 1
    filter = 1
    row = 1
    column = 2
    sum = "0 + 2 - 1 - 5 - 2"

Partial answers. A cell left blank is typed `?` or `_` (a spreadsheet's empty
cell comes in as `?`): it is unanswered, never wrong, and earns nothing. A map
typed with some of its rows only says which rows they are, beside it in the
layer's table: `rows = "1"` (or "1,3", "1-2", 2, [1, 3]) for every map of the
table, or `filter2_rows = "3-4"` for one map (`<part>_rows`, which wins over
`rows`). The rows typed are those rows of the map, in that order, each as wide
as the map; the rows not typed are unanswered:

    [layer1]
    filter1 = "-7 -6 -5 -9"
    rows = "1"

A stage whose every cell is blank is left out.

The backward pass (a problem with [train]). Each value's place in the file is
its stage's name (`stepper.core.stages.backward_stages`): the loss at the top
of the file, before any table; each layer's gradients in subtables of its
table, parted as the forward stages are (dL/d(output): `[layer6.grad]`), as
its weights are (dL/dW: `[layer6.dw]`, a dense neuron's grid shaped like its
weights, `filter1` or `filter1_channel2` for filters, `values` for a 1x1
filter) and its updated weights (`[layer6.new]`). A layer's bias goes in the
same subtables as `bias` (or, by its stage's name, `db = ...` and
`new_bias = ...` in the layer's own table). A parameter's values may be laid
out otherwise than the problem writes them (a neuron's four weights as one
row or as a 2x2 grid): they are read in reading order. Blank cells and `rows`
work there as in the forward tables, and `[dense.grad]` names the dense
layer's when it is the only one:

    loss = 0.8354           # at the top: a table header ends the top level

    [layer6.grad]           # dL/dz of each neuron
    z1 = -0.5663
    z2 = 0.5663

    [layer6.dw]             # dL/dW, each neuron's grid laid out as its weights
    neuron1 = '''
    -0.5395 -0.2832
    -0.4988 -0.4988
    '''

    [layer6.new]            # the weights after the step, laid out alike
    neuron1 = '''
    0.154  0.3283
    0.2499 0.1499
    '''

    [layer1.grad]           # dL/d(feature map) of filter 1: a 4x4 grid
    filter1 = '''
    ...
    '''

Values keep the text the student wrote, so a report quotes them as written.
Nothing here judges the working; that is `marker`'s job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core.errors import StepperError, suggestion
from ..core.load import NON_FINITE, cell_place, culprit, read_text, read_toml, shown
from ..core.numbers import TooManyDigits, Values, fraction, from_numbers, plain_number
from ..core.reading import list_of_tables
from ..core.spec import Problem
from ..core.stages import SUM_LAYERS, Stage, every_stage, stages, table_names

TOP_FIELDS = {"student", "note", "variant", "window", "loss"}
LOSS = "loss"  # the loss, written at the top of the file (a problem with [train])
# The subtables of a layer's table that hold its backward stages, each by the first piece of the stage's part
# (grad.z1, dw.neuron1, new.filter1), with what they hold in words; and the single stages a layer's bias gives,
# by the name it has in the subtable (`bias`) and its stage's own part.
GROUPS = {
    "grad": "dL/d(output), parted as the layer's output",
    "dw": "dL/dW, parted as the layer's weights, and dL/db as bias",
    "new": "the updated weights, and the updated bias as bias",
}
BIAS_STAGES = {"dw": "db", "new": "new_bias"}
WINDOW_FIELDS = {"layer", "filter", "neuron", "row", "column", "sum"}
BLANK = ("?", "_")  # how a cell left blank is typed
ROWS = "rows"  # the field of a layer's table naming the rows of its maps that are typed; <part>_rows for one map


class Answer(NamedTuple):
    """The values a student gave for one stage."""

    stage: Stage
    values: Values  # exact, in the shape written (which may not be the stage's)
    written: tuple[str, ...]  # each cell as typed, row by row ("?" for a cell left blank)
    place: str  # where it is in the file, for messages
    blank: tuple[bool, ...] = ()  # per cell, row by row: left blank (unanswered); () when every cell is answered

    @property
    def answered(self) -> np.ndarray:
        """Which cells were answered, in the shape written."""
        if not self.blank:
            return np.ones(self.values.shape, dtype=bool)
        return ~np.array(self.blank, dtype=bool).reshape(self.values.shape)


class WrittenSum(NamedTuple):
    """A sum the student wrote for one window (a conv cell), one 1×1-filter cell or one neuron."""

    layer: int
    map: int  # 0-based filter (conv2d); 0 otherwise
    row: int  # 0-based cell of the map; for a neuron, its index
    col: int
    text: str
    place: str


@dataclass(frozen=True)
class Working:
    student: str
    source: str  # the file's name, for messages
    answers: tuple[Answer, ...]
    sums: tuple[WrittenSum, ...]
    note: str = ""
    variant: str | None = None  # an exam variant's id, when the working answers one

    def answer(self, stage: Stage) -> Answer | None:
        for a in self.answers:
            if a.stage == stage:
                return a
        return None


def load_working(path: str | Path, problem: Problem, *, name: str | None = None) -> Working:
    path = Path(path)
    name = name or str(path)
    return loads_working(read_text(path, name), problem, name=name, default_student=path.stem)


def loads_working(text: str, problem: Problem, *, name: str = "<working>", default_student: str = "student") -> Working:
    return working_from_table(read_toml(text, name), problem, name=name, default_student=default_student)


def working_from_table(data: dict, problem: Problem, *, name: str, default_student: str = "student") -> Working:
    """A working from its table as TOML would give it (`student`, a table per layer of its stages' grids as text,
    `[[window]]` sums): how a row of a class spreadsheet or a Moodle response becomes a working. Errors are
    located in `name`."""
    try:
        return _working(data, problem, name, default_student)
    except StepperError as e:
        raise e.located(file=name) from None


def _working(data: dict, problem: Problem, name: str, default_student: str) -> Working:
    tables = table_names(problem)
    by_layer: dict[int, list[Stage]] = {}
    for s in every_stage(problem):
        by_layer.setdefault(s.layer, []).append(s)
    answers: list[Answer] = []
    seen: dict[int, str] = {}  # layer number -> the table that gave it
    for key, raw in data.items():
        if key == LOSS:
            answers += _loss(raw, problem)
            continue
        if key in TOP_FIELDS:
            continue
        if key not in tables:
            names = list(tables) + sorted(TOP_FIELDS)
            raise StepperError(
                f"unknown stage {key!r}: {suggestion(key, names)}expected {_choices(names)}",
                place=f"[{key}]" if isinstance(raw, dict) else f"field {key!r}",
            )
        number = tables[key]
        if number in seen:
            raise StepperError(f"layer {number} is given twice, as [{seen[number]}] and [{key}]", place=f"[{key}]")
        seen[number] = key
        if not isinstance(raw, dict):
            raise StepperError(
                f"expected a table of values, such as [{key}] with "
                f"{by_layer[number][0].part} = ..., found {_what(raw)}",
                place=f"field {key!r}",
            )
        answers += _layer_answers(key, raw, by_layer[number], problem)
    student = _text(data.get("student", default_student), "field 'student'")
    note = _text(data.get("note", ""), "field 'note'")
    variant = data.get("variant")
    if isinstance(variant, int) and not isinstance(variant, bool):
        if not 0 <= variant < 10**9:
            raise StepperError(
                f'expected the variant on the question sheet, such as "007", found {shown(variant)}',
                place="field 'variant'",
            )
        variant = str(variant)  # variant = 7, as a student types it: the sheet says 007
    if variant is not None:
        variant = _text(variant, "field 'variant'").strip()
    windows = list_of_tables(data, "window", "written sums", "sum")
    sums = tuple(_written_sum(n, w, problem) for n, w in enumerate(windows, 1))
    return Working(student.strip() or default_student, name, tuple(answers), sums, note, variant)


def _loss(raw, problem: Problem) -> list[Answer]:
    """`loss = 0.8354` at the top of the file: the backward pass's first stage."""
    if problem.train is None:
        raise StepperError(
            "the problem has no [train] table, so no loss is asked: leave 'loss' out", place=f"field {LOSS!r}"
        )
    if isinstance(raw, dict):
        raise StepperError(
            f"expected the loss as one number at the top of the file, before any table: {LOSS} = 0.8354; "
            f"found a [{LOSS}] table",
            place=f"[{LOSS}]",
        )
    found = _answer(Stage(0, LOSS, (), ()), raw, f"field {LOSS!r}")
    return [found] if found is not None else []


def _layer_answers(key: str, raw: dict, layer_stages: list[Stage], problem: Problem) -> list[Answer]:
    """A layer's table: its forward stages, its bias's backward stages by their own names (db, new_bias), and
    a subtable for each group of backward stages (grad, dw, new)."""
    parts = {s.part: s for s in layer_stages if "." not in s.part}
    groups = {g: {s.part.partition(".")[2]: s for s in layer_stages if s.part.startswith(g + ".")} for g in GROUPS}
    for group, single in BIAS_STAGES.items():
        bias = parts.get(single)
        if bias is not None:
            groups[group]["bias"] = bias
    answers: list[Answer] = []
    for group, value in raw.items():
        if group not in GROUPS:
            continue
        if not groups[group]:
            raise StepperError(_no_group(group, layer_stages[0].layer, problem), place=f"[{key}.{group}]")
        if not isinstance(value, dict):
            example = next(iter(groups[group]))
            raise StepperError(
                f"expected a table of values, such as [{key}.{group}] with {example} = ..., found {_what(value)}",
                place=f"[{key}] {group}",
            )
        answers += _table_answers(f"{key}.{group}", value, groups[group])
    forward = {k: v for k, v in raw.items() if k not in GROUPS}
    for part, value in forward.items():
        if part in BIAS_STAGES.values() and isinstance(value, dict):
            group = next(g for g, single in BIAS_STAGES.items() if single == part)
            if part not in parts:
                raise StepperError(_no_group(part, layer_stages[0].layer, problem), place=f"[{key}.{part}]")
            raise StepperError(
                f"{key}.{part} is one vector, not a table: write bias = ... in [{key}.{group}] "
                f"(or {part} = ... in [{key}])",
                place=f"[{key}.{part}]",
            )
    taken = {a.stage for a in answers}
    for a in _table_answers(key, forward, parts, known=[*parts, *(g for g in GROUPS if groups[g])]):
        if a.stage in taken:
            raise StepperError(f"{a.stage.key} is given twice: as bias in a subtable, and here", place=a.place)
        answers.append(a)
    return answers


def _no_group(name: str, number: int, problem: Problem) -> str:
    """Why a layer has no backward stages called `name` (grad, dw, new, db, new_bias): the problem trains
    nothing, the layer has no weights or no bias, or it sits above where the backward pass starts."""
    if problem.train is None:
        return f"the problem has no [train] table, so no gradient is asked: [layer{number}.{name}] has nothing to hold"
    kind = problem.layers[number - 1].kind
    if name in BIAS_STAGES.values():
        updated = name == "db" or problem.train.update_bias
        return f"layer {number} ({kind}) has no bias" + ("" if updated else " to update: [train] update_bias = false")
    if name == "grad":
        return (
            f"layer {number} ({kind}) has no gradient to write: with {problem.train.loss} after it, the backward "
            f"pass starts at the output of layer {number - 1} (dL/dz = yhat - y)"
        )
    return f"layer {number} ({kind}) has no weights, so nothing to write in [layer{number}.{name}]"


def _table_answers(key: str, raw: dict, parts: dict[str, Stage], known: list[str] | None = None) -> list[Answer]:
    """The answers of one table of a working file: each of its parts, with the rows typed (`rows`,
    `<part>_rows`); `known` names what the table may hold, for messages (its parts by default)."""
    parts = dict(parts)
    if "map" in parts:
        parts["channel1"] = parts["map"]  # a one-channel map may be called either
    rows = _rows_given(key, raw, parts)
    answers: list[Answer] = []
    for part, value in raw.items():
        if part == ROWS or part.endswith("_" + ROWS):
            continue
        if part not in parts:
            names = known if known is not None else [p for p in parts if p != "channel1" or "map" not in parts]
            raise StepperError(_unknown_part(part, names, key), place=f"[{key}]")
        stage = parts[part]
        if any(a.stage == stage for a in answers):
            raise StepperError(f"{part!r} gives {stage.part} a second time", place=f"[{key}] {part}")
        picked = rows.get(part, rows.get(ROWS)) if len(stage.shape) == 2 else None
        found = _answer(stage, value, f"[{key}] {part}", picked)
        if found is not None:
            answers.append(found)
    return answers


def _unknown_part(part: str, names: list[str], key: str) -> str:
    if part == LOSS:
        return f"the loss goes at the top of the file, before any table: {LOSS} = ..."
    if not names:
        return f"unknown part {part!r}: [{key}] has nothing to hold"
    return f"unknown part {part!r}: {suggestion(part, names)}expected {_choices(names)}"


def _answer(stage: Stage, value, place: str, picked: list[int] | None = None) -> Answer | None:
    """One stage's values as typed (None when every cell is blank: as if left out)."""
    cells, shape = _cells(value, place, len(stage.shape))
    if picked is not None:
        cells, shape = _placed(cells, shape, picked, stage.shape, place)
    blank = [_is_blank(c) for c in cells]
    if all(blank):
        return None
    numbers = [
        Fraction(0) if b else _number(c, f"{place}{cell_place(i, shape)}") for i, (c, b) in enumerate(zip(cells, blank))
    ]
    try:
        values = from_numbers(numbers, shape)
    except ValueError as e:
        raise StepperError(str(e), place=place + culprit(numbers, shape)) from None
    if _parameter(stage) and shape != stage.shape and values.data.size == int(np.prod(stage.shape)):
        values = values.reshape(*stage.shape)  # a neuron's weights as a grid or a row: read in reading order
    typed = tuple("?" if b else _typed(c) for c, b in zip(cells, blank))
    return Answer(stage, values, typed, place, tuple(blank) if any(blank) else ())


def _parameter(stage: Stage) -> bool:
    """A stage of a layer's parameters (dL/dW, dL/db, the updated weights or bias): laid out as the weights are
    written in the problem, which a student may write in another layout of the same cells."""
    return stage.part.startswith(("dw.", "new.")) or stage.part in BIAS_STAGES.values()


def _is_blank(cell) -> bool:
    return cell is None or (isinstance(cell, str) and cell.strip() in BLANK)


def _rows_given(key: str, raw: dict, parts: dict[str, Stage]) -> dict[str, list[int]]:
    """The rows typed of each map that says so (`<part>_rows`), and of every map of the table (`rows`)."""
    found: dict[str, list[int]] = {}
    maps = {p: s for p, s in parts.items() if len(s.shape) == 2}
    for field, value in raw.items():
        if field != ROWS and not field.endswith("_" + ROWS):
            continue
        part = field[: -len(ROWS) - 1] if field != ROWS else None
        place = f"[{key}] {field}"
        if part is not None and part not in maps:
            names = [f"{p}_{ROWS}" for p in maps] + [ROWS]
            why = f"{part!r} is not a map of this layer" if part not in parts else f"{part!r} is not a map"
            raise StepperError(f"{why}: rows are picked of a map, with {_choices(names)}", place=place)
        if part is None and not maps:
            raise StepperError("this layer has no map: rows are picked of a map", place=place)
        height = (maps[part] if part else next(iter(maps.values()))).shape[0]
        found[field if part is None else part] = _row_numbers(value, height, place)
    return found


def _row_numbers(raw, height: int, place: str) -> list[int]:
    """`"1"`, `"1,3"`, `"1-2"`, `2` or `[1, 3]`: 1-based rows of a map `height` rows high, as 0-based."""
    items: list = raw if isinstance(raw, list) else [raw]
    numbers: list[int] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            numbers.append(item)
            continue
        text = item if isinstance(item, str) else None
        pieces = [p.strip() for p in text.split(",")] if text is not None else [""]
        for piece in pieces:
            span = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", piece)
            if not span or (span[2] and int(span[2]) < int(span[1])):
                raise StepperError(f'expected rows such as "1", "1,3" or "1-2", found {_what(raw)}', place=place)
            numbers += range(int(span[1]), int(span[2] or span[1]) + 1)
    for n in numbers:
        if not 1 <= n <= height:
            raise StepperError(f"row {n} is outside the map's {height} rows: expected 1 to {height}", place=place)
    if len(set(numbers)) != len(numbers):
        raise StepperError(f"a row is named twice in {_what(raw)}", place=place)
    return [n - 1 for n in numbers]


def _placed(
    cells: list, shape: tuple[int, ...], rows: list[int], full: tuple[int, ...], place: str
) -> tuple[list, tuple[int, ...]]:
    """The rows typed put in their places in the whole map, the rest left blank."""
    typed = shape[0] if len(shape) == 2 else 1
    width = shape[-1] if shape else 1
    if typed != len(rows):
        raise StepperError(
            f"{typed} row{'s' * (typed != 1)} typed but {len(rows)} named in rows: expected one typed row "
            "for each row named",
            place=place,
        )
    if width != full[1]:
        raise StepperError(
            f"each row typed has {width} numbers but the map is {full[1]} wide: expected whole rows", place=place
        )
    grid: list = [None] * (full[0] * full[1])
    for k, r in enumerate(rows):
        grid[r * width : (r + 1) * width] = cells[k * width : (k + 1) * width]
    return grid, full


def _cells(raw, place: str, ndim: int) -> tuple[list, tuple[int, ...]]:
    """A grid (text or rows), a vector (text or list) or one number, flat, with its shape; `ndim` is the
    stage's own (0 for one number, 1 for a vector, 2 for a map), which says how a single row is meant."""
    rows: list[list]
    if isinstance(raw, str):
        comma = re.search(r"\d,\d", raw)
        if comma:  # 0,9526: a decimal comma, which would otherwise split one number into two cells
            line = raw[: comma.start()].count("\n") - raw[: len(raw) - len(raw.lstrip())].count("\n") + 1
            raise StepperError(
                f"'{raw[max(comma.start() - 3, 0) : comma.end() + 3].strip()}' looks like a decimal "
                "comma: write decimals with a point (0.9526) and separate numbers with spaces",
                place=f"{place}, row {line}",
            )
        rows = [line.replace(",", " ").split() for line in raw.strip().splitlines()]
        rows = [r for r in rows if r]
        if not rows:
            raise StepperError("expected numbers, found none", place=place)
    elif isinstance(raw, list) and raw and all(isinstance(r, list) for r in raw):
        rows = raw
    elif isinstance(raw, list) and raw:
        rows = [raw]
    elif isinstance(raw, (int, Decimal, str)) and not isinstance(raw, bool):
        rows = [[raw]]
    else:
        raise StepperError(f"expected a number or a grid of numbers, found {_what(raw)}", place=place)
    for r, row in enumerate(rows, 1):
        if len(row) != len(rows[0]):
            raise StepperError(
                f"row {r} has {len(row)} numbers but row 1 has {len(rows[0])}: expected a rectangular grid",
                place=f"{place}, row {r}",
            )
    if not rows[0]:
        raise StepperError("expected numbers, found an empty row", place=f"{place}, row 1")
    flat = [c for row in rows for c in row]
    if len(rows) == 1 and ndim < 2:
        return flat, (() if ndim == 0 and len(flat) == 1 else (len(flat),))
    if ndim == 1 and len(rows[0]) == 1:
        return flat, (len(flat),)  # a vector written down the page, one number a line
    return flat, (len(rows), len(rows[0]))


def _number(raw, place: str) -> Fraction:
    if isinstance(raw, bool) or isinstance(raw, (list, dict)):
        raise StepperError(f"expected a number, found {_what(raw)}", place=place)
    if isinstance(raw, int):
        return Fraction(raw)
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise StepperError(f"expected a finite number, found {shown(raw)}", place=place)
    text = raw if isinstance(raw, Decimal) else str(raw).strip().replace("\u2212", "-")  # a pasted minus sign
    if isinstance(text, str) and NON_FINITE.fullmatch(text):
        raise StepperError(f"expected a finite number, found {raw!r}", place=place)
    try:
        return fraction(text)
    except TooManyDigits as e:
        raise StepperError(str(e), place=place) from None
    except (ValueError, ZeroDivisionError):
        raise StepperError(f"expected a number such as -7, 0.9526 or 1/2, found {raw!r}", place=place) from None


def _typed(raw) -> str:
    """A cell as typed, kept to quote it back (already read as a number, so only digits and signs remain)."""
    return str(raw).strip().replace("\u2212", "-").replace("_", "")


def _written_sum(n: int, raw: dict, problem: Problem) -> WrittenSum:
    place = f"[[window]] {n}"
    unknown = sorted(set(raw) - WINDOW_FIELDS)
    if unknown:
        raise StepperError(
            f"unknown field {unknown[0]!r}: {suggestion(unknown[0], WINDOW_FIELDS)}"
            f"expected {_choices(sorted(WINDOW_FIELDS))}",
            place=place,
        )
    for needed in ("layer", "sum"):
        if needed not in raw:
            raise StepperError(f"missing {needed!r}", place=place)
    layer = _whole(raw["layer"], f"{place}, layer", 1, len(problem.layers))
    kind = problem.layers[layer - 1].kind
    if kind not in SUM_LAYERS:
        raise StepperError(
            f"layer {layer} ({kind}) has no sums to write: a sum belongs to a conv2d window, "
            "a conv1x1 cell or a dense neuron",
            place=f"{place}, layer",
        )
    text = raw["sum"]
    if not isinstance(text, str) or not text.strip():
        raise StepperError(f'expected the sum as text, such as "0 + 2 - 1", found {_what(text)}', place=f"{place}, sum")
    shape = problem.shapes()[layer]
    if kind == "dense":
        _absent(raw, ("filter", "row", "column"), place, "a neuron is picked by 'neuron'")
        k = _whole(raw.get("neuron", 1), f"{place}, neuron", 1, shape[0], "neurons")
        return WrittenSum(layer, 0, k - 1, 0, text, place)
    _absent(raw, ("neuron",), place, "a map's cell is picked by 'row' and 'column'")
    if kind == "conv1x1":
        _absent(raw, ("filter",), place, "a 1x1 filter makes one map")
    f = _whole(raw.get("filter", 1), f"{place}, filter", 1, shape[0], "filters")
    for needed in ("row", "column"):
        if needed not in raw:
            raise StepperError(f"missing {needed!r}: which cell of the map the sum is for", place=place)
    what = f"the {shape[1]}x{shape[2]} map"
    row = _whole(raw["row"], f"{place}, row", 1, shape[1], f"rows of {what}")
    col = _whole(raw["column"], f"{place}, column", 1, shape[2], f"columns of {what}")
    return WrittenSum(layer, f - 1, row - 1, col - 1, text.strip(), place)


def _absent(raw: dict, fields: tuple[str, ...], place: str, why: str) -> None:
    for name in fields:
        if name in raw:
            raise StepperError(f"{name!r} does not apply here: {why}", place=place)


def _whole(raw, place: str, least: int, most: int, what: str = "layers") -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise StepperError(f"expected a whole number, found {_what(raw)}", place=place)
    if not least <= raw <= most:
        raise StepperError(f"{raw} is outside the {most} {what}: expected {least} to {most}", place=place)
    return raw


def _text(raw, place: str) -> str:
    if not isinstance(raw, str):
        raise StepperError(f"expected text, found {_what(raw)}", place=place)
    return raw


def _choices(names: list[str]) -> str:
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]


def _what(x) -> str:
    if isinstance(x, str):
        return repr(x) if len(x) < 30 else "text"
    if isinstance(x, bool):
        return "true/false"
    if isinstance(x, (int, Decimal)):
        return shown(x)
    names: dict[type, str] = {list: "a list", dict: "a table"}
    return names.get(type(x), type(x).__name__)


# ---- writing a working file (a model answer, or a planted mistake for tests and examples) ----


def dumps_working(
    outputs: list[Values],
    problem: Problem,
    student: str,
    decimals: int,
    comment: str = "",
    sums: tuple[tuple[dict, str], ...] = (),
    backward: Mapping[Stage, Values] | None = None,
) -> str:
    """A working file holding `outputs` (each layer's output, as a student would write them) and, with
    `backward`, the backward stages given there (the loss at the top, the rest in each layer's subtables).
    A layer whose output does not have its stage's shape is written as it is, in the stage's parts."""
    lines = [f"# {line}".rstrip() for line in comment.strip().splitlines()] if comment else []
    lines.append(f"student = {_toml_string(student)}")
    backward = backward or {}
    loss = next((v for s, v in backward.items() if s.layer == 0), None)
    if loss is not None:
        lines.append(f"{LOSS} = {_toml_values(loss, decimals)}")
    by_layer: dict[int, list[Stage]] = {}
    for s in stages(problem):
        by_layer.setdefault(s.layer, []).append(s)
    for number, output in enumerate(outputs, 1):
        if output is None:
            continue
        lines += ["", f"[layer{number}]"]
        for s in by_layer[number]:
            part = s.of(output) if output.data.ndim == len(s.index) + len(s.shape) else output
            lines.append(f"{s.part} = {_toml_values(part, decimals)}")
    table = ""
    for s in every_stage(problem):
        if not s.backward or s.layer == 0 or s not in backward:
            continue
        what, _, name = s.part.partition(".")
        what = next((g for g, single in BIAS_STAGES.items() if single == what), what)
        if f"layer{s.layer}.{what}" != table:
            table = f"layer{s.layer}.{what}"
            lines += ["", f"[{table}]"]
        lines.append(f"{name or 'bias'} = {_toml_values(backward[s], decimals)}")
    for fields, text in sums:
        lines += ["", "[[window]]"] + [f"{k} = {v}" for k, v in fields.items()] + [f"sum = {_toml_string(text)}"]
    return "\n".join(lines) + "\n"


def _toml_values(v: Values, decimals: int) -> str:
    text = [plain_number(v, x, decimals) for x in v.data.ravel().tolist()]
    if v.data.ndim == 0:
        return text[0]
    if v.data.ndim == 1:
        return _toml_string(" ".join(text))
    width = max(map(len, text))
    rows = [" ".join(t.rjust(width) for t in text[r * v.shape[1] : (r + 1) * v.shape[1]]) for r in range(v.shape[0])]
    return '"""\n' + "\n".join(rows) + '\n"""'


def _toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes are all valid TOML escapes."""
    return json.dumps(text, ensure_ascii=False)
