"""The backward pass in every document format, for a problem with [train]: every number the Markdown prints for it
is checked against a plain numpy forward and backward pass written here (loss, each layer's gradients, the update,
several steps), and every line of working against its own arithmetic; the LaTeX compiles with pdflatex, KaTeX
renders every formula, the HTML page loads in Chromium with the section, the Beamer deck compiles with every frame,
Word takes it; and a problem without [train] shows none of it.

The three problems: the tutorial CNN trained one step (cross-entropy after softmax, carried rounding to 4 places),
Mazur's 2-2-2 network (half the summed squared errors, nine places in full, biases fixed), and two strided, padded
convolutions with biases trained three steps.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import cache

import numpy as np
import pytest

from stepper import load, loads, render, trace
from stepper.writing.latex import typeset
from tests.helpers import ROOT
from tests.helpers.katex import markdown_formulas, render_errors

STRIDED = '''title = "Two strided, padded convolutions, trained three steps"
input = """
1 0 2 1 0 3
2 1 0 1 2 1
0 3 1 2 1 0
1 2 0 1 3 2
2 0 1 0 1 1
3 1 2 2 0 1
"""

[settings]
decimals = 4
rounding = "full"
detail = "all"

[[layers]]
type = "conv2d"
stride = 2
padding = 1
bias = [0.5, -1]
filters = ["""
 1  0 -1
 0  1  0
-1  0  1
""", """
 0  1  0
 1 -1  1
 0  1  0
"""]

[[layers]]
type = "relu"

[[layers]]
type = "conv2d"
stride = 2
padding = 1
bias = [0.25]
filters = [["""
 0.5  0  -0.5
 0    1   0
-0.5  0   0.5
""", """
 0    0.5  0
 0.5  0   -0.5
 0   -0.5  0
