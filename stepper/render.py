"""Render a trace through Jinja2 templates: one environment per output format.

Each format has its document skeleton in `templates/<format>/` and its bits
of markup in `FORMATS` below; the layer partials in `templates/layers/` are shared,
since every format writes its maths in LaTeX. A user folder given with
`--templates DIR` is searched first, so any one file there overrides the
built-in file of the same name (`DIR/md/document.md`, `DIR/conv2d.j2`, or
`DIR/md/conv2d.j2` for one format only).
Both formats use LaTeX-safe delimiters, `\\VAR{...}`, `\\BLOCK{...}` and
`\\#{...}`, and StrictUndefined, so a missing field fails loudly.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

import jinja2

from .errors import StepperError
from .maths import Maths
from .spec import Settings
from .trace import (ConvTrace, DenseTrace, ElementwiseTrace, FlattenTrace, MixTrace, PoolTrace, SoftmaxTrace,
                    Trace, TransposedTrace)

PACKAGE = Path(__file__).resolve().parent


def builtin_templates() -> Path:
    """Inside an installed wheel the templates sit in the package; in a source tree, beside it."""
    for candidate in (PACKAGE / "templates", PACKAGE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise StepperError("the built-in templates are missing from this installation")


def escape_tex(text: str) -> str:
    """Untrusted text (a title, a name) made safe for LaTeX's text mode."""
    out = []
    for ch in str(text):
        if ch in _TEX_SPECIALS:
            out.append(_TEX_SPECIALS[ch])
        elif ch in "\r\n\t":
            out.append(" ")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ord(ch) > 0xFF:
            out.append("?")  # control characters, and beyond Latin-1, would stop pdflatex
        else:
            out.append(ch)
    return "".join(out)


_TEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}


def escape_md(text: str) -> str:
    """Untrusted text made inert in Markdown: no markup, no HTML, no maths."""
    out = []
    for ch in " ".join(str(text).split()):
        if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            continue  # control characters have no place in a heading
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch in "\\`*_{}[]()#+-.!|~$":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class Format:
    """What differs between output formats: escaping, a little markup, and how a window's cell is marked.

    Templates reach it as `mk` (`mk.heading(2, text)`, `mk.bold(text)`, `mk.times`) and through the
    `display` filter, which wraps a block of maths for display.
    """

    name: str  # folder under templates/, and the file suffix
    escape: Callable[[str], str]
    highlight: str  # %-format for a highlighted cell, in maths
    headings: tuple[str, ...]  # %-formats for levels 2, 3, 4
    bold_format: str
    display_format: str  # %-format around a displayed formula
    item_format: str  # %-format for a numbered line: number, text
    times: str  # the multiplication sign in running text (3x3)
    dash: str  # a range of numbers in running text (rows 1-3)

    def heading(self, level: int, text: str) -> str:
        return self.headings[level - 2] % text

    def bold(self, text: str) -> str:
        return self.bold_format % text

    def item(self, n: int, text: str) -> str:
        return self.item_format % (n, text)

    def display(self, maths: str, stacked: bool = False) -> str:
        """A displayed formula; `stacked` lines (joined by \\\\) are centred one under another."""
        maths = maths.strip()
        if stacked:
            maths = f"\\begin{{gathered}} {maths} \\end{{gathered}}"
        return self.display_format % maths


FORMATS = {
    "md": Format("md", escape_md, r"\colorbox{yellow}{$%s$}", ("## %s", "### %s", "#### %s"), "**%s**",
                 "$$\n%s\n$$", "%d. %s", "×", "–"),
    "tex": Format("tex", escape_tex, r"\hl{%s}", (r"\section*{%s}", r"\subsection*{%s}", r"\subsubsection*{%s}"),
                  r"\textbf{%s}", "\\[\n%s\n\\]", r"\noindent %d.\ %s", r"$\times$", "--"),
}

# One partial template per kind of layer record (the renderer dispatches on the record's type).
PARTIALS = {ConvTrace: "conv2d", TransposedTrace: "conv_transpose2d", PoolTrace: "pool", MixTrace: "conv1x1", DenseTrace: "dense",
            SoftmaxTrace: "softmax", FlattenTrace: "flatten"}
# Activations share a partial by their shape: piecewise linear, or a smooth curve worked cell by cell.
ACTIVATION_PARTIALS = {"relu": "relu", "leaky_relu": "relu", "sigmoid": "sigmoid", "tanh": "sigmoid",
                       "identity": "identity"}


def partial(record) -> str:
    """The template that renders a layer record."""
    if isinstance(record, ElementwiseTrace):
        return f"{ACTIVATION_PARTIALS[record.layer.kind]}.j2"
    return f"{PARTIALS[type(record)]}.j2"


