"""The backward pass, the family's face: the loss and where its gradient starts, and the update of every weight;
each layer's step is written by _grad_layers (dense, activations, 1x1, flatten, softmax), _grad_pool (pooling) and
_grad_conv (convolutions), on the shared rows and signs of _grad_base.

Every number written is a record's (core.gradients: LossTrace, LayerGrad, Update), to the places the forward pass
writes its own: exact values exactly, rounded ones with their places, full floats to `decimals`. Only `=` or `≈`
is decided here, from what is written (_grad_base).
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple

from ...core.numbers import write_exact
from ._grad_base import fraction, relation_of
from ._grad_conv import ConvGradWriter
from ._grad_layers import LayerGradWriter
from ._grad_pool import PoolGradWriter
from ._text import lines, parenthesised, signed_join, sub

if TYPE_CHECKING:
    from ...core.gradients import LayerGrad, LossTrace, Training, Update
    from ...core.train import Train

# The most rows of the table of losses in one display, which does not break across pages.
TABLE_ROWS = 25
# Each loss as this problem uses it: the formula, and how it is said in words (train.py states the conventions).
LOSS_FORMULAS = {
    "cross_entropy": "L = -\\sum_i y_i \\ln \\hat{y}_i",
    "mse": "L = \\frac{1}{n} \\sum_i (\\hat{y}_i - y_i)^2",
    "half_sse": "L = \\tfrac{1}{2} \\sum_i (\\hat{y}_i - y_i)^2",
    "binary_cross_entropy": (
        "L = -\\frac{1}{n} \\sum_i \\bigl[y_i \\ln \\hat{y}_i + (1 - y_i) \\ln(1 - \\hat{y}_i)\\bigr]"
    ),
}
LOSS_WORDS = {
    "cross_entropy": "cross-entropy, with the natural logarithm, summed over the classes (PyTorch's CrossEntropyLoss)",
    "mse": "the mean squared error, the mean over the $n$ outputs (PyTorch's MSELoss)",
    "half_sse": "half the sum of the squared errors",
    "binary_cross_entropy": "binary cross-entropy, with the natural logarithm, the mean over the $n$ outputs "
    "(PyTorch's BCELoss)",
}


# What a loss's convention makes of its gradient, said after its formula.
LOSS_NOTES = {"half_sse": ", so that $\\partial L/\\partial \\hat{y}_i = \\hat{y}_i - y_i$"}


class UpdateRows(NamedTuple):
    """An array's update rows, by group (a filter's grid, a neuron's weights), and how many cells were left out."""

    groups: list[list[str]]
    left: int


