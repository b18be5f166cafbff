"""A trace as plain JSON data: every layer's arrays, and the windows, neurons and elements the documents work.

The public face of a worked solution for other tools, and the data an interactive page is drawn from
(`trace.schema.json`, beside this module, describes it). Every number is given three ways: `text`, as the documents
write it (LaTeX: the settings' decimals, `\\frac{1}{3}`, `-\\infty`, symbols); `value`, a float (null for a symbol or a
number no float holds); `exact`, the exact value as a string (`-7`, `1/3`, `0.015`, sympy's text for symbols, the
float's repr for a float). Positions (filters, rows, columns, channels, neurons) count from 1, as the documents do.
Windows, cells, neurons and elements are listed as far as the documents work them in full (`detail`); each one's
`working` is the LaTeX the maths writers give the documents, without display delimiters.

A problem with a `[train]` table adds a `training` object (and only then: without one the data is as it was): the
train settings and its conventions in words, the loss, each layer's backward record (last layer first), the
update of every parameter array, the loss before each step and after the last, and every backward stage
(stages.backward_stages) with its values, all of the first step, in the same Numbers and Arrays.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.numbers import Values, from_numbers, write_exact
from ..core.spec import Problem, Settings, title
from ..core.trace import (
    ConvTrace,
    DenseTrace,
    ElementwiseTrace,
    FlattenTrace,
    LayerTrace,
    MixTrace,
    PoolTrace,
    SoftmaxTrace,
    Terms,
    Trace,
    TransposedTrace,
)
from .formats import FORMATS
from .maths import POOL_PADDING, Maths, cells, number, sub

if TYPE_CHECKING:
    from ..core.gradients import LayerGrad, LossTrace, Training, Update
    from ..core.train import Train

SCHEMA_VERSION = 1
TRACE_FORMAT = "stepper trace"  # what a file of this data is, whatever its schema version
# softmax's outputs, as the documents name them
_Y_HAT = "\\hat{y}"
# The format the working is written for: the maths as every document writes it, with no display delimiters around it
# and none of Markdown's rewriting (which only suits Markdown readers).
_DATA_FORMAT = replace(FORMATS["tex"], name="json", display_format="%s", rewrite=None)
# A layer's heading in the Markdown document: `## Layer 1: convolution`.
_HEADING = re.compile(r"^## (.*)\n", re.MULTILINE)
# What embeddable() escapes, and how: JSON's own \u escapes, so the text stays the same JSON.
_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")

Json = dict[str, Any]
# JSON text of an object or list up to this many characters stays on one line.
_ONE_LINE = 200


# ---- numbers and arrays ----


def _exact_text(numerator: int, denominator: int) -> str:
    """An exact value as text: a whole number or a decimal when it ends (`-7`, `0.015`), else a fraction (`1/3`)."""
    text = write_exact(numerator, denominator)
    return str(Fraction(numerator, denominator)) if "frac" in text else text


def _cell(v: Values, x: Any) -> tuple[float | None, str]:
    """One cell's float value and exact text (x a numerator when exact, a float, or a sympy expression)."""
    if v.symbolic:
        return (float(x) if getattr(x, "is_number", False) and x.is_real else None), str(x)
    if v.scale:
        return int(x) / v.scale, _exact_text(int(x), v.scale)
    x = float(x)
    return (x if np.isfinite(x) else None), repr(x)


def _flat(v: Values, decimals: int) -> tuple[list[str], list[float | None], list[str]]:
    """Every cell of `v`, flat in row-major order: as written, as a float, and exactly. Each distinct value is
    converted once, as the documents write them (a large map holds few distinct values)."""
    text = cells(v, decimals)
    if v.symbolic:
        pairs = [_cell(v, x) for x in v.data.ravel().tolist()]
        return text, [p[0] for p in pairs], [p[1] for p in pairs]
    distinct, where = np.unique(v.data.ravel(), return_inverse=True)
    pairs = [_cell(v, x) for x in distinct.tolist()]
    order = where.ravel().tolist()
    return text, [pairs[k][0] for k in order], [pairs[k][1] for k in order]


def _nest(flat: list, shape: tuple[int, ...]) -> Any:
    """A flat row-major list as nested lists of `shape`."""
    if len(shape) <= 1:
        return list(flat)
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[k * step : (k + 1) * step], shape[1:]) for k in range(shape[0])]


