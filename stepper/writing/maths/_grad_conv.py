"""A convolution's backward step as windows, written like the forward windows: each filter weight's gradient as
the sum over the windows it touched, and the input's as the full convolution of the spread gradient with the
filters turned 180 degrees.

Separate because, as in the forward pass, a convolution is worked window by window: each weight's cells of the
padded input are marked on it, and each input cell's window is marked on the spread gradient, beside the kernel.
A transposed convolution is worked as the convolution over its expanded input that it is (its record's `conv`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ...core.numbers import Values
from ...core.trace import ConvTrace, TransposedTrace
from ._arrays import WHOLE_GRID_UP_TO
from ._conv import FLIPPED, _every
from ._grad_base import GradBase
from ._text import sub

if TYPE_CHECKING:
    from ...core.gradients import LayerGrad
    from ..formats import Format

# The kernel turned 180 degrees, as the full convolution applies it.
ROTATED = "\\operatorname{rot}"


class GradWindow(NamedTuple):
    """One sum of a convolution's backward step, written for a document: what grad_conv.j2 lays out."""

    heading: str  # "Weight (1, 2)" or "Input row 1, column 2", in bold, with where its cells lie
    grids: str  # displayed: the map with the cells the sum reads marked, beside what they are multiplied by
    equation: str  # displayed: the sum of products and its total


class Spread(NamedTuple):
    """How the upstream gradient is spread for the full convolution: zeros between neighbours, and around."""

    between: tuple[int, int]  # zeros between two neighbouring cells: stride - 1, by rows and columns
    before: tuple[int, int]  # zeros above and to the left: the filter's reach - 1
    after: tuple[int, int]  # zeros below and to the right: reach - 1 and any cells no window reached


def conv_of(grad: LayerGrad) -> ConvTrace:
    """The convolution a layer's backward step is worked on: its own, or a transposed one's over the expanded
    input."""
    record = grad.forward
    found = record.conv if isinstance(record, TransposedTrace) else record
    assert isinstance(found, ConvTrace), "a convolution's backward record"
    return found


