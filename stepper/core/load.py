"""Read a problem file (TOML) into a `Problem`, with every error located.

The file as a whole is read here; its values (grids, numbers, pairs) by `reading.py`, and each [[layers]] table
by its layer's class, found by its `type` in `spec.KINDS` (which also gives the fields the table may hold).
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import StepperError, suggestion, visible
from .numbers import is_sympy, sympy_module
from .reading import NON_FINITE, cell_place, channels, culprit, known_fields, list_of_tables, number, shown
from .spec import KINDS, Layer, MarkScheme, Problem, Settings, arrays

# What other modules import from here; NON_FINITE, cell_place, culprit, known_fields and shown live in reading.py,
# and are named here too for the readers of other files (working files, exam templates).
__all__ = [
    "MAX_FILE_BYTES",
    "MAX_LAYERS",
    "NON_FINITE",
    "TOP_FIELDS",
    "cell_place",
    "culprit",
    "from_data",
    "known_fields",
    "load",
    "loads",
    "read_regular",
    "read_text",
    "read_toml",
    "shown",
]

# The largest file read as a problem, working file or exam template. A 3x224x224 input written out is about
# 1 MB; /dev/zero, or a file pasted into itself, would otherwise be read until memory runs out.
MAX_FILE_BYTES = 10 * 2**20
# The most layers a problem may have. Checking runs the network again for each known mistake of each layer,
# so its cost grows with the square of the layers: 100 mixed layers take about 2 s, 400 about 16 s.
MAX_LAYERS = 100
TOP_FIELDS = {"title", "input", "layers", "settings", "marks", "train"}
SETTINGS_FIELDS = {"decimals", "rounding", "detail", "terms", "simplify", "channels", "transposed", "size_rule"}


def load(path: str | Path, *, name: str | None = None) -> Problem:
    """Read and check a problem file; `name` is how messages call it (default: the path as given)."""
    name = name or str(path)
    return loads(read_text(path, name), name=name)


def read_text(path: str | Path, name: str, limit: int = MAX_FILE_BYTES) -> str:
    """A file of the user's as text (without a byte-order mark), or a one-line error naming it.
    Only a regular file of at most `limit` bytes is read: a device such as /dev/zero never ends,
    and a named pipe would wait for a writer forever."""
    try:
        text = read_regular(path, name, limit).decode("utf-8")
    except UnicodeDecodeError as e:
        raise StepperError(f"cannot read it: {e}", file=name) from None
    return text.removeprefix("\ufeff")  # some editors save a byte-order mark first


def read_regular(path: str | Path, name: str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or a one-line error naming it."""
    try:
        _regular(os.stat(path), name, limit)  # before opening: opening a device may itself do something
        # O_NONBLOCK: should the path become a named pipe after the stat, opening it does not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as f:
            _regular(os.fstat(f.fileno()), name, limit)  # what was opened, whatever the path now names
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise StepperError("no such file", file=name) from None
    except (OSError, ValueError) as e:  # ValueError: a path holding a NUL byte
        raise StepperError(f"cannot read it: {getattr(e, 'strerror', None) or e}", file=name) from None
    if len(data) > limit:  # it grew after the fstat
        raise _too_large(len(data), limit, name)
    return data