def _array(v: Values, decimals: int, flat: tuple[list[str], list[float | None], list[str]] | None = None) -> Json:
    """An Array: its shape, and its cells as written, as floats and exactly, each as nested lists."""
    text, values, exact = flat if flat is not None else _flat(v, decimals)
    shape = v.shape
    return {
        "shape": list(shape),
        "text": _nest(text, shape),
        "value": _nest(values, shape),
        "exact": _nest(exact, shape),
    }


def _number(v: Values, decimals: int) -> Json:
    """A Number: one scalar as written, as a float and exactly."""
    value, exact = _cell(v, v.data.item() if isinstance(v.data, np.ndarray) else v.data)
    return {"text": number(v, decimals), "value": value, "exact": exact}


def _optional(v: Values | None, decimals: int) -> Json | None:
    return None if v is None else _number(v, decimals)


def _numbers(v: Values, decimals: int) -> list[Json]:
    """Every cell of `v` as a Number, flat in row-major order."""
    text, values, exact = _flat(v, decimals)
    return [{"text": t, "value": x, "exact": e} for t, x, e in zip(text, values, exact)]


def _products(factors: Values, weights: Values, products: Values, settings: Settings) -> list[Json]:
    """A sum's terms, x (the input) times w (the weight), flat in the order the documents add them; `written`
    says whether the documents write the term (terms = "nonzero" leaves out products of 0)."""
    d, every = settings.decimals, settings.terms == "all"
    kept = [every or bool(p) for p in products.data.ravel().tolist()]
    return [
        {"x": x, "w": w, "product": p, "written": k}
        for x, w, p, k in zip(_numbers(factors, d), _numbers(weights, d), _numbers(products, d), kept)
    ]


# ---- the layers ----


def _padding(record: ConvTrace | PoolTrace) -> Json:
    p = record.padding
    return {"top": p.top, "bottom": p.bottom, "left": p.left, "right": p.right}


def _conv(record: ConvTrace, m: Maths, settings: Settings) -> Json:
    """A convolution's arrays and the windows the documents work in full, filter by filter."""
    d = settings.decimals
    data: Json = {
        "padded": _array(record.padded, d),
        "filters": _array(record.filters, d),
        "bias": None if record.bias is None else _array(record.bias, d),
        "stride": list(record.layer.stride),
        "dilation": list(record.layer.dilation),
        "flip": record.layer.flip,
        "padding": _padding(record),
        "windows": _conv_windows(record, m, settings),
    }
    if record.layer.flip:
        data["filters_given"] = _array(record.layer.filters, d)
    return data


def _conv_windows(record: ConvTrace, m: Maths, settings: Settings) -> list[Json]:
    """Every filter's windows that the documents work in full, in reading order, each with its working."""
    d = settings.decimals
    F, oh, ow = record.sums.shape
    shown = settings.worked_in_full(oh * ow)
    channels, (dh, dw) = record.padded.shape[0], record.layer.dilation
    windows = []
    for f in range(F):
        for w, text in zip(record.windows(f, shown), m.conv_windows(record, f, shown, _DATA_FORMAT)):
            (r0, r1), (c0, c1) = w.rows, w.cols
            windows.append(
                {
                    "filter": f + 1,
                    "row": w.row + 1,
                    "col": w.col + 1,
                    "rows": [r0 + 1, r1],
                    "cols": [c0 + 1, c1],
                    "cells": [
                        [c + 1, r + 1, k + 1]
                        for c in range(channels)
                        for r in range(r0, r1, dh)
                        for k in range(c0, c1, dw)
                    ],
                    "terms": _products(w.inputs, w.kernel, w.products, settings),
                    "bias": _optional(w.bias, d),
                    "total": _number(w.total, d),
                    "value": _number(record.output[f, w.row, w.col], d),
                    "working": text.equation,
                }
            )
    return windows


def _pool_padded(record: PoolTrace, d: int) -> tuple[list[str], list[float | None], list[str]]:
    """A pool's padded input, flat: a max pool's padding written -∞ (it never wins), with no float value."""
    text: list[str] = []
    values: list[float | None] = []
    exact: list[str] = []
    for c in range(record.padded.shape[0]):
        t, v, e = _flat(record.padded[c], d)
        text, values, exact = text + t, values + v, exact + e
    if record.padding.any and record.layer.kind == "maxpool":
        width, size = record.padded.shape[2], record.padded.shape[1] * record.padded.shape[2]
        for n in range(len(text)):
            if record.is_padding(*divmod(n % size, width)):
                text[n], values[n], exact[n] = POOL_PADDING, None, "-inf"
    return text, values, exact


