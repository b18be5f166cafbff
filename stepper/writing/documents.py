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

import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import jinja2

from ..core.errors import StepperError
from ..core.spec import Settings
from ..core.text import plain_text
from ..core.trace import (
    ConvTrace,
    ConvWindow,
    DenseTrace,
    Element,
    ElementwiseTrace,
    FlattenTrace,
    MixTrace,
    PoolTrace,
    PoolWindow,
    SoftmaxTrace,
    Terms,
    Trace,
    TransposedTrace,
)
from .maths import Maths
from .output import wrap_tex, wrap_tex_chunks

PACKAGE = Path(__file__).resolve().parent.parent  # the stepper package folder


def builtin_templates() -> Path:
    """Inside an installed wheel the templates sit in the package; in a source tree, beside it."""
    for candidate in (PACKAGE / "templates", PACKAGE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise StepperError("the built-in templates are missing from this installation")


def escape_tex(text: str) -> str:
    """Untrusted text (a title, a name) made safe for LaTeX's text mode: TeX's special characters as commands that
    print them, control characters as "?", and every other character as itself, in any script: a document that
    pdflatex's fonts cannot print is typeset with LuaLaTeX and its fallback fonts (output.tex_engine)."""
    out = []
    for ch in plain_text(text):
        if ch in _TEX_SPECIALS:
            out.append(_TEX_SPECIALS[ch])
        elif ch in _TEX_TYPOGRAPHY:
            out.append(_TEX_TYPOGRAPHY[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            out.append("?")  # control characters would stop LaTeX
        else:
            out.append(ch)
    return "".join(out)


# Dashes, quotes and the minus sign as the LaTeX that draws the same character in either engine (pdftotext gives
# back the character itself), so that a title holding them still typesets with pdflatex, the faster engine.
_TEX_TYPOGRAPHY = {
    "\u2212": "$-$",
    "\u2013": "--",
    "\u2014": "---",
    "\u2018": "`",
    "\u2019": "'",
    "\u201c": "``",
    "\u201d": "''",
}

_TEX_SPECIALS = {
    "\u00d7": r"$\times$",
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"{\char36}",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def escape_md(text: str) -> str:
    """Untrusted text made inert in Markdown: no markup, no HTML, no maths."""
    out = []
    for ch in " ".join(plain_text(text).split()):
        if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            continue  # control characters have no place in a heading
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch in "\\`*_{}[]#+-.!|~$":  # not ( ): with [ ] escaped they make no link, and \( reads as maths
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


# Markdown's backslash escapes run before the maths in GitHub's renderer (and MacDown's, mdBook's): `\,` reaches
# KaTeX as `,`, and the `\\` between two matrix rows as `\`, so the rows run together; a `\\` at the end of a line
# survives (github/markup#1547). So every row separator ends its line, and the control symbols that Markdown would
# eat become what it leaves alone: a plain space for the small maths spaces (texmath, which pandoc uses for Word
# equations, has no \thinspace), and braces by name.
_ROW_END = re.compile(r"\\\\[ \t]*(?![ \t]*(?:\n|$))")
_EATEN = {"\\,": "\\ ", "\\:": "\\ ", "\\;": "\\ ", "\\!": "", "\\{": "\\lbrace ", "\\}": "\\rbrace "}
_EATEN_RE = re.compile("|".join(re.escape(k) for k in _EATEN) + r"|\\\\")
# What stepper's own maths rarely holds: an eaten symbol, or a \\ not followed by one space (at a line's end already,
# before a tab or a letter, at the very end): such formulas take the full patterns, all others a plain replace.
_UNUSUAL = re.compile(r"\\[,:;!{}]|\\\\(?! )|\\\\ \n")
_LINE_END = "\\\\\\\\\n"  # as a replacement template: \\ and a line break


def portable_maths(tex: str) -> str:
    """A displayed formula written so that every Markdown reader passes it to its maths renderer unchanged:
    one row of a matrix or aligned block per line, and no `\\` before punctuation except those row ends."""
    if not _UNUSUAL.search(tex):  # a large document's time goes here: one scan and one replace
        return tex.replace("\\\\ ", "\\\\\n")
    tex = _EATEN_RE.sub(lambda m: _EATEN.get(m.group(0), m.group(0)), tex)
    return _ROW_END.sub(_LINE_END, tex)


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
    code_format: str  # %-format for a name to type as it is (a stage's key)
    # %-format around text that introduces the display after it ("Filters:"), so that the two stay on one page
    label_format: str = "%s"
    # rewrites a displayed formula into the form this format's readers all take (Markdown: see portable_maths)
    rewrite: Callable[[str], str] | None = None

    def heading(self, level: int, text: str) -> str:
        return self.headings[level - 2] % text

    def bold(self, text: str) -> str:
        return self.bold_format % text

    def code(self, text: str) -> str:
        """A name to type as it is (stepper's own names: letters, digits, dots and underscores)."""
        return self.code_format % (text if self.name == "md" else self.escape(text))

    def item(self, n: int, text: str) -> str:
        return self.item_format % (n, text)

    def table(self, header: list[str], rows: list[list[str]], widths: list[float] | None = None) -> str:
        """A table of text cells (already escaped; maths in $...$). In LaTeX the last column takes half the
        line, or each column the share of the line `widths` gives it, its text wrapped."""
        if self.name == "md":
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
        if widths:
            spec = "".join(f">{{\\raggedright\\arraybackslash}}p{{{w}\\linewidth}}" for w in widths)
        else:
            spec = "l" * (len(header) - 1) + "p{0.5\\linewidth}"
        body = " \\\\\n".join(" & ".join(r) for r in rows)
        return (
            f"\\begin{{tabular}}{{{spec}}}\n\\hline\n{' & '.join(self.bold(h) for h in header)} \\\\\n\\hline\n"
            f"{body} \\\\\n\\hline\n\\end{{tabular}}"
        )

    def display(self, maths: str, stacked: bool = False) -> str:
        """A displayed formula; `stacked` lines (joined by \\\\) are centred one under another."""
        maths = maths.strip()
        if stacked:
            maths = f"\\begin{{gathered}} {maths} \\end{{gathered}}"
        if self.rewrite is not None:
            maths = self.rewrite(maths)
        return self.display_format % maths

    def label(self, text: str) -> str:
        """Text that introduces the display after it ("Filters:"): in LaTeX, kept on the page of that display."""
        return self.label_format % text


FORMATS = {
    "md": Format(
        "md",
        escape_md,
        r"\colorbox{yellow}{$%s$}",
        ("## %s", "### %s", "#### %s"),
        "**%s**",
        "$$\n%s\n$$",
        "%d. %s",
        "×",
        "–",
        "`%s`",
        rewrite=portable_maths,
    ),
    # \steplabel is defined in templates/tex/pages.tex
    "tex": Format(
        "tex",
        escape_tex,
        r"\hl{%s}",
        (r"\section*{%s}", r"\subsection*{%s}", r"\subsubsection*{%s}"),
        r"\textbf{%s}",
        "\\[\n%s\n\\]",
        r"\noindent %d.\ %s",
        r"$\times$",
        "--",
        r"\texttt{%s}",
        label_format=r"\steplabel{%s}",
    ),
}

# One partial template per kind of layer record (the renderer dispatches on the record's type).
PARTIALS = {
    ConvTrace: "conv2d",
    TransposedTrace: "conv_transpose2d",
    PoolTrace: "pool",
    MixTrace: "conv1x1",
    DenseTrace: "dense",
    SoftmaxTrace: "softmax",
    FlattenTrace: "flatten",
}
# Activations share a partial by their shape: piecewise linear, or a smooth curve worked cell by cell.
ACTIVATION_PARTIALS = {
    "relu": "relu",
    "leaky_relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "sigmoid",
    "identity": "identity",
}


def partial(record) -> str:
    """The template that renders a layer record."""
    if isinstance(record, ElementwiseTrace):
        return f"{ACTIVATION_PARTIALS[record.layer.kind]}.j2"
    return f"{PARTIALS[type(record)]}.j2"


def describe(layer, maths: Maths, times: str, shape: tuple[int, ...] | None = None) -> str:
    """One layer in a sentence, for the problem statement and the layer's own section; with the layer's input
    `shape`, "same" padding also says how many cells it adds, so a question sheet states everything."""
    kind = layer.kind
    if kind == "conv2d":
        padding = {"same": "same padding", "valid": "no padding (valid)"}.get(layer.padding) or _padding(layer.padding)
        if layer.padding == "same" and shape is not None:
            sides = layer.padding_for(shape)
            sides = (sides.top, sides.bottom, sides.left, sides.right)
            padding += (
                f" ({sides[0]} cell{'s' * (sides[0] != 1)} on each side)"
                if len(set(sides)) == 1
                else f" ({_sides(sides)})"
            )
        how = "True convolution (filters flipped)" if layer.flip else "Convolution"
        dilation = "" if layer.dilation == (1, 1) else f", dilation {_per_axis(layer.dilation)}"
        return f"{how}: {_filters(layer, times)}, {_stride(layer.stride)}, {padding}{dilation}{_bias(layer)}."
    if kind == "conv_transpose2d":
        extra = f", output padding {_per_axis(layer.output_padding)}" if layer.output_padding != (0, 0) else ""
        return (
            f"Transposed convolution: {_filters(layer, times)}, {_stride(layer.stride)}, "
            f"padding {_per_axis(layer.padding)}{extra}{_bias(layer)}."
        )
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
    return {
        "relu": "ReLU.",
        "sigmoid": "Sigmoid.",
        "tanh": "Tanh.",
        "identity": "Identity (no change).",
        "softmax": "Softmax.",
        "flatten": "Flatten the maps into one vector.",
    }[kind]


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
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    if fmt == "tex":
        env.template_class = _WrappedTex  # before any template is loaded: each is made of this class
    maths = Maths(settings, spec.highlight)
    # `\BLOCK{filter display}...\BLOCK{endfilter}`: the closing tag eats its newline, so the filter puts it back.
    env.filters.update(
        escape=spec.escape, partial=partial, display=lambda maths, stacked=False: spec.display(maths, stacked) + "\n"
    )
    env.filters.update(points=points)
    env.globals.update(step_kind=step_kind, cell_name=cell_name, size_words=size_words)
    env.globals.update(m=maths, mk=spec, describe=lambda layer, shape=None: describe(layer, maths, spec.times, shape))
    return env


class _WrappedTex(jinja2.Template):
    """A LaTeX document template whose output has no line too long for TeX to read (output.wrap_tex): every
    LaTeX document stepper writes is rendered or streamed through here. Included templates are not wrapped
    twice: Jinja runs them through their render functions, not these methods."""

    def render(self, *args, **kwargs) -> str:
        return wrap_tex(super().render(*args, **kwargs))

    def generate(self, *args, **kwargs):
        return wrap_tex_chunks(super().generate(*args, **kwargs))


def step_kind(step) -> str:
    """Which working a feedback note shows for a step record."""
    return {ConvWindow: "window", Terms: "terms", PoolWindow: "pool", Element: "element"}.get(type(step), "")


def cell_name(index: tuple[int, ...]) -> str:
    """A cell of a stage, counted from 1 as a student counts: Row 1, column 2."""
    if len(index) == 2:
        return f"Row {index[0] + 1}, column {index[1] + 1}"
    return f"Item {index[0] + 1}" if index else "The value"


def size_words(shape: tuple[int, ...], times: str) -> str:
    """How much a stage holds, in words: one number, 2 numbers, a 4x4 map."""
    if not shape or shape == (1,):
        return "one number"
    if len(shape) == 1:
        return f"{shape[0]} numbers"
    return f"a {shape[0]}{times}{shape[1]} map"


def points(value) -> str:
    """Marks as a marker writes them: 3, 2.5, 0.67."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return text


def render(trace: Trace, fmt: str, settings: Settings | None = None, templates: Path | None = None) -> str:
    """The worked solution of `trace` as a document in format `fmt` (by default with the settings it was traced
    with; `detail` and `terms` may differ, `rounding` and `decimals` are the trace's own)."""
    settings = (
        trace.settings
        if settings is None
        else replace(settings, rounding=trace.settings.rounding, decimals=trace.settings.decimals)
    )
    env = environment(fmt, settings, templates)
    return _render(env, f"document.{fmt}", trace=trace, problem=trace.problem, settings=settings)


def _render(env: jinja2.Environment, name: str, **context) -> str:
    """One template rendered, its failures turned into located errors."""
    try:
        return env.get_template(name).render(**context)
    except _TEMPLATE_ERRORS as e:
        _template_error(e)


def _render_stream(env: jinja2.Environment, name: str, **context):
    """`_render` as a stream of pieces, with the same located errors."""
    try:
        yield from env.get_template(name).generate(**context)
    except _TEMPLATE_ERRORS as e:
        _template_error(e)


_TEMPLATE_ERRORS = (
    jinja2.TemplateSyntaxError,
    jinja2.TemplateNotFound,
    jinja2.UndefinedError,
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    RecursionError,
)


def _template_error(e: Exception):
    """A failure while rendering, as a located error."""
    if isinstance(e, jinja2.TemplateSyntaxError):
        raise StepperError(f"template syntax error: {e.message}", file=e.filename, place=f"line {e.lineno}") from None
    if isinstance(e, jinja2.TemplateNotFound):
        raise StepperError(f"template not found: {e.name}", file="templates") from None
    if isinstance(e, UnicodeDecodeError):
        raise StepperError(f"not UTF-8 text: {e.reason} at byte {e.start}", file=_loading(e)) from None
    file, line = _template_frame(e)
    if isinstance(e, RecursionError):  # a user's template that includes itself, directly or through others
        raise StepperError(
            "a template includes itself, directly or through others", file=file, place=f"line {line}"
        ) from None
    if isinstance(e, jinja2.UndefinedError):
        raise StepperError(f"template uses an unknown name: {e.message}", file=file, place=f"line {line}") from None
    # A mistake in a template (a user's own, from --templates) stops there, with its place.
    if file == "templates":
        raise e  # not from a template: a bug in stepper itself, which deserves its traceback
    raise StepperError(f"template failed: {type(e).__name__}: {e}", file=file, place=f"line {line}") from None


def render_feedback(feedback, fmt: str, templates: Path | None = None) -> str:
    """A student's feedback report, through the same environment as the worked solution."""
    env = environment(fmt, feedback.trace.settings, templates)
    return _render(
        env,
        f"feedback.{fmt}",
        feedback=feedback,
        problem=feedback.problem,
        trace=feedback.trace,
        settings=feedback.trace.settings,
    )


def render_question(trace: Trace, fmt: str, variant: str, templates: Path | None = None) -> str:
    """An exam variant's question sheet: its problem, and each stage to write down, with no answers."""
    from ..core.stages import stages

    env = environment(fmt, trace.settings, templates)
    return _render(
        env,
        f"question.{fmt}",
        trace=trace,
        problem=trace.problem,
        settings=trace.settings,
        variant=variant,
        asked=stages(trace.problem),
    )


def render_layer(
    trace: Trace, number: int, fmt: str, settings: Settings | None = None, templates: Path | None = None
) -> str:
    """Layer `number`'s working alone (1-based), as in the worked solution."""
    settings = (
        trace.settings
        if settings is None
        else replace(settings, rounding=trace.settings.rounding, decimals=trace.settings.decimals)
    )
    env = environment(fmt, settings, templates)
    return _render(
        env, "layer.j2", trace=trace, problem=trace.problem, settings=settings, record=trace.layers[number - 1]
    )


def render_keys(title: str, variants, fmt: str, settings: Settings, templates: Path | None = None) -> str:
    """Every variant's worked key in one document (`variants`: records with id, seed and trace), with the
    detail of `settings`; the variants share their rounding, so the first one's stands for all."""
    return "".join(render_keys_chunks(title, variants, fmt, settings, templates))


def render_keys_chunks(title: str, variants, fmt: str, settings: Settings, templates: Path | None = None):
    """`render_keys`, produced piece by piece as the template runs, so thousands of keys are never one string."""
    first = variants[0].trace.settings
    settings = replace(settings, rounding=first.rounding, decimals=first.decimals)
    env = environment(fmt, settings, templates)
    return _render_stream(env, f"keys.{fmt}", title=title, variants=variants, settings=settings)


def _loading(error: Exception) -> str:
    """The template file Jinja's loader was reading when `error` arose (its `get_source` holds the name)."""
    tb, name = error.__traceback__, "templates"
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "get_source":
            name = str(tb.tb_frame.f_locals.get("filename", name))
        tb = tb.tb_next
    return name


def _template_frame(error: Exception) -> tuple[str, int]:
    """The template file and line where a rendering error arose (Jinja puts them in the traceback)."""
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if not f.filename.endswith(".py") and not f.filename.startswith("<")
    ]  # not <frozen codecs>
    return (frames[-1].filename, frames[-1].lineno) if frames else ("templates", 0)
