"""A worked solution as a Beamer slide deck, for a lecturer to project (`--format beamer`).

One frame per stage of the network. A convolution or pooling layer has a frame that introduces it, then one frame
per filter (or channel) whose overlays move the highlighted window across the (padded) input one step per click
while the output map fills in: a cell not yet computed shows `?`, the cell being computed is highlighted. As many
windows are worked one by one as `detail` asks (`Settings.worked_in_full`); one more overlay then shows the rest of
the map at once. Every other layer has one frame, its working written by the documents' own layer template. With
[train], the backward pass follows the answer (deck_backward.tex), worked by the documents' own templates.

The deck is laid out by `templates/beamer/deck.tex` and the templates it includes (a user's `--templates` folder is
searched first, as for the documents); the numbers come from the trace through the documents' maths writers
(stepper.writing.maths), with the Beamer format below. The LaTeX macros that keep a frame on its slide (a frame's
working scaled down to fit, each overlay's working in room for the tallest) are in `deck_preamble.tex`.

`slide_count` says how many pages the deck's PDF has, from the trace and settings alone.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import jinja2

from ..core.spec import Settings
from ..core.trace import ConvTrace, LayerTrace, PoolTrace, Trace
from .describe import describe
from .documents import _traced, grad_partial, partial, render_template, training_of
from .filters import cell_name, points, size_words, step_kind
from .formats import Format, escape_tex
from .latex import wrap_tex
from .maths import FLIPPED, WHOLE_GRID_UP_TO, Maths, cells, sub
from .templating import jinja_options, search_path

__all__ = ["BEAMER", "DECK", "WindowPlan", "render_slides", "slide_count"]

# The deck's document template, in templates/beamer/.
DECK = "deck.tex"

# A map's cells written longer than this (symbolic sums) are named in the map that fills in, not written.
MAP_CELL = 12

# The deck's markup. The layer templates' level-2 heading ("Layer 2: ReLU") is the frame's title, given by the
# deck, so \stepperheading drops it unless a frame says otherwise; displays shrink to the width of the line
# (\stepperdisplay); a highlighted cell keeps its width (\hl, deck_preamble.tex), so that a grid stays still while
# its window moves.
BEAMER = Format(
    "beamer",
    escape_tex,
    r"\hl{%s}",
    (r"\stepperheading{%s}", r"\stepperminorheading{%s}", r"\stepperminorheading{%s}"),
    r"\textbf{%s}",
    "\\stepperdisplay{%s}",
    r"%d.\ %s\par",
    r"$\times$",
    "--",
    r"\texttt{%s}",
    label_format="%s\\par",
)


class WindowPlan(NamedTuple):
    """How a convolution or pooling layer's windows are shown: one frame per map, with its overlays."""

    maps: int  # filters of a convolution, channels of a pooling layer: one frame each
    windows: int  # windows of one map
    shown: int  # of them, worked one by one, one overlay each

    @property
    def overlays(self) -> int:
        """Overlays of each map's frame: one per window worked, then one with the rest of the map (if any)."""
        return self.shown + (1 if self.shown < self.windows else 0)


def window_plan(record: LayerTrace, settings: Settings) -> WindowPlan | None:
    """The frames of a layer worked window by window (convolution, pooling); None for any other layer."""
    if not isinstance(record, ConvTrace | PoolTrace):
        return None
    maps, height, width = record.sums.shape
    return WindowPlan(maps, height * width, settings.worked_in_full(height * width))


def slide_count(trace: Trace, settings: Settings | None = None) -> int:
    """How many pages the deck of `trace` has: the title, the problem, each layer's frames and overlays, the
    answer (with detail "shapes": the title, the layers, the table of shapes and the totals). Worked out from the
    trace alone. With [train], the backward pass's frames follow: those of its layers and its update break over
    as many slides as their working needs, which only TeX knows, so the count is then the least the deck has."""
    settings = _traced(trace, settings)
    if settings.detail == "shapes":
        return 4
    pages = 3  # title, problem, answer
    for record in trace.layers:
        plan = window_plan(record, settings)
        pages += 1 if plan is None else 1 + plan.maps * plan.overlays
    if trace.problem.train is not None:  # conventions, loss, each layer's step (combined: the last has none), ...
        layers = len(trace.layers) - (1 if trace.problem.train.combined else 0)
        pages += 2 + layers + 2  # ... the update, the loss after it
    return pages


def render_slides(trace: Trace, settings: Settings | None = None, templates: Path | None = None) -> str:
    """The worked solution of `trace` as a Beamer deck's LaTeX (by default with the settings it was traced with;
    `detail` and `terms` may differ), with the backward pass after it when the problem has [train]. The same
    trace and settings always give the same text."""
    settings = _traced(trace, settings)
    env = _environment(settings, templates)
    training = training_of(trace, settings)
    return wrap_tex(
        render_template(env, DECK, trace=trace, problem=trace.problem, settings=settings, training=training)
    )