def _pool(record: PoolTrace, m: Maths, settings: Settings) -> Json:
    """A pooling layer's padded input and the windows the documents work in full, channel by channel."""
    d = settings.decimals
    flat = _pool_padded(record, d)
    size = record.padded.shape[1] * record.padded.shape[2]
    width = record.padded.shape[2]
    C, oh, ow = record.output.shape
    shown = settings.worked_in_full(oh * ow)
    windows = []
    for c in range(C):
        for w in record.windows(c, shown):
            where = [c * size + r * width + k for r in range(*w.rows) for k in range(*w.cols)]
            written = [flat[0][n] for n in where]
            values = [{"text": flat[0][n], "value": flat[1][n], "exact": flat[2][n]} for n in where]
            winner = None if w.where is None else [w.rows[0] + w.where[0] + 1, w.cols[0] + w.where[1] + 1]
            windows.append(
                {
                    "channel": c + 1,
                    "row": w.row + 1,
                    "col": w.col + 1,
                    "rows": [w.rows[0] + 1, w.rows[1]],
                    "cols": [w.cols[0] + 1, w.cols[1]],
                    "cells": [[c + 1, r + 1, k + 1] for r in range(*w.rows) for k in range(*w.cols)],
                    "values": values,
                    "total": _optional(w.total, d),
                    "value": _number(record.output[c, w.row, w.col], d),
                    "winner": winner,
                    "working": m.pool_equation(sub("p", w.row, w.col), w, record.output[c, w.row, w.col], written),
                }
            )
    kernel = record.layer.kernel(record.input.shape)
    return {
        "padded": _array(record.padded, d, flat),
        "size": list(kernel),
        "stride": list(record.layer.stride),
        "padding": _padding(record),
        "windows": windows,
    }


def _terms(t: Terms, value: Values, working: str, settings: Settings) -> Json:
    """One weighted sum (a 1x1 filter's cell, a neuron, a transposed convolution's cell)."""
    d = settings.decimals
    return {
        "index": [k + 1 for k in t.index],
        "terms": _products(t.factors, t.weights, t.products, settings),
        "bias": _optional(t.bias, d),
        "total": _number(t.total, d),
        "value": _number(value, d),
        "working": working,
    }


def _mix(record: MixTrace, m: Maths, settings: Settings) -> Json:
    """A 1x1 filter: its weights, and the cells the documents work in full."""
    d = settings.decimals
    width = record.input.shape[2]
    found = []
    for n in range(settings.worked_in_full(record.input.shape[1] * width)):
        i, j = divmod(n, width)
        cell, value = record.cell(i, j), record.output[0, i, j]
        found.append(_terms(cell, value, m.terms_equation(sub("y", i, j), cell, value), settings))
    return {
        "weights": _array(record.weights, d),
        "bias": None if record.bias is None else _array(record.bias, d),
        "formula": m.mix_formula(record.weights, record.bias),
        "cells": found,
    }


def _dense(record: DenseTrace, m: Maths, settings: Settings) -> Json:
    """A dense layer: its weights, one row per neuron, and the neurons the documents work in full."""
    d = settings.decimals
    found = []
    for k in range(settings.worked_in_full(record.weights.shape[0])):
        neuron, value = record.neuron(k), record.output[k]
        found.append(_terms(neuron, value, m.terms_equation(sub("z", k), neuron, value), settings))
    return {
        "weights": _array(record.weights, d),
        "bias": None if record.bias is None else _array(record.bias, d),
        "neurons": found,
    }


def _elementwise(record: ElementwiseTrace, m: Maths, settings: Settings) -> Json:
    """An activation cell by cell; sigmoid and tanh elements carry the working the documents write for each."""
    d, layer = settings.decimals, record.layer
    curve = layer.kind in ("sigmoid", "tanh")
    elements = []
    for e in record.elements(settings.worked_in_full(record.input.data.size)):
        element = {"index": [k + 1 for k in e.index], "x": _number(e.x, d), "full": _number(e.full, d)}
        element["y"] = _number(e.y, d)
        if curve:
            element["working"] = m.curve_equation(m.element_name("a", e.index, record.input.shape), e, layer)
        elements.append(element)
    data: Json = {"elements": elements}
    if layer.kind != "identity":
        data["formula"] = m.activation_formula(layer)
    if layer.slope is not None:
        data["slope"] = _number(layer.slope, d)
    return data