"""]]

[[layers]]
type = "flatten"

[[layers]]
type = "dense"
weights = [[0.1, -0.2, 0.3, 0.05], [-0.1, 0.2, 0.1, -0.3]]
bias = [0.1, -0.1]

[[layers]]
type = "softmax"

[train]
target = 2
loss = "cross_entropy"
learning_rate = 0.05
steps = 3
'''

TEXTS = {
    "tutorial-train": (ROOT / "examples" / "tutorial-train.toml").read_text(encoding="utf-8"),
    "mazur-backprop": (ROOT / "examples" / "mazur-backprop.toml").read_text(encoding="utf-8"),
    "strided": STRIDED,
}
NAMES = list(TEXTS)
NUMBER = r"-?\d+(?:\.\d+)?"


# ---- an independent forward and backward pass, in plain numpy ----


def value(x) -> float:
    return float(Fraction(x)) if isinstance(x, str) else float(x)


def grid(raw) -> np.ndarray:
    """A grid from a string of rows, or nested lists."""
    if isinstance(raw, str):
        return np.array([[value(x) for x in row.split()] for row in raw.strip().splitlines()])
    return np.array(raw, dtype=float)


def filters(raw) -> np.ndarray:
    """(F, C, kh, kw): each filter a grid, or a list of one grid per channel."""
    return np.stack([np.stack([grid(g) for g in f]) if isinstance(f, list) else grid(f)[None] for f in raw])


class Reference:
    """The problem's training, worked with numpy: each rounding where a student rounds when rounding is carried
    (every value carried forward, every gradient carried back), to 12 significant figures first, as on paper."""

    def __init__(self, text: str):
        data = tomllib.loads(text)
        settings = data.get("settings", {})
        self.d, self.carry = settings.get("decimals", 4), settings.get("rounding", "carry") == "carry"
        self.layers = data["layers"]
        self.params = [self._params(layer) for layer in self.layers]
        self.x = grid(data["input"])[None]
        train = data["train"]
        self.loss_kind, self.rate = train["loss"], float(Fraction(str(train["learning_rate"])))
        self.update_bias = train.get("update_bias", True)
        n = self._run(self.params)[-1].size
        t = train["target"]
        self.y = np.eye(n)[t - 1] if isinstance(t, int) else np.array(t, dtype=float)
        self.steps = []
        params = self.params
        for _ in range(train.get("steps", 1)):
            step = self.step(params)
            self.steps.append(step)
            params = step["new"]
        self.final = self.loss(self._run(params)[-1])[1]

    def keep(self, a):
        if not self.carry:
            return np.asarray(a, dtype=float)
        unit = Decimal(1).scaleb(-self.d)
        rounded = [float(Decimal(f"{v:.12g}").quantize(unit, rounding=ROUND_HALF_UP)) for v in np.ravel(a)]
        return np.array(rounded).reshape(np.shape(a))

    @staticmethod
    def _params(layer: dict) -> dict:
        kind = layer["type"]
        if kind == "conv2d":
            return {"filters": filters(layer["filters"]), "bias": np.array(layer.get("bias", []), dtype=float)}
        if kind == "dense":
            rows = [grid(w).ravel() if isinstance(w, str) else np.array(w, dtype=float) for w in layer["weights"]]
            return {"weights": np.array(rows), "bias": np.array(layer.get("bias", []), dtype=float)}
        if kind == "conv1x1":
            return {"weights": np.array([value(w) for w in layer["weights"]])}
        return {}

    def _padded(self, x, layer):
        p = layer.get("padding", 0)
        return np.pad(x, ((0, 0), (p, p), (p, p)))

    def _run(self, params) -> list[np.ndarray]:
        """Each layer's input and output, as carried: outs[0] the input, outs[n] layer n's output."""
        outs = [self.x]
        for layer, p in zip(self.layers, params):
            x, kind = outs[-1], layer["type"]
            if kind == "conv2d":
                k, s, xp = p["filters"], layer.get("stride", 1), self._padded(x, layer)
                f, c, kh, kw = k.shape
                oh, ow = (xp.shape[1] - kh) // s + 1, (xp.shape[2] - kw) // s + 1
                y = np.array(
                    [
                        [
                            [(xp[:, i * s : i * s + kh, j * s : j * s + kw] * k[g]).sum() for j in range(ow)]
                            for i in range(oh)
                        ]
                        for g in range(f)
                    ]
                )
                y = y + (p["bias"][:, None, None] if p["bias"].size else 0)
            elif kind == "relu":
                y = np.maximum(x, 0)
            elif kind == "sigmoid":
                y = 1 / (1 + np.exp(-x))
            elif kind == "maxpool":
                s, k = layer.get("stride", layer["size"]), layer["size"]
                oh, ow = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
                y = np.array(
                    [
                        [[x[c, i * s : i * s + k, j * s : j * s + k].max() for j in range(ow)] for i in range(oh)]
                        for c in range(x.shape[0])
                    ]
                )
            elif kind == "conv1x1":
                y = np.einsum("c,chw->hw", p["weights"], x)[None]
            elif kind == "dense":
                y = p["weights"] @ x.ravel() + (p["bias"] if p["bias"].size else 0)
            elif kind == "flatten":
                y = x.ravel()
            elif kind == "softmax":
                e = self.keep(np.exp(x))
                y = e / e.sum()
            else:
                raise AssertionError(kind)
            outs.append(self.keep(y))
        return outs

    def loss(self, p):
        if self.loss_kind == "cross_entropy":
            terms, grad = np.where(self.y > 0, -self.y * np.log(p), 0.0), p - self.y
        else:  # half_sse
            terms, grad = 0.5 * (p - self.y) ** 2, p - self.y
        return self.keep(terms), float(self.keep(terms.sum())), self.keep(grad)

    def step(self, params) -> dict:
        outs = self._run(params)
        terms, total, first = self.loss(outs[-1])
        g = first
        layers: dict[int, dict] = {}
        start = len(self.layers) - (1 if self.loss_kind == "cross_entropy" else 0)
        for n in range(start, 0, -1):
            layer, p, x, y = self.layers[n - 1], params[n - 1], outs[n - 1], outs[n]
            r = {"upstream": g.reshape(y.shape), "input": x, "output": y}
            self._back(layer, p, r)
            layers[n] = r
            g = r["dX"]
        new = []
        for n, p in enumerate(params, 1):
            moved = dict(p)
            for name, grad in (("filters", "dW"), ("weights", "dW"), ("bias", "db")):
                if name in p and p[name].size and (name != "bias" or self.update_bias):
                    moved[name] = self.keep(p[name] - self.rate * layers[n][grad])
            new.append(moved)
        return {"outs": outs, "terms": terms, "loss": total, "grad": first, "layers": layers, "new": new}

    def _back(self, layer: dict, p: dict, r: dict) -> None:
        """One layer's gradients into r: dW, db, dX, and what their working shows (local, padded, spread, rot)."""
        kind, g, x, y = layer["type"], r["upstream"], r["input"], r["output"]
        if kind == "dense":
            r["dW"] = self.keep(np.outer(g, x.ravel()))
            r["db"] = self.keep(g) if p["bias"].size else None
            r["dX"] = self.keep((p["weights"].T @ g).reshape(x.shape))
        elif kind == "sigmoid":
            r["local"] = self.keep(y * (1 - y))
            r["dX"] = self.keep(g * r["local"])
        elif kind == "relu":
            r["local"] = (x > 0).astype(float)
            r["dX"] = self.keep(g * r["local"])
        elif kind == "flatten":
            r["dX"] = self.keep(g.reshape(x.shape))
        elif kind == "conv1x1":
            r["dW"] = self.keep(np.einsum("hw,chw->c", g[0], x))
            r["dX"] = self.keep(p["weights"][:, None, None] * g[0])
        elif kind == "maxpool":
            s, k = layer.get("stride", layer["size"]), layer["size"]
            dx, local = np.zeros_like(x), np.zeros_like(x)
            for c, i, j in np.ndindex(*g.shape):
                a, b = divmod(int(np.argmax(x[c, i * s : i * s + k, j * s : j * s + k])), k)
                dx[c, i * s + a, j * s + b] += g[c, i, j]
                local[c, i * s + a, j * s + b] += 1
            r["dX"], r["local"], r["padded"] = self.keep(dx), local, x
        elif kind == "conv2d":
            self._conv_back(layer, p, r)
        else:
            raise AssertionError(kind)

    def _conv_back(self, layer: dict, p: dict, r: dict) -> None:
        k, s, pad, g = p["filters"], layer.get("stride", 1), layer.get("padding", 0), r["upstream"]
        xp = self._padded(r["input"], layer)
        f, c, kh, kw = k.shape
        oh, ow = g.shape[1:]
        dk, dxp = np.zeros_like(k), np.zeros_like(xp)
        for q, i, j in np.ndindex(f, oh, ow):
            dk[q] += g[q, i, j] * xp[:, i * s : i * s + kh, j * s : j * s + kw]
            dxp[:, i * s : i * s + kh, j * s : j * s + kw] += g[q, i, j] * k[q]
        spread = np.zeros((f, xp.shape[1] + kh - 1, xp.shape[2] + kw - 1))
        spread[:, kh - 1 : kh - 1 + (oh - 1) * s + 1 : s, kw - 1 : kw - 1 + (ow - 1) * s + 1 : s] = g
        h, w = r["input"].shape[1:]
        r.update(
            dW=self.keep(dk),
            db=self.keep(g.sum(axis=(1, 2))) if p["bias"].size else None,
            dX=self.keep(dxp[:, pad : pad + h, pad : pad + w]),
            padded=xp,
            spread=spread,
            rot=k[..., ::-1, ::-1],
        )


