"""Read a problem file (TOML) into a `Problem`, with every error located.

Matrices may be nested arrays or a whitespace grid pasted from a handout:

    input = '''
    3 2 1
    4 5 2
    '''

Numbers may be integers, decimals (kept exact: 0.1 is 1/10) or fractions as strings ("1/2").
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import StepperError, suggestion, visible
from .numbers import TooManyDigits, Values, fraction, from_numbers, is_sympy, sympy_module
from .spec import (
    Activation,
    Conv1x1,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Flatten,
    Layer,
    MarkScheme,
    Pool,
    Problem,
    Settings,
)

# A symbol in a grid: a letter, then letters, digits or _ (w1, a, x_2), perhaps with a minus sign.
SYMBOL = re.compile(r"(-?)([A-Za-z][A-Za-z0-9_]*)")
# Strides, window sizes and padding beyond this are mistakes, not exercises.
MAX_CELLS_PER_AXIS = 10_000
# The largest file read as a problem, working file or exam template. A 3x224x224 input written out is about
# 1 MB; /dev/zero, or a file pasted into itself, would otherwise be read until memory runs out.
MAX_FILE_BYTES = 10 * 2**20
# The most layers a problem may have. Checking runs the network again for each known mistake of each layer,
# so its cost grows with the square of the layers: 100 mixed layers take about 2 s, 400 about 16 s.
MAX_LAYERS = 100
# What a number that is no number is written as, in text: refused where a number is expected,
# rather than read as a symbol called nan (which would be blamed on some later layer).
NON_FINITE = re.compile(r"[+-]?(?:s?nan|inf|infinity|\u221e)", re.IGNORECASE)
TOP_FIELDS = {"title", "input", "layers", "settings", "marks"}
SETTINGS_FIELDS = {"decimals", "rounding", "detail", "terms", "simplify", "channels", "transposed", "size_rule"}
LAYER_FIELDS = {
    "conv2d": {"filters": True, "stride": False, "padding": False, "bias": False, "flip": False, "dilation": False},
    "relu": {},
    "leaky_relu": {"slope": False},
    "sigmoid": {},
    "tanh": {},
    "identity": {},
    "softmax": {},
    "flatten": {},
    "conv_transpose2d": {"filters": True, "stride": False, "padding": False, "output_padding": False, "bias": False},
    "maxpool": {"size": True, "stride": False, "padding": False},
    "avgpool": {"size": True, "stride": False, "padding": False},
    "globalavgpool": {},
    "conv1x1": {"weights": True, "bias": False},
    "dense": {"weights": True, "bias": False},
}


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
        raise StepperError(f"expected text, found {_what(title)}", place="field 'title'")
    settings = _settings(data.get("settings", {}))
    image = _channels(data["input"], "field 'input'")
    layers = data.get("layers", [])
    if isinstance(layers, dict):  # [layers] where [[layers]] was meant: one table, not a list of them
        raise StepperError(
            "expected a list of layers, found one table: write [[layers]] (two brackets) before each layer",
            place="field 'layers'",
        )
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise StepperError("expected [[layers]] tables", place="field 'layers'")
    if len(layers) > MAX_LAYERS:
        raise StepperError(
            f"expected at most {MAX_LAYERS} layers, found {len(layers):,}: a problem is worked (and checked) by hand",
            place="field 'layers'",
        )
    built = tuple(_layer(i, raw) for i, raw in enumerate(layers, 1))
    problem = Problem(title=title, input=image, layers=built, settings=settings, source=name)
    _distinct_symbols(problem)
    if "marks" in data:
        problem = replace(problem, marks=_marks(data["marks"], problem))
    return problem


def _marks(raw, problem: Problem) -> MarkScheme:
    """[marks]: per = "cell" or "stage", default points, follow_through, and points for any layer
    (layer1 = 4, shared among its stages) or stage ("layer6.z1" = 2)."""
    from .stages import stages

    if not isinstance(raw, dict):
        raise StepperError(f"expected a [marks] table, found {_what(raw)}", place="field 'marks'")
    known = {s.key for s in stages(problem)} | {f"layer{n}" for n in range(1, len(problem.layers) + 1)}
    settings, points = {}, []
    for key, value in raw.items():
        if key in ("per", "follow_through"):
            settings[key] = value
            continue
        place = f"[marks] field {key!r}"
        if key != "default" and key not in known:
            hint = suggestion(key, known | {"per", "default", "follow_through"})
            raise StepperError(
                f"no stage is called {key!r}: {hint}expected 'per', 'default', 'follow_through', a layer "
                f"such as 'layer1' or a stage such as {stages(problem)[0].key!r}",
                place=place,
            )
        amount = _number(value, place)
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

    arrays = [problem.input] + [v for layer in problem.layers for v in _arrays(layer)]
    symbolic = [v for v in arrays if v.symbolic]
    if not symbolic:  # plain numbers: sympy is not even imported
        return
    sympify = sympy_module().sympify
    names = {s.name for v in symbolic for x in v.data.ravel() for s in sympify(x).free_symbols}
    printed: dict[str, str] = {}
    for name in sorted(names):
        other = printed.setdefault(symbol_name(name), name)
        if other != name:
            raise StepperError(f"symbols {other!r} and {name!r} would be written alike: rename one")


def _arrays(layer: Layer) -> list[Values]:
    found = [getattr(layer, n, None) for n in ("filters", "bias", "slope")]
    weights = getattr(layer, "weights", None)
    found += list(weights) if isinstance(weights, tuple) else [weights]
    return [v for v in found if v is not None]


def _settings(raw) -> Settings:
    if not isinstance(raw, dict):
        raise StepperError(f"expected a [settings] table, found {_what(raw)}", place="field 'settings'")
    known_fields(raw, SETTINGS_FIELDS, "[settings]")
    return Settings(**raw)


def _layer(index: int, raw: dict) -> Layer:
    kind = raw.get("type")
    known = isinstance(kind, str) and kind in LAYER_FIELDS
    # The type as written names the layer, escaped (a newline in it must not break the line) and only when short.
    where = f"layer {index}" + (f" ({visible(kind)})" if isinstance(kind, str) and len(kind) < 30 else "")
    try:
        if kind is None:
            raise StepperError(f"missing 'type': expected one of {', '.join(LAYER_FIELDS)}")
        if not known:
            raise StepperError(
                f"unknown layer type {_what(kind)}: {suggestion(kind, LAYER_FIELDS)}"
                f"expected one of {', '.join(LAYER_FIELDS)}",
                place="field 'type'",
            )
        fields = LAYER_FIELDS[kind]
        known_fields(raw, set(fields) | {"type"}, f"a {kind} layer")
        for f, required in fields.items():
            if required and f not in raw:
                raise StepperError(f"missing field '{f}'")
        return _BUILDERS[kind](kind, raw)
    except StepperError as e:
        raise e.located(place=where) from None


def _conv2d(kind, raw) -> Conv2d:
    filters = raw["filters"]
    if not isinstance(filters, list) or not filters or _is_grid_rows(filters):
        filters = [filters]  # a single filter may be written without the outer list
    grids = [_channels(f, f"field 'filters', filter {k}") for k, f in enumerate(filters, 1)]
    first = grids[0].shape
    for k, g in enumerate(grids[1:], 2):
        if g.shape != first:
            raise StepperError(
                f"expected every filter to be {_dims(first)} like filter 1, found {_dims(g.shape)}",
                place=f"field 'filters', filter {k}",
            )
    stacked = _exact([g.numbers() for g in grids], (len(grids),) + first, "field 'filters'")
    stride = _pair(raw.get("stride", 1), "field 'stride'")
    padding = _padding(raw.get("padding", 0))
    bias = _vector(raw["bias"], "field 'bias'", len(grids), "one per filter") if "bias" in raw else None
    flip = raw.get("flip", False)
    if not isinstance(flip, bool):
        raise StepperError(
            f"expected true (a true convolution: the filter is turned 180 degrees) or false, found {_what(flip)}",
            place="field 'flip'",
        )
    dilation = _pair(raw.get("dilation", 1), "field 'dilation'")
    return Conv2d(filters=stacked, stride=stride, padding=padding, bias=bias, flip=flip, dilation=dilation)


def _conv_transpose2d(kind, raw) -> ConvTranspose2d:
    conv = _conv2d(kind, {k: v for k, v in raw.items() if k in ("filters", "stride", "bias")})
    padding = _pair(raw.get("padding", 0), "field 'padding'", least=0)
    output_padding = _pair(raw.get("output_padding", 0), "field 'output_padding'", least=0)
    return ConvTranspose2d(
        filters=conv.filters, stride=conv.stride, padding=padding, output_padding=output_padding, bias=conv.bias
    )


def _pool(kind, raw) -> Pool:
    if kind == "globalavgpool":
        return Pool(kind=kind, size=None, stride=(1, 1))
    size = _pair(raw["size"], "field 'size'")
    stride = _pair(raw.get("stride", list(size)), "field 'stride'")
    padding = _padding(raw.get("padding", 0), windows_only=True)
    return Pool(kind=kind, size=size, stride=stride, padding=padding)


def _pair(raw, place: str, least: int = 1) -> tuple[int, int]:
    """A size, stride or padding: one number for both axes, or [rows, columns]."""
    if isinstance(raw, list):
        if len(raw) != 2:
            raise StepperError(
                f"expected one number, or two as [rows, columns], found a list of {len(raw)}", place=place
            )
        return _positive_int(raw[0], place, least), _positive_int(raw[1], place, least)
    value = _positive_int(raw, place, least)
    return value, value


def _padding(raw, windows_only: bool = False):
    """One number (every side), [rows, columns], [top, bottom, left, right], "valid" or "same"
    (the last two not for pooling: `windows_only`)."""
    place = "field 'padding'"
    if raw in ("valid", "same") and not windows_only:
        return raw
    cells = raw if isinstance(raw, list) else [raw]
    if len(cells) not in (1, 2, 4) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= MAX_CELLS_PER_AXIS for p in cells
    ):
        raise StepperError(
            f"expected a whole number of cells from 0 to {MAX_CELLS_PER_AXIS}, [rows, columns], "
            f"[top, bottom, left, right], 'valid' or 'same', found {_what(raw)}",
            place=place,
        )
    return cells[0] if not isinstance(raw, list) else tuple(cells)


def _conv1x1(kind, raw) -> Conv1x1:
    weights = _vector(raw["weights"], "field 'weights'")
    bias = _vector([raw["bias"]], "field 'bias'") if "bias" in raw else None
    return Conv1x1(weights=weights, bias=bias)


def _dense(kind, raw) -> Dense:
    weights = raw["weights"]
    if not isinstance(weights, list) or not weights:
        raise StepperError("expected a list with one weight grid (or list) per neuron", place="field 'weights'")
    neurons = []
    for k, w in enumerate(weights, 1):
        place = f"field 'weights', neuron {k}"
        if isinstance(w, list) and w and not any(isinstance(v, list) for v in w) and not _is_channel_list(w):
            neurons.append(_vector(w, place))  # a flat list of weights
        else:
            neurons.append(_channels(w, place) if _is_channel_list(w) else _grid(w, place))
    bias = _vector(raw["bias"], "field 'bias'", len(neurons), "one per neuron") if "bias" in raw else None
    return Dense(weights=tuple(neurons), bias=bias)


def _activation(kind, raw) -> Activation:
    if kind != "leaky_relu":
        return Activation(kind)
    slope = _vector([raw.get("slope", "0.01")], "field 'slope'")
    if slope.symbolic or not 0 <= slope.floats()[0] < 1:
        raise StepperError(
            f"expected a slope from 0 up to (not including) 1, found {raw.get('slope')}", place="field 'slope'"
        )
    return Activation(kind, slope.reshape(()))


def _flatten(kind, raw) -> Flatten:
    return Flatten()


_BUILDERS: dict[str, Callable[[str, dict], Layer]] = {
    "conv2d": _conv2d,
    "conv_transpose2d": _conv_transpose2d,
    "maxpool": _pool,
    "avgpool": _pool,
    "globalavgpool": _pool,
    "conv1x1": _conv1x1,
    "dense": _dense,
    "relu": _activation,
    "leaky_relu": _activation,
    "sigmoid": _activation,
    "tanh": _activation,
    "identity": _activation,
    "softmax": _activation,
    "flatten": _flatten,
}


# ---- grids and numbers ----


def _channels(raw, place: str) -> Values:
    """One grid (one channel) or a list of grids (channels first) as a (C, H, W) array."""
    if _is_channel_list(raw):
        grids = [_grid(g, f"{place}, channel {c}") for c, g in enumerate(raw, 1)]
        for c, g in enumerate(grids[1:], 2):
            if g.shape != grids[0].shape:
                raise StepperError(
                    f"expected {_dims(grids[0].shape)} like channel 1, found {_dims(g.shape)}",
                    place=f"{place}, channel {c}",
                )
        return _exact([g.numbers() for g in grids], (len(grids),) + grids[0].shape, place)
    g = _grid(raw, place)
    return g.reshape(1, *g.shape)


def _is_grid_text(raw) -> bool:
    """A string holding several numbers is a pasted grid; one number ("1/2") is a single cell."""
    return isinstance(raw, str) and len(raw.split()) > 1


def _is_grid_rows(raw) -> bool:
    """A list of rows of numbers: one grid written as nested arrays."""
    return (
        isinstance(raw, list)
        and bool(raw)
        and isinstance(raw[0], list)
        and not any(isinstance(c, list) or _is_grid_text(c) for c in raw[0])
    )


def _is_channel_list(raw) -> bool:
    """A list of grids, one per channel."""
    return (
        isinstance(raw, list)
        and bool(raw)
        and all(_is_grid_text(g) or (isinstance(g, list) and bool(g) and isinstance(g[0], list)) for g in raw)
    )


def _grid(raw, place: str) -> Values:
    if isinstance(raw, str):
        rows = [line.replace(",", " ").split() for line in raw.strip().splitlines()]
        rows = [r for r in rows if r]
    elif isinstance(raw, list) and raw and all(isinstance(r, list) for r in raw):
        rows = raw
    else:
        raise StepperError(
            f"expected a grid of numbers (rows on lines, or a list of rows), found {_what(raw)}", place=place
        )
    if not rows:
        raise StepperError("expected a grid of numbers, found an empty one", place=place)
    cells = []
    for r, row in enumerate(rows, 1):
        if len(row) != len(rows[0]):
            raise StepperError(
                f"expected {len(rows[0])} numbers as in row 1, found {len(row)}", place=f"{place}, row {r}"
            )
        cells.append([_number(x, f"{place}, row {r}, column {c}") for c, x in enumerate(row, 1)])
    if not cells[0]:
        raise StepperError("expected a grid of numbers, found an empty row", place=f"{place}, row 1")
    return _exact(cells, (len(cells), len(cells[0])), place)


def _vector(raw, place: str, length: int | None = None, why: str = "") -> Values:
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    if not isinstance(raw, list) or not raw:
        raise StepperError(f"expected a list of numbers, found {_what(raw)}", place=place)
    if length is not None and len(raw) != length:
        raise StepperError(f"expected {length} numbers ({why}), found {len(raw)}", place=place)
    return _exact([_number(x, f"{place}, item {i}") for i, x in enumerate(raw, 1)], (len(raw),), place)


def _exact(cells, shape, place: str) -> Values:
    try:
        return from_numbers(cells, shape)
    except ValueError as e:
        # Grids of more axes are built from grids already checked, so only the cells together can fail there.
        flat = [] if len(shape) > 2 else [c for row in cells for c in row] if len(shape) == 2 else list(cells)
        raise StepperError(str(e), place=place + culprit(flat, shape)) from None


def culprit(flat: list, shape: tuple[int, ...]) -> str:
    """Where the first of the cells (row by row) is that cannot be kept exact even alone; "" when only the
    cells together cannot (their common denominator is too large)."""
    for i, c in enumerate(flat):
        try:
            from_numbers([c], (1,))
        except ValueError:
            return cell_place(i, shape)
    return ""


def cell_place(i: int, shape: tuple[int, ...]) -> str:
    """ ", row 2, column 3" or ", item 4": where the i-th cell (row by row) of a grid or list is."""
    if len(shape) == 2:
        return f", row {i // shape[1] + 1}, column {i % shape[1] + 1}"
    if len(shape) == 1:
        return f", item {i + 1}"
    return ""


def _number(raw, place: str) -> Fraction | Any:  # Any: a sympy Symbol, for w1
    if isinstance(raw, bool):
        raise StepperError(f"expected a number, found {_what(raw)}", place=place)
    if isinstance(raw, int):
        return Fraction(raw)
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise StepperError(f"expected a finite number, found {_what(raw)}", place=place)
        return _fraction(raw, place)
    if isinstance(raw, str):
        text = raw.strip().replace("\u2212", "-")  # a minus sign pasted from a typeset handout
        if NON_FINITE.fullmatch(text):
            raise StepperError(f"expected a finite number, found {raw!r}", place=place)
        symbol = SYMBOL.fullmatch(text)
        if symbol:  # w1, a, -b: a symbol, worked symbolically
            value = sympy_module().Symbol(symbol[2])
            return -value if symbol[1] else value
        return _fraction(text, place, raw)
    raise StepperError(f"expected a number, found {_what(raw)}", place=place)


def _fraction(text, place: str, raw=None) -> Fraction:
    try:
        return fraction(text)
    except TooManyDigits as e:
        raise StepperError(str(e), place=place) from None
    except (ValueError, ZeroDivisionError):
        raise StepperError(
            f"expected a number such as 3, -0.5 or 1/2, or a symbol such as w1, found {raw!r}", place=place
        ) from None


def _positive_int(raw, place: str, least: int = 1) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not least <= raw <= MAX_CELLS_PER_AXIS:
        raise StepperError(
            f"expected a whole number from {least} to {MAX_CELLS_PER_AXIS}, found {_what(raw)}", place=place
        )
    return raw


def known_fields(raw: dict, allowed: set[str], where: str) -> None:
    """Every key of `raw` is one of `allowed`; a misspelt one is told the name it is nearest."""
    for key in raw:
        if key not in allowed:
            raise StepperError(
                f"unknown field {key!r} in {where}: {suggestion(key, allowed)}"
                f"expected one of {', '.join(sorted(allowed))}",
                place=f"field {key!r}",
            )


def _dims(shape) -> str:
    return "x".join(map(str, shape[-2:])) if len(shape) >= 2 else f"{shape[0]} numbers"


def _what(x) -> str:
    """A value as the user wrote it in TOML: 'text', true, 1.5, nan, 2024-01-01, a list, a table."""
    if isinstance(x, str):
        return repr(x) if len(x) < 30 else "text"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, Decimal) and not x.is_finite():
        return "nan" if x.is_nan() else ("-inf" if x < 0 else "inf")
    if isinstance(x, int) and abs(x) >= 10**30:  # str() refuses beyond 4,300 digits (a hexadecimal literal)
        return f"a whole number of about {int(abs(x).bit_length() * math.log10(2)) + 1:,} digits"
    if isinstance(x, (int, Decimal)):
        return str(x)
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "a table"
    if hasattr(x, "isoformat"):
        return x.isoformat()
    return type(x).__name__


shown = _what  # for the other readers of TOML files