def _softmax(record: SoftmaxTrace, m: Maths, settings: Settings) -> Json:
    """Softmax: the exponentials as carried, their sum, the shift, and its working as the documents write it."""
    d, n = settings.decimals, record.input.data.size
    minus = " - m" if record.shift is not None else ""
    rows = [
        f"e^{{{m.number(record.input[k])}{minus}}} &{m.exp_relation(record, k)} {m.number(record.exps[k])}"
        for k in range(n)
    ]
    added = f"{m.long_sum(record.exps)} {m.exp_sum_relation(record)} " if n > 1 else ""
    rows.append(f"\\textstyle\\sum_j e^{{z_j{minus}}} &= {added}{m.number(record.total)}")
    lines = ["\\begin{aligned} " + " \\\\ ".join(rows) + " \\end{aligned}"]
    for k in range(n):
        lines.append(
            f"{sub(_Y_HAT, k)} = \\frac{{{m.number(record.exps[k])}}}{{{m.number(record.total)}}} "
            f"{m.softmax_relation(record, k)} {m.number(record.output[k])}"
        )
    return {
        "exps": _array(record.exps, d),
        "full_exps": _array(record.full_exps, d),
        "total": _number(record.total, d),
        "shift": _optional(record.shift, d),
        "working": lines,
    }


def _transposed(record: TransposedTrace, m: Maths, settings: Settings) -> Json:
    """A transposed convolution: its canvas of copies and expanded input, and its worked cells (transposed =
    "scatter") or the equivalent convolution's windows (transposed = "convolution"), as the documents work it."""
    d, layer = settings.decimals, record.layer
    data: Json = {
        "filters": _array(layer.filters, d),
        "bias": None if layer.bias is None else _array(layer.bias, d),
        "stride": list(layer.stride),
        "trim": list(layer.padding),
        "output_padding": list(layer.output_padding),
        "canvas": _array(record.canvas, d),
        "expanded": _array(record.expanded, d),
    }
    if settings.transposed == "convolution":
        data["convolution"] = _conv(record.conv, m, settings)
        return data
    F, oh, ow = record.sums.shape
    found = []
    for f in range(F):
        for n in range(settings.worked_in_full(oh * ow)):
            i, j = divmod(n, ow)
            value = record.output[f, i, j]
            found.append(_terms(record.cell(f, i, j), value, m.scatter_cell(record, f, i, j), settings))
    data["cells"] = found
    return data


_KINDS: dict[type, Any] = {
    ConvTrace: _conv,
    PoolTrace: _pool,
    MixTrace: _mix,
    DenseTrace: _dense,
    ElementwiseTrace: _elementwise,
    SoftmaxTrace: _softmax,
    TransposedTrace: _transposed,
}


def _headings(trace: Trace, settings: Settings) -> list[str]:
    """Each layer's heading as the Markdown document prints it (`Layer 1: convolution`): the start of the layer's
    own template, rendered only until its heading is out."""
    from .documents import environment, partial

    env = environment("md", settings)
    found = []
    for record in trace.layers:
        pieces = env.get_template(partial(record)).generate(
            trace=trace, problem=trace.problem, settings=settings, record=record
        )
        text, heading = "", f"Layer {record.number}: {title(record.layer.kind)}"
        for piece in pieces:
            text += piece
            match = _HEADING.search(text)
            if match:
                heading = match.group(1).strip()
                break
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
        found.append(heading)
    return found


def _layer(record: LayerTrace, heading: str, m: Maths, settings: Settings) -> Json:
    """One layer: its place, kind and heading, its input, sums and output, and what its kind adds."""
    d = settings.decimals
    output = _array(record.output, d)
    sums = getattr(record, "sums", record.output)
    data: Json = {
        "number": record.number,
        "kind": record.layer.kind,
        "stage": f"layer{record.number}",
        "heading": heading,
        "input": _array(record.input, d),
        "output": output,
        "sums": output if sums is record.output else _array(sums, d),
    }
    if isinstance(record, FlattenTrace):
        return data
    handler = _KINDS.get(type(record))
    if handler is not None:
        data.update(handler(record, m, settings))
    return data


