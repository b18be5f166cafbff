"""The backward step of a dense layer, an activation, the 1x1 filter, flatten and softmax: each writes rows of
working from a `LayerGrad` record, every number a record's.

Separate from the convolutions (_grad_conv) and pooling (_grad_pool) because these are worked cell by cell or
neuron by neuron, as rows of one product each, while those follow windows.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ...core.numbers import Values
from ._activation import NAMES
from ._grad_base import GradBase, fraction, relation_of
from ._text import parenthesised, sub

if TYPE_CHECKING:
    from ...core.gradients import LayerGrad


class GradNames(NamedTuple):
    """What a layer's section calls its input and output: a cell's letter and a whole map's."""

    input_cell: str
    input_map: str
    output_cell: str
    output_map: str


# Each kind's names, as its forward section writes them: a convolution's z, an activation's z -> a, a pool's p.
_NAMES = {
    "conv2d": GradNames("x", "X", "z", "Z"),
    "conv_transpose2d": GradNames("x", "X", "z", "Z"),
    "dense": GradNames("x", "x", "z", "z"),
    "softmax": GradNames("z", "z", "\\hat{y}", "\\hat{y}"),
    "maxpool": GradNames("x", "X", "p", "P"),
    "avgpool": GradNames("x", "X", "p", "P"),
    "globalavgpool": GradNames("x", "X", "p", "P"),
    "conv1x1": GradNames("x", "X", "y", "Y"),
    "flatten": GradNames("x", "X", "v", "v"),
}
_ACTIVATION = GradNames("z", "Z", "a", "A")
# f' as written: ReLU', σ', tanh'
DERIVATIVES = {**{k: f"{v}'" for k, v in NAMES.items()}, "identity": "\\text{id}'"}