def describe(layer, maths: Maths, times: str) -> str:
    """One layer in a sentence, for the problem statement and the layer's own section."""
    kind = layer.kind
    if kind == "conv2d":
        padding = {"same": "same padding", "valid": "no padding (valid)"}.get(layer.padding) or _padding(layer.padding)
        how = "True convolution (filters flipped)" if layer.flip else "Convolution"
        dilation = "" if layer.dilation == (1, 1) else f", dilation {_per_axis(layer.dilation)}"
        return f"{how}: {_filters(layer, times)}, {_stride(layer.stride)}, {padding}{dilation}{_bias(layer)}."
    if kind == "conv_transpose2d":
        extra = f", output padding {_per_axis(layer.output_padding)}" if layer.output_padding != (0, 0) else ""
        return (f"Transposed convolution: {_filters(layer, times)}, {_stride(layer.stride)}, "
                f"padding {_per_axis(layer.padding)}{extra}{_bias(layer)}.")
    if kind == "globalavgpool":
        return "Global average pooling: the mean of each whole map."
    if kind in ("maxpool", "avgpool"):
        how = "Max" if kind == "maxpool" else "Average"
        padding = "" if layer.padding in (0, (0, 0), (0, 0, 0, 0)) else f", {_padding(layer.padding)}"
        return f"{how} pooling: {layer.size[0]}{times}{layer.size[1]} windows, {_stride(layer.stride)}{padding}."
    if kind == "conv1x1":
        weights = ", ".join(maths.cells(layer.weights))
        bias = f", bias ${maths.number(layer.bias[0])}$" if layer.bias is not None else ""
        return f"A 1{times}1 filter across the channels: weights ${weights}${bias}."
    if kind == "dense":
        n = len(layer.weights)
        return f"Dense: {n} neuron{'s' * (n != 1)}{_bias(layer)}."
    if kind == "leaky_relu":
        return f"Leaky ReLU, slope ${maths.number(layer.slope)}$ for negative values."
    return {"relu": "ReLU.", "sigmoid": "Sigmoid.", "tanh": "Tanh.", "identity": "Identity (no change).",
            "softmax": "Softmax.", "flatten": "Flatten the maps into one vector."}[kind]


def _filters(layer, times: str) -> str:
    f, c, kh, kw = layer.filters.shape
    return f"{f} filter{'s' * (f != 1)} of {kh}{times}{kw}" + (f" over {c} channels" if c > 1 else "")


def _bias(layer) -> str:
    return ", with bias" if layer.bias is not None else ""


def _per_axis(pair: tuple[int, int]) -> str:
    """2, or 2 down and 1 across."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]} down and {pair[1]} across"


def _stride(stride: tuple[int, int]) -> str:
    return f"stride {_per_axis(stride)}"


def _padding(padding: int | tuple[int, ...]) -> str:
    return f"padding {padding}" if isinstance(padding, int) else f"padding {_sides(padding)}"


def _sides(padding: tuple[int, ...]) -> str:
    if len(padding) == 2:
        return f"{padding[0]} above and below, {padding[1]} left and right"
    return f"{padding[0]} above, {padding[1]} below, {padding[2]} left, {padding[3]} right"


@lru_cache(maxsize=32)
def environment(fmt: str, settings: Settings, templates: Path | None = None) -> jinja2.Environment:
    """The Jinja environment for one format and settings; made once, so templates compile once."""
    spec = FORMATS[fmt]
    builtin = builtin_templates()
    search = []
    if templates is not None:
        search += [str(templates / fmt), str(templates)]
    search += [str(builtin / fmt), str(builtin / "layers")]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        block_start_string=r"\BLOCK{", block_end_string="}",
        variable_start_string=r"\VAR{", variable_end_string="}",
        comment_start_string=r"\#{", comment_end_string="}",
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=False,
    )
    maths = Maths(settings, spec.highlight)
    # `\BLOCK{filter display}...\BLOCK{endfilter}`: the closing tag eats its newline, so the filter puts it back.
    env.filters.update(escape=spec.escape, partial=partial,
                       display=lambda maths, stacked=False: spec.display(maths, stacked) + "\n")
    env.globals.update(m=maths, mk=spec, describe=lambda layer: describe(layer, maths, spec.times))
    return env


def render(trace: Trace, fmt: str, settings: Settings | None = None, templates: Path | None = None) -> str:
    """The worked solution of `trace` as a document in format `fmt` (by default with the settings it was traced
    with; `detail` and `terms` may differ, `rounding` and `decimals` are the trace's own)."""
    settings = trace.settings if settings is None else replace(
        settings, rounding=trace.settings.rounding, decimals=trace.settings.decimals)
    env = environment(fmt, settings, templates)
    try:
        return env.get_template(f"document.{fmt}").render(trace=trace, problem=trace.problem, settings=settings)
    except jinja2.TemplateSyntaxError as e:
        raise StepperError(f"template syntax error: {e.message}", file=e.filename, place=f"line {e.lineno}") from None
    except jinja2.TemplateNotFound as e:
        raise StepperError(f"template not found: {e.name}", file="templates") from None
    except jinja2.UndefinedError as e:
        file, line = _template_frame(e)
        raise StepperError(f"template uses an unknown name: {e.message}", file=file, place=f"line {line}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as e:
        # A mistake in a template (a user's own, from --templates) stops there, with its place.
        file, line = _template_frame(e)
        if file == "templates":
            raise  # not from a template: a bug in stepper itself, which deserves its traceback
        raise StepperError(f"template failed: {type(e).__name__}: {e}", file=file, place=f"line {line}") from None


def _template_frame(error: Exception) -> tuple[str, int]:
    """The template file and line where a rendering error arose (Jinja puts them in the traceback)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.endswith(".py")]
    return (frames[-1].filename, frames[-1].lineno) if frames else ("templates", 0)
