"""Output sizes, parameter counts and multiply-adds: the arithmetic of shapes, with no forward pass.

Separate because it works from shapes alone (the shapes table of detail = "shapes", and each layer's output size),
so a 224x224 network is summed up without writing a single value.
"""

from __future__ import annotations

from ...core.numbers import write_exact
from ...core.spec import ConvTranspose2d, Layer
from ...core.stages import TITLES
from ...core.trace import GrowStep, ShapeRow, SizeStep
from ._text import TextWriter

_CDOT = " \\cdot "


class SizeWriter(TextWriter):
    """Sizes along each axis, counts with their factors, and the layer's title in the shapes table."""

    def size_step(self, step: SizeStep) -> str:
        """floor((n + 2*p - k) / s) + 1 = out, with the floor's argument worked out."""
        top = f"{step.n}{_pads(step)} - {step.k}"
        quotient = write_exact(step.span - step.k, step.stride)
        whole = (step.span - step.k) % step.stride == 0
        floor = f" = {quotient} + 1" if whole else f" = \\lfloor {quotient} \\rfloor + 1"
        return f"\\left\\lfloor \\frac{{{top}}}{{{step.stride}}} \\right\\rfloor + 1{floor} = {step.out}"

    def transposed_size(self, layer: ConvTranspose2d, shape: tuple[int, ...]) -> str:
        """(n - 1)s - 2p + k + a = out, for rows and columns, as an aligned block."""
        kh, kw = layer.filters.shape[-2:]
        rows = []
        for axis, n, s, p, k, a in (
            ("rows", shape[1], layer.stride[0], layer.padding[0], kh, layer.output_padding[0]),
            ("columns", shape[2], layer.stride[1], layer.padding[1], kw, layer.output_padding[1]),
        ):
            out = (n - 1) * s - 2 * p + k + a
            rows.append(f"\\text{{{axis}}} &= ({n} - 1) \\cdot {s} - 2 \\cdot {p} + {k} + {a} = {out}")
        return "\\begin{aligned} " + " \\\\ ".join(rows) + " \\end{aligned}"

    @staticmethod
    def count(n: int) -> str:
        """61{,}706: thousands grouped, braced so that maths does not space the comma as punctuation."""
        return f"{n:,}".replace(",", "{,}")

    @staticmethod
    def dims(shape: tuple[int, ...]) -> str:
        """6 \\times 28 \\times 28, or 400 for a vector."""
        return " \\times ".join(map(str, shape))

    @staticmethod
    def layer_title(layer: Layer) -> str:
        """The layer's kind as the worked solution's headings name it: Convolution, Max pooling."""
        title = TITLES.get(layer.kind, layer.kind)
        return title[0].upper() + title[1:]

    def size_formulas(self, row: ShapeRow) -> list[tuple[str, str]]:
        """A shapes-table row's size arithmetic, inline: [("", formula)] when both axes work alike or the layer
        flattens, [("rows", ...), ("columns", ...)] when they differ, [] when the size is simply kept or given."""
        if row.sizes is not None:
            steps: tuple[SizeStep | GrowStep, ...] = row.sizes
            texts = [_size_inline(step) for step in steps]
            return [("", texts[0])] if texts[0] == texts[1] else [(s.axis, t) for s, t in zip(steps, texts)]
        if len(row.input) == 3 and len(row.output) == 1 and row.layer.kind in ("flatten", "softmax"):
            return [("", f"{_CDOT.join(map(str, row.input))} = {self.count(row.output[0])}")]
        return []

    def parameter_count(self, row: ShapeRow) -> str:
        """weights + biases = parameters, the weights as their factors: 6 \\cdot 1 \\cdot 5 \\cdot 5 + 6 = 156."""
        if not row.weights:
            return "0"
        text = _CDOT.join(map(self.count, row.weights)) + (f" + {self.count(row.biases)}" if row.biases else "")
        return text if len(row.weights) == 1 and not row.biases else f"{text} = {self.count(row.parameters)}"

    def multiply_add_count(self, row: ShapeRow) -> str:
        """(cells that multiply-add) \\cdot (products per cell) = multiply-adds."""
        cells_, per_cell = row.multiply_adds
        if not per_cell:
            return "0"
        parts = [_CDOT.join(map(self.count, g)) for g in (cells_, per_cell)]
        parts = [f"({t})" if len(g) > 1 else t for t, g in zip(parts, (cells_, per_cell))]
        return f"{_CDOT.join(parts)} = {self.count(row.macs)}"

    def count_sum(self, counts: list[int], total: int) -> str:
        """The nonzero counts added up to the total: 156 + 2{,}416 + ... = 61{,}706."""
        shown = [self.count(n) for n in counts if n]
        return f"{' + '.join(shown)} = {self.count(total)}" if len(shown) > 1 else self.count(total)


def _pads(step: SizeStep) -> str:
    """` + 2 \\cdot p` for padding alike on both sides, else each side's (`same` with an odd total)."""
    if step.before == step.after:
        return f" + 2 \\cdot {step.before}" if step.before else ""
    return "".join(f" + {p}" for p in (step.before, step.after) if p)


def _size_inline(step: SizeStep | GrowStep) -> str:
    """One axis's size on one line: \\lfloor (28 + 2 \\cdot 2 - 5)/1 \\rfloor + 1 = 28 for windows (a SizeStep),
    (2 - 1) \\cdot 2 - 2 \\cdot 1 + 3 + 1 = 4 for a transposed convolution (a GrowStep)."""
    if isinstance(step, GrowStep):
        return f"({step.n} - 1) \\cdot {step.stride} - 2 \\cdot {step.padding} + {step.k} + {step.extra} = {step.out}"
    return f"\\lfloor ({step.n}{_pads(step)} - {step.k})/{step.stride} \\rfloor + 1 = {step.out}"