@cache
def reference(name: str) -> Reference:
    return Reference(TEXTS[name])


@cache
def solved(name: str):
    return trace(loads(TEXTS[name], name=f"{name}.toml"))


@cache
def markdown(name: str) -> str:
    return render(solved(name), "md")


def backward_part(md: str) -> str:
    return md[md.index("## Backward pass") :]


# ---- reading the Markdown back ----

GRID = re.compile(r"\\left\[\\begin\{array\}\{r+\}(.*?)\\end\{array\}\\right\]", re.S)
HIGHLIGHT = re.compile(r"\\colorbox\{yellow\}\{\$(.*?)\$\}")


def cells(body: str) -> np.ndarray:
    rows = [[c.strip() for c in row.split("&")] for row in body.split("\\\\")]
    return np.array([[(-math.inf if c == "-\\infty" else float(c)) for c in row] for row in rows])


def indices(text: str) -> tuple[int, ...]:
    return tuple(int(i) - 1 for i in text.split(","))


def evaluate(expr: str) -> float | None:
    """A step of working as a number, when it holds nothing but numbers and + - · / ( ) ln and squares."""
    s = HIGHLIGHT.sub(r"\1", expr)
    while True:  # \frac{a}{b} and \tfrac{a}{b}, innermost first
        found = re.search(r"\\t?frac\{([^{}]*)\}\{([^{}]*)\}", s)
        if not found:
            break
        s = s[: found.start()] + f"(({found[1]})/({found[2]}))" + s[found.end() :]
    for old, new in (
        (r"\bigl(", "("),
        (r"\bigr)", ")"),
        (r"\cdot", "*"),
        (r"\,", " "),
        (r"\ ", " "),
        ("^2", "**2"),
        (r"\ln", " log "),
    ):
        s = s.replace(old, new)
    s = re.sub(r"log\s*(\d+(?:\.\d+)?)", r"log(\1)", s)
    s = re.sub(r"(\d|\))\s*(\(|log)", r"\1*\2", s)
    if re.search(r"[A-Za-z\\_{}&]", s.replace("log", "")):
        return None
    try:
        return float(eval(s, {"log": math.log}))  # noqa: S307  # only digits, operators and log survive
    except (SyntaxError, ZeroDivisionError):
        return None


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(NUMBER, text)]