def _regular(info: os.stat_result, name: str, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a folder"
            if stat.S_ISDIR(info.st_mode)
            else "a named pipe (FIFO)"
            if stat.S_ISFIFO(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "a device"
        )
        raise StepperError(f"cannot read it: it is {kind}, not a regular file", file=name)
    if info.st_size > limit:
        raise _too_large(info.st_size, limit, name)


def _too_large(size: int, limit: int, name: str) -> StepperError:
    return StepperError(
        f"cannot read it: the file is {size:,} bytes, more than the {limit:,} bytes "
        f"({limit / 2**20:g} MB) stepper reads",
        file=name,
    )


def read_toml(text: str, name: str) -> dict:
    """TOML with its decimals kept exact (0.1 stays 1/10), or a one-line error naming the file."""
    try:
        return tomllib.loads(text.removeprefix("\ufeff"), parse_float=Decimal)
    except tomllib.TOMLDecodeError as e:
        raise StepperError(f"not valid TOML: {e}", file=name) from None
    except ValueError:  # int() refuses a whole number of more than 4,300 digits, as a denial of service
        raise StepperError("not valid TOML: a whole number has more than 4,300 digits", file=name) from None
    except RecursionError:  # tomllib reads nested arrays and inline tables by recursion
        raise StepperError(
            "not valid TOML: arrays or inline tables are nested too deeply "
            "(a grid needs at most four levels: filter, channel, row, column)",
            file=name,
        ) from None


def loads(text: str, *, name: str = "<problem>") -> Problem:
    return from_data(read_toml(text, name), name=name)


def from_data(data: dict, *, name: str = "<problem>") -> Problem:
    """A problem from a problem file's parsed TOML (numbers as Decimals), checked as `loads` checks it."""
    try:
        problem = _problem(data, name)
        problem.shapes()  # every layer's shape is checked before anything is computed
    except StepperError as e:
        raise e.located(file=name) from None
    return problem


def _problem(data: dict, name: str) -> Problem:
    known_fields(data, TOP_FIELDS, "the top level")
    if "input" not in data:
        raise StepperError("missing 'input': expected the input image as a grid of numbers")
    title = data.get("title", "Worked solution")
    if not isinstance(title, str):
        raise StepperError(f"expected text, found {shown(title)}", place="field 'title'")
    settings = _settings(data.get("settings", {}))
    image = channels(data["input"], "field 'input'")
    layers = list_of_tables(data, "layers", "layers", "layer")
    if len(layers) > MAX_LAYERS:
        raise StepperError(
            f"expected at most {MAX_LAYERS} layers, found {len(layers):,}: a problem is worked (and checked) by hand",
            place="field 'layers'",
        )
    built = tuple(_layer(i, raw) for i, raw in enumerate(layers, 1))
    problem = Problem(title=title, input=image, layers=built, settings=settings, source=name)
    _distinct_symbols(problem)
    if "train" in data:  # before [marks], which may give points to the backward pass's stages
        from .train import read_train

        problem = replace(problem, train=read_train(data["train"], problem))
    if "marks" in data:
        problem = replace(problem, marks=_marks(data["marks"], problem))
    return problem


def _marks(raw, problem: Problem) -> MarkScheme:
    """[marks]: per = "cell" or "stage", default points, the settings of `MarkScheme.SETTINGS` (follow_through,
    repeated, sums, figures), and points for any layer (layer1 = 4, shared among its forward stages), stage
    ("layer6.z1" = 2) or, with [train], backward stage ("layer6.dw.neuron1" = 1, loss = 2) or group of them
    ("layer6.dw" = 3, shared among its parts; also layer6.grad and layer6.new). A key may be dotted unquoted."""
    from .stages import every_stage, stages

    if not isinstance(raw, dict):
        raise StepperError(f"expected a [marks] table, found {shown(raw)}", place="field 'marks'")
    asked = every_stage(problem)
    known = {s.key for s in asked} | {s.group for s in asked} | {f"layer{n}" for n in range(1, len(problem.layers) + 1)}
    groups = [s.group for s in asked if s.backward and s.group != s.key]  # layer6.grad, layer6.dw, ...
    settings: dict[str, Any] = {}
    points: list[tuple[str, Fraction]] = []

    def dotted(table: dict, prefix: str = "") -> list[tuple[str, Any]]:
        # A table written with unquoted dots (layer6.z1 = 2) read as its dotted keys; a setting's own table
        # (sums = { layer1 = 2 }) stays whole.
        found: list[tuple[str, Any]] = []
        for key, value in table.items():
            name = prefix + key
            if isinstance(value, dict) and name not in MarkScheme.SETTINGS and prefix.count(".") < 3:
                found += dotted(value, name + ".")
            else:
                found.append((name, value))
        return found

    for key, value in dotted(raw):
        if key in MarkScheme.SETTINGS:
            settings[key] = MarkScheme.read_sums(value, len(problem.layers)) if key == "sums" else value
            continue
        place = f"[marks] field {key!r}"
        if key != "default" and key not in known:
            hint = suggestion(key, known | {"default", *MarkScheme.SETTINGS})
            raise StepperError(
                f"no stage is called {key!r}: {hint}expected 'default', "
                f"{', '.join(map(repr, MarkScheme.SETTINGS))}, a layer "
                f"such as 'layer1' or a stage such as {stages(problem)[0].key!r}"
                + (f", 'loss' or {groups[0]!r}" if groups else ""),
                place=place,
            )
        amount = number(value, place)
        if is_sympy(amount) or amount < 0 or amount > 1000:
            raise StepperError(f"expected points from 0 to 1000, found {value!r}", place=place)
        if key == "default":
            settings["default"] = amount
        else:
            points.append((key, amount))
    return MarkScheme(points=tuple(points), **settings)


def _distinct_symbols(problem: Problem) -> None:
    """Two symbols that would print alike (x1 and x_1) would make the working read wrong."""
    from .symbols import symbol_name

    values = [problem.input] + [a for layer in problem.layers for a in arrays(layer)]
    symbolic = [v for v in values if v.symbolic]
    if not symbolic:  # plain numbers: sympy is not even imported
        return
    sympify = sympy_module().sympify
    names = {s.name for v in symbolic for x in v.data.ravel() for s in sympify(x).free_symbols}
    printed: dict[str, str] = {}
    for name in sorted(names):
        other = printed.setdefault(symbol_name(name), name)
        if other != name:
            raise StepperError(f"symbols {other!r} and {name!r} would be written alike: rename one")


def _settings(raw) -> Settings:
    if not isinstance(raw, dict):
        raise StepperError(f"expected a [settings] table, found {shown(raw)}", place="field 'settings'")
    known_fields(raw, SETTINGS_FIELDS, "[settings]")
    return Settings(**raw)


def _layer(index: int, raw: dict) -> Layer:
    """One [[layers]] table, read by the class its `type` names in the registry of kinds."""
    kind = raw.get("type")
    known = isinstance(kind, str) and kind in KINDS
    # The type as written names the layer, escaped (a newline in it must not break the line) and only when short.
    where = f"layer {index}" + (f" ({visible(kind)})" if isinstance(kind, str) and len(kind) < 30 else "")
    try:
        if kind is None:
            raise StepperError(f"missing 'type': expected one of {', '.join(KINDS)}")
        if not known:
            raise StepperError(
                f"unknown layer type {shown(kind)}: {suggestion(kind, KINDS)}expected one of {', '.join(KINDS)}",
                place="field 'type'",
            )
        cls = KINDS[kind]
        declared = cls.kinds[kind]
        known_fields(raw, set(declared.fields) | {"type"}, f"a {kind} layer")
        for f in declared.required:
            if f not in raw:
                raise StepperError(f"missing field '{f}'")
        return cls.from_table(kind, raw)
    except StepperError as e:
        raise e.located(place=where) from None