# ---- training (a problem with [train]) ----

# Each loss as a formula in words, and the gradient the backward pass starts from (train.py states them).
_LOSS_WORDS = {
    "cross_entropy": "L = -sum_i y_i ln(yhat_i), natural log, yhat the softmax's output (PyTorch's CrossEntropyLoss "
    "of the logits that go into the softmax)",
    "mse": "L = (1/n) sum_i (yhat_i - y_i)^2, the mean over the n outputs (PyTorch's MSELoss)",
    "half_sse": "L = 1/2 sum_i (yhat_i - y_i)^2, half the summed squared errors (Mazur's)",
    "binary_cross_entropy": "L = -(1/n) sum_i [y_i ln(yhat_i) + (1 - y_i) ln(1 - yhat_i)], natural log, the mean "
    "over the n outputs (PyTorch's BCELoss)",
}
_GRADIENT_WORDS = {
    "cross_entropy": "softmax and cross-entropy together: dL/dz = yhat - y at the softmax's input z; the softmax "
    "layer has no backward record of its own",
    "mse": "dL/dyhat_i = 2 (yhat_i - y_i) / n",
    "half_sse": "dL/dyhat_i = yhat_i - y_i",
    "binary_cross_entropy": "sigmoid and binary cross-entropy together: dL/dz = (yhat - y) / n at the sigmoid's "
    "input z; the sigmoid layer has no backward record of its own",
}
_TIES_WORDS = {
    "first": "max pooling sends a window's gradient to its maximum; of tied cells, to the first in reading order "
    "(PyTorch)",
    "all": "max pooling sends a window's gradient to its maximum; of tied cells, to every one of them",
}


def _conventions(train: Train, problem: Problem, settings: Settings) -> Json:
    """The conventions the backward pass follows, in words, as a solution's Conventions box states them."""
    if settings.rounding == "carry":
        numbers = (
            f"gradients are worked from the forward values as carried, and each is itself rounded to "
            f"{settings.decimals} places (a half of the last place away from zero) before it is carried back; "
            "rounding counts as the identity when differentiating"
        )
    else:
        numbers = "gradients are floats, worked from the forward values in full and kept in full"
    biases = any(getattr(layer, "bias", None) is not None for layer in problem.layers)
    target = (
        f"class {train.target_class}, as its one-hot vector"
        if train.target_class is not None
        else "the vector given, one value per output"
    )
    found: Json = {
        "loss": _LOSS_WORDS[train.loss],
        "gradient": _GRADIENT_WORDS[train.loss],
        "target": target,
        "update": "new = old - learning_rate x dL/d(old), for every weight"
        + ("" if not biases else " and bias" if train.update_bias else "; the biases stay as they are"),
        "ties": _TIES_WORDS[train.ties],
        "numbers": numbers,
    }
    if any(layer.kind in ("relu", "leaky_relu") for layer in problem.layers):
        found["relu"] = "the derivative of ReLU at 0 is taken as 0 (leaky ReLU's: its slope), as PyTorch does"
    return found


def _train_settings(train: Train, d: int) -> Json:
    rate = from_numbers([train.learning_rate], ())
    return {
        "loss": train.loss,
        "target": _array(train.target, d),
        "target_class": train.target_class,
        "learning_rate": _number(rate, d),
        "steps": train.steps,
        "update_bias": train.update_bias,
        "ties": train.ties,
    }


def _optional_array(v: Values | None, d: int) -> Json | None:
    return None if v is None else _array(v, d)


def _loss(loss: LossTrace, d: int) -> Json:
    return {
        "kind": loss.kind,
        "output": _array(loss.output, d),
        "target": _array(loss.target, d),
        "terms": _array(loss.terms, d),
        "value": _number(loss.value, d),
        "gradient": _array(loss.grad, d),
        "combined": loss.combined,
    }


def _grad(grad: LayerGrad, d: int) -> Json:
    return {
        "number": grad.number,
        "kind": grad.layer.kind,
        "stage": f"layer{grad.number}",
        "upstream": _array(grad.upstream, d),
        "local": _optional_array(grad.local, d),
        "weights": _optional_array(grad.weights, d),
        "bias": _optional_array(grad.bias, d),
        "input": _array(grad.input, d),
    }


