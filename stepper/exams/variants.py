"""Exam templates: a problem file with a `[random]` part, drawn into many problems.

    [random]                             # what varies, and over what; everything else stays fixed
    input = "0..4"                       # every cell: a whole number from 0 to 4
    "layer1.filters.1" = [-1, 0, 1, 2]   # every cell of filter 1: one of these
    "layer3.type" = ["maxpool", "avgpool"]
    "layer6.weights" = "0..0.5 by 0.1"   # 0, 0.1, ..., 0.5
    "train.target" = [1, 2]              # with [train]: the class each variant trains towards

    balance = true                       # the default: each type for as many variants as the others
    fixed = ["layer3.type"]              # or one type for the whole exam, drawn from the exam's seed

A path names the input or a layer's field (`layerN.field`), and may end in a
part counted from 1 (filter, channel or neuron). A grid's cells are drawn one
by one; a stride, size or padding is drawn once. A layer's type is dealt out
in turn (balanced: round-robin over the variants, in a seeded order each
round), held for the whole exam (`fixed`), or drawn for each variant alone
(`balance = false`); a variant's seed carries its dealt types, so the seed
alone draws its problem again. Drawing is seeded: the same template and seed
give the same problem. Whether a problem is fair to set is
`fairness.py`'s question; this file reads the template and draws.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import StepperError, suggestion
from ..core.load import NON_FINITE, TOP_FIELDS, from_data, read_text, read_toml, shown
from ..core.numbers import Values, fraction, from_numbers
from ..core.spec import Activation, Conv1x1, Conv2d, ConvTranspose2d, Dense, Layer, Pool, Problem, arrays
from ..core.train import with_class
from .fairness import Constraints, read_constraints
from .moodle import LAYOUTS

MAX_CHOICES = 10_000  # a range with more values than this is not one a student works by hand
# A layer's type may change only to one worked the same way, so the rest of the network still fits.
SWAPS = {
    "maxpool": ("maxpool", "avgpool"),
    "avgpool": ("maxpool", "avgpool"),
    **{k: ("relu", "sigmoid", "tanh", "identity") for k in ("relu", "sigmoid", "tanh", "identity")},
    "leaky_relu": ("leaky_relu", "relu"),
}  # any other layer keeps its own type
CELLS = "cells"  # a field whose cells are drawn one by one
# The fields [random] may name, for each kind of layer: how each is drawn.
FIELDS = {
    Conv2d: {"filters": CELLS, "bias": CELLS, "stride": "pair", "padding": "count", "dilation": "pair"},
    ConvTranspose2d: {"filters": CELLS, "bias": CELLS, "stride": "pair", "padding": "pair0"},
    Pool: {"type": "type", "size": "pair", "stride": "pair", "padding": "count"},
    Conv1x1: {"weights": CELLS, "bias": CELLS},
    Dense: {"weights": CELLS, "bias": CELLS},
    Activation: {"type": "type", "slope": CELLS},
}
TEMPLATE_PARTS = ("random", "constraints", "exam")
RANDOM_OPTIONS = ("balance", "fixed")  # [random] fields that say how types are dealt, not what is drawn
BALANCED, FIXED, FREE = "balanced", "fixed", "free"  # how a type is dealt to the variants of one exam
KEYS = ("full", "answers")
# A layer's number or a part's in a [random] path: ASCII digits only (str.isdigit also takes '²'), and few
# enough for int() (which refuses more than 4,300).
_COUNT = r"[0-9]{1,6}"
_DEEPEST_PATH = 3  # layerN.field.part: a [random] path has at most three pieces


@dataclass(frozen=True)
class Choice:
    """One entry of [random]: where it goes, and what each drawn value is chosen from."""

    path: str  # as written: "layer1.filters.2"
    layer: int | None  # 1-based; None for the input
    field: str  # "input", "filters", "stride", "type", ...
    part: int | None  # 0-based filter, channel or neuron; None for the whole field
    how: str  # CELLS, "pair", "pair0", "count", "type" or "class" (a [train] target)
    values: tuple  # Fractions, or names of layer types
    dealt: str = FREE  # a type: BALANCED over the exam's variants, FIXED for the exam, or FREE (drawn alone)

    def draw(self, rng: np.random.Generator, count: int) -> list:
        return [self.values[i] for i in rng.integers(len(self.values), size=count)]


@dataclass(frozen=True)
class Template:
    base: Problem  # the problem as written: its values give every shape, and every value not drawn
    choices: tuple[Choice, ...]
    constraints: Constraints
    key: str  # the answer key's detail: "full" working or "answers" only
    source: str
    moodle: str = "stages"  # the Moodle quiz: a question per stage, or one "whole" question per variant

    @cached_property
    def dealt(self) -> tuple[Choice, ...]:
        """The type choices dealt out over an exam (balanced or fixed), rather than drawn for each variant."""
        return tuple(c for c in self.choices if c.dealt != FREE)

    @cached_property
    def deals(self) -> int:
        """How many ways the dealt types can fall together: a seed carries one of them as its remainder."""
        return int(np.prod([len(c.values) for c in self.dealt], dtype=object)) if self.dealt else 1

    def deal(self, seed: int, number: int) -> int:
        """Variant `number`'s dealt types for the exam of `seed`, as one number below `deals` (a mixed radix):
        a balanced type is the next of a seeded order of its values, a new order each round, so every value
        comes as often as the others, to within one; a fixed type is one value for the whole exam."""
        code, radix = 0, 1
        for k, choice in enumerate(self.dealt):
            n = len(choice.values)
            if choice.dealt == FIXED:
                index = int(np.random.default_rng([seed, k]).integers(n))
            else:
                round_, place = divmod(number - 1, n)
                index = int(np.random.default_rng([seed, k, round_]).permutation(n)[place])
            code, radix = code + index * radix, radix * n
        return code

    def dealt_values(self, seed: int) -> dict[str, str]:
        """The dealt types a (variant's) seed carries: path -> type."""
        code, found = seed % self.deals, {}
        for choice in self.dealt:
            code, index = divmod(code, len(choice.values))
            found[choice.path] = choice.values[index]
        return found

    def draw(self, seed: int) -> Problem:
        """The problem of one seed: each choice drawn in the order the template lists them, the dealt types
        taken from the seed's remainder by `deals` (see `deal`)."""
        rng = np.random.default_rng(seed)
        dealt = self.dealt_values(seed) if self.dealt else {}
        problem = self.base
        for choice in self.choices:
            problem = _apply(problem, choice, rng, dealt.get(choice.path))
        return problem


def load_template(path: str | Path, *, name: str | None = None) -> Template:
    name = name or str(path)
    return loads_template(read_text(path, name), name=name)


def loads_template(text: str, *, name: str = "<template>") -> Template:
    data = read_toml(text, name)
    _misspelt_parts(data, name)
    parts = {k: data.pop(k) for k in TEMPLATE_PARTS if k in data}
    base = from_data(data, name=name)
    try:
        random = parts.get("random")
        if not isinstance(random, dict) or not random:
            found = "an empty table" if random == {} else shown(random) if random is not None else "none"
            raise StepperError(
                f'expected a [random] table naming what varies, such as input = "0..4", found {found}', place="[random]"
            )
        random = dict(random)
        options = {k: random.pop(k) for k in RANDOM_OPTIONS if k in random}
        if not random:
            raise StepperError(
                'expected a [random] table naming what varies, such as input = "0..4", found only '
                + " and ".join(options),
                place="[random]",
            )
        paths = [path for path, _ in _flat(random)]
        twice = next((p for p in paths if paths.count(p) > 1), None)
        if twice:
            raise StepperError("named twice (once quoted, once as a table): keep one", place=f"[random] {twice!r}")
        choices = _dealing(tuple(_choice(path, spec, base) for path, spec in _flat(random)), options)
        constraints = parts.get("constraints", {})
        if not isinstance(constraints, dict):
            raise StepperError(f"expected a [constraints] table, found {shown(constraints)}", place="[constraints]")
        constraints = read_constraints(constraints, base)
        exam = parts.get("exam", {})
        if not isinstance(exam, dict):
            raise StepperError(f"expected an [exam] table, found {shown(exam)}", place="[exam]")
        unknown = sorted(set(exam) - {"key", "moodle"})
        if unknown:
            raise StepperError(
                f"unknown field {unknown[0]!r}: {suggestion(unknown[0], ('key', 'moodle'))}expected 'key' or 'moodle'",
                place="[exam]",
            )
        moodle = exam.get("moodle", "stages")
        if moodle not in LAYOUTS:
            raise StepperError(
                f"expected 'stages' (a question per stage, each variant a category) or 'whole' "
                f"(one question per variant), found {shown(moodle)}",
                place="[exam] field 'moodle'",
            )
        key = exam.get("key", "full")
        if key not in KEYS:
            raise StepperError(
                f"expected 'full' (the working) or 'answers' (results only), found {shown(key)}",
                place="[exam] field 'key'",
            )
    except StepperError as e:
        raise e.located(file=name) from None
    template = Template(base, choices, constraints, key, name, moodle)
    _numbers_only(template)
    return template


def _dealing(choices: tuple[Choice, ...], options: dict) -> tuple[Choice, ...]:
    """The type choices marked as dealt: balanced over the variants (`balance = true`, the default), or fixed
    for the exam (`fixed = ["layer3.type"]`); `balance = false` draws each variant's types alone."""
    balance, fixed = options.get("balance", True), options.get("fixed", [])
    if not isinstance(balance, bool):
        raise StepperError(f"expected true or false, found {shown(balance)}", place="[random] field 'balance'")
    types = [c.path for c in choices if c.how == "type"]
    example = types[0] if types else "layer3.type"
    if not isinstance(fixed, list) or not all(isinstance(p, str) for p in fixed):
        raise StepperError(
            f"expected a list of the types [random] draws, such as [{example!r}], found {shown(fixed)}",
            place="[random] field 'fixed'",
        )
    unknown = [p for p in fixed if p not in types]
    if unknown:
        raise StepperError(
            f"{unknown[0]!r} is not a type [random] draws: {suggestion(unknown[0], types)}expected "
            + (" or ".join(map(repr, types)) if types else 'a type drawn above it, such as "layer3.type" = [...]'),
            place="[random] field 'fixed'",
        )
    return tuple(
        replace(c, dealt=FIXED if c.path in fixed else BALANCED if balance else FREE) if c.how == "type" else c
        for c in choices
    )


def _misspelt_parts(data: dict, name: str) -> None:
    """A misspelt [constraint] or [randon]: the problem's own reader knows no template parts, so it would
    not say which was meant (any other unknown field it reports itself, as `stepper solve` does)."""
    for key in data:
        if key not in TOP_FIELDS and key not in TEMPLATE_PARTS and suggestion(key, TEMPLATE_PARTS):
            allowed = sorted(TOP_FIELDS | set(TEMPLATE_PARTS))
            raise StepperError(
                f"unknown field {key!r} in an exam template: {suggestion(key, allowed)}expected one "
                f"of {', '.join(allowed)}",
                file=name,
                place=f"field {key!r}",
            )


def _numbers_only(template: Template) -> None:
    """An exam's answers are numbers: every symbol of the problem must be one [random] replaces."""
    drawn = template.draw(0)
    held = [("input", drawn.input)] + [
        (f"layer {n} ({layer.kind})", v) for n, layer in enumerate(drawn.layers, 1) for v in arrays(layer)
    ]
    where = next((place for place, v in held if v.symbolic), None)
    if where:
        raise StepperError(
            f"{where} holds symbols: an exam needs numbers, so [random] must draw every field that holds a symbol",
            file=template.source,
            place="[random]",
        )


def _flat(table: dict, prefix: str = "", depth: int = 1):
    """(dotted path, spec) pairs: `layer1.filters = ...` in TOML is a table inside [random]. A table deeper
    than any path is given as a spec, which is then refused (not followed down thousands of levels)."""
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and depth < _DEEPEST_PATH:
            yield from _flat(value, path + ".", depth + 1)
        else:
            yield path, value


def _choice(path: str, spec, base: Problem) -> Choice:
    place = f"[random] {path!r}"
    pieces = path.split(".")
    found: Layer | None = None
    if pieces[0] == "train":
        return _target_choice(path, pieces, spec, base, place)
    if pieces[0] == "input":
        layer, kind_fields, rest = None, {"input": CELLS}, pieces
        count = base.input.shape[0]
    else:
        layer, rest = _layer_path(pieces, base, place)
        found = base.layers[layer - 1]
        kind_fields = _fields_of(found, layer, rest[0], place)
        count = _parts(found, rest[0])
    field, how = rest[0], kind_fields[rest[0]]
    part = _part(rest, how, count, place)
    if found is not None and how == CELLS and _field(found, field) is None:
        raise StepperError(
            f"layer {layer} has no {field} to vary: give one in the layer (its values set the "
            "shape), then [random] can redraw it",
            place=place,
        )
    values = _values(spec, place, how)
    if found is not None and how == "type":
        _swappable(found.kind, values, place)
        train = base.train
        if train is not None and train.combined and layer == len(base.layers) and set(values) != {found.kind}:
            raise StepperError(
                f"[train] loss = {train.loss!r} needs the last layer to stay a {found.kind} layer: "
                "draw another layer's type, or leave this one out",
                place=place,
            )
    return Choice(path, layer, field, part, how, values)


def _target_choice(path: str, pieces: list[str], spec, base: Problem, place: str) -> Choice:
    """ "train.target": the class the variant's [train] step trains towards, drawn for each variant."""
    if pieces != ["train", "target"]:
        raise StepperError("expected 'train.target' (the class each variant trains towards)", place=place)
    if base.train is None:
        raise StepperError("the problem has no [train] to vary: give one, with a target class", place=place)
    classes = base.train.target.shape[0]
    # One output (a sigmoid with binary cross-entropy): its target is drawn, 0 or 1; else a class from 1.
    values = _values(spec, place, "count" if classes == 1 else "class")
    beyond = [v for v in values if v > classes]
    if beyond:
        expected = (
            "0 or 1 (the network has one output: its target)"
            if classes == 1
            else (f"classes from 1 to {classes} (the network has {classes} outputs)")
        )
        raise StepperError(f"expected {expected}, found {_show(beyond[0])}", place=place)
    return Choice(path, None, "target", None, "class", values)


def _layer_path(pieces: list[str], base: Problem, place: str) -> tuple[int, list[str]]:
    """A path that names a layer (layerN.field...): the layer's number, and the pieces after it."""
    m = re.fullmatch(f"layer({_COUNT})", pieces[0])
    if not m or len(pieces) < 2:
        names = ["input"] + [f"layer{n}" for n in range(1, len(base.layers) + 1)]
        raise StepperError(
            f"names no field of the problem: {suggestion(pieces[0], names)}expected 'input' or "
            "'layerN.field', such as 'layer1.filters'",
            place=place,
        )
    layer = int(m[1])
    if not 1 <= layer <= len(base.layers):
        raise StepperError(f"names no field of the problem: there are layers 1 to {len(base.layers)}", place=place)
    return layer, pieces[1:]


def _fields_of(found: Layer, layer: int, name: str, place: str) -> dict[str, str]:
    """The fields [random] may vary in this layer (how each is drawn), which must include `name`."""
    kind_fields = FIELDS.get(type(found), {})
    if name not in kind_fields or (name == "slope" and found.kind != "leaky_relu"):
        fields = [f for f in kind_fields if f != "slope" or found.kind == "leaky_relu"]
        raise StepperError(
            f"names no field of the problem: {suggestion(name, fields)}layer {layer} "
            f"({found.kind}) may vary {', '.join(map(repr, fields)) or 'nothing'}",
            place=place,
        )
    return kind_fields


def _part(rest: list[str], how: str, count: int, place: str) -> int | None:
    """The 0-based part (filter, channel or neuron) a path ends in, if any, of a field of `count` parts."""
    field = rest[0]
    if len(rest) > 2 or (len(rest) == 2 and (how != CELLS or not re.fullmatch(_COUNT, rest[1]))):
        raise StepperError(
            f"names no field of the problem: after {field!r} only a part counted from 1 may "
            "follow, for a field of cells",
            place=place,
        )
    if len(rest) < 2:
        return None
    part = int(rest[1]) - 1
    if not 0 <= part < count:
        raise StepperError(f"names no field of the problem: {field} has parts 1 to {count}", place=place)
    return part


def _swappable(kind: str, values: tuple, place: str) -> None:
    """A layer's type may be drawn only from those worked the same way as its own (SWAPS)."""
    allowed = SWAPS.get(kind, (kind,))
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise StepperError(
            f"{suggestion(wrong[0], allowed)}a {kind} layer may become only "
            f"{' or '.join(map(repr, allowed))}, not {wrong[0]!r}",
            place=place,
        )


def _field(layer: Layer, field: str) -> Any:
    return getattr(layer, field, None)


def _parts(layer: Layer, field: str) -> int:
    if field in ("filters", "weights") and isinstance(layer, Dense):
        return len(layer.weights)
    value = getattr(layer, field, None)
    return value.shape[0] if isinstance(value, Values) and value.data.ndim else 1


def _values(spec, place: str, how: str) -> tuple:
    """What one drawn value is chosen from: a list as written, or a range "a..b" or "a..b by step"."""
    if how == "type":
        if not isinstance(spec, list) or not spec or not all(isinstance(v, str) for v in spec):
            raise StepperError(
                f'expected a list of layer types, such as ["maxpool", "avgpool"], found {shown(spec)}', place=place
            )
        return tuple(spec)
    if isinstance(spec, list):
        if not spec:
            raise StepperError("the list is empty: expected one or more numbers to choose from", place=place)
        values = tuple(_number(v, place) for v in spec)
    elif isinstance(spec, str):
        values = _range(spec, place)
    else:
        raise StepperError(
            f'expected a range such as "0..4" or "0..0.5 by 0.1", or a list of numbers, found {shown(spec)}',
            place=place,
        )
    if how != CELLS:
        least = 0 if how in ("count", "pair0") else 1
        bad = [v for v in values if v.denominator != 1 or v < least or v > 100]
        if bad:
            raise StepperError(f"expected whole numbers from {least} to 100, found {_show(bad[0])}", place=place)
    return values


def _range(spec: str, place: str) -> tuple[Fraction, ...]:
    m = re.fullmatch(r"\s*(\S+?)\s*\.\.\s*(\S+?)\s*(?:by\s+(\S+)\s*)?", spec)
    if not m:
        raise StepperError(f'expected a range such as "0..4" or "0..0.5 by 0.1", found {spec!r}', place=place)
    low, high = _number(m[1], place), _number(m[2], place)
    step = _number(m[3], place) if m[3] else Fraction(1)
    if m[3] is None and (low.denominator != 1 or high.denominator != 1):
        raise StepperError(f'a range of decimals needs a step: "{m[1]}..{m[2]} by 0.1"', place=place)
    if high < low:
        raise StepperError(
            f"the range {spec!r} is inverted: it runs from {_show(low)} down to {_show(high)}", place=place
        )
    if step <= 0:
        raise StepperError(f"expected a step above 0, found {_show(step)}", place=place)
    count = int((high - low) / step) + 1
    if count > MAX_CHOICES:
        raise StepperError(f"the range holds {count:,} values: expected at most {MAX_CHOICES:,}", place=place)
    return tuple(low + k * step for k in range(count))


def _number(raw, place: str) -> Fraction:
    if isinstance(raw, bool) or not isinstance(raw, (int, str, Decimal)):
        raise StepperError(f"expected a number, found {shown(raw)}", place=place)
    if isinstance(raw, Decimal) and not raw.is_finite():
        raise StepperError(f"expected a finite number, found {shown(raw)}", place=place)
    if isinstance(raw, str) and NON_FINITE.fullmatch(raw.strip()):
        raise StepperError(f"expected a finite number, found {raw!r}", place=place)
    try:
        return Fraction(raw) if isinstance(raw, int) else fraction(raw if isinstance(raw, Decimal) else raw.strip())
    except (ValueError, ZeroDivisionError):
        raise StepperError(f"expected a number such as 3, -0.5 or 1/2, found {shown(raw)}", place=place) from None


def _show(x: Fraction) -> str:
    return shown(x.numerator) if x.denominator == 1 else str(float(x))


# ---- drawing: each choice replaces one field of the problem ----


def _apply(problem: Problem, choice: Choice, rng: np.random.Generator, dealt: str | None = None) -> Problem:
    """`problem` with one choice drawn (`dealt`: the type dealt to this variant, if the choice is dealt)."""
    if choice.how == "class":
        assert problem.train is not None  # _target_choice checked
        return replace(problem, train=with_class(problem.train, int(choice.draw(rng, 1)[0])))
    if choice.layer is None:
        return replace(problem, input=_redraw(problem.input, choice, rng))
    layers = list(problem.layers)
    layer = layers[choice.layer - 1]
    if choice.how == "type":
        kind: Any = dealt if dealt is not None else choice.draw(rng, 1)[0]
        layer = replace(layer, kind=kind)
    elif isinstance(layer, Dense) and choice.field == "weights":
        weights = list(layer.weights)
        for k in range(len(weights)) if choice.part is None else [choice.part]:
            weights[k] = _redraw(weights[k], replace(choice, part=None), rng)
        layer = replace(layer, weights=tuple(weights))
    else:
        # FIELDS gave the field for this kind of layer; the type checker cannot follow a field chosen by name.
        drawn: dict[str, Any] = {choice.field: _drawn(layer, choice, rng)}
        layer = replace(layer, **drawn)
    layers[choice.layer - 1] = layer
    return replace(problem, layers=tuple(layers))


def _drawn(layer: Layer, choice: Choice, rng: np.random.Generator) -> tuple[int, int] | int | Values:
    """A new value for one field of the layer: a pair, a count, or its cells drawn anew."""
    if choice.how in ("pair", "pair0"):
        n = int(choice.draw(rng, 1)[0])
        return (n, n)
    if choice.how == "count":
        return int(choice.draw(rng, 1)[0])
    return _redraw(getattr(layer, choice.field), choice, rng)


def _redraw(v: Values | None, choice: Choice, rng: np.random.Generator) -> Values:
    """`v` with its cells (or its part's cells) drawn anew."""
    if v is None:
        raise StepperError(
            f"the problem has no {choice.field} to vary: give one in the layer, which sets its shape",
            place=f"[random] {choice.path!r}",
        )
    cells = _fractions(v)
    target = cells if choice.part is None else cells[choice.part : choice.part + 1]  # a view, even of a vector
    target[...] = np.array(choice.draw(rng, target.size) + [None], dtype=object)[:-1].reshape(target.shape)
    return from_numbers(cells.tolist(), v.shape)


def _fractions(v: Values) -> np.ndarray:
    if v.symbolic:
        return v.data.copy()
    if v.exact:
        return np.array([Fraction(int(n), v.scale) for n in v.data.ravel()], dtype=object).reshape(v.shape)
    return np.array([Fraction(float(x)) for x in v.data.ravel()], dtype=object).reshape(v.shape)