class LayerGradWriter(GradBase):
    """Rows of a dense, activation, pooling, 1x1, flatten or softmax layer's backward step."""

    @staticmethod
    def grad_names(grad: LayerGrad) -> GradNames:
        return _NAMES.get(grad.layer.kind, _ACTIVATION)

    @staticmethod
    def kind_title(layer) -> str:
        """The layer kind's name in a heading: dense, max pooling, 1×1 filter."""
        return type(layer).kinds[layer.kind].title

    @staticmethod
    def derivative(layer) -> str:
        """f' as written: ReLU', σ', tanh'."""
        return DERIVATIVES[layer.kind]

    def incoming(self, grad: LayerGrad) -> list[str]:
        """The gradient of the layer's output, as it arrives: `∂L/∂z = [...]`, or one map per channel."""
        names = self.grad_names(grad)
        vector = grad.upstream.data.ndim == 1
        return self.maps(self.dl(names.output_cell if vector else names.output_map), grad.upstream)

    def outgoing(self, grad: LayerGrad) -> list[str]:
        """The gradient of the layer's input, what it passes down: `∂L/∂X = [...]`."""
        names = self.grad_names(grad)
        vector = grad.input.data.ndim == 1
        return self.maps(self.dl(names.input_cell if vector else names.input_map), grad.input)

    # ---- dense ----

    def dense_weight_rows(self, grad: LayerGrad, k: int, limit: int) -> list[str]:
        """∂L/∂w_{k,d} = ∂L/∂z_k · x_d for the first `limit` inputs d of neuron k."""
        g, x = grad.upstream.reshape(-1), grad.forward.input.reshape(-1)
        assert grad.weights is not None
        return [self.product_row(self.dl(sub("w", k, d)), [g[k], x[d]], grad.weights[k, d]) for d in range(limit)]

    def dense_weight_grids(self, grad: LayerGrad) -> list[str]:
        """The weights' gradients laid out as the forward section lays out the weights: each neuron's grid like
        a one-channel input map (N_k), or the matrix W."""
        assert grad.weights is not None
        shape = grad.forward.input.shape
        if len(shape) == 3 and shape[0] == 1:
            return [
                f"{self.dl(sub('N', k))} = {self.grid(grad.weights[k].reshape(*shape)[0])}"
                for k in range(grad.weights.shape[0])
            ]
        return [f"{self.dl('W')} = {self.grid(grad.weights)}"]

    def dense_input_equation(self, grad: LayerGrad, d: int) -> str:
        """∂L/∂x_d = Σ_k w_{k,d} ∂L/∂z_k, each weight as the forward section writes it."""
        t = grad.back_terms(d)
        weights = grad.forward.weights[:, d]  # type: ignore[union-attr]
        return self.sum_equation(
            self.dl(sub("x", d)), weights, grad.upstream.reshape(-1), t.products, grad.input.reshape(-1)[d]
        )

    # ---- activations ----

    def activation_rows(self, grad: LayerGrad, limit: int) -> list[str]:
        """Each of the first `limit` cells: f'(z) from the forward values, then ∂L/∂z = ∂L/∂a · f'(z). With
        terms = "nonzero", cells whose ∂L/∂a is 0 are left out (they pass 0 on)."""
        rows: list[str] = []
        for index in self._cells(grad, limit):
            rows += self._activation_cell(grad, index)
        return rows

    def _cells(self, grad: LayerGrad, limit: int) -> list[tuple[int, ...]]:
        """The first `limit` cells of the layer's output, less those whose upstream gradient is 0 (unless
        terms = "all")."""
        shape = grad.upstream.shape
        found = [index for n, index in zip(range(limit), np.ndindex(*shape))]
        if self.settings.terms == "all":
            return found
        return [index for index in found if grad.upstream.data[index] != 0]

    def zero_cells(self, grad: LayerGrad, limit: int) -> int:
        """How many of the first `limit` cells are left out of the rows for a zero upstream gradient."""
        return min(limit, grad.upstream.data.size) - len(self._cells(grad, limit))

    def _activation_cell(self, grad: LayerGrad, index: tuple[int, ...]) -> list[str]:
        kind, shape = grad.layer.kind, grad.upstream.shape
        z, a = self.cell("z", index, shape), self.cell("a", index, shape)
        g, out = grad.upstream[index], grad.input[index]
        assert grad.local is not None
        local = grad.local[index]
        f = f"{DERIVATIVES[kind]}({z})"
        if kind in ("relu", "leaky_relu", "identity"):
            x_text, local_text = self.number(grad.forward.input[index]), self.exactly(local)
            texts, shown = [self.number(g), local_text], self.number(out)
            working = f"{DERIVATIVES[kind]}({x_text}) = " + " \\cdot ".join(parenthesised(t) for t in texts)
            return [f"{self.dl(z)} &= {self.dl(a)} \\cdot {working} {self.scaled(texts, Fraction(1), shown)} {shown}"]
        y, slope = self.number(grad.forward.output[index]), self.number(local)
        if kind == "sigmoid":
            exact = _times(fraction(y), _minus(Fraction(1), fraction(y)))
            derivative = f"{f} &= {a}(1 - {a}) = {y}\\,(1 - {y}) {relation_of(exact, slope)} {slope}"
        else:  # tanh
            exact = _minus(Fraction(1), _times(fraction(y), fraction(y)))
            derivative = f"{f} &= 1 - {a}^2 = 1 - {parenthesised(y)}^2 {relation_of(exact, slope)} {slope}"
        return [derivative, self.product_row(self.dl(z), [g, local], out, f"{self.dl(a)} \\cdot {f}")]

    def activation_grids(self, grad: LayerGrad) -> list[str]:
        """Per channel (or for the vector): z, f'(z), ∂L/∂a and ∂L/∂z side by side."""
        assert grad.local is not None
        kind = grad.layer.kind
        x, local, g, out = grad.forward.input, grad.local, grad.upstream, grad.input
        if x.data.ndim == 1:
            parts = [(x, local, g, out, "")]
        else:
            parts = [
                (x[c], local[c], g[c], out[c], f"_{{{c + 1}}}" if x.shape[0] > 1 else "") for c in range(x.shape[0])
            ]
        shown_local = self.exact_grid if kind in ("relu", "leaky_relu", "identity") else self.grid
        z_name = "z" if x.data.ndim == 1 else "Z"
        a_name = "a" if x.data.ndim == 1 else "A"
        return [
            self.fit(
                gathered=False,
                items=[
                    f"{z_name}{c} = {self._array(xc)}",
                    f"{DERIVATIVES[kind]}({z_name}{c}) = {shown_local(lc if lc.data.ndim > 1 else lc.reshape(1, -1))}",
                    f"{self.dl(a_name + c)} = {self._array(gc)}",
                    f"{self.dl(z_name + c)} = {self._array(oc)}",
                ],
            )
            for xc, lc, gc, oc, c in parts
        ]

    def _array(self, v: Values) -> str:
        return self.grid(v) if v.data.ndim > 1 else self.vector(v)

    def exact_grid(self, v: Values) -> str:
        """A grid of masks or shares, each written as the exact number it is (1, 0, 0.25)."""
        flat = v.reshape(-1)
        return self._grid([self.exactly(flat[k]) for k in range(flat.data.size)], v.shape[-1])

    # ---- softmax, when the loss is not taken with it ----

    def softmax_rows(self, grad: LayerGrad) -> list[str]:
        """∂L/∂z_i = ŷ_i (∂L/∂ŷ_i - Σ_j ∂L/∂ŷ_j ŷ_j), each ŷ and ∂L/∂ŷ as carried."""
        y, g, out = grad.forward.output, grad.upstream, grad.input
        n = y.data.size
        ys, gs = [self.number(y[j]) for j in range(n)], [self.number(g[j]) for j in range(n)]
        inner = " + ".join(f"{parenthesised(gs[j])} \\cdot {ys[j]}" for j in range(n))
        dot = sum((_times(fraction(gs[j]), fraction(ys[j])) or Fraction(0) for j in range(n)), Fraction(0))
        rows = []
        for i in range(n):
            exact = _times(fraction(ys[i]), _minus(fraction(gs[i]), dot))
            shown = self.number(out[i])
            working = f"{ys[i]}\\,\\bigl({gs[i]} - ({inner})\\bigr)"
            rows.append(f"{self.dl(sub('z', i))} &= {working} {relation_of(exact, shown)} {shown}")
        return rows

    # ---- the 1x1 filter ----

    def mix_weight_equation(self, grad: LayerGrad, c: int) -> str:
        """∂L/∂w_c = Σ_{i,j} ∂L/∂y_{i,j} x_{c,i,j}: the pairs (their products left out when zero), then the
        total as carried."""
        assert grad.weights is not None
        g, x = grad.upstream[0].reshape(-1), grad.forward.input[c].reshape(-1)
        keep = [k for k in range(g.data.size) if self.settings.terms == "all" or (g.data[k] != 0 and x.data[k] != 0)]
        pairs = [(self.number(g[k]), self.number(x[k])) for k in keep]
        exact = _sum([_times(fraction(a), fraction(b)) for a, b in pairs])
        terms = [f"{parenthesised(a)} \\cdot {parenthesised(b)}" for a, b in pairs]
        return self.sum_of(self.dl(sub("w", c)), terms, self.number(grad.weights[c]), exact)

    def bias_sum(self, lhs: str, g: Values, shown: Values) -> str:
        """∂L/∂b = the sum of the gradients of every output cell the bias is added to (zeros left out)."""
        flat = g.reshape(-1)
        texts = [self.number(flat[k]) for k in range(flat.data.size) if self.settings.terms == "all" or flat.data[k]]
        return self.sum_of(lhs, texts, self.number(shown), _sum([fraction(t) for t in texts]))

    def mix_input(self, grad: LayerGrad, c: int) -> str:
        """∂L/∂X_c = w_c ∂L/∂Y, map by map."""
        w = grad.forward.weights[c]  # type: ignore[union-attr]
        g, out = grad.upstream[0], grad.input[c]
        weight = fraction(self.number(w))
        every = all(
            self.scaled([self.number(g.reshape(-1)[k])], weight, self.number(out.reshape(-1)[k])) == "="
            for k in range(g.data.size)
        )
        name = self.map_name("X", c, grad.input.shape[0])
        relation = "=" if every else "\\approx"
        return (
            f"{self.dl(name)} = {sub('w', c)}\\, {self.dl('Y')} = {parenthesised(self.number(w))} \\cdot "
            f"{self.grid(g)} {relation} {self.grid(out)}"
        )


def _times(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    return None if a is None or b is None else a * b


def _minus(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    return None if a is None or b is None else a - b


def _sum(values: list[Fraction | None]) -> Fraction | None:
    if any(v is None for v in values):
        return None
    return sum((v for v in values if v is not None), Fraction(0))