def _update(u: Update, d: int) -> Json:
    return {
        "layer": u.number,
        "name": u.name,
        "old": _array(u.old, d),
        "grad": _array(u.grad, d),
        "new": _array(u.new, d),
    }


def _training(training: Training, problem: Problem, d: int) -> Json:
    """The training object: settings and conventions, the first step's loss, backward records, updates and stages,
    and the loss before each step and after the last."""
    from ..core.stages import backward_stages

    step, settings = training.first, training.first.trace.settings
    return {
        "settings": _train_settings(training.train, d),
        "conventions": _conventions(training.train, problem, settings),
        "loss": _loss(step.loss, d),
        "layers": [_grad(g, d) for g in step.grads],
        "updates": [_update(u, d) for u in step.updates],
        "losses": [_number(s.loss.value, d) for s in training.steps] + [_number(training.final.value, d)],
        "stages": [
            {
                "key": s.key,
                "layer": s.layer,
                "title": s.title(problem),
                "shape": list(s.shape),
                "values": _array(training.value(s), d),
            }
            for s in backward_stages(problem)
        ],
    }


def _settings(trace: Trace, settings: Settings | None) -> Settings:
    """The settings to write with: `settings`' detail and terms, the trace's own rounding and decimals, which shaped
    its numbers (as the documents take them)."""
    if settings is None:
        return trace.settings
    return replace(settings, rounding=trace.settings.rounding, decimals=trace.settings.decimals)


def trace_data(trace: Trace, settings: Settings | None = None, training: Training | None = None) -> Json:
    """The trace as plain JSON data (see trace.schema.json): the problem's input and output, and each layer's arrays
    and worked steps as far as `settings.detail` works them (by default the trace's own settings). A problem with
    [train] adds its `training` (backward.training of the trace's problem, unless given, worked with the trace's
    rounding and decimals)."""
    settings = _settings(trace, settings)
    m = Maths(settings, FORMATS["md"].highlight)
    d = settings.decimals
    problem = trace.problem
    source = "" if problem.source.startswith("<") else PurePath(problem.source).name
    headings = _headings(trace, settings)
    data: Json = {
        "format": TRACE_FORMAT,  # first, so on the second line: the mark that says stepper wrote the file
        "schema_version": SCHEMA_VERSION,
        "title": problem.title,
        "source": source,
        "settings": {
            "rounding": settings.rounding,
            "decimals": settings.decimals,
            "detail": settings.detail,
            "terms": settings.terms,
            "channels": settings.channels,
            "transposed": settings.transposed,
            "simplify": settings.simplify,
        },
        "input": _array(problem.input, d),
        "layers": [_layer(r, h, m, settings) for r, h in zip(trace.layers, headings)],
        "output": _array(trace.output, d),
    }
    if problem.train is not None:
        if training is None:
            from ..core.backward import training as backward_training

            training = backward_training(problem, settings, forward=trace)
        data["training"] = _training(training, problem, d)
    return data


def trace_json(trace: Trace, settings: Settings | None = None, training: Training | None = None) -> str:
    """trace_data as JSON text: UTF-8 characters as they are, ending in a newline; each object's fields a line, and
    a short object or list (a Number, a term), or a row of an array, on one line. The same trace and settings give
    the same text."""
    return _dump(trace_data(trace, settings, training), 0) + "\n"


def _dump(item: Any, depth: int) -> str:
    """`item` as JSON text at indentation `depth`: on one line when it is short or a list of plain values (a row of
    an array), else one field or item a line."""
    line = json.dumps(item, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
    if not isinstance(item, dict | list) or len(line) <= _ONE_LINE:
        return line
    if isinstance(item, list) and not any(isinstance(x, dict | list) for x in item):
        return line
    inner = "\n" + " " * (depth + 1)
    if isinstance(item, list):
        body = ",".join(inner + _dump(x, depth + 1) for x in item)
        return f"[{body}\n{' ' * depth}]"
    body = ",".join(f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dump(v, depth + 1)}" for k, v in item.items())
    return f"{{{body}\n{' ' * depth}}}"


def embeddable(json_text: str) -> str:
    """JSON text made safe inside an HTML `<script type="application/json">`: `<`, `>`, `&`, U+2028 and U+2029 as
    JSON's \\u escapes (they occur only inside strings), so no `</script>` or `<!--` can end the element early and
    the text parses to the same data."""
    return _UNSAFE_RE.sub(lambda m: _UNSAFE[m.group(0)], json_text)