@lru_cache(maxsize=8)
def _environment(settings: Settings, templates: Path | None) -> jinja2.Environment:
    """The Jinja environment of the deck: the documents' names (`m`, `mk`, `describe`, the filters), with the
    Beamer format, and `deck`, what only slides need."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(search_path("beamer", templates)), **jinja_options())
    maths = Maths(settings, BEAMER.highlight)

    def display(tex: str, stacked: bool = False) -> str:
        return BEAMER.display(tex, stacked) + "\n"

    def describe_layer(layer: Any, shape: Any = None) -> str:
        return describe(layer, maths, BEAMER.times, shape)

    env.filters.update(escape=BEAMER.escape, partial=partial, grad_partial=grad_partial, display=display, points=points)
    deck = Deck(maths, settings)
    env.globals.update(m=maths, mk=BEAMER, describe=describe_layer, deck=deck, frame_break=deck.frame_break)
    env.globals.update(step_kind=step_kind, cell_name=cell_name, size_words=size_words)
    return env


class Deck:
    """What the deck's templates need beyond the documents' writers: the frames a layer takes, their titles, and
    the pieces of a window's overlay. Registered as `deck`."""

    def __init__(self, maths: Maths, settings: Settings) -> None:
        self.m = maths
        self.settings = settings

    def plan(self, record: LayerTrace) -> WindowPlan | None:
        return window_plan(record, self.settings)

    def template(self, record: LayerTrace) -> str:
        """The deck template of a layer's frames: its windows' (convolution, pooling), or one frame of working."""
        if isinstance(record, ConvTrace):
            return "deck_conv.tex"
        return "deck_pool.tex" if isinstance(record, PoolTrace) else "deck_layer.tex"

    def frame_break(self, grad: Any = None) -> str:
        """The end of a backward frame and the start of the next of the same working (the backward templates'
        grad_break.j2): a layer's step, or the update (`grad` None), over several frames rather than one frame
        too long for TeX to break."""
        title = self.grad_title(grad) if grad is not None else "The update"
        return f"\\end{{frame}}\n\\begin{{frame}}[allowframebreaks]{{{title}}}"

    @staticmethod
    def grad_title(grad: Any) -> str:
        """A backward frame's title, escaped: "Backward, layer 6: dense"."""
        layer = grad.layer
        return escape_tex(f"Backward, layer {grad.number}: {type(layer).kinds[layer.kind].title}")

    @staticmethod
    def title(record: LayerTrace, part: str = "") -> str:
        """A layer's frame title, escaped: "Layer 3: max pooling", with `part` after a comma ("channel 1")."""
        layer = record.layer
        heading = type(layer).kinds[layer.kind].title
        return escape_tex(f"Layer {record.number}: {heading}" + (f", {part}" if part else ""))

    def filling_map(self, v: Any, shown: int, name: str) -> str:
        """Map `v` as it fills in over a frame's overlays: cell n (in reading order) is `?` (as wide as its
        value) before its overlay, highlighted on it, and written after; the cells after the `shown` windows
        worked one by one all come on the overlay after them. With none shown, the map as it is. Cells written
        longer than MAP_CELL (symbolic sums) are named instead (`name` with the cell's row and column)."""
        height, width = v.shape
        values = cells(v, self.settings.decimals)
        if max(map(len, values)) > MAP_CELL:
            values = [sub(name, i, j) for i in range(height) for j in range(width)]
        elif shown == 0:
            return self.m.grid(v)
        text = []
        for n, value in enumerate(values):
            overlay = min(n, shown) + 1
            # the value braced, so that its minus sign stays a sign after \\temporal
            text.append(f"\\temporal<{overlay}>{{\\stepperunknown{{{value}}}}}{{\\hl{{{value}}}}}{{{{{value}}}}}")
        return self.m._grid(text, width, fits=True)

    def conv_rest(self, record: ConvTrace, f: int) -> str:
        """What the overlay after the windows worked shows of filter f's input: the padded input (when it is
        drawn whole beside each window) beside the filter."""
        kernels = self.m.kernel_grids(record.filters, f, FLIPPED if record.layer.flip else "K")
        height, width = record.padded.shape[1:]
        if height > WHOLE_GRID_UP_TO or width > WHOLE_GRID_UP_TO:
            return " \\\\ ".join(kernels)
        return " \\\\ ".join(f"{self.m.grid(record.padded[c])} \\quad {k}" for c, k in enumerate(kernels))

    def pool_windows(self, record: PoolTrace, c: int, limit: int) -> list[tuple[str, str, str]]:
        """Channel c's first `limit` windows as the documents write them (PoolWriter.pool_window), in two parts:
        each window's heading, the map with the window marked, and its maximum or mean."""
        text = self.m._pool_cells(record, c)
        width = record.padded.shape[2]
        parts = []
        for w in record.windows(c, limit):
            values = [text[r * width + col] for r in range(*w.rows) for col in range(*w.cols)]
            carried = record.output[w.channel, w.row, w.col]
            parts.append(
                (
                    BEAMER.bold(f"Output row {w.row + 1}, column {w.col + 1}"),
                    self.m.pool_map(record, c, (w.rows, w.cols)),
                    self.m.pool_equation(sub("p", w.row, w.col), w, carried, values),
                )
            )
        return parts