class Checker:
    """Walks the Markdown's backward part section by section, and checks every display and inline formula."""

    def __init__(self, name: str):
        self.name, self.ref = name, reference(name)
        self.step = self.ref.steps[0]
        self.d = self.ref.d
        # printed values are the reference's, rounded to d places (carried ones exactly so, give or take a tie)
        self.tol = (1.01 if self.ref.carry else 0.51) * 10.0**-self.d
        self.context: tuple = ("intro",)
        self.channel = 0
        self.checked = 0

    def near(self, printed: float, expected: float, what: str) -> None:
        assert abs(printed - expected) <= self.tol + 1e-9 * abs(expected), (
            self.name,
            self.context,
            what,
            printed,
            expected,
        )
        self.checked += 1

    def run(self, md: str) -> None:
        for block in re.split(r"(?m)^(#{2,4} .*)$", backward_part(md)):
            if re.match(r"#{2,4} ", block):
                self.heading(block)
                continue
            for tex, display in markdown_formulas(block):
                (self.display if display else self.inline)(tex.replace("\n", " "))

    def heading(self, text: str) -> None:
        if found := re.match(r"## Backward, layer (\d+)", text):
            self.context, self.channel = ("layer", int(found[1])), 0
        elif found := re.match(r"### Layer (\d+): the (\w+)", text):
            self.context = ("update", int(found[1]), found[2])
        elif text.startswith("## After"):
            self.context = ("after",)
        elif text.startswith("### The loss"):
            self.context = ("loss",)
        elif found := re.match(r"### Channel (\d+)|#### Input channel (\d+)|#### Filter \d+, channel (\d+)", text):
            self.channel = int(next(g for g in found.groups() if g)) - 1

    # ---- inline maths ----

    def inline(self, tex: str) -> None:
        if found := re.fullmatch(r"y = " + GRID.pattern, tex, re.S):
            assert cells(found[1]).ravel().tolist() == self.ref.y.tolist()
        elif found := re.search(r"\\eta = (" + NUMBER + ")", tex):
            self.near(float(found[1]), self.ref.rate, "eta")
        elif re.fullmatch(NUMBER, tex):  # the loss before and after the step
            assert any(abs(float(tex) - v) <= self.tol for v in (self.step["loss"], self.after_loss())), tex
            self.checked += 1
        else:  # words' maths: names and formulas, and no number but an index, a slope or a share
            for x in numbers(re.sub(r"_\{[^}]*\}|\\tfrac\{1\}\{\d+\}|\(1 - |\^2", "", tex)):
                assert x in (0, 1, 180) or self.context[0] == "layer", (tex, x)

    def after_loss(self) -> float:
        return self.ref.steps[1]["loss"] if len(self.ref.steps) > 1 else self.ref.final

    # ---- displays ----

    def display(self, tex: str) -> None:
        tex = tex.strip()
        if tex.startswith("\\begin{array}{rl} \\text{step}"):
            return self.loss_table(tex)
        if "\\max" in tex:
            return self.routes(tex)
        if GRID.search(tex):
            return self.grids(tex)
        body = re.sub(r"^\\begin\{aligned\}|\\end\{aligned\}$", "", tex).strip()
        for lhs, steps in equations(body):
            self.equation(lhs, steps)

    def loss_table(self, tex: str) -> None:
        rows = re.findall(r"(?:(\d+)|\\text\{after \}(\d+)) & (" + NUMBER + ")", tex)
        losses = [s["loss"] for s in self.ref.steps] + [self.ref.final]
        assert len(rows) == len(losses)
        for (_, _, printed), expected in zip(rows, losses):
            self.near(float(printed), expected, "loss table")

    def equation(self, lhs: str, steps: list[tuple[str, str]]) -> None:
        """One line of working: its result against the reference by its name, each step against the result."""
        if lhs != "L" and not re.search(r"\d", lhs):
            assert not any(re.search(r"\d\.\d", s) for _, s in steps), (lhs, steps)  # a formula: no values
            return
        result = float(re.findall(NUMBER, steps[-1][1])[-1])
        self.near(result, self.expected(lhs), lhs)
        if found := re.search(r"ReLU\}'\((" + NUMBER + r")\)", steps[0][1]):  # the input a ReLU's slope is read at
            index = indices(re.search(r"_\{([\d,]+)\}", lhs)[1])
            self.near(float(found[1]), self.cell(self.step["layers"][self.context[1]]["input"], index), "z")
        for _, step in steps:
            got = evaluate(step)
            if got is None:
                continue
            assert abs(got - result) <= self.slack(step) + self.tol, (lhs, step, got, result)
            self.checked += 1

    def slack(self, step: str) -> float:
        """How far a step may be from the result for the rounding of the decimals it is written with: each moved
        by half its last place, the step's value moves by at most this much."""
        half, base, total = 0.5 * 10.0**-self.d, evaluate(step), 0.0
        for found in re.finditer(r"\d+\.\d+", step):
            up = evaluate(f"{step[: found.start()]}{float(found[0]) + half!r}{step[found.end() :]}")
            total += abs((up if up is not None else base) - base)
        return total

    def expected(self, lhs: str) -> float:
        """The reference value of a named line of working in the current section."""
        ctx = self.context
        if ctx[0] == "loss":
            if lhs == "L":
                return self.step["loss"]
            found = re.fullmatch(r"\\partial L/\\partial (?:z|\\hat\{y\})_\{(\d+)\}", lhs)
            return self.step["grad"][int(found[1]) - 1]
        if ctx[0] == "after":
            return self.after_loss()
        if ctx[0] == "update":
            new = self.step["new"][ctx[1] - 1][ctx[2]]
            found = re.fullmatch(r"(?:[wbK])_\{([\d,]+)\}(?:\[(\d+),(\d+)\])?", lhs)
            index = indices(found[1])
            if found[2]:
                index = (index + (0,) if len(index) == 1 else index) + (int(found[2]) - 1, int(found[3]) - 1)
            return new[index]
        layer = self.step["layers"][ctx[1]]
        if found := re.fullmatch(r"\\partial L/\\partial (?:K|\\tilde\{K\})_\{([\d,]+)\}\[(\d+),(\d+)\]", lhs):
            f = indices(found[1])
            return layer["dW"][f[0], f[1] if len(f) > 1 else 0, int(found[2]) - 1, int(found[3]) - 1]
        if found := re.fullmatch(r"\\partial L/\\partial b_\{(\d+)\}", lhs):
            return layer["db"][int(found[1]) - 1]
        if found := re.fullmatch(r"\\partial L/\\partial b", lhs):
            return layer["db"][0]
        if found := re.fullmatch(r"\\partial L/\\partial w_\{([\d,]+)\}", lhs):
            return layer["dW"][indices(found[1])]
        if found := re.fullmatch(r"\\(?:sigma|tanh)'\(z_\{([\d,]+)\}\)", lhs):
            return self.cell(layer["local"], indices(found[1]))
        if found := re.fullmatch(r"\\partial L/\\partial [xz]_\{([\d,]+)\}", lhs):
            index = indices(found[1])
            return layer["dX"].ravel()[index[0]] if len(index) == 1 else self.cell(layer["dX"], index)
        raise AssertionError(f"no reference for {lhs!r} in {ctx}")

    @staticmethod
    def cell(array: np.ndarray, index: tuple[int, ...]) -> float:
        if array.ndim == 3 and len(index) == 2:
            index = (0, *index)
        return array[index]

    def routes(self, tex: str) -> None:
        """A max pool's windows: the window as the padded input holds it, its first largest cell marked and named,
        and the gradient sent there."""
        layer = self.step["layers"][self.context[1]]
        for row in tex.split("\\\\ p_"):
            found = re.search(
                r"\{(\d+),(\d+)\} = \\max "
                + GRID.pattern
                + r" &= x_\{([\d,]+)\}.*?\\partial p_\{\d+,\d+\} = ("
                + NUMBER
                + ")",
                row,
                re.S,
            )
            i, j = int(found[1]) - 1, int(found[2]) - 1
            size = self.layer_spec()["size"]
            window = layer["padded"][self.channel, i * size : (i + 1) * size, j * size : (j + 1) * size]
            assert (cells(HIGHLIGHT.sub(r"\1", found[3])) == window).all()
            a, b = divmod(int(np.argmax(window)), size)
            assert indices(found[4])[-2:] == (i * size + a, j * size + b)
            self.near(float(found[5]), layer["upstream"][self.channel, i, j], "routed")

    def layer_spec(self) -> dict:
        return self.ref.layers[self.context[1] - 1]

    def grids(self, tex: str) -> None:
        """Every grid of a display, by the name before it (or its place), against the reference array."""
        previous_end = 0
        for found in GRID.finditer(tex):
            before = tex[previous_end : found.start()]
            previous_end = found.end()
            chain = re.split(r"\\qquad|\\quad|\\\\|\\begin\{gathered\}|&", before)[-1].strip()
            array = cells(HIGHLIGHT.sub(r"\1", found[1]))
            # `∂L/∂b = ∂L/∂z = [...]`: the grid is each name's
            names = [n.strip() for n in chain.removesuffix("=").split(" = ")] if "\\cdot" not in chain else [chain]
            for name in names:
                expected = self.named(name, before)
                assert expected.size == array.size, (self.name, self.context, name, array, expected)
                for printed, want in zip(array.ravel(), expected.ravel()):
                    self.near(printed, want, name)
        rest = GRID.sub("", tex)
        if found := re.search(r"w_\{(\d+)\}\\ \\partial L/\\partial Y = (" + NUMBER + ")", rest):  # a 1x1 filter
            self.near(float(found[2]), self.ref.params[self.context[1] - 1]["weights"][int(found[1]) - 1], "w")

    def named(self, name: str, before: str) -> np.ndarray:
        ctx = self.context
        if ctx[0] == "intro":
            raise AssertionError(name)
        if ctx[0] == "update":
            new = self.step["new"][ctx[1] - 1][ctx[2]]
            if found := re.fullmatch(r"N_\{(\d+)\}", name):
                return new[int(found[1]) - 1]
            if found := re.fullmatch(r"K_\{([\d,]+)\}", name):
                f = indices(found[1])
                return new[f[0], f[1] if len(f) > 1 else 0]
            assert name in ("W", "w", "b"), name
            return new
        layer = self.step["layers"][ctx[1]]
        kind = self.layer_spec()["type"]
        channel = re.search(r"_\{(\d+)\}$", name)
        c = int(channel[1]) - 1 if channel else None
        base = re.sub(r"_\{\d+\}$", "", name)
        if found := re.fullmatch(r"S_\{(\d+)\}(?:\[(\d+)\{:\}(\d+),\\ (\d+)\{:\}(\d+)\])?", name):
            spread = layer["spread"][int(found[1]) - 1]
            if found[2]:
                return spread[int(found[2]) - 1 : int(found[3]), int(found[4]) - 1 : int(found[5])]
            return spread
        if found := re.fullmatch(r"\\operatorname\{rot\}\((?:K|\\tilde\{K\})_\{([\d,]+)\}\)", name):
            f = indices(found[1])
            return layer["rot"][f[0], f[1] if len(f) > 1 else 0]
        if name == "" or name.endswith("\\cdot"):  # a weight's cells on the padded input; a 1x1 filter's upstream
            if kind == "conv2d":
                return layer["padded"][self.channel]
            return layer["upstream"][0]
        if re.fullmatch(r"(\\approx|=)", name) and kind == "conv1x1":
            return layer["dX"][int(re.findall(r"X_\{(\d+)\}", before)[-1]) - 1] if "X_{" in before else layer["dX"][0]
        if found := re.fullmatch(r"\\partial L/\\partial (?:N_\{(\d+)\}|W|K_\{([\d,]+)\}|w)", name):
            if found[1]:
                return layer["dW"][int(found[1]) - 1]
            if found[2]:
                f = indices(found[2])
                return layer["dW"][f[0], f[1] if len(f) > 1 else 0]
            return layer["dW"]
        if name == "\\partial L/\\partial b":
            return layer["db"]
        if base.startswith("\\partial L/\\partial "):
            symbol = base.removeprefix("\\partial L/\\partial ")
            array = self.gradient_array(kind, symbol, layer)
            return array[c] if c is not None else array
        if found := re.fullmatch(r"(?:\\sigma|\\text\{ReLU\}|\\tanh)'\((?:Z|z)(?:_\{(\d+)\})?\)", name):
            local = layer["local"]
            return local[int(found[1]) - 1] if found[1] else local
        if found := re.fullmatch(r"(?:Z|z|X)(?:_\{(\d+)\})?", name):
            return layer["input"][int(found[1]) - 1] if found[1] else layer["input"]
        raise AssertionError(f"no reference for the grid {name!r} in {ctx}")

    @staticmethod
    def gradient_array(kind: str, symbol: str, layer: dict) -> np.ndarray:
        """∂L/∂(the layer's output) or ∂L/∂(its input), by the names each kind's section gives them."""
        outputs = {
            "dense": "z",
            "sigmoid": "aA",
            "relu": "aA",
            "maxpool": "P",
            "conv2d": "Z",
            "conv1x1": "Y",
            "flatten": "v",
        }
        inputs = {
            "dense": "xX",
            "sigmoid": "zZ",
            "relu": "zZ",
            "maxpool": "X",
            "conv2d": "X",
            "conv1x1": "X",
            "flatten": "X",
        }
        if symbol in outputs[kind]:
            return layer["upstream"]
        assert symbol in inputs[kind], (kind, symbol)
        return layer["dX"]


