"""The stages of a worked solution: what a student writes down, and what a working file names.

Each layer's output is split the way the worked solution shows it: a
convolution's feature map per filter (`filter1`), any other layer's maps per
channel (`channel1`, or `map` when there is one), a dense layer's neurons one
by one (`z1`), and any other vector whole (`values`). A stage is one of those
parts; it is what gets compared, marked and diagnosed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import NamedTuple

from .numbers import Values
from .spec import KINDS, MarkScheme, Problem, title


class _Titles(Mapping[str, str]):
    """Each kind's heading, asked of its class (spec.title) whenever it is read, so that a kind registered
    after this module was imported has its own heading too."""

    def __getitem__(self, kind: str) -> str:
        if kind not in KINDS:
            raise KeyError(kind)
        return title(kind)

    def __iter__(self) -> Iterator[str]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)


# The worked solution's heading for each kind of layer, as a student would recognise it (each class declares its
# own); TITLES.get(kind, kind) for a kind that may be unknown.
TITLES: Mapping[str, str] = _Titles()
# How a layer's output of maps or of values is parted into stages, for the kinds not parted by channel or whole.
_PARTS = {"conv2d": "filter", "conv_transpose2d": "filter", "dense": "z"}


class Stage(NamedTuple):
    layer: int  # 1-based, as "Layer 1" in the worked solution
    part: str  # filter1, channel1, map, z1, values
    # Where the part sits in the layer's output: (c,) for a map, (k,) for a neuron, () for all. Templates and
    # the marker read it by this name, which hides tuple.index from the type checker.
    index: tuple[int, ...]  # type: ignore[assignment]
    shape: tuple[int, ...]  # the part's own shape

    @property
    def backward(self) -> bool:
        """Whether it is a stage of the backward pass (the loss, a gradient, an updated parameter)."""
        return self.layer == 0 or "." in self.part or self.part in BACKWARD_WORDS

    @property
    def group(self) -> str:
        """The backward stages it is one part of, as [marks] may name them together: layer6.dw for
        layer6.dw.neuron1 (its own key for a stage in no group: layer6.db, the loss)."""
        what, dot, _ = self.part.partition(".")
        return f"layer{self.layer}.{what}" if dot else self.key

    @property
    def key(self) -> str:
        """How a marking scheme and the class summary name it: layer1.filter1 (the loss, layer 0: `loss`)."""
        return self.part if self.layer == 0 else f"layer{self.layer}.{self.part}"

    def title(self, problem: Problem) -> str:
        """How a report names it: Layer 1 (convolution), filter 1; Layer 6 (dense), dL/dW of neuron 1."""
        if self.layer == 0:
            return "Loss"
        if "." in self.part:  # a backward stage: grad.z1, dw.filter1, db, new.neuron2
            what, _, rest = self.part.partition(".")
            if what == "grad" and rest.startswith("z"):  # a neuron's gradient: dL/dz1
                return layer_title(problem, self.layer) + f", dL/d{rest}"
            part = {"map": "", "values": "", "": ""}.get(rest, _spaced(rest))
            return layer_title(problem, self.layer) + f", {BACKWARD_WORDS[what]}" + (f" of {part}" if part else "")
        if self.part in BACKWARD_WORDS:
            return layer_title(problem, self.layer) + f", {BACKWARD_WORDS[self.part]}"
        part = {"map": "", "values": ""}.get(self.part, _spaced(self.part))
        return layer_title(problem, self.layer) + (f", {part}" if part else "")

    def of(self, output: Values) -> Values:
        """This stage's part of a layer's output."""
        return output[self.index] if self.index else output


def layer_title(problem: Problem, number: int) -> str:
    return f"Layer {number} ({title(problem.layers[number - 1].kind)})"


def _spaced(part: str) -> str:
    """filter1 -> filter 1; z1 stays z1; filter1_channel2 -> filter 1, channel 2."""
    if "_" in part:
        return ", ".join(_spaced(p) for p in part.split("_"))
    head = part.rstrip("0123456789")
    return part if head == "z" else f"{head} {part[len(head) :]}"


# ---- the backward pass's stages (a problem with [train]) ----

# What each kind of backward stage is, in words: `grad` is dL/d(the layer's output), parted as the forward
# output is; `dw` dL/d(the layer's weights), `db` dL/d(its bias), `new` the weights after the update and
# `new_bias` the bias after it.
BACKWARD_WORDS = {
    "grad": "dL/d(output)",
    "dw": "dL/dW",
    "db": "dL/db",
    "new": "updated weights",
    "new_bias": "updated bias",
}


def backward_stages(problem: Problem) -> tuple[Stage, ...]:
    """The stages of the backward pass's first step, in the order it is worked: the loss (`loss`), then from the
    last layer down each layer's gradient of its output (`layer6.grad.z1`, `layer1.grad.filter2`: parted as the
    forward stages are), the gradients of its weights (`layer6.dw.neuron1`, `layer1.dw.filter1`, or
    `layer1.dw.filter1_channel2` when the filters have several channels; `layer4.dw.values` for a 1x1 filter)
    and bias (`layer6.db`), and then, layer by layer, the updated weights and biases (`layer6.new.neuron1`,
    `layer6.new_bias`). A combined loss (softmax with cross-entropy, sigmoid with binary cross-entropy) has no
    `grad` stage for the last layer: its first gradient is the last layer's input's, yhat - y. None without
    [train]."""
    train = problem.train
    if train is None:
        return ()
    shapes = problem.shapes()
    found = [Stage(0, "loss", (), ())]
    last = len(problem.layers) - (1 if train.combined else 0)
    params: list[Stage] = []
    for number in range(last, 0, -1):
        layer = problem.layers[number - 1]
        kind, shape = layer.kind, shapes[number]
        found += [s._replace(part=f"grad.{s.part}") for s in layer_stages(number, kind, shape)]
        weights = _weight_parts(number, layer)
        bias = getattr(layer, "bias", None)
        found += [s._replace(part=f"dw.{s.part}") for s in weights]
        if bias is not None:
            found.append(Stage(number, "db", (), bias.shape))
        params = (
            [s._replace(part=f"new.{s.part}") for s in weights]
            + ([Stage(number, "new_bias", (), bias.shape)] if bias is not None and train.update_bias else [])
            + params
        )
    return tuple(found + params)


def _weight_parts(number: int, layer) -> list[Stage]:
    """A layer's weights parted for writing down: a filter per channel, a neuron's grid, or one vector."""
    kind = layer.kind
    if kind in ("conv2d", "conv_transpose2d"):
        f, c, kh, kw = layer.filters.shape
        if c == 1:
            return [Stage(number, f"filter{i}", (i - 1, 0), (kh, kw)) for i in range(1, f + 1)]
        return [
            Stage(number, f"filter{i}_channel{j}", (i - 1, j - 1), (kh, kw))
            for i in range(1, f + 1)
            for j in range(1, c + 1)
        ]
    if kind == "dense":
        return [Stage(number, f"neuron{k}", (k - 1,), w.shape) for k, w in enumerate(layer.weights, 1)]
    if kind == "conv1x1":
        return [Stage(number, "values", (), layer.weights.shape)]
    return []


def every_stage(problem: Problem) -> tuple[Stage, ...]:
    """What a student may write down and be marked on: the forward stages, then (with [train]) the backward
    pass's, each in the order it is worked."""
    return stages(problem) + backward_stages(problem)


