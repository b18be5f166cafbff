"""What a problem is: the input, the layers and the settings, as frozen dataclasses.

Each layer knows the shape it turns its input into (`out_shape`), and says in
words what is wrong when it cannot. Each layer class also declares its kinds
(`kinds`: the heading and the problem file's fields of each) and reads its own
[[layers]] table (`from_table`); `KINDS`, at the end, is the one registry of
kinds that every other table of kinds reads. `load.py` reads a problem file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import numpy as np

from . import reading
from .choices import CHANNELS, MARK_PER, ROUNDING, SIZE_RULES, TERMS, TRANSPOSED
from .errors import StepperError, suggestion
from .numbers import Values, as_symbols, exact, floats, symbols

if TYPE_CHECKING:
    from .train import Train

Shape = tuple[int, ...]
Pair = tuple[int, int]  # (rows, columns)

# The most cells an expanded map may hold (a transposed convolution's input spread out).
MAX_CELLS = 10**6


@dataclass(frozen=True)
class Settings:
    """How the working is carried out and written; validated when made."""

    decimals: int = 4  # places for sigmoid, exponentials and anything rounded
    rounding: str = "carry"  # "carry": rounded values are carried forward, as by hand; "full": full precision
    detail: int | str = "all"  # "all" windows, the first N of each map, "answers" only, or "shapes": a table of sizes
    terms: str = "nonzero"  # "nonzero" products only, or "all" products as a . b
    simplify: bool = False  # symbolic sums: also collect the terms by the weights' symbols
    channels: str = "grouped"  # a window over several channels: a bracket and subtotal per channel, or "flat"
    transposed: str = "scatter"  # transposed convolution: scaled copies of the filter, or the "convolution" view
    size_rule: str = "floor"  # a stride that leaves cells over: "floor" drops them, "exact" refuses the problem

    def __post_init__(self) -> None:
        if isinstance(self.decimals, bool) or not isinstance(self.decimals, int) or not 0 <= self.decimals <= 12:
            raise StepperError(
                f"expected a whole number of places from 0 to 12, found {self.decimals!r}",
                place="settings, field 'decimals'",
            )
        if self.rounding not in ROUNDING:
            raise StepperError(
                f"{suggestion(self.rounding, ROUNDING)}expected one of {', '.join(map(repr, ROUNDING))}, "
                f"found {self.rounding!r}",
                place="settings, field 'rounding'",
            )
        if not isinstance(self.simplify, bool):
            raise StepperError(f"expected true or false, found {self.simplify!r}", place="settings, field 'simplify'")
        for name, allowed in (
            ("terms", TERMS),
            ("channels", CHANNELS),
            ("transposed", TRANSPOSED),
            ("size_rule", SIZE_RULES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise StepperError(
                    f"{suggestion(value, allowed)}expected one of {', '.join(map(repr, allowed))}, found {value!r}",
                    place=f"settings, field '{name}'",
                )
        d = self.detail
        if not (d in ("all", "answers", "shapes") or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)):
            raise StepperError(
                f"{suggestion(d, ('all', 'answers', 'shapes'))}expected 'all', 'answers', 'shapes' "
                f"or a number of windows (0 or more), found {d!r}",
                place="settings, field 'detail'",
            )

    def worked_in_full(self, count: int) -> int:
        """How many of `count` steps (windows of one map, neurons, elements) are worked in full."""
        if isinstance(self.detail, int):
            return min(self.detail, count)
        return count if self.detail == "all" else 0  # "answers" or "shapes"


@dataclass(frozen=True)
class MarkScheme:
    """How a student's working is marked: points per stage, shared among its cells or all or nothing; points for
    written sums; how a mistake repeated across one layer's stages is charged; how early rounding is allowed.

    [marks] reads: `per`, `default`, `follow_through`, `repeated` ("once", the default: a named mistake of method
    made in several stages of one layer costs the marks of its first stage only; "each": every stage), `sums`
    (points for each written sum: a number for every layer, or a table by layer, `sums = {layer1 = 2}`; half are
    method marks, earned by the right terms, half accuracy marks, earned by the right total after the right
    terms), `figures` (the fewest significant figures a student may keep exponentials to, or write a value to,
    and still be right: 3 by default; 0 allows no early rounding), and points by layer or stage."""

    per: str = "cell"  # "cell": each right cell earns its share of the stage's points; "stage": all or nothing
    default: Fraction = Fraction(1)  # points for each stage the scheme does not name
    points: tuple[tuple[str, Fraction], ...] = ()  # (layer1, 4) shares 4 among layer 1's stages; (layer6.z1, 2)
    follow_through: bool = True  # credit a stage that follows correctly from the student's own wrong values
    repeated: str = "once"  # "once": one mistake of method across one layer's stages costs once; "each": per stage
    sums: tuple[tuple[str, Fraction], ...] = ()  # points per written sum: ("", n) for every layer, ("layer1", n)
    figures: int = 3  # the fewest significant figures of early rounding accepted (0: none)

    # The fields of [marks] that are settings, not points for a layer or a stage.
    SETTINGS: ClassVar[tuple[str, ...]] = ("per", "follow_through", "repeated", "sums", "figures")

    def __post_init__(self) -> None:
        if self.per not in MARK_PER:
            raise StepperError(
                f"expected one of {', '.join(map(repr, MARK_PER))}, found {self.per!r}", place="[marks] field 'per'"
            )
        if not isinstance(self.follow_through, bool):
            raise StepperError(
                f"expected true or false, found {self.follow_through!r}", place="[marks] field 'follow_through'"
            )
        if self.repeated not in ("once", "each"):
            raise StepperError(f"expected 'once' or 'each', found {self.repeated!r}", place="[marks] field 'repeated'")
        if isinstance(self.figures, bool) or not isinstance(self.figures, int) or not 0 <= self.figures <= 15:
            raise StepperError(
                f"expected a whole number of significant figures from 0 to 15, found {self.figures!r}",
                place="[marks] field 'figures'",
            )

    def sum_points(self, layer: int) -> Fraction:
        """The points one written sum of `layer` is worth (0: written sums carry no marks)."""
        given = dict(self.sums)
        return given.get(f"layer{layer}", given.get("", Fraction(0)))

    @staticmethod
    def read_sums(raw, layers: int) -> tuple[tuple[str, Fraction], ...]:
        """`sums = 2` (every layer's written sums) or `sums = {layer1 = 2, layer6 = 1}`, as [marks] gives it."""
        place = "[marks] field 'sums'"
        table = raw if isinstance(raw, dict) else {"": raw}
        found = []
        for key, value in table.items():
            if key and key not in {f"layer{n}" for n in range(1, layers + 1)}:
                raise StepperError(
                    f"no layer is called {key!r}: expected a layer such as 'layer1' (of {layers})", place=place
                )
            amount = reading.number(value, f"{place}{' ' + key if key else ''}")
            if not isinstance(amount, Fraction) or amount < 0 or amount > 1000:
                raise StepperError(f"expected points from 0 to 1000, found {value!r}", place=place)
            found.append((key, amount))
        return tuple(found)


class Kind(NamedTuple):
    """One kind of layer as its class declares it: its heading, and the fields of its [[layers]] table."""

    title: str  # the worked solution's heading, as a student would recognise it: "max pooling"
    fields: tuple[str, ...] = ()  # what its table may hold besides `type`, in the order a problem file is written
    required: tuple[str, ...] = ()  # of those, the ones it must hold


@dataclass(frozen=True)
class Padding:
    top: int
    bottom: int
    left: int
    right: int
    how: str  # "1", "valid", "same": what the problem file said

    @property
    def any(self) -> bool:
        return bool(self.top or self.bottom or self.left or self.right)


def output_size(n: int, k: int, s: int, before: int, after: int) -> int:
    """floor((n + padding - k) / s) + 1, the one formula every layer with windows uses."""
    return (n + before + after - k) // s + 1


def resolve_padding(padding: int | str | tuple[int, ...], shape: Shape, kernel: Pair, stride: Pair) -> Padding:
    """Cells of padding on each side: from a number (every side), a pair (rows, columns), four numbers
    (top, bottom, left, right), "valid" (none) or "same"."""
    if padding == "valid":
        return Padding(0, 0, 0, 0, "valid")
    if isinstance(padding, str):  # "same" (load reads no other word)
        # As TensorFlow and Keras: ceil(n / s) outputs, any odd cell of padding goes after.
        rows, cols = (max((math.ceil(n / s) - 1) * s + k - n, 0) for n, k, s in zip(shape, kernel, stride))
        return Padding(rows // 2, rows - rows // 2, cols // 2, cols - cols // 2, "same")
    if isinstance(padding, int):
        return Padding(padding, padding, padding, padding, str(padding))
    if len(padding) == 2:
        return Padding(padding[0], padding[0], padding[1], padding[1], f"({padding[0]}, {padding[1]})")
    top, bottom, left, right = padding
    return Padding(top, bottom, left, right, f"({', '.join(map(str, padding))})")


def _expect_map(shape: Shape, channels: int | None = None) -> None:
    """The input must be maps (C, H, W), with `channels` of them if given (one per filter channel)."""
    if len(shape) != 3:
        raise StepperError(f"expected a map of channels as input, found a flat vector of {shape[0]}")
    if channels is not None and channels != shape[0]:
        raise StepperError(f"each filter has {channels} channel{'s' * (channels != 1)} but the input has {shape[0]}")


def _windows_fit(kind: str, shape: Shape, kernel: tuple[int, int], pad: Padding) -> None:
    height, width = shape[-2] + pad.top + pad.bottom, shape[-1] + pad.left + pad.right
    if kernel[0] > height or kernel[1] > width:
        raise StepperError(
            f"a {kernel[0]}x{kernel[1]} {kind} does not fit in the {height}x{width} {'padded ' if pad.any else ''}input"
        )


@dataclass(frozen=True, eq=False)
class Conv2d:
    filters: Values  # (F, C, kh, kw)
    stride: Pair = (1, 1)
    padding: int | str | tuple[int, ...] = 0  # as written: see resolve_padding
    bias: Values | None = None  # (F,)
    flip: bool = False  # true convolution: each filter turned 180 degrees before it slides
    dilation: Pair = (1, 1)  # gaps between the cells a filter reads: 2 reads every other cell
    kind = "conv2d"
    kinds: ClassVar[dict[str, Kind]] = {
        "conv2d": Kind("convolution", ("filters", "stride", "padding", "flip", "dilation", "bias"), ("filters",))
    }

    @classmethod
    def from_table(cls, kind: str, raw: dict) -> Conv2d:
        """The layer its [[layers]] table describes (`load` has checked the table's fields)."""
        filters = reading.filters(raw["filters"])
        stride = reading.pair(raw.get("stride", 1), "field 'stride'")
        padding = reading.padding(raw.get("padding", 0))
        bias = _bias(raw, filters.shape[0], "one per filter")
        flip = raw.get("flip", False)
        if not isinstance(flip, bool):
            raise StepperError(
                "expected true (a true convolution: the filter is turned 180 degrees) or false, "
                f"found {reading.shown(flip)}",
                place="field 'flip'",
            )
        dilation = reading.pair(raw.get("dilation", 1), "field 'dilation'")
        return cls(filters=filters, stride=stride, padding=padding, bias=bias, flip=flip, dilation=dilation)

    @cached_property
    def reach(self) -> Pair:
        """The rows and columns one window spans: k + (k - 1)(d - 1) along each axis."""
        kh, kw = self.filters.shape[-2:]
        return kh + (kh - 1) * (self.dilation[0] - 1), kw + (kw - 1) * (self.dilation[1] - 1)

    @cached_property
    def kernels(self) -> Values:
        """The filters as they are applied: as written, or turned 180 degrees for a true convolution."""
        return self.filters[..., ::-1, ::-1] if self.flip else self.filters

    def padding_for(self, shape: Shape) -> Padding:
        return resolve_padding(self.padding, shape[-2:], self.reach, self.stride)

    def out_shape(self, shape: Shape) -> Shape:
        f, c = self.filters.shape[:2]
        kh, kw = self.reach
        _expect_map(shape, c)
        pad = self.padding_for(shape)
        if max(pad.top, pad.bottom) >= kh or max(pad.left, pad.right) >= kw:
            raise StepperError(
                f"padding {pad.how} with a filter reaching {kh}x{kw} cells adds windows that hold only "
                f"zeros: expected at most {kh - 1} (rows) and {kw - 1} (columns)",
                place="field 'padding'",
            )
        _windows_fit("filter", shape, (kh, kw), pad)
        return (
            f,
            output_size(shape[1], kh, self.stride[0], pad.top, pad.bottom),
            output_size(shape[2], kw, self.stride[1], pad.left, pad.right),
        )


@dataclass(frozen=True, eq=False)
class ConvTranspose2d:
    """A transposed convolution: each input cell spreads a copy of the filter, scaled by its value, over the
    output, and overlapping copies add up. Worked as the equivalent convolution: zeros inserted between the
    input's cells (stride - 1 of them), k - 1 - p cells of zeros around, and the filter turned 180 degrees."""

    filters: Values  # (F, C, kh, kw): filter f's grid for input channel c
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)  # cells trimmed from each side of the full output, as PyTorch
    output_padding: Pair = (0, 0)  # cells added at the bottom and right, to reach a given size
    bias: Values | None = None  # (F,)
    kind = "conv_transpose2d"
    kinds: ClassVar[dict[str, Kind]] = {
        "conv_transpose2d": Kind(
            "transposed convolution", ("filters", "stride", "padding", "output_padding", "bias"), ("filters",)
        )
    }

    @classmethod
    def from_table(cls, kind: str, raw: dict) -> ConvTranspose2d:
        """The layer its [[layers]] table describes (`load` has checked the table's fields)."""
        filters = reading.filters(raw["filters"])
        stride = reading.pair(raw.get("stride", 1), "field 'stride'")
        bias = _bias(raw, filters.shape[0], "one per filter")
        padding = reading.pair(raw.get("padding", 0), "field 'padding'", least=0)
        output_padding = reading.pair(raw.get("output_padding", 0), "field 'output_padding'", least=0)
        return cls(filters=filters, stride=stride, padding=padding, output_padding=output_padding, bias=bias)

    def as_convolution(self) -> Conv2d:
        """The convolution with stride 1 and flipped filters that the expanded input goes through."""
        return Conv2d(filters=self.filters, bias=self.bias, flip=True)

    def expansion(self, shape: Shape) -> tuple[Pair, Padding]:
        """(the expanded input's size, where the input's cells sit in it: the padding before them)."""
        kh, kw = self.filters.shape[-2:]
        (sh, sw), (ph, pw), (oh, ow) = self.stride, self.padding, self.output_padding
        before = (kh - 1 - ph, kw - 1 - pw)
        size = ((shape[1] - 1) * sh + 1 + 2 * before[0] + oh, (shape[2] - 1) * sw + 1 + 2 * before[1] + ow)
        return size, Padding(before[0], before[0] + oh, before[1], before[1] + ow, "transposed")

    def out_shape(self, shape: Shape) -> Shape:
        f, c, kh, kw = self.filters.shape
        _expect_map(shape, c)
        if self.padding[0] >= kh or self.padding[1] >= kw:
            raise StepperError(
                f"expected padding below the {kh}x{kw} filter's size, found {self.padding}", place="field 'padding'"
            )
        if self.output_padding[0] >= self.stride[0] or self.output_padding[1] >= self.stride[1]:
            raise StepperError(
                f"expected an output padding below the stride {self.stride}, found {self.output_padding}",
                place="field 'output_padding'",
            )
        (h, w), _ = self.expansion(shape)
        if h - kh + 1 < 1 or w - kw + 1 < 1:  # the padding trims away every cell the copies cover
            raise StepperError(
                f"the output would have {h - kh + 1} rows and {w - kw + 1} columns: "
                f"(n - 1)s - 2p + k + a must be at least 1; expected less padding",
                place="field 'padding'",
            )
        if shape[0] * h * w > MAX_CELLS:
            raise StepperError(
                f"the expanded input would hold {shape[0] * h * w:,} cells: too many to work by hand "
                f"or to draw (at most {MAX_CELLS:,})",
                place="field 'stride'",
            )
        return (f, h - kh + 1, w - kw + 1)


@dataclass(frozen=True)
class Pool:
    kind: str  # "maxpool", "avgpool", or "globalavgpool" (the mean of each whole map)
    size: Pair | None  # None: the whole map
    stride: Pair
    padding: int | tuple[int, ...] = 0  # as PyTorch: max pooling's padded cells never win, average pooling's count as 0
    kinds: ClassVar[dict[str, Kind]] = {
        "maxpool": Kind("max pooling", ("size", "stride", "padding"), ("size",)),
        "avgpool": Kind("average pooling", ("size", "stride", "padding"), ("size",)),
        "globalavgpool": Kind("global average pooling"),
    }

    @classmethod
    def from_table(cls, kind: str, raw: dict) -> Pool:
        """The layer its [[layers]] table describes (`load` has checked the table's fields)."""
        if kind == "globalavgpool":
            return cls(kind=kind, size=None, stride=(1, 1))
        size = reading.pair(raw["size"], "field 'size'")
        stride = reading.pair(raw.get("stride", list(size)), "field 'stride'")
        return cls(
            kind=kind, size=size, stride=stride, padding=reading.padding(raw.get("padding", 0), windows_only=True)
        )

    def kernel(self, shape: Shape) -> Pair:
        return self.size if self.size is not None else (shape[-2], shape[-1])

    def padding_for(self, shape: Shape) -> Padding:
        return resolve_padding(self.padding, shape[-2:], self.kernel(shape), self.stride)

    def out_shape(self, shape: Shape) -> Shape:
        _expect_map(shape)
        kh, kw = self.kernel(shape)
        pad = self.padding_for(shape)
        if max(pad.top, pad.bottom) > kh // 2 or max(pad.left, pad.right) > kw // 2:
            raise StepperError(
                f"padding {pad.how} is more than half the {kh}x{kw} window: expected at most "
                f"{kh // 2} (rows) and {kw // 2} (columns)",
                place="field 'padding'",
            )
        _windows_fit("pooling window", shape, (kh, kw), pad)
        return (
            shape[0],
            output_size(shape[1], kh, self.stride[0], pad.top, pad.bottom),
            output_size(shape[2], kw, self.stride[1], pad.left, pad.right),
        )


@dataclass(frozen=True, eq=False)
class Conv1x1:
    """The tutorial's "1x1 volumetric filter": one weight per channel, summed into one map."""

    weights: Values  # (C,)
    bias: Values | None = None  # (1,)
    kind = "conv1x1"
    kinds: ClassVar[dict[str, Kind]] = {"conv1x1": Kind("1×1 filter", ("weights", "bias"), ("weights",))}

    @classmethod
    def from_table(cls, kind: str, raw: dict) -> Conv1x1:
        """The layer its [[layers]] table describes: the bias is one number (`load` has checked the fields)."""
        weights = reading.vector(raw["weights"], "field 'weights'")
        bias = reading.vector([raw["bias"]], "field 'bias'") if "bias" in raw else None
        return cls(weights=weights, bias=bias)

    def out_shape(self, shape: Shape) -> Shape:
        _expect_map(shape)
        if self.weights.shape[0] != shape[0]:
            raise StepperError(f"expected one weight per input channel ({shape[0]}), found {self.weights.shape[0]}")
        return (1,) + shape[1:]


@dataclass(frozen=True, eq=False)
class Activation:
    """A function applied to every cell: relu, leaky_relu (with its slope), sigmoid, tanh, identity;
    and softmax, over all the cells at once."""

    kind: str
    slope: Values | None = None  # leaky_relu: the slope for negative inputs
    kinds: ClassVar[dict[str, Kind]] = {
        "relu": Kind("ReLU"),
        "leaky_relu": Kind("leaky ReLU", ("slope",)),
        "sigmoid": Kind("sigmoid"),
        "tanh": Kind("tanh"),
        "identity": Kind("identity"),
        "softmax": Kind("softmax"),
    }

    @classmethod
    def from_table(cls, kind: str, raw: dict) -> Activation:
        """The layer its [[layers]] table describes (`load` has checked the table's fields)."""
        if kind != "leaky_relu":
            return cls(kind)
        slope = reading.vector([raw.get("slope", "0.01")], "field 'slope'")
        if slope.symbolic or not 0 <= slope.floats()[0] < 1:
            raise StepperError(
                f"expected a slope from 0 up to (not including) 1, found {raw.get('slope')}", place="field 'slope'"
            )
        return cls(kind, slope.reshape(()))

    def out_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),) if self.kind == "softmax" else shape  # softmax gives a flat vector


