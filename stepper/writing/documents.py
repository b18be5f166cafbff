"""Render a trace through Jinja2 templates: one environment per output format.

Each format has its document skeleton in `templates/<format>/` and its bits
of markup in `FORMATS` (stepper.writing.formats); the layer partials in `templates/layers/` are shared,
since every format writes its maths in LaTeX. A user folder given with
`--templates DIR` is searched first, so any one file there overrides the
built-in file of the same name (`DIR/md/document.md`, `DIR/conv2d.j2`, or
`DIR/md/conv2d.j2` for one format only).
Both formats use LaTeX-safe delimiters, `\\VAR{...}`, `\\BLOCK{...}` and
`\\#{...}`, and StrictUndefined, so a missing field fails loudly.
What the templates call by name is registered here: `m` (stepper.writing.maths), `mk` (the format), `describe`
(stepper.writing.describe) and the small helpers of stepper.writing.filters.
"""

from __future__ import annotations

import traceback
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import jinja2

from ..core.errors import StepperError
from ..core.spec import Problem, Settings
from ..core.trace import LayerTrace, Trace
from .describe import describe
from .filters import cell_name, more, points, shown, size_words, step_kind
from .formats import FORMATS, Format, escape_md, escape_tex, portable_maths
from .latex import wrap_tex, wrap_tex_chunks
from .maths import Maths
from .templating import builtin_templates, jinja_options, search_path

if TYPE_CHECKING:
    from ..core.gradients import LayerGrad, Training
    from ..core.spec import Shape

# Names other modules import from here, where they lived before the formats, filters and sentences had modules.
__all__ = [
    "FORMATS",
    "GRAD_PARTIALS",
    "PARTIALS",
    "Format",
    "builtin_templates",
    "cell_name",
    "describe",
    "environment",
    "escape_md",
    "grad_partial",
    "escape_tex",
    "partial",
    "points",
    "portable_maths",
    "render",
    "render_feedback",
    "render_keys",
    "render_keys_chunks",
    "render_layer",
    "render_question",
    "size_words",
    "step_kind",
    "training_of",
]

# The kinds of layer that share another kind's partial template, the one table the renderer dispatches on; any
# other kind has its own, named after it (conv2d.j2). Activations share a partial by their shape: piecewise linear
# (relu), or a smooth curve worked cell by cell (sigmoid).
PARTIALS = {
    "maxpool": "pool",
    "avgpool": "pool",
    "globalavgpool": "pool",
    "leaky_relu": "relu",
    "tanh": "sigmoid",
}


def partial(record: LayerTrace) -> str:
    """The template that renders a layer record: its kind's own (`<kind>.j2`), or the one it shares (PARTIALS)."""
    kind = record.layer.kind
    return f"{PARTIALS.get(kind, kind)}.j2"


# The backward step of each kind of layer, by the family it is worked with (templates/layers/grad_<family>.j2):
# a convolution's windows, an activation's cells, a pool's routing; any other kind has its own.
GRAD_PARTIALS = {
    "conv_transpose2d": "conv",
    "conv2d": "conv",
    "maxpool": "pool",
    "avgpool": "pool",
    "globalavgpool": "pool",
    "relu": "activation",
    "leaky_relu": "activation",
    "sigmoid": "activation",
    "tanh": "activation",
    "identity": "activation",
}


def grad_partial(grad: LayerGrad) -> str:
    """The template that renders a layer's backward record (`grad_<family>.j2`, GRAD_PARTIALS)."""
    kind = grad.layer.kind
    return f"grad_{GRAD_PARTIALS.get(kind, kind)}.j2"


def training_of(trace: Trace, settings: Settings) -> Training | None:
    """The backward pass a document shows after the forward one: only for a problem with [train], worked with
    the trace's rounding and places; None otherwise, and for a summary of shapes."""
    if trace.problem.train is None or settings.detail == "shapes":
        return None
    from ..core.backward import training

    return training(trace.problem, settings, forward=trace)


@lru_cache(maxsize=32)
def environment(fmt: str, settings: Settings, templates: Path | None = None) -> jinja2.Environment:
    """The Jinja environment for one format and settings; made once, so templates compile once."""
    spec = FORMATS[fmt]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(search_path(fmt, templates)), **jinja_options())
    if fmt == "tex":
        env.template_class = _WrappedTex  # before any template is loaded: each is made of this class
    maths = Maths(settings, spec.highlight)

    def display(tex: str, stacked: bool = False) -> str:
        # `\BLOCK{filter display}...\BLOCK{endfilter}`: the closing tag eats its newline, so the filter puts it back
        return spec.display(tex, stacked) + "\n"

    def describe_layer(layer: Any, shape: Shape | None = None) -> str:
        return describe(layer, maths, spec.times, shape)

    def listed(entries: Any) -> str:
        # files with why each was left out, for a class summary: "a.toml (not UTF-8); b.toml (empty)"
        return "; ".join(f"{spec.escape(name)} ({spec.escape(why)})" for name, why in entries)

    def breakable(text: str) -> str:
        # Untrusted text with no spaces (a file name, a code's text) that may break anywhere: in LaTeX a zero-width
        # break between characters, so that a long one wraps instead of running over the margin.
        if fmt != "tex":
            return spec.escape(text)
        pieces: list[str] = []
        for c in text:  # a combining mark (a decomposed accent, as macOS names files) stays with its letter
            if pieces and unicodedata.combining(c):
                pieces[-1] += c
            else:
                pieces.append(c)
        return "\\allowbreak{}".join(map(spec.escape, pieces))

    env.filters.update(escape=spec.escape, partial=partial, grad_partial=grad_partial, display=display, points=points)
    env.filters.update(listed=listed, shown=shown, more=more, breakable=breakable)
    env.globals.update(m=maths, mk=spec, describe=describe_layer)
    env.globals.update(step_kind=step_kind, cell_name=cell_name, size_words=size_words)
    return env