class ConvGradWriter(GradBase):
    """The windows of a convolution's weight and input gradients."""

    rotated = ROTATED

    @staticmethod
    def conv_of(grad: LayerGrad) -> ConvTrace:
        return conv_of(grad)

    @staticmethod
    def kernel_letter(grad: LayerGrad) -> str:
        """K, or K̃ for filters applied turned 180 degrees (a true or a transposed convolution)."""
        return FLIPPED if conv_of(grad).layer.flip else "K"

    def conv_weight_formula(self, grad: LayerGrad) -> str:
        """∂L/∂K_f[u,v] = Σ_{i,j} ∂L/∂z_{f,i,j} · x̄_{c, s(i-1)+u, s(j-1)+v}, with this layer's stride and dilation."""
        conv = conv_of(grad)
        (sh, sw), (dh, dw) = conv.layer.stride, conv.layer.dilation
        channels = conv.filters.shape[1]
        x = "\\bar{x}" if conv.padding.any or grad.layer.kind == "conv_transpose2d" else "x"
        kernel = f"{self.kernel_letter(grad)}_{{f{',c' if channels > 1 else ''}}}[u,v]"
        at = f"{'c,' if channels > 1 else ''}{_place('i', 'u', sh, dh)},\\,{_place('j', 'v', sw, dw)}"
        return f"{self.dl(kernel)} = \\sum_{{i,j}} {self.dl('z_{f,i,j}')} \\cdot {x}_{{{at}}}"

    def conv_input_formula(self, grad: LayerGrad) -> str:
        """∂L/∂x_{c,i,j} = Σ_f Σ_{u,v} S_f[...] · rot(K_f)[u,v]: the full convolution, window by window."""
        conv = conv_of(grad)
        (dh, dw), channels = conv.layer.dilation, conv.filters.shape[1]
        kernel = f"{ROTATED}({self.kernel_letter(grad)}_{{f{',c' if channels > 1 else ''}}})[u,v]"
        rows = "a + u - 1" if dh == 1 else f"a + {dh}(u - 1)"
        cols = "b + v - 1" if dw == 1 else f"b + {dw}(v - 1)"
        cell = "x_{c,i,j}" if channels > 1 or grad.input.shape[0] > 1 else "x_{i,j}"
        return f"{self.dl(cell)} = \\sum_f \\sum_{{u,v}} S_f[{rows},\\,{cols}] \\cdot {kernel}"

    def spread_words(self, grad: LayerGrad) -> str:
        """How the gradient is spread, in words: its cells 2 apart (1 zero between neighbours), with 2 rows of
        zeros above, 3 below, 2 columns of zeros to the left and 3 to the right."""
        s = self.spread(grad)
        (sh, sw) = conv_of(grad).layer.stride
        apart = f"its cells placed {sh} apart ({_count(s.between[0], 'zero')} between neighbours)"
        if sh == 1 and sw == 1:
            apart = "its cells as they are"
        elif sh != sw:
            apart = f"its cells placed {sh} apart down a column and {sw} along a row"
        return (
            f"{apart}, with {_count(s.before[0], 'row')} of zeros above, {s.after[0]} below, "
            f"{_count(s.before[1], 'column')} of zeros to the left and {s.after[1]} to the right"
        )

    def kernel_name(self, grad: LayerGrad, f: int, c: int) -> str:
        """K_f (K_{f,c} with channels), or K̃ when the filters are applied turned (a true convolution)."""
        conv = conv_of(grad)
        name = FLIPPED if conv.layer.flip else "K"
        return sub(name, f) if conv.filters.shape[1] == 1 else sub(name, f, c)

    def conv_weight_windows(self, grad: LayerGrad, f: int, c: int, limit: int, mk: Format) -> list[GradWindow]:
        """The first `limit` weights (u, v) of kernel f, channel c: ∂L/∂K[u,v] = Σ_{i,j} ∂L/∂z_{f,i,j} times the
        padded input's cell under weight (u, v) in window (i, j), those cells marked on the padded input."""
        conv = conv_of(grad)
        assert grad.weights is not None
        kh, kw = conv.filters.shape[-2:]
        (sh, sw), (dh, dw) = conv.layer.stride, conv.layer.dilation
        oh, ow = grad.upstream.shape[1:]
        height, width = conv.padded.shape[1:]
        text = self.cells(conv.padded[c])
        upstream = f"{self.dl(self.map_name('Z', f, grad.upstream.shape[0]))} = {self.grid(grad.upstream[f])}"
        padded = "padded " if conv.padding.any else ""
        found = []
        for n in range(min(limit, kh * kw)):
            u, v = divmod(n, kw)
            rows, cols = (u * dh, u * dh + (oh - 1) * sh + 1), (v * dw, v * dw + (ow - 1) * sw + 1)
            pictures = [upstream]
            if height <= WHOLE_GRID_UP_TO and width <= WHOLE_GRID_UP_TO:
                pictures.insert(0, self._grid(text, width, window=(rows, cols), step=(sh, sw)))
            t = grad.weight_terms(f, c, u, v)
            at = (kh - 1 - u, kw - 1 - v) if conv.layer.flip else (u, v)
            carried = grad.weights[f, c, at[0], at[1]]
            lhs = self.dl(f"{self.kernel_name(grad, f, c)}[{u + 1},{v + 1}]")
            # the padded input's cells as the forward pass wrote them (exact), not the record's floats
            x = conv.padded[c, rows[0] : rows[1] : sh, cols[0] : cols[1] : sw].reshape(-1)
            where = f"{padded}{_cells(rows, sh, 'row', mk.dash)}, {_cells(cols, sw, 'column', mk.dash)}"
            found.append(
                GradWindow(
                    mk.bold(f"Weight ({u + 1}, {v + 1})") + f" ({where})",
                    mk.display(self.fit(pictures, "\\quad"), True),
                    mk.display(self.sum_equation(lhs, grad.upstream[f].reshape(-1), x, t.products, carried)),
                )
            )
        return found

    def conv_weight_grid(self, grad: LayerGrad, f: int, c: int) -> str:
        """`∂L/∂K_f = [...]`: the filter's gradient as written (turned back when the filter is applied turned)."""
        assert grad.weights is not None
        conv = conv_of(grad)
        name = sub("K", f) if conv.filters.shape[1] == 1 else sub("K", f, c)
        return f"{self.dl(name)} = {self.grid(grad.weights[f, c])}"

    def spread(self, grad: LayerGrad) -> Spread:
        """The zeros around and between the upstream gradient's cells in the full convolution's input."""
        conv = conv_of(grad)
        assert grad.spread is not None
        (sh, sw), (rh, rw) = conv.layer.stride, conv.layer.reach
        oh, ow = grad.upstream.shape[1:]
        height, width = grad.spread.shape[1:]
        return Spread(
            (sh - 1, sw - 1),
            (rh - 1, rw - 1),
            (height - (rh - 1) - (oh - 1) * sh - 1, width - (rw - 1) - (ow - 1) * sw - 1),
        )

    def spread_grids(self, grad: LayerGrad, f: int) -> list[str]:
        """Filter f's spread gradient `S_f = [...]`, and its kernel (each channel's) turned 180 degrees."""
        assert grad.rotated is not None
        items = [f"{sub('S', f)} = {self.spread_grid(grad, f)}"]
        for c in range(grad.rotated.shape[1]):
            items.append(f"{ROTATED}({self.kernel_name(grad, f, c)}) = {self.grid(self.turned(grad, f, c))}")
        return items

    def input_position(self, grad: LayerGrad, i: int, j: int) -> tuple[int, int]:
        """Where input cell (i, j) sits in the map the convolution slid over: the padded input, or a transposed
        convolution's expanded input (stride apart)."""
        layer = grad.forward.layer
        if layer.kind == "conv_transpose2d":
            _, at = layer.expansion(grad.forward.input.shape)  # type: ignore[union-attr]
            sh, sw = layer.stride  # type: ignore[union-attr]
            return at.top + i * sh, at.left + j * sw
        pad = conv_of(grad).padding
        return pad.top + i, pad.left + j

    def conv_input_windows(self, grad: LayerGrad, c: int, limit: int, mk: Format) -> tuple[list[GradWindow], list[str]]:
        """The first `limit` cells of input channel c, each the sum over its window of the spread gradients under
        it times the kernels turned 180 degrees (over every filter); and the names of those whose window holds
        no nonzero product, which are 0 (unless terms = "all")."""
        assert grad.spread is not None and grad.rotated is not None
        conv = conv_of(grad)
        (dh, dw), (rh, rw) = conv.layer.dilation, conv.layer.reach
        h, w = grad.input.shape[1:]
        spreads = [self.spread_cells(grad, f) for f in range(grad.spread.shape[0])]
        width = grad.spread.shape[2]
        kernels = [self.grid(self.turned(grad, f, c)) for f in range(grad.spread.shape[0])]
        found, zeros = [], []
        for n in range(min(limit, h * w)):
            i, j = divmod(n, w)
            a, b = self.input_position(grad, i, j)
            t = grad.input_terms(c, a, b)
            name = self.cell("x", (c, i, j), grad.input.shape)
            if self.settings.terms != "all" and not t.products.data.any():
                zeros.append(name)
                continue
            span = ((a, a + rh), (b, b + rw))
            where = f"[{a + 1}{{:}}{a + rh},\\,{b + 1}{{:}}{b + rw}]"
            pictures = [
                f"{sub('S', f)}{where} = {self._grid(spread, width, part=span, step=(dh, dw))} \\quad "
                f"{ROTATED}({self.kernel_name(grad, f, c)}) = {kernel}"
                for f, (spread, kernel) in enumerate(zip(spreads, kernels))
            ]
            filters = grad.rotated.shape[0]
            products = t.products.reshape(filters, -1) if filters > 1 else t.products
            equation = self.sum_equation(
                self.dl(name), t.factors, self._turned_flat(grad, c), _grouped(products, grad), grad.input[c, i, j]
            )
            found.append(
                GradWindow(
                    mk.bold(f"Input row {i + 1}, column {j + 1}") + f" (window at row {a + 1}, column {b + 1} of $S$)",
                    mk.display(self.fit(pictures, "\\qquad", gathered=False), True),
                    mk.display(equation),
                )
            )
        return found, zeros

    @staticmethod
    def turned(grad: LayerGrad, f: int, c: int) -> Values:
        """Kernel f, channel c, as applied, turned 180 degrees: the record's `rotated`, written as the forward
        pass writes the kernel (exactly)."""
        return conv_of(grad).filters[f, c][::-1, ::-1]

    def _turned_flat(self, grad: LayerGrad, c: int) -> Values:
        """Every filter's turned kernel for channel c, flat, in the order of a full-convolution window's terms."""
        filters = conv_of(grad).filters
        return filters[:, c, ::-1, ::-1].reshape(-1)

    def spread_cells(self, grad: LayerGrad, f: int) -> list[str]:
        """Filter f's spread gradient, written: each cell of ∂L/∂Z_f as the record writes it, in its place, and the
        zeros put between and around them as 0, so that the two are told apart."""
        assert grad.spread is not None
        height, width = grad.spread.shape[1:]
        s, (sh, sw) = self.spread(grad), conv_of(grad).layer.stride
        text = ["0"] * (height * width)
        upstream = self.cells(grad.upstream[f])
        oh, ow = grad.upstream.shape[1:]
        for n, t in enumerate(upstream):
            i, j = divmod(n, ow)
            text[(s.before[0] + i * sh) * width + s.before[1] + j * sw] = t
        return text

    def spread_grid(self, grad: LayerGrad, f: int) -> str:
        return self._grid(self.spread_cells(grad, f), grad.spread.shape[2])  # type: ignore[union-attr]


def _grouped(products: Values, grad: LayerGrad) -> Values:
    """A full convolution's products (F, kh * kw) as (F, kh, kw), so that they are bracketed by filter."""
    if products.data.ndim == 1:
        return products
    kh, kw = grad.rotated.shape[-2:]  # type: ignore[union-attr]
    return products.reshape(products.shape[0], kh, kw)


def _place(i: str, u: str, stride: int, dilation: int) -> str:
    """The padded row (or column) under weight u in window i, counted from 1: 2(i - 1) + u."""
    step = f"{i} - 1" if stride == 1 else f"{stride}({i} - 1)"
    if dilation == 1:
        return f"{i} + {u} - 1" if stride == 1 else f"{step} + {u}"
    return f"{step} + {dilation}({u} - 1) + 1"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _cells(span: tuple[int, int], step: int, what: str, dash: str) -> str:
    """The padded rows (or columns) a weight touches, counted from 1: rows 1–4, or every 2nd row from 1 to 7."""
    first, last = span[0] + 1, span[1]
    if first == last:
        return f"{what} {first}"
    if step == 1:
        return f"{what}s {first}{dash}{last}"
    return f"{_every(step, what)} from {first} to {last}"
