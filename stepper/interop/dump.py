"""Write a Problem back as a problem file (TOML), the way a person would type it.

Each layer's fields are the ones its kind declares (spec.Kind.fields), written from their values: a new kind of
layer is written with nothing added here, unless one of its fields is written some other way (`_SPECIAL`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields
from fractions import Fraction
from typing import Any

from ..core.numbers import Values, is_sympy
from ..core.spec import Conv1x1, Conv2d, Dense, Layer, MarkScheme, Pool, Problem, Settings
from ..core.train import Train


def dumps(problem: Problem) -> str:
    lines = [f"title = {_string(problem.title)}", "", f"input = {_channels(problem.input)}", ""]
    settings = problem.settings
    changed = [
        (k, getattr(settings, k))
        for k in ("decimals", "rounding", "detail", "terms", "simplify", "channels", "transposed", "size_rule")
        if getattr(settings, k) != getattr(Settings(), k)
    ]
    if changed:
        lines += ["[settings]"] + [f"{k} = {_value(v)}" for k, v in changed] + [""]
    for layer in problem.layers:
        lines += ["[[layers]]", f"type = {_string(layer.kind)}"] + _fields(layer) + [""]
    if problem.train is not None:
        lines += _train(problem.train) + [""]
    marks = problem.marks
    if marks != MarkScheme():
        lines += [
            "[marks]",
            f"per = {_string(marks.per)}",
            f"default = {_string(str(marks.default))}",
            f"follow_through = {_value(marks.follow_through)}",
        ]
        lines += [f"{_string(k) if '.' in k else k} = {_string(str(v))}" for k, v in marks.points] + [""]
    return "\n".join(lines)


def _train(train: Train) -> list[str]:
    """[train]: the target (its class, or the vector) and the loss always, the rest when not the default."""
    target = str(train.target_class) if train.target_class is not None else _vector(train.target)
    rate = _text(train.learning_rate)
    lines = ["[train]", f"target = {target}", f"loss = {_string(train.loss)}"]
    lines += [f"learning_rate = {rate if '/' not in rate else _string(rate)}"]
    default = Train(train.target, None)
    lines += [
        f"{k} = {_value(getattr(train, k))}"
        for k in ("steps", "update_bias", "ties")
        if getattr(train, k) != getattr(default, k)
    ]
    return lines


def _fields(layer: Layer) -> list[str]:
    """The fields its kind declares, in that order, as a person types them: each the plain way (`_plain_field`),
    unless `_SPECIAL` has a writer for that field of that class of layer."""
    special = _SPECIAL.get(type(layer), {})
    lines: list[str] = []
    for name in type(layer).kinds[layer.kind].fields:
        lines += special.get(name, _plain_field)(layer, name)
    return lines


def _plain_field(layer: Layer, name: str) -> list[str]:
    """`name = value`, left out when the value is None or the field's default."""
    value = getattr(layer, name)
    default = next((f.default for f in fields(layer) if f.name == name), MISSING)
    if value is None or (not isinstance(value, Values) and value == default):
        return []
    return [f"{name} = {_written(value)}"]


def _written(value: Any) -> str:
    """A value as a problem file holds it: an array as grids or a list, a pair as one number or [rows, columns]."""
    if isinstance(value, Values):
        return _array(value)
    if isinstance(value, tuple) and len(value) == 2:
        return _pair(value)
    return _value(value)


def _array(v: Values) -> str:
    """Filters as a list of grids (or of lists of grids, one per channel), maps as grids, a vector as a list."""
    if v.data.ndim == 4:
        return "[" + ", ".join(_channels(v[f]) for f in range(v.shape[0])) + "]"
    if v.data.ndim == 3:
        return _channels(v)
    if v.data.ndim == 2:
        return _grid(v.numbers())
    return _vector(v) if v.data.ndim == 1 else _number(v.numbers())


def _as_given(layer: Conv2d | Pool, name: str) -> list[str]:
    """Padding as the file gave it: a pair stays a pair ([1, 1], not 1), so it reads back as the same problem."""
    padding = layer.padding
    return [] if padding in (0, (0, 0), (0, 0, 0, 0)) else [f"padding = {_value(padding)}"]


def _pool_stride(layer: Pool, name: str) -> list[str]:
    """Left out when it is the window's size, which is what a problem file without a stride reads as."""
    return [] if layer.stride == layer.size else [f"stride = {_pair(layer.stride)}"]


def _one_bias(layer: Conv1x1, name: str) -> list[str]:
    """A 1x1 filter's bias: one number, not a list."""
    return [f"bias = {_number(layer.bias.numbers()[0])}"] if layer.bias is not None else []


def _neurons(layer: Dense, name: str) -> list[str]:
    """A dense layer's weights: one flat list per neuron."""
    return [f"weights = [{', '.join(_vector(w.reshape(-1)) for w in layer.weights)}]"]


# The fields not written the plain way, by class of layer; every other field of every kind is `_plain_field`.
_SPECIAL: dict[type, dict[str, Callable[[Any, str], list[str]]]] = {
    Conv2d: {"padding": _as_given},
    Pool: {"padding": _as_given, "stride": _pool_stride},
    Conv1x1: {"bias": _one_bias},
    Dense: {"weights": _neurons},
}


def _channels(v: Values) -> str:
    """One grid, or a list of grids, as whitespace text blocks."""
    grids = [_grid(v.numbers()[c]) for c in range(v.shape[0])]
    return grids[0] if len(grids) == 1 else "[" + ", ".join(grids) + "]"


def _grid(rows) -> str:
    if len(rows) == 1 and len(rows[0]) == 1:  # a single cell as text would read as a number, not a grid
        return f"[[{_number(rows[0][0])}]]"
    width = max(len(_text(x)) for row in rows for x in row)
    body = "\n".join(" ".join(_text(x).rjust(width) for x in row) for row in rows)
    return f'"""\n{body}\n"""'


def _vector(v: Values) -> str:
    return "[" + ", ".join(_number(x) for x in v.numbers()) + "]"


def _pair(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"[{p[0]}, {p[1]}]"


def _number(x) -> str:
    text = _text(x)
    return text if text.lstrip("-").isdigit() else f'"{text}"'


def _text(x) -> str:
    """An exact number as its shortest exact writing: 3, -0.25, 1/3 (a float as its repr)."""
    if isinstance(x, float):
        return repr(x)
    if is_sympy(x):
        if not x.is_Rational:
            return str(x)  # a symbol: w1, -a
        x = Fraction(int(x.p), int(x.q))
    x = Fraction(x)
    if x.denominator == 1:
        return str(x.numerator)
    d, places = x.denominator, 0
    while d % 2 == 0 or d % 5 == 0:
        d //= 2 if d % 2 == 0 else 5
    if d != 1:
        return f"{x.numerator}/{x.denominator}"
    while (x * 10**places).denominator != 1:
        places += 1
    return f"{float(x):.{places}f}" if places <= 15 else f"{x.numerator}/{x.denominator}"


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, tuple):
        return "[" + ", ".join(map(str, v)) + "]"
    return str(v)


def _string(s: str) -> str:
    """A TOML basic string: backslashes, quotes, control and invisible characters escaped (the text is kept)."""
    out = []
    for ch in s:
        if ch in '\\"':
            out.append("\\" + ch)
        elif not ch.isprintable() and ch != " ":  # controls, and bidi and other invisible formatting characters
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
