"""Name the known mistake behind a wrong stage, and say when a wrong answer is too trivial to follow from.

A wrong stage is compared with what each known mistake (`mistakes.py`) gives there: made where it was made,
from the worked solution's values, or made in this very stage, from the student's own earlier values. Two
slips of writing are tried on the answer itself: the map written down its columns, and every cell rounded to
fewer places than the problem asks. The one that reproduces most of the student's cells is named, if it
explains more cells than the right values do and at least half of them.

Early rounding (`early_values`, `early_tolerance`): a value worked from exponentials kept to fewer significant
figures than the problem's places need is what those rounded exponentials give, and a value written to
significant figures is within half a unit of its own last figure: either is right, "rounded early".

A wrong answer that no mistake explains is degenerate when it is all zeros, a copy of the input, or of a shape
nothing known gives: the stages after it earn no follow-through from it. Plain data, no formatting.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np

from ..core.numbers import Values
from ..core.spec import Problem
from ..core.stages import Stage
from ..core.trace import Trace
from .mistakes import Mistake, catalogue, outputs, run_or_none
from .working import Answer


class Diagnosis(NamedTuple):
    name: str  # the mistake, as the report says it
    layer: int  # where it was made
    matched: int  # how many of the student's cells it reproduces
    cells: int
    own: bool  # made in this stage, from the student's own earlier values
    also: tuple[str, ...]  # other mistakes that give the same values


class _Candidate(NamedTuple):
    """A mistake that might explain a stage, with what decides between candidates."""

    matched: int  # how many of the student's cells it reproduces
    own: bool  # made in this stage (from the student's own earlier values, or in writing the stage down)
    distance: int  # how many layers before this stage it was made: the nearer, the likelier
    name: str
    layer: int


class Diagnoser:
    """One problem's known mistakes, each run through the network once, and the one behind a wrong stage."""

    def __init__(self, problem: Problem, right: Trace, tolerance: float):
        self.problem = problem
        self.trace = right  # the worked solution, as the problem's settings round it
        self.tolerance = tolerance
        self.mistakes = catalogue(problem, problem.settings)
        self._mistaken: list[list[Values | None]] | None = None

    @property
    def mistaken(self) -> list[list[Values | None]]:
        """Each mistake's output at every layer (made once, on first need)."""
        if self._mistaken is None:
            self._mistaken = [outputs(m.layers, self.problem.input, m.settings) for m in self.mistakes]
        return self._mistaken

    def diagnose(
        self, s: Stage, written: np.ndarray, basis: Values | None, right: int, seen: frozenset[str], answer: Answer
    ) -> Diagnosis | None:
        """The known mistake that reproduces most of the stage, if it explains more than the right values
        do (`right` cells) and at least half of the cells answered (a blank cell, NaN in `written`, is
        reproduced by nothing); among equals, one the student already made (`seen`), then one made in this
        stage, then the one made nearest to it. `basis` is the student's own values coming into the layer,
        when they differ from the worked solution's."""
        truth = s.of(self.trace.layers[s.layer - 1].output)
        answered = int(np.count_nonzero(~np.isnan(written)))
        candidates = self._made_before(s, written, truth) + self._made_here(s, written, basis, truth)
        candidates += [self._swapped(s, written, truth), self._rounded(s, written, answer)]
        found = [f for f in candidates if f is not None and f.matched > right and 2 * f.matched >= answered]
        if not found:
            return None
        found.sort(key=lambda f: (-f.matched, f.name not in seen, not f.own, f.distance))
        best = found[0]
        also = tuple(dict.fromkeys(f.name for f in found[1:] if f.matched == best.matched and f.name != best.name))
        return Diagnosis(best.name, best.layer, best.matched, answered, best.own, also)

    def _made_before(self, s: Stage, written: np.ndarray, truth: Values) -> list[_Candidate | None]:
        """Each mistake made at or before this stage's layer, carried on from there without another."""
        return [
            self._candidate(s, written, values[s.layer - 1], truth, m, own=False)
            for m, values in zip(self.mistakes, self.mistaken)
            if m.layer <= s.layer and values[s.layer - 1] is not None
        ]

    def _made_here(self, s: Stage, written: np.ndarray, basis: Values | None, truth: Values) -> list[_Candidate | None]:
        """Each mistake of this stage's layer, made on the student's own earlier values."""
        if basis is None:
            return []
        found = []
        for m in self.mistakes:
            if m.layer == s.layer:
                values = run_or_none(s.layer, m.layers[s.layer - 1], basis, m.settings)
                if values is not None:
                    found.append(self._candidate(s, written, values, truth, m, own=True))
        return found

    def _candidate(
        self, s: Stage, written: np.ndarray, output: Values | None, truth: Values, m: Mistake, own: bool
    ) -> _Candidate | None:
        values = part(s, output)
        if values is None or values.shape != written.shape:
            return None
        if values.shape == truth.shape and close(values.floats(), truth, self.tolerance).all():
            return None  # this mistake changes nothing here
        matched = int(close(written, values, self.tolerance).sum())
        return _Candidate(matched, own, s.layer - m.layer, m.name, m.layer)

    def _swapped(self, s: Stage, written: np.ndarray, truth: Values) -> _Candidate | None:
        """A square map written down its columns instead of along its rows."""
        if not (written.ndim == 2 and written.shape[0] == written.shape[1] and truth.data.ndim == 2):
            return None
        turned = Values(truth.data.T, truth.scale, truth.places)
        if np.array_equal(turned.data, truth.data):
            return None
        matched = int(close(written, turned, self.tolerance).sum())
        return _Candidate(matched, True, 0, "rows and columns swapped: the map written down its columns", s.layer)

    def _rounded(self, s: Stage, written: np.ndarray, answer: Answer) -> _Candidate | None:
        """The stage written to fewer places than the problem asks: a candidate, if every cell is
        the worked solution's value rounded to the student's own number of places."""
        blank = answer.blank or (False,) * len(answer.written)
        written_places = {places(t) for t, b in zip(answer.written, blank) if not b}
        d = self.problem.settings.decimals
        if len(written_places) != 1 or not 0 <= next(iter(written_places)) < d:
            return None
        p = written_places.pop()
        truth = s.of(self.trace.layers[s.layer - 1].output).floats()
        if truth.shape != written.shape or np.allclose(truth, np.round(truth, p), atol=self.tolerance):
            return None  # the right values need no more places than the student gave
        matched = int(np.sum(np.abs(written - _round_half_away(truth, p)) <= 0.5 * 10.0**-p * 1e-6 + 1e-9))
        return _Candidate(matched, True, 0, f"rounded to {p} decimal place{'s' * (p != 1)} instead of {d}", s.layer)

    def degenerate(self, written: np.ndarray, s: Stage, implied: Values | None = None) -> str:
        """Why a wrong answer no mistake explains is too trivial to follow through from, or "" if it is not.
        `implied` is what the student's own earlier values give for the layer."""
        if written.shape != s.shape and not self._shape_explained(written.shape, s, implied):
            return f"{shape_words(written.shape, s.shape)}, and no known mistake gives that shape"
        given = written[~np.isnan(written)]
        if given.size > 1 and not given.any():
            return "every value is 0"
        image = self.problem.input.floats()
        if any(written.shape == image[c].shape and np.array_equal(written, image[c]) for c in range(image.shape[0])):
            return "a copy of the input image"
        return ""

    def _shape_explained(self, shape: tuple[int, ...], s: Stage, implied: Values | None) -> bool:
        """Whether a known mistake, or the student's own earlier values, give a stage of this shape."""
        parts = [part(s, values[s.layer - 1]) for m, values in zip(self.mistakes, self.mistaken) if m.layer <= s.layer]
        return any(p is not None and p.shape == shape for p in parts + [part(s, implied)])