class _WrappedTex(jinja2.Template):
    """A LaTeX document template whose output has no line too long for TeX to read (latex.wrap_tex): every
    LaTeX document stepper writes is rendered or streamed through here. Included templates are not wrapped
    twice: Jinja runs them through their render functions, not these methods."""

    def render(self, *args, **kwargs) -> str:
        return wrap_tex(super().render(*args, **kwargs))

    def generate(self, *args, **kwargs) -> Iterator[str]:
        return wrap_tex_chunks(super().generate(*args, **kwargs))


def render(trace: Trace, fmt: str, settings: Settings | None = None, templates: Path | None = None) -> str:
    """The worked solution of `trace` as a document in format `fmt` (by default with the settings it was traced
    with; `detail` and `terms` may differ, `rounding` and `decimals` are the trace's own)."""
    settings = _traced(trace, settings)
    env = environment(fmt, settings, templates)
    training = training_of(trace, settings)
    return render_template(
        env, f"document.{fmt}", trace=trace, problem=trace.problem, settings=settings, training=training
    )


def render_pieces(
    trace: Trace, fmt: str, settings: Settings | None = None, templates: Path | None = None
) -> Iterator[str]:
    """`render` piece by piece, as the template makes it: the pieces joined are the same document."""
    settings = _traced(trace, settings)
    env = environment(fmt, settings, templates)
    training = training_of(trace, settings)
    return _render_stream(
        env, f"document.{fmt}", trace=trace, problem=trace.problem, settings=settings, training=training
    )


def _traced(trace: Trace, settings: Settings | None) -> Settings:
    """`settings` for writing `trace`, with its own rounding and decimals, which shaped its numbers."""
    if settings is None:
        return trace.settings
    return replace(settings, rounding=trace.settings.rounding, decimals=trace.settings.decimals)


def render_template(env: jinja2.Environment, name: str, **context: Any) -> str:
    """One template rendered, its failures turned into located errors."""
    try:
        return env.get_template(name).render(**context)
    except _TEMPLATE_ERRORS as e:
        _template_error(e)


def _render_stream(env: jinja2.Environment, name: str, **context: Any) -> Iterator[str]:
    """`render_template` as a stream of pieces, with the same located errors."""
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


def _template_error(e: Exception) -> NoReturn:
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


def render_feedback(feedback: Any, fmt: str, templates: Path | None = None) -> str:
    """A student's feedback report, through the same environment as the worked solution."""
    env = environment(fmt, feedback.trace.settings, templates)
    return render_template(
        env,
        f"feedback.{fmt}",
        feedback=feedback,
        problem=feedback.problem,
        trace=feedback.trace,
        settings=feedback.trace.settings,
    )


def render_class_summary(view: Any, problem: Problem, fmt: str, templates: Path | None = None) -> str:
    """A marked class's summary (a marking.class_view.ClassView) as Markdown, or LaTeX for its one-page PDF."""
    env = environment(fmt, problem.settings, templates)
    return render_template(env, f"class-summary.{fmt}", view=view, problem=problem, settings=problem.settings)


def render_question(trace: Trace, fmt: str, variant: str, templates: Path | None = None, sheet: Any = None) -> str:
    """An exam variant's question sheet: its problem, and each stage to write down (with [train], the backward
    pass's too), with no answers. With `sheet` (exams.sheets.AnswerSheet) it is the answer sheet a class sits:
    boxes, marks and working space per stage, and the variant's id and QR code on every page."""
    from ..core.stages import every_stage

    env = environment(fmt, trace.settings, templates)
    context = {"sheet": sheet} if sheet is not None else {}
    return render_template(
        env,
        f"question.{fmt}",
        trace=trace,
        problem=trace.problem,
        settings=trace.settings,
        variant=variant,
        asked=every_stage(trace.problem),
        **context,
    )


def render_layer(
    trace: Trace, number: int, fmt: str, settings: Settings | None = None, templates: Path | None = None
) -> str:
    """Layer `number`'s working alone (1-based), as in the worked solution."""
    settings = _traced(trace, settings)
    env = environment(fmt, settings, templates)
    return render_template(
        env, "layer.j2", trace=trace, problem=trace.problem, settings=settings, record=trace.layers[number - 1]
    )


def render_keys(title: str, variants: Any, fmt: str, settings: Settings, templates: Path | None = None) -> str:
    """Every variant's worked key in one document (`variants`: records with id, seed and trace), with the
    detail of `settings`; the variants share their rounding, so the first one's stands for all."""
    return "".join(render_keys_chunks(title, variants, fmt, settings, templates))


def render_keys_chunks(
    title: str, variants: Any, fmt: str, settings: Settings, templates: Path | None = None
) -> Iterator[str]:
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
    return (frames[-1].filename, frames[-1].lineno or 0) if frames else ("templates", 0)
