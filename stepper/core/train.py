"""The `[train]` table: what the network is trained towards, by which loss, how far each step goes.

    [train]
    target = 1                  # a class (counted from 1, as the documents count), or a vector: [0.01, 0.99]
    loss = "cross_entropy"      # after softmax; "mse", "half_sse" (Mazur's 1/2 sum of squares),
                                # "binary_cross_entropy" (after sigmoid)
    learning_rate = 0.5
    steps = 1                   # gradient-descent steps worked (the first in full, the rest as a loss table)
    update_bias = true          # false: the biases stay as they are (Mazur's example)
    ties = "first"              # max pooling: a tied window's gradient goes to its first maximum ("all": to each)

Each loss's convention is stated here once and printed in every solution's "Conventions" box:
    cross_entropy          L = -sum y_i ln(yhat_i)                       (natural log; PyTorch's CrossEntropyLoss)
    mse                    L = (1/n) sum (yhat_i - y_i)^2                (PyTorch's MSELoss, mean)
    half_sse               L = 1/2 sum (yhat_i - y_i)^2                  (Mazur; dL/dyhat = yhat - y)
    binary_cross_entropy   L = -(1/n) sum [y ln yhat + (1-y) ln(1-yhat)] (PyTorch's BCELoss, mean)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

from . import reading
from .choices import LOSSES, TIES
from .errors import StepperError, suggestion
from .numbers import Values, is_sympy

if TYPE_CHECKING:
    from .spec import Problem

TRAIN_FIELDS = ("target", "loss", "learning_rate", "steps", "update_bias", "ties")
# The most gradient-descent steps a problem may ask for: each is a forward and a backward pass.
MAX_STEPS = 1000
# The loss that must follow a given last layer, when the loss needs one.
_LAST_LAYER = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}
# The learning rate of a [train] table that gives none.
_RATE = Fraction(1, 10)


@dataclass(frozen=True, eq=False)
class Train:
    target: Values  # y, shaped like the network's output (a class becomes its one-hot vector)
    target_class: int | None  # the class as written (counted from 1), when the target was given as one
    loss: str = "cross_entropy"
    learning_rate: Fraction = _RATE
    steps: int = 1
    update_bias: bool = True
    ties: str = "first"

    @property
    def combined(self) -> bool:
        """Whether the loss's gradient is taken straight to the last layer's input: softmax with cross-entropy
        and sigmoid with binary cross-entropy both give (yhat - y) there, shown and justified once."""
        return self.loss in _LAST_LAYER


def read_train(raw, problem: Problem) -> Train:
    """The [train] table of a problem file, checked against the network it trains."""
    if not isinstance(raw, dict):
        raise StepperError(f"expected a [train] table, found {reading.shown(raw)}", place="field 'train'")
    try:
        reading.known_fields(raw, set(TRAIN_FIELDS), "[train]")
    except StepperError as e:
        raise e.located(place="[train]") from None
    if problem.input.symbolic or any(v.symbolic for v in _arrays(problem)):
        raise StepperError("training needs numbers: the input or a layer holds symbols", place="[train]")
    loss = raw.get("loss", "cross_entropy")
    if loss not in LOSSES:
        raise StepperError(
            f"{suggestion(loss, LOSSES) if isinstance(loss, str) else ''}expected one of "
            f"{', '.join(map(repr, LOSSES))}, found {reading.shown(loss)}",
            place="[train] field 'loss'",
        )
    last = problem.layers[-1].kind if problem.layers else None
    needed = _LAST_LAYER.get(loss)
    if needed is not None and last != needed:
        raise StepperError(
            f"{loss} expects the network to end with a {needed} layer, but its last layer is "
            f"{last or 'missing'}: add a {needed} layer or choose loss = 'mse' or 'half_sse'",
            place="[train] field 'loss'",
        )
    outputs = problem.shapes()[-1]
    if len(outputs) != 1:
        raise StepperError(
            f"training needs the network to end in a vector, but its output is {'x'.join(map(str, outputs))} maps: "
            "add a flatten or dense layer",
            place="[train]",
        )
    if "target" not in raw:
        raise StepperError("missing field 'target': expected a class number (from 1) or a vector", place="[train]")
    target, target_class = _target(raw["target"], outputs[0], loss)
    rate = reading.number(raw["learning_rate"], "[train] field 'learning_rate'") if "learning_rate" in raw else _RATE
    if is_sympy(rate) or not 0 < rate <= 100:
        raise StepperError(
            f"expected a learning rate above 0 and at most 100, found {reading.shown(raw.get('learning_rate'))}",
            place="[train] field 'learning_rate'",
        )
    steps = raw.get("steps", 1)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise StepperError(
            f"expected a whole number of steps from 1 to {MAX_STEPS}, found {reading.shown(steps)}",
            place="[train] field 'steps'",
        )
    update_bias = raw.get("update_bias", True)
    if not isinstance(update_bias, bool):
        raise StepperError(
            f"expected true or false, found {reading.shown(update_bias)}", place="[train] field 'update_bias'"
        )
    ties = raw.get("ties", "first")
    if ties not in TIES:
        raise StepperError(
            f"expected 'first' (PyTorch) or 'all' (each tied cell), found {reading.shown(ties)}",
            place="[train] field 'ties'",
        )
    return Train(target, target_class, loss, Fraction(rate), steps, update_bias, ties)


def with_class(train: Train, k: int) -> Train:
    """The same training towards class k (counted from 1) instead: its one-hot vector as the target. A network
    of one output trains towards k itself, 0 or 1 (class 1 is target 1, as `target = 1` reads)."""
    n = train.target.shape[0]
    if n == 1 and k in (0, 1):
        return replace(train, target=reading.vector([k], "the target"), target_class=k or None)
    if not 1 <= k <= n:
        raise StepperError(f"expected a class from 1 to {n} (the network has {n} outputs), found {k}")
    return replace(train, target=reading.vector([int(j == k) for j in range(1, n + 1)], "the target"), target_class=k)


def _target(raw, n: int, loss: str) -> tuple[Values, int | None]:
    place = "[train] field 'target'"
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not 1 <= raw <= n:
            raise StepperError(
                f"expected a class from 1 to {n} (the network has {n} outputs), found {raw}", place=place
            )
        onehot = [int(k == raw) for k in range(1, n + 1)]
        return reading.vector(onehot, place), raw
    if isinstance(raw, (str, list)):
        target = reading.vector(raw, place, n, f"one per output of the network's {n}")
        if target.symbolic:
            raise StepperError("expected numbers, found a symbol", place=place)
        values = target.floats()
        if loss in ("cross_entropy", "binary_cross_entropy") and ((values < 0) | (values > 1)).any():
            raise StepperError(f"{loss} expects targets from 0 to 1, found {raw!r}", place=place)
        if loss == "cross_entropy" and abs(values.sum() - 1) > 1e-12:
            raise StepperError(
                f"cross_entropy expects the targets to add up to 1 (a probability for each class), "
                f"found a sum of {values.sum():g}",
                place=place,
            )
        return target, None
    raise StepperError(
        f"expected a class number (from 1) or a vector of {n} numbers, found {reading.shown(raw)}", place=place
    )


def _arrays(problem: Problem) -> list[Values]:
    from .spec import arrays

    return [a for layer in problem.layers for a in arrays(layer)]