def shape_words(written: tuple[int, ...], stage: tuple[int, ...]) -> str:
    """An answer of the wrong shape, in words: "a 3×3 answer where the stage is 4×4"."""
    return f"{_a(_dims(written))} answer where the stage is {_dims(stage)}"


def close(written: np.ndarray, values: Values | None, tolerance: float | np.ndarray) -> np.ndarray:
    """Which written cells are within `tolerance` of `values`: none when there are no values, when their
    shape differs, or when they are symbols."""
    if values is None or values.shape != written.shape or values.symbolic:
        return np.zeros(written.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.abs(written - values.floats()) <= tolerance


def part(s: Stage, output: Values | None) -> Values | None:
    """A stage's part of an output that may not have the worked solution's shape (but has its layout)."""
    if output is None or output.data.ndim != len(s.index) + len(s.shape):
        return None
    if s.index and s.index[0] >= output.shape[0]:
        return None
    return s.of(output)


def early_tolerance(answer: Answer, figures: int, decimals: int, tolerance: float) -> np.ndarray:
    """Per cell, how far from the value it stands for a written cell may be: half a unit in its own last place
    when it is written to fewer places than the problem asks but to at least `figures` significant figures
    (rounded to significant figures), else the problem's own tolerance."""
    found = np.full(answer.values.shape, tolerance, dtype=float)
    if figures <= 0:
        return found
    for k, text in enumerate(answer.written):
        p = places(text)
        if p < decimals and significant(text) >= figures:
            found.flat[k] = max(0.5 * 10.0**-p + 1e-9, tolerance)
    return found


def early_values(kind: str, x: np.ndarray, figures: int) -> list[np.ndarray]:
    """What a layer gives, in full, when a student keeps each exponential worked out along the way (e^-z or e^z
    in a sigmoid, e^z in a softmax, shifted or not, e^-2z or e^z and e^-z in a tanh) to `figures` significant
    figures, or to one, two or three more: one array for each way, for a layer with exponentials (else none).
    `x` is the layer's input."""
    ways = _EXPONENTIALS.get(kind)
    if ways is None or figures <= 0:
        return []
    found = []
    with np.errstate(all="ignore"):  # e^z of a large z is inf: a way that overflows gives NaN, close to nothing
        for kept in range(figures, figures + 4):
            found += [way(np.asarray(x, dtype=float), partial(_to_figures, figures=kept)) for way in ways]
    return found


def _to_figures(e: np.ndarray, figures: int) -> np.ndarray:
    """Each (positive) value rounded half away from zero to `figures` significant figures."""
    unit = 10.0 ** (np.floor(np.log10(np.where(e > 0, e, 1.0))) - figures + 1)
    return np.where(e > 0, np.floor(e / unit + 0.5) * unit, e)


def _softmax(z: np.ndarray, kept, shift: bool) -> np.ndarray:
    z = z.reshape(-1)
    e = kept(np.exp(z - (z.max() if shift and z.size else 0.0)))
    return e / e.sum()


# The ways a student works each layer with exponentials: `kept` rounds each exponential as they keep it.
_EXPONENTIALS = {
    "sigmoid": (lambda z, kept: 1 / (1 + kept(np.exp(-z))), lambda z, kept: (v := kept(np.exp(z))) / (1 + v)),
    "tanh": (
        lambda z, kept: (1 - (u := kept(np.exp(-2 * z)))) / (1 + u),
        lambda z, kept: ((a := kept(np.exp(z))) - (b := kept(np.exp(-z)))) / (a + b),
    ),
    "softmax": (lambda z, kept: _softmax(z, kept, False), lambda z, kept: _softmax(z, kept, True)),
}


def significant(text: str) -> int:
    """Significant figures as written: 0.0158 has 3, 0.50 has 2, 12.30 has 4, -7 has 1; a fraction has none
    to speak of (0)."""
    digits = text.lstrip("+-")
    if "/" in digits or "e" in digits.lower() or not digits.replace(".", "").isdigit():
        return 0
    return len(digits.replace(".", "").lstrip("0"))


def places(text: str) -> int:
    """Decimal places as written: 0.95 has 2; 3 and 1/2 have none to speak of (0)."""
    digits = text.lstrip("+-")
    return len(digits.split(".", 1)[1]) if "." in digits and "/" not in digits and "e" not in digits.lower() else 0


def _round_half_away(x: np.ndarray, places: int) -> np.ndarray:
    unit = 10.0**places
    return np.sign(x) * np.floor(np.abs(x) * unit + 0.5 + 1e-9) / unit


def _a(words: str) -> str:
    """ "a" or "an" before a size as it is read aloud: an 8×8, a 4×4, an 11×2."""
    return ("an " if words[:1] == "8" or words.startswith(("11", "18")) else "a ") + words


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape)) if shape else "single-number"
