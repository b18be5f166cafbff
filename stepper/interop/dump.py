"""Write a Problem back as a problem file (TOML), the way a person would type it."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from ..core.numbers import Values, is_sympy
from ..core.spec import (
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


def _fields(layer: Layer) -> list[str]:
    """The layer's fields as a person types them, leaving out any that has its default."""
    return _FIELDS[type(layer)](layer)


def _conv2d(layer: Conv2d) -> list[str]:
    out = [_filters(layer.filters)]
    if layer.stride != (1, 1):
        out.append(f"stride = {_pair(layer.stride)}")
    if layer.padding not in (0, (0, 0), (0, 0, 0, 0)):
        out.append(f"padding = {_value(layer.padding)}")
    if layer.flip:
        out.append("flip = true")
    if layer.dilation != (1, 1):
        out.append(f"dilation = {_pair(layer.dilation)}")
    return out + _bias(layer.bias)


def _conv_transpose2d(layer: ConvTranspose2d) -> list[str]:
    out = [_filters(layer.filters)]
    for name, value, plain in (
        ("stride", layer.stride, (1, 1)),
        ("padding", layer.padding, (0, 0)),
        ("output_padding", layer.output_padding, (0, 0)),
    ):
        if value != plain:
            out.append(f"{name} = {_pair(value)}")
    return out + _bias(layer.bias)


def _pool(layer: Pool) -> list[str]:
    if layer.size is None:
        return []
    out = [f"size = {_pair(layer.size)}"]
    if layer.stride != layer.size:
        out.append(f"stride = {_pair(layer.stride)}")
    if layer.padding not in (0, (0, 0), (0, 0, 0, 0)):
        out.append(f"padding = {_value(layer.padding)}")
    return out


def _conv1x1(layer: Conv1x1) -> list[str]:
    bias = [f"bias = {_number(layer.bias.numbers()[0])}"] if layer.bias is not None else []  # one number
    return [f"weights = {_vector(layer.weights)}"] + bias


def _dense(layer: Dense) -> list[str]:
    return [f"weights = [{', '.join(_vector(w.reshape(-1)) for w in layer.weights)}]"] + _bias(layer.bias)


def _activation(layer: Activation) -> list[str]:
    if layer.kind != "leaky_relu" or layer.slope is None:  # a relu drawn from a leaky_relu keeps a slope unused
        return []
    return [f"slope = {_number(layer.slope.numbers())}"]


def _flatten(layer: Flatten) -> list[str]:
    return []


# Each function takes the kind of layer its key names.
_FIELDS: dict[type, Callable[[Any], list[str]]] = {
    Conv2d: _conv2d,
    ConvTranspose2d: _conv_transpose2d,
    Pool: _pool,
    Conv1x1: _conv1x1,
    Dense: _dense,
    Activation: _activation,
    Flatten: _flatten,
}


def _filters(filters: Values) -> str:
    return f"filters = [{', '.join(_channels(filters[f]) for f in range(filters.shape[0]))}]"


def _bias(bias: Values | None) -> list[str]:
    return [f"bias = {_vector(bias)}"] if bias is not None else []


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
