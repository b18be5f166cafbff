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
    def key(self) -> str:
        """How a marking scheme and the class summary name it: layer1.filter1."""
        return f"layer{self.layer}.{self.part}"

    def title(self, problem: Problem) -> str:
        """How a report names it: Layer 1 (convolution), filter 1."""
        part = {"map": "", "values": ""}.get(self.part, _spaced(self.part))
        return layer_title(problem, self.layer) + (f", {part}" if part else "")

    def of(self, output: Values) -> Values:
        """This stage's part of a layer's output."""
        return output[self.index] if self.index else output


def layer_title(problem: Problem, number: int) -> str:
    return f"Layer {number} ({title(problem.layers[number - 1].kind)})"


def _spaced(part: str) -> str:
    """filter1 -> filter 1; z1 stays z1."""
    head = part.rstrip("0123456789")
    return part if head == "z" else f"{head} {part[len(head) :]}"


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
    QTI and Canvas exports share: a stage named there has its points, a layer's points are shared equally among
    its stages not named, and any other stage has the default."""
    given = dict(scheme.points)
    points = {}
    for s in asked:
        if s.key in given:
            points[s.key] = Fraction(given[s.key])
        elif f"layer{s.layer}" in given:
            share = sum(1 for t in asked if t.layer == s.layer and t.key not in given)
            points[s.key] = Fraction(given[f"layer{s.layer}"]) / share
        else:
            points[s.key] = Fraction(scheme.default)
    return points


# Layers whose single steps are weighted sums a student may write out (`[[window]]` in a working file, a `sum:`
# column of a class sheet), and what picks the map.
SUM_LAYERS = {"conv2d": "filter", "conv1x1": None, "dense": "neuron"}