def equations(body: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The lines of working of an equation or an aligned block: (left-hand side, [(relation, step), ...]), a step
    that continues on a new line (`&\\quad + ...`) joined to its step."""
    found: list[tuple[str, list[tuple[str, str]]]] = []
    for row in re.split(r"\\\\", body):
        row = row.strip()
        if row.startswith("&\\quad"):
            rel, step = found[-1][1][-1]
            found[-1][1][-1] = (rel, step + " " + row.removeprefix("&\\quad").strip())
            continue
        parts = re.split(r"\s*&?(=|\\approx|\\leftarrow)\s", " " + row + " ") if not row.startswith("&") else None
        if parts is None:  # a further step of the equation before
            rel, _, step = row[1:].partition(" ")
            found[-1][1].append((rel, step.strip()))
            continue
        lhs, rest = parts[0].strip().rstrip("&").strip(), parts[1:]
        found.append((lhs, [(rest[k], rest[k + 1].strip()) for k in range(0, len(rest) - 1, 2)]))
    return found


# ---- the tests ----


@pytest.mark.parametrize("name", NAMES)
def test_every_backward_number_is_the_reference(name):
    checker = Checker(name)
    checker.run(markdown(name))
    assert checker.checked > {"tutorial-train": 1000, "mazur-backprop": 80, "strided": 1000}[name], checker.checked


def test_mazur_new_weights_to_nine_places():
    """Mazur's example: each weight moved by 0.5 times its gradient, as his worked solution gives them."""
    ref = reference("mazur-backprop")
    md = markdown("mazur-backprop")
    update = md[md.index("## The update") :]
    layer3 = update[update.index("### Layer 3") :]
    new = ref.steps[0]["new"][2]["weights"]
    assert np.allclose(new, [[0.35891648, 0.408666186], [0.511301270, 0.561370121]], atol=5e-10)
    for (k, d), w in np.ndenumerate(new):
        name = re.escape(f"w_{{{k + 1},{d + 1}}} &\\leftarrow ")
        assert re.search(rf"{name}[^\n]*?(=|\\approx) {w:.9f}", layer3), (k, d, w)
    assert "0.4 - 0.5 \\cdot 0.082167041 \\approx 0.358916480" in layer3
    assert f"L = {ref.final:.9f}" in md[md.index("## After the step") :] and f"{ref.final:.9f}" == "0.291027774"
    assert "biases stay as they are" in update


def test_tutorial_loss_and_where_its_gradient_starts():
    md = backward_part(markdown("tutorial-train"))
    ref = reference("tutorial-train")
    p = ref.steps[0]["outs"][-1]
    assert f"L = -\\ln \\hat{{y}}_{{1}} = -\\ln {p[0]:.4f}" in md
    assert f"\\partial L/\\partial z_{{1}} &= \\hat{{y}}_{{1}} - y_{{1}} = {p[0]:.4f} - 1 = {p[0] - 1:.4f}" in md
    assert "Max pooling: a window's gradient goes to its largest cell, the first in reading order" in md
    assert "> **Conventions**" in md and "natural logarithm" in md


def test_strided_convolution_shows_its_spread_and_turned_filters():
    md = backward_part(markdown("strided"))
    layer3 = md[md.index("## Backward, layer 3") : md.index("## Backward, layer 2")]
    assert "its cells placed 2 apart (1 zero between neighbours), with 2 rows of zeros above, 2 below" in layer3
    assert "\\operatorname{rot}(K_{1,2})" in layer3 and "#### Input channel 2" in layer3
    assert "### The bias" in layer3
    table = md[md.index("The loss before each step") :]
    assert table.count(" & ") == 5  # the heading and four losses: before each of three steps, and after


@pytest.mark.parametrize("name", NAMES)
def test_every_backward_formula_renders_in_katex(name):
    formulas = markdown_formulas(backward_part(markdown(name)))
    assert len(formulas) > 20
    assert render_errors(formulas) == []


@pytest.mark.parametrize("name", NAMES)
def test_latex_compiles_with_the_backward_pass(name, tmp_path):
    """pdflatex typesets it, with no line off the page and no heading or label left at a page's foot (the checks
    tests/writing/test_pages.py makes of output/)."""
    from tests.writing.test_pages import compile_tex, overfull, stranded

    tex = render(solved(name), "tex")
    assert "\\section*{Backward pass}" in tex and "\\fbox{\\parbox" in tex
    assert typeset(tex, name).startswith(b"%PDF")
    log, pdf = compile_tex(tex, tmp_path)
    assert overfull(log) == [] and stranded(pdf) == []
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Conventions" in text and "After the step" in text


def test_a_problem_without_train_shows_no_backward_pass(tutorial, tutorial_md):
    from stepper.writing.documents import training_of
    from stepper.writing.page import backward_html

    assert training_of(tutorial, tutorial.settings) is None and backward_html(tutorial) == ""
    assert "Backward" not in tutorial_md and "Backward" not in render(tutorial, "tex")
    assert tutorial_md == (ROOT / "output" / "tutorial.md").read_text(encoding="utf-8").split("\n", 1)[1]


def test_shapes_alone_show_no_backward_pass():
    from dataclasses import replace

    t = solved("tutorial-train")
    md = render(t, "md", replace(t.settings, detail="shapes"))
    assert "Backward" not in md


def test_detail_limits_the_windows_worked():
    from dataclasses import replace

    t = solved("strided")
    md = backward_part(render(t, "md", replace(t.settings, detail=1)))
    assert "The other 8 weights are worked the same way." in md
    assert md.count("**Weight (") == 4  # one for each kernel: layer 3 has one filter of two channels, layer 1 two
    assert "The other 8 cells are worked the same way." in md


# ---- the page, the deck and Word ----


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian: apt install chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium)
        yield launched
        launched.close()