def stages(problem: Problem) -> tuple[Stage, ...]:
    """Every stage of the problem's worked solution, in the order it is worked."""
    found = []
    for number, (layer, shape) in enumerate(zip(problem.layers, problem.shapes()[1:]), 1):
        found += layer_stages(number, layer.kind, shape)
    return tuple(found)


def layer_stages(number: int, kind: str, shape: tuple[int, ...]) -> list[Stage]:
    """A layer's stages: its maps by filter (filterN) or by channel (channelN, or `map` when there is one), its
    neurons one by one (zN), or its vector whole (`values`). Any kind not in _PARTS is parted by channel when its
    output is maps, and whole when it is a vector."""
    part = _PARTS.get(kind)
    if len(shape) == 3:
        name = "filter" if part == "filter" else "channel"
        if shape[0] == 1 and name == "channel":
            return [Stage(number, "map", (0,), shape[1:])]
        return [Stage(number, f"{name}{c}", (c - 1,), shape[1:]) for c in range(1, shape[0] + 1)]
    if part == "z":
        return [Stage(number, f"z{k}", (k - 1,), ()) for k in range(1, shape[0] + 1)]
    return [Stage(number, "values", (), shape)]


def table_names(problem: Problem) -> dict[str, int]:
    """The names a working file may give each layer's table: layer1, or its type when no other layer
    has that type (conv2d, relu, maxpool, ...)."""
    names = {f"layer{n}": n for n in range(1, len(problem.layers) + 1)}
    kinds = [layer.kind for layer in problem.layers]
    for n, kind in enumerate(kinds, 1):
        if kinds.count(kind) == 1:
            names[kind] = n
    return names


def stage_points(scheme: MarkScheme, asked: tuple[Stage, ...]) -> dict[str, Fraction]:
    """Each stage's marks as `[marks]` gives them, the one count the marker, the answer sheets and the Moodle,
    QTI and Canvas exports share: a stage named there has its points; a group's points are shared equally among
    its stages not named (`layer6` among layer 6's forward stages only; `layer6.grad`, `layer6.dw` or
    `layer6.new` among those backward stages of layer 6); any other stage has the default."""
    given = dict(scheme.points)
    points = {}
    for s in asked:
        group = s.group if s.backward else f"layer{s.layer}"
        if s.key in given:
            points[s.key] = Fraction(given[s.key])
        elif group in given:
            share = sum(
                1 for t in asked if (t.group if t.backward else f"layer{t.layer}") == group and t.key not in given
            )
            points[s.key] = Fraction(given[group]) / share
        else:
            points[s.key] = Fraction(scheme.default)
    return points


# Layers whose single steps are weighted sums a student may write out (`[[window]]` in a working file, a `sum:`
# column of a class sheet), and what picks the map.
SUM_LAYERS = {"conv2d": "filter", "conv1x1": None, "dense": "neuron"}