@dataclass(frozen=True)
class Flatten:
    """The maps read row by row, channel after channel, into one vector."""

    kind = "flatten"
    kinds: ClassVar[dict[str, Kind]] = {"flatten": Kind("flatten")}

    @classmethod
    def from_table(cls, kind: str, raw: dict) -> Flatten:
        return cls()

    def out_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),)


@dataclass(frozen=True, eq=False)
class Dense:
    """Neurons whose weights are laid out like their input (a grid per neuron, as the tutorial's N1 and N2)."""

    weights: tuple[Values, ...]  # one array per neuron
    bias: Values | None = None  # (N,)
    kind = "dense"
    kinds: ClassVar[dict[str, Kind]] = {"dense": Kind("dense", ("weights", "bias"), ("weights",))}

    @classmethod
    def from_table(cls, kind: str, raw: dict) -> Dense:
        """The layer its [[layers]] table describes: a weight grid (or flat list) per neuron."""
        weights = raw["weights"]
        if not isinstance(weights, list) or not weights:
            raise StepperError("expected a list with one weight grid (or list) per neuron", place="field 'weights'")
        neurons = []
        for k, w in enumerate(weights, 1):
            place = f"field 'weights', neuron {k}"
            if isinstance(w, list) and w and not any(isinstance(v, list) for v in w) and not reading.is_channel_list(w):
                neurons.append(reading.vector(w, place))  # a flat list of weights
            else:
                neurons.append(reading.channels(w, place) if reading.is_channel_list(w) else reading.grid(w, place))
        return cls(weights=tuple(neurons), bias=_bias(raw, len(neurons), "one per neuron"))

    @cached_property
    def matrix(self) -> Values:
        """(N, D): each row a neuron's weights, flat in the input's order, over one denominator."""
        flat = [w.reshape(-1) for w in self.weights]
        if any(w.symbolic for w in flat):
            return symbols(np.stack([as_symbols(w) for w in flat]))
        if all(w.exact for w in flat):
            scale = math.lcm(*(w.scale for w in flat))
            return exact(np.stack([w.data * (scale // w.scale) for w in flat]), scale)
        return floats(np.stack([w.floats() for w in flat]))

    def out_shape(self, shape: Shape) -> Shape:
        size = math.prod(shape)
        for k, w in enumerate(self.weights, 1):
            if math.prod(w.shape) != size or not _same_layout(w.shape, shape):
                raise StepperError(
                    f"expected weights shaped like the input ({_shape_words(shape)}), found {_shape_words(w.shape)}",
                    place=f"field 'weights', neuron {k}",
                )
        return (len(self.weights),)


def _same_layout(w: Shape, x: Shape) -> bool:
    """A neuron's weights may be a flat list, or laid out as the input, with or without its channel axis of 1."""
    return len(w) == 1 or _squeezed(w) == _squeezed(x)


def _squeezed(shape: Shape) -> Shape:
    return tuple(d for d in shape if d != 1) or (1,)


def _shape_words(shape: Shape) -> str:
    if len(shape) == 1:
        return f"{shape[0]} numbers"
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    return "x".join(map(str, shape))


def _bias(raw: dict, count: int, why: str) -> Values | None:
    """field 'bias' of a [[layers]] table, one number per filter or neuron (`why`), if it is there."""
    return reading.vector(raw["bias"], "field 'bias'", count, why) if "bias" in raw else None


Layer = Conv2d | ConvTranspose2d | Pool | Conv1x1 | Activation | Flatten | Dense

# Every class of layer: a new kind of layer adds its class here, and to `Layer` above for the type checker. Messages
# list the kinds in this order.
LAYER_CLASSES: tuple[type[Layer], ...] = (Conv2d, Activation, Flatten, ConvTranspose2d, Pool, Conv1x1, Dense)
# The registry of kinds, which every table of kinds reads (load, stages, dump, describe, ...): each kind a problem
# file may name as its `type`, and the class that holds it.
KINDS: dict[str, type[Layer]] = {kind: cls for cls in LAYER_CLASSES for kind in cls.kinds}


def about(kind: str) -> Kind | None:
    """What a kind's class declares of it; None for a kind that no class declares."""
    cls = KINDS.get(kind)
    return cls.kinds[kind] if cls is not None else None


def title(kind: str) -> str:
    """The worked solution's heading for a kind of layer (the kind itself, for one that no class declares)."""
    found = about(kind)
    return found.title if found is not None else kind


def arrays(layer: Layer) -> list[Values]:
    """Every array a layer holds (filters, weights, bias, slope, ...), in the order of its fields."""
    found: list[Values] = []
    for f in fields(layer):
        value = getattr(layer, f.name)
        found += [v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, Values)]
    return found


@dataclass(frozen=True, eq=False)
class Problem:
    title: str
    input: Values  # (C, H, W)
    layers: tuple[Layer, ...]
    settings: Settings = field(default_factory=Settings)
    source: str = "<problem>"
    marks: MarkScheme = field(default_factory=MarkScheme)  # where it was read from, for messages
    train: Train | None = None  # [train]: the target, loss and learning rate of a backward pass, if asked for

    def shapes(self) -> list[Shape]:
        """The input's shape and each layer's output shape, checked layer by layer; symbols may only
        go through layers whose working stays a sum of products."""
        shapes = [self.input.shape]
        symbolic = self.input.symbolic
        for i, layer in enumerate(self.layers, 1):
            try:
                shapes.append(layer.out_shape(shapes[-1]))
                if self.settings.size_rule == "exact":
                    stride_fits(layer, shapes[-2])
                if symbolic and not takes_symbols(layer):
                    raise StepperError(
                        "needs numbers, but its input holds symbols: only layers that add and "
                        "multiply (conv2d, conv_transpose2d, avgpool, conv1x1, dense, flatten, "
                        "identity) take them"
                    )
            except StepperError as e:
                raise e.located(file=self.source, place=f"layer {i} ({layer.kind})") from None
            symbolic = symbolic or any(v.symbolic for v in arrays(layer))
        return shapes


def stride_fits(layer: Layer, shape: Shape) -> None:
    """size_rule = "exact": along each axis (n + 2p - k) must be a multiple of the stride, as CS231n's notes
    require, rather than the floor dropping the cells no window reaches."""
    if isinstance(layer, Conv2d):
        kernel = layer.reach
    elif isinstance(layer, Pool) and layer.size is not None:
        kernel = layer.size
    else:
        return  # no windows (or one window, the whole map): nothing is left over
    pad = layer.padding_for(shape)
    for axis, n, k, s, before, after in (
        ("rows", shape[1], kernel[0], layer.stride[0], pad.top, pad.bottom),
        ("columns", shape[2], kernel[1], layer.stride[1], pad.left, pad.right),
    ):
        spare = (n + before + after - k) % s
        if spare:
            pads = f" + 2*{before}" if before == after else "".join(f" + {p}" for p in (before, after) if p)
            raise StepperError(
                f"the stride does not fit the {axis}: ({n}{pads if before or after else ''} - {k})/{s} = "
                f'{n + before + after - k}/{s} is not a whole number, as size_rule = "exact" requires '
                f'("floor" would leave {spare} {axis if spare > 1 else axis[:-1]} unused)'
            )


def takes_symbols(layer: Layer) -> bool:
    """Layers whose working with symbols stays a sum of products (no maximum, no exponential)."""
    return isinstance(layer, (Conv2d, ConvTranspose2d, Conv1x1, Dense, Flatten)) or layer.kind in (
        "avgpool",
        "globalavgpool",
        "identity",
    )