@pytest.mark.parametrize("name", ["tutorial-train", "mazur-backprop"])
def test_page_loads_with_the_backward_section(name, browser, tmp_path):
    from stepper.writing.page import render_page

    path = tmp_path / f"{name}.html"
    path.write_text(render_page(solved(name)), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(path.as_uri())
    assert problems == []
    section = page.locator("section#backward")
    assert section.locator("h2").first.inner_text() == "Backward pass"
    assert section.locator("aside.conventions").count() == 1
    maths = section.locator(".tex")
    assert maths.count() > 30 and page.locator(".katex-error").count() == 0
    assert page.eval_on_selector_all("#backward .tex", "els => els.every(e => e.querySelector('.katex'))")
    shown = section.inner_text().replace("\u2212", "-")
    assert "After the step" in shown and "Conventions" in shown
    page.close()


def test_page_json_and_section_hold_the_same_update():
    """The page's section is the documents' working: the same rows as the Markdown writes."""
    from stepper.writing.page import backward_html

    html = backward_html(solved("mazur-backprop"))
    assert "0.4 - 0.5 \\cdot 0.082167041 \\approx 0.358916480" in html
    assert html.count('<div class="tex display">') == backward_part(markdown("mazur-backprop")).count("$$\n") // 2
    assert json.dumps(html)  # a string the page inlines as it is


def _beamer_ready() -> bool:
    if any(shutil.which(tool) is None for tool in ("pdflatex", "pdftotext", "kpsewhich")):
        return False
    return bool(subprocess.run(["kpsewhich", "beamer.cls"], capture_output=True, text=True).stdout.strip())


@pytest.mark.skipif(not _beamer_ready(), reason="needs pdflatex with beamer, and poppler-utils")
@pytest.mark.parametrize("name", NAMES)
def test_beamer_deck_compiles_with_every_backward_frame(name, tmp_path):
    from stepper.writing.slides import render_slides, slide_count

    tex = render_slides(solved(name))
    pdf = tmp_path / f"{name}.pdf"
    pdf.write_bytes(typeset(tex, name))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for frame in re.findall(r"\\begin\{frame\}(?:\[allowframebreaks\])?\{([^}]*)\}", tex):
        assert frame.replace("$\\times$", "\u00d7") in text, frame
    # nothing lost where a frame breaks: every label of the working is on a slide
    for label in ("Weight (", "Input row", "Map by map", "The gradient of the layer"):
        assert text.count(label) >= tex.count(label) > 0 or label not in tex, label
    pages = int(
        re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout)[1]
    )
    assert pages >= slide_count(solved(name))


