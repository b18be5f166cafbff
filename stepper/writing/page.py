"""The HTML page of a worked solution: one self-contained, interactive file (`--format html`).

`render_page` writes the trace's data (`data.py`) as HTML tables, one section per stage, through the template
`templates/html/page.html` (the user's `--templates` folder searched first, as for the other formats), with the
trace embedded as JSON and KaTeX, the page's stylesheet and its script inlined from `assets/`: the page loads
nothing, so it works from a USB stick in a room without a network. The script (`assets/page.js`) makes each
output cell a button that shows its window and its working.

The HTML environment escapes every value (autoescape); the only texts written unescaped are the vendored assets,
checked not to close their element, and the JSON, made safe by `data.embeddable`.
"""

from __future__ import annotations

import html
import json
import math
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import StepperError
from ..core.text import plain_text
from .formats import Format
from .templating import jinja_options, search_path

if TYPE_CHECKING:
    import jinja2

    from ..core.gradients import Training
    from ..core.spec import Settings
    from ..core.trace import Trace

ASSETS = Path(__file__).resolve().parent / "assets"
SHADES = 4  # shade levels on each side of zero
# What would end an inlined <style> or <script> element early, or start an HTML comment inside a script.
_CLOSING = re.compile(r"</(script|style)|<!--", re.IGNORECASE)
# A number written plainly (`-7`, `0.9526`), shown as text; anything else (`-\\infty`, `\\frac{1}{3}`) is maths.
PLAIN = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# The list of a layer kind's steps (output cells the page works one by one), by the field that holds it.
STEP_LISTS = ("windows", "cells", "neurons", "elements")


def render_page(trace: Trace, settings: Settings | None = None, templates: Path | None = None) -> str:
    """The whole HTML document of `trace`'s worked solution: the same trace and settings give the same bytes."""
    from .data import embeddable, trace_data
    from .documents import _traced, render_template, training_of

    training = training_of(trace, _traced(trace, settings))  # worked once, for the data and the static section
    data = trace_data(trace, settings, training=training)
    # The data as data.trace_json writes it, but compact: the page carries it once, unindented.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # The page's own words: the title and file name cleaned of control and bidi characters, as every format's are.
    shown = {**data, "title": plain_text(data["title"]), "source": plain_text(data["source"])}
    # A mistake in a user's template is a located one-line error, as in the documents (documents.render_template).
    return render_template(
        environment(templates),
        "page.html",
        data=shown,
        data_json=embeddable(text),
        assets=assets(),
        backward=backward_html(trace, settings, templates, training),
    )


def environment(templates: Path | None = None) -> jinja2.Environment:
    """The Jinja environment of the page: HTML escaping on, missing fields failing loudly."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search_path("html", templates)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        grids=grids,
        step_cells=step_cells,
        cell_label=cell_label,
        neuron_weights=neuron_weights,
        as_convolution=as_convolution,
    )
    env.globals["inline"] = Markup  # a vendored asset or the embeddable JSON, written as it is
    env.filters.update(shade=shade_class, minus=minus, pair=pair, sides=sides)
    env.tests["plain"] = lambda text: bool(PLAIN.fullmatch(text))
    return env


def shade_class(level: int) -> str:
    """The CSS class of a shade level: n4 ... n1, z, p1 ... p4."""
    return "z" if level == 0 else f"{'n' if level < 0 else 'p'}{abs(level)}"


def minus(text: str) -> str:
    """A plain number with a true minus sign (U+2212), as typeset maths has it."""
    return text.replace("-", "\u2212")


def pair(values: list[int]) -> str:
    """A stride or a window size: `2` when both axes agree, else `2×1`."""
    return str(values[0]) if len(set(values)) == 1 else "\u00d7".join(map(str, values))


def sides(padding: dict[str, int]) -> str:
    """Padding: `1` when every side agrees, else each side named."""
    if len(set(padding.values())) == 1:
        return str(padding["top"])
    return ", ".join(f"{side} {padding[side]}" for side in ("top", "bottom", "left", "right"))


def neuron_weights(layer: dict[str, Any]) -> list[dict[str, Any]]:
    """A dense layer's weights, one Array per neuron, laid out like the layer's input (the tutorial's N1, N2)."""
    shape, weights = layer["input"]["shape"], layer["weights"]
    return [
        {field: _nest(weights[field][k], shape) for field in ("text", "value", "exact")} | {"shape": shape}
        for k in range(weights["shape"][0])
    ]


def _nest(flat: list[Any], shape: list[int]) -> Any:
    """A flat row-major list as nested lists of `shape`."""
    if len(shape) <= 1:
        return list(flat)
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[k * step : (k + 1) * step], shape[1:]) for k in range(shape[0])]


