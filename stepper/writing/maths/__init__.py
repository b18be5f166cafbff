"""Working written as LaTeX maths, shared by every output format.

Markdown (KaTeX, MathJax) and LaTeX take the same maths; they differ only in how a window's cells are highlighted,
which the renderer passes in. The templates reach the writers as `m` (`m.grid(v)`, `m.conv_windows(...)`), and
users copy templates, so `Maths` keeps every method name they call; behind it, one module per family of layers:

    _text        numbers, cells and words; the base every writer extends
    _width       how wide a formula sets, estimated, so that long lines wrap
    _arrays      matrices and items side by side
    _equations   `lhs = steps = total`, with `=` only where it is exact
    _sums        sums of products, grouped by channel
    _conv        convolution windows, filter banks, a transposed convolution's copies
    _pool        pooling windows
    _activation  activations and softmax
    _sizes       output sizes, parameter counts and multiply-adds
    _backward    the backward pass: the loss, each layer's gradients (_grad_layers, _grad_pool, _grad_conv, on the
                 rows and signs of _grad_base) and the update

It imports only stepper.core (and the output formats' type, for annotations).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._activation import ActivationWriter
from ._arrays import WHOLE_GRID_UP_TO, WIDE_CELL
from ._backward import BackwardWriter
from ._conv import FLIPPED, ConvWriter, WindowText
from ._equations import ONE_LINE
from ._pool import POOL_PADDING, PoolWriter
from ._sizes import SizeWriter
from ._text import TERMS_PER_LINE, cells, negated, number, places_words, signed_join, span_words, sub, symbolic
from ._width import BLOCK_WIDTH, GRID_WIDTH, LINE_WIDTH, SUM_WIDTH, tex_width

__all__ = [
    "BLOCK_WIDTH",
    "FLIPPED",
    "GRID_WIDTH",
    "LINE_WIDTH",
    "ONE_LINE",
    "POOL_PADDING",
    "SUM_WIDTH",
    "TERMS_PER_LINE",
    "WHOLE_GRID_UP_TO",
    "WIDE_CELL",
    "Maths",
    "WindowText",
    "cells",
    "negated",
    "number",
    "places_words",
    "signed_join",
    "span_words",
    "sub",
    "symbolic",
    "tex_width",
]


@dataclass(frozen=True)
class Maths(BackwardWriter, ConvWriter, PoolWriter, ActivationWriter, SizeWriter):
    """Writes records as maths for one output format: `Maths(settings, highlight)`, the templates' `m`.

    Each base class is one family's writer; this class adds nothing, so that a template's `m.<method>` finds
    the method wherever its family lives.
    """