@pytest.mark.skipif(not _beamer_ready(), reason="needs pdflatex with beamer, and poppler-utils")
def test_beamer_deck_of_every_product_breaks_into_frames_tex_can_hold(tmp_path):
    """With terms = "all" every window's zero products are written too: a convolution's working runs over more
    frames, each small enough for TeX (one frame of it all is "Dimension too large")."""
    from dataclasses import replace

    from stepper.writing.slides import render_slides

    t = solved("tutorial-train")
    tex = render_slides(t, replace(t.settings, terms="all"))
    assert tex.count("{Backward, layer 1: convolution}") > 3
    assert typeset(tex, "every-product").startswith(b"%PDF")


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="pandoc is not installed")
def test_word_takes_the_backward_pass():
    from stepper.writing.docx import to_docx

    md = markdown("mazur-backprop")
    docx = to_docx(md, "mazur-backprop.md")
    back = subprocess.run(["pandoc", "-f", "docx", "-t", "plain"], input=docx, capture_output=True, check=True)
    assert "Backward pass" in back.stdout.decode() and "Conventions" in back.stdout.decode()


def test_the_cli_writes_md_tex_and_pdf(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepper",
            "solve",
            str(ROOT / "examples" / "mazur-backprop.toml"),
            "--format",
            "md,tex,pdf",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "## Backward pass" in (tmp_path / "mazur-backprop.md").read_text(encoding="utf-8")
    assert (tmp_path / "mazur-backprop.pdf").read_bytes().startswith(b"%PDF")


def test_load_reads_the_examples():
    for name in ("tutorial-train", "mazur-backprop"):
        assert load(ROOT / "examples" / f"{name}.toml").train is not None