@cache
def assets() -> dict[str, str]:
    """The texts inlined into every page: KaTeX's stylesheet and script, the page's own, each checked safe to
    inline (none can close its element early)."""
    files = {
        "katex_css": ASSETS / "katex" / "katex.min.css",
        "katex_js": ASSETS / "katex" / "katex.min.js",
        "page_css": ASSETS / "page.css",
        "page_js": ASSETS / "page.js",
    }
    texts = {}
    for name, path in files.items():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            raise StepperError("the HTML page's assets are missing from this installation", file=path.name) from None
        if _CLOSING.search(text):
            raise StepperError("an asset would end its <script> or <style> element early", file=path.name)
        texts[name] = text
    return texts


def grids(array: dict[str, Any], padding: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """An array (data.py's Array) as the 2-D tables that show it: one for a vector or a matrix, one per leading
    index above that (a channel; a filter's channel). Each cell: its text, its 1-based index `at` in the array
    ("1,3,5"), its shade (-SHADES..SHADES, by its value against the largest magnitude in the array) and, for a
    padded input given its `padding`, whether it is padding."""
    shape = list(array["shape"])
    texts, values = array["text"], array["value"]
    top = max((abs(v) for v in _flat(values) if _finite(v)), default=0.0)
    if len(shape) <= 1:
        texts, values, shape = [texts], [values], [1, *shape]
        return [_grid((), texts, values, top, vector=True)]
    found = [_grid(lead, _at(texts, lead), _at(values, lead), top) for lead in _leads(shape[:-2])]
    if padding is not None:
        height, width = shape[-2:]
        for grid in found:
            for row in grid["rows"]:
                for cell in row:
                    r, c = cell["index"][-2:]
                    cell["pad"] = not (
                        padding["top"] < r <= height - padding["bottom"]
                        and padding["left"] < c <= width - padding["right"]
                    )
    return found


def _grid(lead: tuple[int, ...], texts: list, values: list, top: float, vector: bool = False) -> dict[str, Any]:
    """One table: `lead` its 1-based leading index, `rows` its cells."""
    rows = []
    for r, (text_row, value_row) in enumerate(zip(texts, values), 1):
        row = []
        for c, (text, value) in enumerate(zip(text_row, value_row), 1):
            at = (c,) if vector else (*lead, r, c)
            cell = {"text": text, "at": ",".join(map(str, at)), "index": at, "shade": shade(value, top), "pad": False}
            row.append(cell)
        rows.append(row)
    return {"lead": lead, "rows": rows, "columns": len(rows[0]) if rows else 0}


def shade(value: Any, top: float) -> int:
    """A value's shade: its sign times how many quarters of the largest magnitude it reaches (rounded up)."""
    if not _finite(value) or value == 0 or top == 0:
        return 0
    return int(math.copysign(min(SHADES, math.ceil(SHADES * abs(value) / top - 1e-9)), value))


def as_convolution(layer: dict[str, Any]) -> dict[str, Any]:
    """A transposed convolution worked as a convolution (transposed = "convolution") seen as that convolution:
    its expanded input as the padded input, the turned filters and the windows, under the layer's own heading
    and output (page.js's stepOf merges them the same way)."""
    return {**layer, **layer["convolution"]} if "convolution" in layer else layer


def step_cells(layer: dict[str, Any]) -> dict[str, int]:
    """Which output cells of a layer are steps: the 1-based output index ("1,2,3") of each, to its position in
    the layer's list of steps (its windows, 1x1 cells, neurons or elements)."""
    layer = as_convolution(layer)
    for field in STEP_LISTS:
        if field in layer:
            return {",".join(map(str, _output_index(layer, field, item))): n for n, item in enumerate(layer[field])}
    return {}


def _output_index(layer: dict[str, Any], field: str, item: dict[str, Any]) -> tuple[int, ...]:
    """The output cell a step writes, 1-based."""
    if field == "windows":
        return (item["filter"] if "filter" in item else item["channel"], item["row"], item["col"])
    index = tuple(item["index"])
    if field == "cells":  # a 1x1 filter's cell (row, col) of its single output map
        return (1, *index) if len(layer["output"]["shape"]) == 3 and len(index) == 2 else index
    return index


def cell_label(layer: dict[str, Any], index: tuple[int, ...]) -> str:
    """A button's accessible name: "Output row 1, column 2 of filter 1", "Neuron 2", ..."""
    kind, shape = layer["kind"], layer["output"]["shape"]
    if len(index) == 1:
        return f"Neuron {index[0]}" if kind == "dense" else f"Output {index[0]}"
    place = f"Output row {index[-2]}, column {index[-1]}"
    filters = kind in ("conv2d", "conv_transpose2d")  # a map per filter, as the page's captions say
    if len(index) == 3 and (shape[0] > 1 or kind == "conv2d"):
        return f"{place} of {'filter' if filters else 'channel'} {index[0]}"
    return place


def _leads(shape: list[int]) -> list[tuple[int, ...]]:
    """Every 1-based index over the leading axes, in reading order."""
    found: list[tuple[int, ...]] = [()]
    for size in shape:
        found = [(*lead, i) for lead in found for i in range(1, size + 1)]
    return found


def _at(nested: Any, lead: tuple[int, ...]) -> Any:
    for i in lead:
        nested = nested[i - 1]
    return nested


def _flat(nested: Any) -> list[Any]:
    if isinstance(nested, list):
        return [x for item in nested for x in _flat(item)]
    return [nested]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---- the backward pass: the documents' own working, written as HTML for KaTeX ----

# The page's format for the documents' layer templates: maths in <div class="tex display"> for the page's script to
# render with KaTeX (escaped, as the page reads it back as text), headings as the page's own.
HTML = Format(
    "html",
    html.escape,
    r"\colorbox{yellow}{$%s$}",
    ("<h2>%s</h2>", "<h3>%s</h3>", "<h4>%s</h4>"),
    "<strong>%s</strong>",
    '<div class="tex display">%s</div>',
    "<p>%d. %s</p>",
    "\u00d7",
    "\u2013",
    "<code>%s</code>",
    label_format="<p>%s</p>",
    rewrite=html.escape,
)
_INLINE = re.compile(r"\$([^$]+)\$")


def backward_html(
    trace: Trace, settings: Settings | None = None, templates: Path | None = None, training: Training | None = None
) -> str:
    """The backward pass of a problem with [train], as the documents work it (templates/layers/backward.j2), in
    HTML: the page shows it as a static section after the answer (`training`, if the caller has worked it already).
    "" without [train]."""
    from .documents import _traced, grad_partial, partial, render_template, training_of
    from .maths import Maths

    settings = _traced(trace, settings)
    training = training or training_of(trace, settings)
    if training is None:
        return ""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(search_path("html", templates)), **jinja_options())
    env.filters.update(
        escape=HTML.escape,
        partial=partial,
        grad_partial=grad_partial,
        display=lambda tex, stacked=False: HTML.display(tex, stacked) + "\n",
    )
    env.globals.update(m=Maths(settings, HTML.highlight), mk=HTML)
    text = render_template(env, "backward.j2", trace=trace, problem=trace.problem, settings=settings, training=training)
    return "\n".join(_html_block(block) for block in re.split(r"\n\s*\n", text) if block.strip())


def _html_block(block: str) -> str:
    """One paragraph of the rendered working: a display as it is; any other text with its inline maths as KaTeX
    spans, in a paragraph unless it is markup already (a heading, a label, the conventions)."""
    block = block.strip()
    if block.startswith('<div class="tex display">'):
        return block
    block = _INLINE.sub(lambda found: f'<span class="tex">{html.escape(found[1])}</span>', block)
    return block if block.startswith("<") else f"<p>{block}</p>"