class BackwardWriter(ConvGradWriter, LayerGradWriter, PoolGradWriter):
    """The loss, the gradient it starts, and the update; the layers' steps from the two families mixed in."""

    @staticmethod
    def loss_formula(kind: str) -> str:
        return LOSS_FORMULAS[kind]

    @staticmethod
    def loss_words(kind: str) -> str:
        return LOSS_WORDS[kind]

    @staticmethod
    def loss_note(kind: str) -> str:
        return LOSS_NOTES.get(kind, "")

    @staticmethod
    def rate(train: Train) -> str:
        """The learning rate η as written: 0.1, or a fraction."""
        return write_exact(train.learning_rate.numerator, train.learning_rate.denominator)

    def loss_equation(self, loss: LossTrace) -> str:
        """L worked from the output and the target: each output's term, then their total."""
        n = loss.output.data.size
        p = [self.number(loss.output[i]) for i in range(n)]
        y = [parenthesised(self.number(loss.target[i])) for i in range(n)]
        terms = [self.number(loss.terms[i]) for i in range(n)]
        total = self.number(loss.value)
        if loss.kind == "cross_entropy":
            return self._cross_entropy(loss, p, y, terms)
        written = [self._loss_term(loss.kind, p[i], y[i]) for i in range(n)]
        every = all(relation_of(self._term_value(loss.kind, p[i], y[i]), terms[i]) == "=" for i in range(n))
        mean = loss.kind in ("mse", "binary_cross_entropy") and n > 1
        scale = f"\\tfrac{{1}}{{{n}}}" if mean else ""
        steps = [("=", _bracketed(written, scale)), ("=" if every else "\\approx", _bracketed(terms, scale))]
        steps.append((self._after(loss, terms, n if mean else 1), [total]))
        return self.steps_equation("L", steps)

    def _cross_entropy(self, loss: LossTrace, p: list[str], y: list[str], terms: list[str]) -> str:
        """-ln ŷ_k for a class target; -Σ y_i ln ŷ_i over the targets that are not 0, their terms, the total."""
        total = self.number(loss.value)
        used = [i for i in range(len(p)) if loss.target.data[i] != 0]
        written = [f"-\\ln {p[i]}" if fraction(y[i]) == 1 else f"-{y[i]} \\ln {p[i]}" for i in used]
        hats = [sub("\\hat{y}", i) for i in used]
        named = [signed_join([f"-\\ln {h}" for h in hats])] if all(fraction(y[i]) == 1 for i in used) else []
        steps = [("=", named)] if named else []
        steps.append(("=", _wrapped(written)))
        if len(used) > 1:
            steps.append(("\\approx", _wrapped([terms[i] for i in used])))
            steps.append((self._after(loss, [terms[i] for i in used]), [total]))
        else:  # a logarithm is exact only at 1: -ln 1 = 0
            exact = Fraction(0) if used and fraction(p[used[0]]) == 1 and fraction(y[used[0]]) == 1 else None
            steps.append((relation_of(exact, total), [total]))
        return self.steps_equation("L", steps)

    def _after(self, loss: LossTrace, terms: list[str], n: int = 1) -> str:
        """The sign before the loss: its written terms added up (and divided by n for a mean)."""
        total = Fraction(0)
        for t in terms:
            value = fraction(t)
            if value is None:
                return "\\approx"
            total += value
        return relation_of(total / n, self.number(loss.value))

    @staticmethod
    def _loss_term(kind: str, p: str, y: str) -> str:
        if kind == "half_sse":
            return f"\\tfrac{{1}}{{2}}({p} - {y})^2"
        if kind == "mse":
            return f"({p} - {y})^2"
        if fraction(y) == 1:  # binary cross-entropy
            return f"-\\ln {p}"
        if fraction(y) == 0:
            return f"-\\ln(1 - {p})"
        return f"-\\bigl({y} \\ln {p} + (1 - {y}) \\ln(1 - {p})\\bigr)"

    @staticmethod
    def _term_value(kind: str, p: str, y: str) -> Fraction | None:
        """A squared error's exact value from the written output and target; None for a logarithm."""
        a, b = fraction(p), fraction(y)
        if kind not in ("half_sse", "mse") or a is None or b is None:
            return None
        return (a - b) ** 2 / (2 if kind == "half_sse" else 1)

    def start_rows(self, loss: LossTrace) -> list[str]:
        """The gradient the backward pass starts from, output by output: ∂L/∂z_i = ŷ_i - y_i (softmax with
        cross-entropy), (ŷ_i - y_i)/n (sigmoid with binary cross-entropy), or ∂L/∂ŷ_i."""
        n = loss.output.data.size
        rows = []
        for i in range(n):
            p, y, g = self.number(loss.output[i]), parenthesised(self.number(loss.target[i])), self.number(loss.grad[i])
            difference = _minus(fraction(p), fraction(y))
            yhat, target = sub("\\hat{y}", i), sub("y", i)
            if loss.kind == "cross_entropy":
                lhs, formula, working, exact = sub("z", i), f"{yhat} - {target}", f"{p} - {y}", difference
            elif loss.kind == "binary_cross_entropy":
                lhs, formula = sub("z", i), _over(f"{yhat} - {target}", n)
                working, exact = _over(f"{p} - {y}", n), None if difference is None else difference / n
            elif loss.kind == "half_sse":
                lhs, formula, working, exact = yhat, f"{yhat} - {target}", f"{p} - {y}", difference
            else:  # mse
                scale = f"\\tfrac{{2}}{{{n}}}" if n > 1 else "2"
                lhs, formula, working = yhat, f"\\tfrac{{2}}{{n}}({yhat} - {target})", f"{scale}({p} - {y})"
                exact = None if difference is None else 2 * difference / n
            rows.append(f"{self.dl(lhs)} &= {formula} = {working} {relation_of(exact, g)} {g}")
        return rows

    # ---- the update ----

    def update_rows(self, u: Update, rate: Fraction) -> UpdateRows:
        """`w ← w - η ∂L/∂w (=|≈) new`, in groups of one filter's (and channel's) grid, one neuron's weights, or
        the whole vector; as many groups and cells in full as `detail` asks, as the forward pass works windows."""
        old, grad, new = u.old.reshape(-1), u.grad.reshape(-1), u.new.reshape(-1)
        names = self.parameter_names(u)
        eta = write_exact(rate.numerator, rate.denominator)
        shape = u.old.shape
        size = shape[-2] * shape[-1] if u.name == "filters" else (shape[-1] if len(shape) == 2 else len(names))
        count = len(names) // size
        groups = count if u.name == "filters" else self.settings.worked_in_full(count)
        each = self.settings.worked_in_full(size)
        rows = []
        for group in range(groups):
            found = []
            for k in range(group * size, group * size + each):
                w, g, shown = self.number(old[k]), self.number(grad[k]), self.number(new[k])
                a, b = fraction(w), fraction(g)
                exact = None if a is None or b is None else a - rate * b
                found.append(
                    f"{names[k]} &\\leftarrow {w} - {eta} \\cdot {parenthesised(g)} {relation_of(exact, shown)} {shown}"
                )
            rows.append(found)
        return UpdateRows(rows, len(names) - groups * each)

    def parameter_names(self, u: Update) -> list[str]:
        """Each cell's name, in reading order: w_{k,d} (dense), K_f[u,v] or K_{f,c}[u,v] (filters), w_c (1x1),
        b_k."""
        shape = u.old.shape
        if u.name == "bias":
            return [sub("b", k) for k in range(shape[0])]
        if u.name == "filters":
            f, c, kh, kw = shape
            return [
                f"{sub('K', i) if c == 1 else sub('K', i, j)}[{r + 1},{s + 1}]"
                for i in range(f)
                for j in range(c)
                for r in range(kh)
                for s in range(kw)
            ]
        if len(shape) == 2:
            return [sub("w", k, d) for k in range(shape[0]) for d in range(shape[1])]
        return [sub("w", c) for c in range(shape[0])]

    def updated_arrays(self, u: Update, grad: LayerGrad) -> list[str]:
        """The updated array as the forward section shows its weights: filters K_f, a dense layer's neurons N_k
        laid out like a one-channel input (else W), a 1x1 filter's w, biases b."""
        new = u.new
        if u.name == "bias":
            return [f"b = {self.vector(new)}"]
        if u.name == "filters":
            f, c = new.shape[:2]
            return [
                f"{sub('K', i) if c == 1 else sub('K', i, j)} = {self.grid(new[i, j])}"
                for i in range(f)
                for j in range(c)
            ]
        if new.data.ndim == 1:
            return [f"w = {self.vector(new)}"]
        shape = grad.forward.input.shape
        if len(shape) == 3 and shape[0] == 1:
            return [f"{sub('N', k)} = {self.grid(new[k].reshape(*shape)[0])}" for k in range(new.shape[0])]
        return [f"W = {self.grid(new)}"]

    def loss_table(self, training: Training) -> list[str]:
        """The loss before each step and after the last, as arrays of at most TABLE_ROWS rows."""
        values = [(str(s.step), s.loss.value) for s in training.steps]
        values.append((f"\\text{{after }}{len(training.steps)}", training.final.value))
        rows = [f"{step} & {self.number(v)}" for step, v in values]
        head = "\\text{step} & L \\\\ \\hline "
        return [
            "\\begin{array}{rl} " + head + " \\\\ ".join(rows[k : k + TABLE_ROWS]) + " \\end{array}"
            for k in range(0, len(rows), TABLE_ROWS)
        ]


def _wrapped(pieces: list[str]) -> list[str]:
    return lines(pieces, 4, signed_join)


def _bracketed(pieces: list[str], scale: str) -> list[str]:
    """Terms added, on lines of a few, inside `scale(...)` when there is a scale."""
    written = _wrapped(pieces)
    if not scale:
        return written
    written[0] = f"{scale}\\bigl({written[0]}"
    written[-1] = f"{written[-1]}\\bigr)"
    return written


def _over(text: str, n: int) -> str:
    return f"({text})" if n == 1 else f"\\frac{{{text}}}{{{n}}}"


def _minus(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    return None if a is None or b is None else a - b
