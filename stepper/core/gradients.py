"""The backward trace: plain immutable records of the loss, every layer's gradients, and the update.

As in the forward trace (trace.py), a layer's record holds arrays; the working of one gradient cell (a filter
weight's sum over the windows it touched, a cell of the full convolution that gives dL/dX, a dense input's sum
over the neurons) is made on demand from them as a `Terms`, the same record a forward neuron is written from.
Gradients are floats: they are worked from the forward pass's values as carried (rounded like a student's, or
in full), and rounded to the settings' places when rounding is carried.

Names: `upstream` is dL/d(the layer's output), `input` dL/d(its input), `weights` and `bias` dL/d(its
parameters), `local` the elementwise derivative (activations) or the share of a window each cell gets (pooling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .numbers import Values, floats
from .spec import Layer, Problem
from .stages import Stage
from .trace import LayerTrace, Terms, Trace
from .train import Train


@dataclass(frozen=True, eq=False)
class LossTrace:
    """L for one output: each output's term, their total, and the gradient the backward pass starts from."""

    kind: str  # the train's loss
    output: Values  # yhat, flat, as carried
    target: Values  # y, flat
    terms: Values  # each output's part of the loss, before the sum (and before 1/n for a mean)
    value: Values  # L, a scalar
    grad: Values  # dL/dyhat, or dL/dz of the last layer's input when `combined` (yhat - y, over n for BCE)
    combined: bool  # the gradient skips the last layer (softmax + cross-entropy, sigmoid + binary cross-entropy)


@dataclass(frozen=True, eq=False)
class LayerGrad:
    """One layer's backward step: from dL/d(output) to dL/d(input) and dL/d(its parameters)."""

    number: int  # 1-based, as the forward layer
    layer: Layer
    forward: LayerTrace  # the forward record: its input, padded input and output
    upstream: Values  # dL/d(output), shaped like the layer's output
    local: Values | None  # activations: f'(x) per cell; pooling: each input cell's share of its window(s)
    weights: Values | None  # dL/d(weights), shaped like the layer's weights (filters, dense rows, 1x1 weights)
    bias: Values | None  # dL/db
    input: Values  # dL/d(input), shaped like the layer's input
    spread: Values | None = None  # convolutions: the upstream spread stride apart and padded for the full convolution
    rotated: Values | None = None  # convolutions: the kernels as applied, turned 180 degrees

    # ---- a convolution's sums, one cell at a time ----

    def weight_terms(self, f: int, c: int, u: int, v: int) -> Terms:
        """dL/dK[f, c, u, v] = sum over output cells (i, j) of upstream[f, i, j] x padded[c, i s + u d, j s + v d]:
        every window filter cell (u, v) touched, as the kernel is applied."""
        conv = _conv_of(self.forward)
        (sh, sw), (dh, dw) = conv.layer.stride, conv.layer.dilation
        oh, ow = self.upstream.shape[1:]
        g = self.upstream.floats()[f].reshape(-1)
        x = conv.padded.floats()[c, u * dh : u * dh + (oh - 1) * sh + 1 : sh, v * dw : v * dw + (ow - 1) * sw + 1 : sw]
        total = float(g @ x.reshape(-1))
        return Terms(
            (f, c, u, v), floats(g), floats(x.reshape(-1)), floats(g * x.reshape(-1)), None, floats(np.array(total))
        )

    def input_terms(self, c: int, a: int, b: int) -> Terms:
        """dL/d(padded input)[c, a, b] as one window of the full convolution: the spread upstream gradient under
        the window at (a, b) times the kernels turned 180 degrees, over every filter."""
        assert self.spread is not None and self.rotated is not None, "a convolution's record"
        conv = _conv_of(self.forward)
        dh, dw = conv.layer.dilation
        kh, kw = self.rotated.shape[-2:]
        window = self.spread.floats()[:, a : a + (kh - 1) * dh + 1 : dh, b : b + (kw - 1) * dw + 1 : dw]
        kernel = self.rotated.floats()[:, c]
        products = (window * kernel).reshape(-1)
        return Terms(
            (c, a, b),
            floats(window.reshape(-1)),
            floats(kernel.reshape(-1)),
            floats(products),
            None,
            floats(products.sum()),
        )

    # ---- a dense layer's sums ----

    def back_terms(self, d: int) -> Terms:
        """dL/dx_d = sum over neurons k of W[k, d] x dL/dz_k."""
        weights = self.forward.weights.floats()[:, d]  # type: ignore[union-attr]
        g = self.upstream.floats().reshape(-1)
        return Terms((d,), floats(g), floats(weights), floats(g * weights), None, floats(np.array(g @ weights)))


def _conv_of(record: LayerTrace):
    """The convolution a convolution's or transposed convolution's backward step is worked on."""
    return getattr(record, "conv", record)


@dataclass(frozen=True, eq=False)
class Update:
    """One array of parameters moved against its gradient: new = old - rate x grad, cell by cell."""

    number: int  # the layer
    name: str  # the layer's field: "filters", "weights" or "bias"
    old: Values
    grad: Values
    new: Values  # as carried (rounded when rounding is carried)


@dataclass(frozen=True, eq=False)
class TrainingStep:
    """One step of gradient descent: the forward pass, the loss, the backward pass and the update."""

    step: int  # 1-based
    trace: Trace  # the forward pass with the weights before this step
    loss: LossTrace
    grads: tuple[LayerGrad, ...]  # in the order they are worked: the last layer first
    updates: tuple[Update, ...]  # in the order of the layers
    after: Problem  # the problem with the updated weights


@dataclass(frozen=True, eq=False)
class Training:
    train: Train
    steps: tuple[TrainingStep, ...]
    final: LossTrace  # the loss after the last update: one more forward pass

    @property
    def first(self) -> TrainingStep:
        return self.steps[0]

    @property
    def losses(self) -> tuple[float, ...]:
        """The loss before each step, and after the last: the table of a run of several steps."""
        return tuple(float(s.loss.value.floats()) for s in self.steps) + (float(self.final.value.floats()),)

    def value(self, stage: Stage) -> Values:
        """A backward stage's values in the first step (stages.backward_stages names them)."""
        step = self.first
        if stage.layer == 0:
            return step.loss.value
        what, _, _ = stage.part.partition(".")
        grad = self.grad(stage.layer)
        if what == "grad" and grad is not None:
            return stage._replace(part="").of(grad.upstream)
        if what == "dw" and grad is not None and grad.weights is not None:
            return _part(grad.weights, stage)
        if what == "db" and grad is not None and grad.bias is not None:
            return grad.bias
        for u in step.updates:
            if u.number == stage.layer and (u.name == "bias") == (what == "new_bias"):
                return u.new if what == "new_bias" else _part(u.new, stage)
        raise KeyError(stage.key)

    def grad(self, number: int) -> LayerGrad | None:
        """Layer `number`'s backward record in the first step, if it has one (a combined loss skips the last)."""
        return next((g for g in self.first.grads if g.number == number), None)


def _part(v: Values, stage: Stage) -> Values:
    """A stage's part of a parameter array, in the stage's shape (a dense neuron's row as its weight grid)."""
    return (v[stage.index] if stage.index else v).reshape(*stage.shape)
