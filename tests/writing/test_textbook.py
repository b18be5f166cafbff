"""Written the way the textbooks write it (issue 11): LeNet's table of shapes, parameters and multiply-adds
(`detail = "shapes"`), a convolution over several channels grouped by channel with a subtotal each (d2l), an
average pool's total before dividing, a lone product still shown, the transposed convolution as scaled copies of
the filter placed stride apart (d2l, U of Toronto), the strict size rule (CS231n) and the wording of ranges and
places. Every number is checked against plain numpy, Python fractions or tests/reference.py, never against
stepper's own output.
"""

from __future__ import annotations

import math
import re
import time
import tomllib
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from stepper import StepperError, load, loads, render, trace
from tests.helpers import ROOT, reference
from tests.helpers.one_line import run_stepper

LENET = ROOT / "examples" / "lenet.toml"
# d2l prints each layer's output shape of LeNet on a 1x28x28 image (section 7.6.1), and 61,706 parameters.
D2L_SHAPES = [
    (6, 28, 28),
    (6, 28, 28),
    (6, 14, 14),
    (16, 10, 10),
    (16, 10, 10),
    (16, 5, 5),
    (400,),
    (120,),
    (120,),
    (84,),
    (84,),
    (10,),
]


def flat_maths(text: str) -> str:
    """A document's maths with its line breaks taken out, so that a sum written over lines reads as one."""
    text = re.sub(r"\\\\\s*(&\\quad|&\\qquad)?", " ", text)
    return " ".join(text.split())


def count_of(cell: str) -> int:
    """The count a table cell ends with: `$6 \\cdot 1 \\cdot 5 \\cdot 5 + 6 = 156$` gives 156."""
    return int(cell.strip().strip("$").split("=")[-1].replace("{,}", "").strip())


# ---- detail = "shapes": LeNet ----


def independent_lenet_counts(data: dict) -> list[tuple[tuple[int, ...], int, int]]:
    """(output shape, parameters, multiply-adds) per layer, from the problem file's numbers alone: its grids
    counted with numpy, its shapes worked with the floor formula written out here."""
    shape, found = reference.channels(data["input"]).shape, []
    for layer in data["layers"]:
        kind, params, macs = layer["type"], 0, 0
        if kind == "conv2d":
            kernels = reference.filter_grids(layer)
            c, kh, kw = kernels[0].shape
            p, s = layer.get("padding", 0), layer.get("stride", 1)
            out = (len(kernels), (shape[1] + 2 * p - kh) // s + 1, (shape[2] + 2 * p - kw) // s + 1)
            params = sum(k.size for k in kernels) + len(layer.get("bias", []))
            macs = math.prod(out) * c * kh * kw
        elif kind == "avgpool":
            k, s = layer["size"], layer.get("stride", layer["size"])
            out = (shape[0], (shape[1] - k) // s + 1, (shape[2] - k) // s + 1)
        elif kind == "flatten":
            out = (math.prod(shape),)
        elif kind == "dense":
            weights = np.array(layer["weights"])
            out = (weights.shape[0],)
            params = weights.size + len(layer.get("bias", []))
            macs = weights.size
        else:
            out = shape
        found.append((out, params, macs))
        shape = out
    return found


def lenet_table(md: str) -> list[list[str]]:
    """The rows of the shapes table, cell by cell (the Total row last)."""
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in md.splitlines()
        if re.match(r"\| (\d+\.|\*\*Total)", line)
    ]


def test_lenet_has_61706_parameters_and_each_layer_shape():
    data = tomllib.loads(LENET.read_text(encoding="utf-8"))
    expected = independent_lenet_counts(data)
    assert [shape for shape, _, _ in expected] == D2L_SHAPES
    assert sum(p for _, p, _ in expected) == 61706  # as d2l states
    result = trace(load(LENET))
    md = render(result, "md")
    rows = lenet_table(md)
    assert len(rows) == len(D2L_SHAPES) + 1
    for row, (shape, params, macs) in zip(rows, expected):
        assert row[1] == "$" + " \\times ".join(map(str, shape)) + "$"
        assert count_of(row[3]) == params and count_of(row[4]) == macs
    assert count_of(rows[-1][3]) == 61706 and count_of(rows[-1][4]) == sum(m for _, _, m in expected)
    assert "61{,}706" in md and "61{,}706" in render(result, "tex")
    # the size formula as a textbook writes it, and the parameters of the first convolution as their factors
    assert "$\\lfloor (28 + 2 \\cdot 2 - 5)/1 \\rfloor + 1 = 28$" in rows[0][2]
    assert rows[0][3] == "$6 \\cdot 1 \\cdot 5 \\cdot 5 + 6 = 156$"
    # the totals, as a sum of the layers that have any
    assert f"{' + '.join(f'{p:,}' for _, p, _ in expected if p)} = 61,706" in md.replace("{,}", ",")
    assert "Output row" not in md  # no window is worked


@pytest.mark.torch
def test_lenet_counts_match_pytorch():
    """d2l's LeNet built in PyTorch: its parameters (sum of numel), each layer's output shape and the products
    its convolutions and linear layers compute, counted with forward hooks."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2),
        nn.Sigmoid(),
        nn.AvgPool2d(2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.Sigmoid(),
        nn.AvgPool2d(2, stride=2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.Sigmoid(),
        nn.Linear(84, 10),
    )
    shapes, macs = [], []

    def hook(module, inputs, output):
        shapes.append(tuple(output.shape[1:]))
        if isinstance(module, nn.Conv2d):
            macs.append(output.numel() * module.in_channels * math.prod(module.kernel_size))
        elif isinstance(module, nn.Linear):
            macs.append(module.in_features * module.out_features)
        else:
            macs.append(0)

    for module in net:
        module.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.zeros(1, 1, 28, 28))
    table = trace(load(LENET)).table
    assert table.parameters == sum(p.numel() for p in net.parameters()) == 61706
    assert [r.output for r in table.rows] == shapes
    assert [r.parameters for r in table.rows] == [sum(p.numel() for p in m.parameters()) for m in net]
    assert [r.macs for r in table.rows] == macs and table.macs == sum(macs)


def alexnet_conv1():
    """CS231n's AlexNet first layer on a 3x224x224 image: 96 filters of 11x11, stride 4, padding 2."""
    from stepper.core.numbers import exact
    from stepper.core.spec import Conv2d, Pool, Problem, Settings

    image = exact(np.ones((3, 224, 224), dtype=np.int64), 1)
    conv = Conv2d(
        filters=exact(np.ones((96, 3, 11, 11), dtype=np.int64), 1),
        stride=(4, 4),
        padding=2,
        bias=exact(np.zeros(96, dtype=np.int64), 1),
    )
    return Problem("AlexNet conv1", image, (conv, Pool("maxpool", (3, 3), (2, 2))), Settings(detail="shapes"))


def test_shapes_of_a_224_input_are_instant_and_never_run_the_forward_pass():
    start = time.perf_counter()
    result = trace(alexnet_conv1())
    md = render(result, "md")
    assert time.perf_counter() - start < 2
    assert "layers" not in vars(result)  # the forward pass was never run
    # CS231n: 55x55x96 outputs; 11*11*3 weights and 1 bias per filter, 34,944 parameters with sharing
    n = (224 + 2 * 2 - 11) // 4 + 1
    assert n == 55 and "$96 \\times 55 \\times 55$" in md
    assert f"{(11 * 11 * 3 + 1) * 96:,}".replace(",", "{,}") in md
    assert f"{55 * 55 * 96 * 11 * 11 * 3:,}".replace(",", "{,}") in md
    assert "$96 \\times 27 \\times 27$" in md  # the max pool of 3, stride 2: (55 - 3)/2 + 1


def test_detail_shapes_from_the_command_line(tmp_path, capsys):
    code, out, err = run_stepper(
        capsys, "solve", ROOT / "examples" / "tutorial.toml", "--detail", "shapes", "--format", "md", "--out", tmp_path
    )
    assert code == 0, err
    md = (tmp_path / "tutorial.md").read_text(encoding="utf-8")
    # the tutorial's two 3x3 filters: 2 * 9 weights, no bias; then two neurons of 4 weights and the 1x1 filter's 2
    assert "$2 \\cdot 1 \\cdot 3 \\cdot 3 = 18$" in md and "Output row" not in md
    assert f"${18 + 2 + 2 * 4}$" in md


# ---- a convolution over several channels, grouped by channel (d2l) ----

D2L_TWO_CHANNELS = '''
input = ["""
0 1 2
3 4 5
6 7 8
""", """
1 2 3
4 5 6
7 8 9
"""]
[settings]
terms = "all"
[[layers]]
type = "conv2d"
filters = [["""
0 1
2 3
""", """
1 2
3 4
"""]]
'''


def test_d2l_two_channel_sum_is_grouped_by_channel_with_subtotals():
    x = np.array([[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
    k = np.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    text = flat_maths(render(trace(loads(D2L_TWO_CHANNELS)), "md"))
    for i in range(2):
        for j in range(2):
            window = x[:, i : i + 2, j : j + 2]
            groups = [" + ".join(f"{a} \\cdot {b}" for a, b in zip(window[c].ravel(), k[c].ravel())) for c in range(2)]
            subtotals = [int((window[c] * k[c]).sum()) for c in range(2)]
            assert (
                f"z_{{{i + 1},{j + 1}}} &= ({groups[0]}) + ({groups[1]}) "
                f"&= ({' + '.join(map(str, (window[0] * k[0]).ravel()))}) "
                f"+ ({' + '.join(map(str, (window[1] * k[1]).ravel()))}) "
                f"&= {subtotals[0]} + {subtotals[1]} &= {sum(subtotals)}"
            ) in text
    assert "&= 19 + 37 &= 56" in text  # d2l's first output, 56


def test_flat_channels_write_one_sum():
    result = trace(loads(D2L_TWO_CHANNELS.replace('terms = "all"', 'terms = "all"\nchannels = "flat"')))
    text = flat_maths(render(result, "md"))
    assert "z_{1,1} &= 0 \\cdot 0 + 1 \\cdot 1 + 3 \\cdot 2 + 4 \\cdot 3 + 1 \\cdot 1 + 2 \\cdot 2 + 4 \\cdot 3" in text
    assert "19 + 37" not in text


def test_two_channels_subtotals_match_an_independent_convolution():
    """examples/two-channels.toml: each window's printed subtotals are its channels' sums of products, and the
    numbers in each bracket add up to them."""
    data = tomllib.loads((ROOT / "examples" / "two-channels.toml").read_text(encoding="utf-8"))
    x = reference.channels(data["input"])
    layer = data["layers"][0]
    kernels = reference.filter_grids(layer)
    top, bottom = reference.same_padding(x.shape[1], 3, 2)
    left, right = reference.same_padding(x.shape[2], 3, 2)
    padded = np.full((2, x.shape[1] + top + bottom, x.shape[2] + left + right), Fraction(0), dtype=object)
    padded[:, top : top + x.shape[1], left : left + x.shape[2]] = x
    result = trace(load(ROOT / "examples" / "two-channels.toml"))
    for terms in ("all", "nonzero"):
        md = render(result, "md", replace(result.settings, terms=terms, detail="all"))
        section = md.split("## Layer 2")[0]
        checked = 0
        for f, body in enumerate(re.split(r"### Filter \d+", section)[1:]):
            for i, j, working in re.findall(
                r"z_\{(\d+),(\d+)\} (&?= .*?)(?: \\end\{aligned\})? \$\$", flat_maths(body)
            ):
                i, j = int(i) - 1, int(j) - 1
                window = padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
                products = [(window[c] * kernels[f][c]).ravel() for c in range(2)]
                kept = [[v for v in products[c] if v or terms == "all"] for c in range(2)]
                steps = [s.strip() for s in re.split(r"&?= ", working) if s.strip()]
                bias = int(layer["bias"][f])
                if all(kept) and max(map(len, kept)) > 1:  # two channels, at least one of them a sum
                    subtotals = [sum(k, Fraction(0)) for k in kept]
                    printed = " + ".join(map(str, subtotals)) + (f" + {bias}" if bias else "")
                    assert printed.replace("+ -", "- ") in steps, (steps, subtotals)
                    brackets = [" + ".join(map(str, k)).replace("+ -", "- ") for k in kept]
                    brackets = [f"({b})" if len(k) > 1 else b for b, k in zip(brackets, kept)]
                    assert f"{brackets[0]} + {brackets[1]}".replace("+ -", "- ") in " ".join(steps)
                    checked += 1
                assert steps[-1] == str(sum(sum(k, Fraction(0)) for k in kept) + bias)
        assert checked == 2 * 9 if terms == "all" else checked >= 10


# ---- average pooling: the total before dividing; a lone product still shown ----


def test_average_pool_shows_its_total_before_dividing():
    md = render(trace(loads('input = """\n1 2\n4 8\n"""\n[[layers]]\ntype = "avgpool"\nsize = 2\n')), "md")
    total = Fraction(1 + 2 + 4 + 8)
    assert total == 15 and float(total / 4) == 3.75
    assert "p_{1,1} = \\frac{1 + 2 + 4 + 8}{4} = \\frac{15}{4} = 3.75" in md


def test_two_channels_average_pool_totals_match_the_reference():
    """Layer 3 of examples/two-channels.toml, its input from the independent forward pass: each window's
    printed total is the sum of its printed cells and of the reference's cells."""
    data = tomllib.loads((ROOT / "examples" / "two-channels.toml").read_text(encoding="utf-8"))
    relu = reference.forward(data)[1]
    result = trace(load(ROOT / "examples" / "two-channels.toml"))
    md = render(result, "md", replace(result.settings, detail="all"))
    section = md.split("## Layer 3")[1].split("## Layer 4")[0]
    found = re.findall(r"p_\{(\d+),(\d+)\} = \\frac\{([^}]*)\}\{4\} = \\frac\{([^}]*)\}\{4\}", section)
    assert len(found) == 2 * 4
    for n, (i, j, cells, total) in enumerate(found):
        c, i, j = n // 4, int(i) - 1, int(j) - 1
        window = relu[c, i : i + 2, j : j + 2].ravel()
        assert [Fraction(t) for t in cells.replace("+ -", "- -").split(" + ")] == list(window)
        assert Fraction(total) == sum(window, Fraction(0))


def test_a_window_with_one_nonzero_product_still_shows_it():
    text = 'input = """\n0 0 1\n0 3 0\n"""\n[[layers]]\ntype = "conv2d"\nfilters = """\n1 1\n1 2\n"""\n'
    md = render(trace(loads(text)), "md")
    assert "terms" not in text  # the default, terms = "nonzero"
    assert f"z_{{1,1}} = 3 \\cdot 2 = {3 * 2}" in md  # only 3 . 2 is nonzero: written, not just its 6
    assert f"z_{{1,2}} = {1 * 1} + {3 * 1} = 4" in md  # two products: their values, as before


# ---- transposed convolution as scaled copies of the filter (d2l, U of Toronto) ----


def scattered(x: np.ndarray, k: np.ndarray, stride: int, extra: int):
    """Each input cell's copy of the filter on its own canvas, and the canvas of all of them added up."""
    h, w = x.shape
    kh, kw = k.shape
    size = ((h - 1) * stride + kh + extra, (w - 1) * stride + kw + extra)
    copies = {}
    for i in range(h):
        for j in range(w):
            canvas = np.full(size, None, dtype=object)
            canvas[i * stride : i * stride + kh, j * stride : j * stride + kw] = x[i, j] * k
            copies[i, j] = canvas
    total = sum((np.where(c == None, 0, c) for c in copies.values()), np.zeros(size, dtype=object))  # noqa: E711
    return copies, total


def grid_cells(tex: str) -> list[list[str]]:
    body = re.search(r"\\begin\{array\}\{r*\}(.*?)\\end\{array\}", tex, re.S)[1]
    return [[c.strip() for c in row.split("&")] for row in re.split(r"\\\\", body)]


def test_transposed_convolution_is_written_as_scattered_copies():
    path = ROOT / "examples" / "transposed-convolution.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    x = reference.channels(data["input"])[0]
    k = reference.filter_grids(data["layers"][0])[0][0]
    copies, total = scattered(x, k, 2, 1)
    md = render(trace(load(path)), "md")
    assert "Expanded input" not in md  # the equivalent convolution's view is not the default
    for (i, j), canvas in copies.items():
        m = re.search(
            re.escape(f"x_{{{i + 1},{j + 1}}} \\cdot K_{{1}} = ") + r"\(?(-?\d+)\)? \\cdot K_\{1\} .*?"
            r"longrightarrow.*?(\\left\[.*?\\right\])",
            md,
            re.S,
        )
        assert Fraction(m[1]) == x[i, j]
        assert grid_cells(m[2]) == [["\\cdot" if v is None else str(v) for v in row] for row in canvas]
    summed = re.search(r"\\sum \\text\{copies\} = (\\left\[.*?\\right\])", md, re.S)[1]
    assert grid_cells(re.sub(r"\\colorbox\{yellow\}\{\$(.*?)\$\}", r"\1", summed)) == [
        [str(v) for v in row] for row in total
    ]
    # the padding trims one cell on each side: what is left is the output, as the scatter-based reference has it
    expected = reference.conv_transpose2d(reference.channels(data["input"]), data["layers"][0])[0]
    assert (total[1:5, 1:5] == expected).all()


def test_each_output_cell_adds_the_copies_that_land_on_it():
    """Every output cell's printed products are exactly the input cell times filter cell pairs that land there
    (found here by placing every copy), and they add up to the scatter-based reference."""
    path = ROOT / "examples" / "transposed-convolution.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    x = reference.channels(data["input"])[0]
    k = reference.filter_grids(data["layers"][0])[0][0]
    expected = reference.conv_transpose2d(reference.channels(data["input"]), data["layers"][0])[0]
    result = trace(load(path))
    for terms in ("all", "nonzero"):
        md = flat_maths(render(result, "md", replace(result.settings, terms=terms)))
        for i in range(4):
            for j in range(4):
                landing = [
                    (x[a, b], k[u, v])
                    for a in range(2)
                    for b in range(2)
                    for u in range(3)
                    for v in range(3)
                    if 2 * a + u == i + 1 and 2 * b + v == j + 1 and (terms == "all" or x[a, b] * k[u, v])
                ]
                m = re.search(re.escape(f"z_{{{i + 1},{j + 1}}}") + r" &?= (.*?)(?: \$\$|\\end)", md)
                steps = [s.strip() for s in re.split(r"&?= ", m[1])]
                if landing:
                    pairs = [tuple(Fraction(t.strip("()")) for t in p.split(" \\cdot ")) for p in steps[0].split(" + ")]
                    assert pairs == landing
                assert Fraction(steps[-1]) == expected[i, j] == sum((a * b for a, b in landing), Fraction(0))


@pytest.mark.parametrize("seed", range(8))
def test_canvas_and_cells_match_the_scatter_reference(seed):
    """Random transposed convolutions: the canvas, trimmed, plus the bias, and every cell's contributions,
    agree with the reference, which adds filter * value into the output shifted by the stride."""
    rng = np.random.default_rng(seed)
    c, h, w, f, kh, kw = (int(v) for v in rng.integers(1, 4, 6))
    s, p = (int(v) for v in rng.integers(1, 3, 2))
    a = int(rng.integers(0, s))
    p = min(p, kh - 1, kw - 1)
    if min((h - 1) * s + kh + a, (w - 1) * s + kw + a) - 2 * p < 1:
        p = 0  # padding would trim away every cell: refused, see test_too_much_transposed_padding_is_refused
    layer = {
        "type": "conv_transpose2d",
        "stride": s,
        "padding": p,
        "output_padding": a,
        "filters": [[rng.integers(-3, 4, (kh, kw)).tolist() for _ in range(c)] for _ in range(f)],
        "bias": rng.integers(-2, 3, f).tolist(),
    }
    data = {"input": [rng.integers(-3, 5, (h, w)).tolist() for _ in range(c)], "layers": [layer]}
    from tests.helpers.problems import to_toml

    record = trace(loads(to_toml({"input": data["input"], "settings": {}, "layers": [layer]}))).layers[0]
    expected = reference.conv_transpose2d(reference.channels(data["input"]), layer)
    kernels = reference.filter_grids(layer)
    canvas = np.array(record.canvas.numbers(), dtype=object)
    oh, ow = expected.shape[1:]
    for g in range(f):
        assert (canvas[g, p : p + oh, p : p + ow] + layer["bias"][g] == expected[g]).all()
        for i in range(oh):
            for j in range(ow):
                t = record.cell(g, i, j)
                pairs = sorted(zip(t.factors.numbers(), t.weights.numbers()))
                landing = sorted(
                    (Fraction(int(v)), kernels[g][ch, u, v2])
                    for ch in range(c)
                    for r in range(h)
                    for q in range(w)
                    for u in range(kh)
                    for v2 in range(kw)
                    if r * s + u == i + p and q * s + v2 == j + p
                    for v in [data["input"][ch][r][q]]
                )
                assert pairs == landing
                assert sum(Fraction(n) for n in t.products.numbers()) + layer["bias"][g] == expected[g, i, j]


def test_the_convolution_view_is_still_there():
    path = ROOT / "examples" / "transposed-convolution.toml"
    result = trace(load(path))
    md = render(result, "md", replace(result.settings, transposed="convolution"))
    assert "Expanded input" in md and "\\text{copies}" not in md


# ---- size_rule = "exact" (CS231n) ----


def test_exact_size_rule_refuses_a_stride_that_does_not_fit(tmp_path, capsys):
    text = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")
    problem = tmp_path / "strict.toml"
    problem.write_text(text.replace("[settings]", '[settings]\nsize_rule = "exact"'), encoding="utf-8")
    # (8 + 2*1 - 3) = 7 cells past the first window, not a multiple of the stride 2
    assert (8 + 2 * 1 - 3) % 2 == 1
    code, out, err = run_stepper(capsys, "solve", problem, "--format", "md", "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1
    assert "strict.toml: layer 1 (conv2d): the stride does not fit the rows: (8 + 2*1 - 3)/2 = 7/2" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_exact_size_rule_accepts_a_stride_that_fits_and_floor_stays_the_default():
    fits = (
        'input = """\n' + "\n".join(" ".join("1" * 7) for _ in range(7)) + '\n"""\n[settings]\n'
        'size_rule = "exact"\n[[layers]]\ntype = "conv2d"\nstride = 2\nfilters = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]\n'
    )
    assert (7 - 3) % 2 == 0
    assert trace(loads(fits)).layers[0].sums.shape == (1, 3, 3)
    assert loads((ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")).settings.size_rule == "floor"
    with pytest.raises(StepperError, match=r"settings, field 'size_rule': did you mean 'exact'\?"):
        loads('input = [[1]]\n[settings]\nsize_rule = "exakt"\n')


# ---- wording ----


def test_places_and_ranges_are_written_as_words():
    from stepper.writing.maths import places_words, span_words

    assert places_words(1) == "1 decimal place" and places_words(4) == "4 decimal places"
    assert places_words(0) == "0 decimal places"
    assert span_words("row", 1, 1, "–") == "row 1"
    assert span_words("row", 7, 8, "–") == "rows 7 and 8"
    assert span_words("column", 1, 3, "–") == "columns 1–3"


def test_documents_say_one_decimal_place_and_never_rows_1_1():
    text = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8").replace("decimals = 4", "decimals = 1")
    md = render(trace(loads(text)), "md")
    assert "rounded to 1 decimal place and" in md and "1 decimal places" not in md
    one = render(trace(loads('input = """\n1 2\n3 4\n"""\n[[layers]]\ntype = "conv2d"\nfilters = [[2]]\n')), "md")
    assert "(row 1, column 1)" in one and "rows 1–1" not in one and "columns 1–1" not in one
    two = render(
        trace(loads('input = """\n1 2 3\n3 4 5\n"""\n[[layers]]\ntype = "conv2d"\nfilters = [[2, 1], [1, 1]]\n')), "md"
    )
    assert "(rows 1 and 2, columns 2 and 3)" in two


def test_two_unused_rows_are_named_as_a_pair():
    # 9 cells, padding 1 each side, a window of 3, stride 3: (9 + 2 - 3) = 8, 8 mod 3 = 2 rows left over
    assert (9 + 2 - 3) % 3 == 2
    text = (
        'input = """\n' + "\n".join(" ".join("1" * 9) for _ in range(9)) + '\n"""\n[[layers]]\ntype = "conv2d"\n'
        "stride = 3\npadding = 1\nfilters = [[1, 1, 1], [1, 1, 1], [1, 1, 1]]\n"
    )
    md = render(trace(loads(text)), "md")
    assert "(rows 10 and 11)" in md and "(columns 10 and 11)" in md


def test_too_much_transposed_padding_is_refused():
    """A 1x1 input through a 2x2 filter with padding 1: (1 - 1) * 1 - 2 * 1 + 2 + 0 = 0 rows, refused in one line."""
    assert (1 - 1) * 1 - 2 * 1 + 2 + 0 == 0
    with pytest.raises(
        StepperError, match=r"layer 1 \(conv_transpose2d\), field 'padding': the output would have 0 rows"
    ):
        loads('input = [[1]]\n[[layers]]\ntype = "conv_transpose2d"\npadding = 1\nfilters = [[1, 1], [1, 1]]\n')


def test_the_textbook_settings_survive_a_problem_file_written_back():
    from dataclasses import replace as _replace

    from stepper.core.load import load as _load
    from stepper.core.load import loads as _loads
    from stepper.interop.dump import dumps

    problem = _load(ROOT / "examples" / "tutorial.toml")
    changed = _replace(problem.settings, channels="flat", transposed="convolution", size_rule="exact")
    with pytest.raises(Exception):  # the tutorial's stride leaves a row over: refused under "exact"
        _loads(dumps(_replace(problem, settings=changed)))
    changed = _replace(changed, size_rule="floor")
    assert _loads(dumps(_replace(problem, settings=changed))).settings == changed
