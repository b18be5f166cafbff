"""stepper's performance figures, each printed beside its target.

    python benchmarks/run.py

A measurement, not a test: a missed target is reported, never an exit status.
Every ratio is taken in this one process, from medians of repeated runs
(time.perf_counter, after warm-up); peak memory comes from tracemalloc, measured
in separate runs so that it does not slow the timings. Before anything is timed,
the plain numpy forward pass written here is checked against the trace's numbers,
so a wrong trace would stop the benchmark rather than be timed.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import importlib  # noqa: E402

# `stepper.core.load` etc. are shadowed by the functions of the same names in stepper/__init__.py.
load_module = importlib.import_module("stepper.core.load")
evaluate = importlib.import_module("stepper.core.evaluate")
render_module = importlib.import_module("stepper.writing.documents")
from stepper.core.numbers import Values  # noqa: E402
from stepper.core.spec import Activation, Conv1x1, Conv2d, Dense, Flatten, Pool, Problem, Settings  # noqa: E402
from stepper.core.trace import ConvTrace, DenseTrace, MixTrace  # noqa: E402

REPEATS = 11  # samples per timing; the median is reported
SAMPLE_SECONDS = 0.02  # each sample loops the call until it lasts about this long
WARMUP = 2


# ---------------------------------------------------------------- measuring


def _loops(fn) -> int:
    """How many calls make one sample last about SAMPLE_SECONDS (after warm-up)."""
    for _ in range(WARMUP):
        fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, math.ceil(SAMPLE_SECONDS / once))


def _sample(fn, n: int) -> float:
    """Seconds per call over n calls, after one untimed call (so that the allocator has this
    function's large buffers to hand again, whatever ran just before)."""
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def compare(fa, fb, repeats: int = REPEATS) -> tuple[float, float]:
    """Median seconds per call of `fa` and of `fb`, their samples interleaved (a, b, a, b, ...)
    so that both see the same machine: a busy moment slows both, not one side of the ratio."""
    na, nb = _loops(fa), _loops(fb)
    gc.collect()
    a, b = [], []
    for _ in range(repeats):
        a.append(_sample(fa, na))
        b.append(_sample(fb, nb))
    return statistics.median(a), statistics.median(b)


def peak_bytes(fn) -> int:
    """Peak memory traced while `fn` runs, above what was allocated before (its result included)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - before
        del result
    finally:
        tracemalloc.stop()
    return peak


def held_arrays(obj, seen: dict[int, np.ndarray], visited: set[int]) -> None:
    """Every numpy buffer reachable from `obj` through dataclasses, tuples and lists, by its base."""
    if id(obj) in visited:
        return
    visited.add(id(obj))
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        seen[id(base)] = base
    elif is_dataclass(obj) and not isinstance(obj, type):
        for f in fields(obj):
            held_arrays(getattr(obj, f.name), seen, visited)
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            held_arrays(x, seen, visited)
    elif isinstance(obj, dict):
        for x in obj.values():
            held_arrays(x, seen, visited)


def trace_bytes(trace) -> int:
    seen: dict[int, np.ndarray] = {}
    visited: set[int] = set()
    for record in trace.layers:
        held_arrays(record, seen, visited)
    return sum(a.nbytes for a in seen.values())


def bytes_by_layer(trace) -> list[tuple[str, int]]:
    """Bytes first reached from each record (in order), to say where a trace's memory goes."""
    seen: dict[int, np.ndarray] = {}
    visited: set[int] = set()
    out = []
    for record in trace.layers:
        before = sum(a.nbytes for a in seen.values())
        held_arrays(record, seen, visited)
        out.append((f"{record.number}:{record.layer.kind}", sum(a.nbytes for a in seen.values()) - before))
    return out


def multiply_adds(trace) -> int:
    total = 0
    for r in trace.layers:
        if isinstance(r, ConvTrace):
            total += r.sums.data.size * math.prod(r.filters.shape[1:])
        elif isinstance(r, MixTrace):
            total += r.sums.data.size * r.weights.shape[0]
        elif isinstance(r, DenseTrace):
            total += r.weights.data.size
    return total


# ---------------------------------------------------------------- the plain numpy forward pass


def f64(v: Values | None):
    return None if v is None else np.asarray(v.floats(), dtype=np.float64)


def plain_conv(x, w, b, stride, pad):
    """x (C, H, W), w (F, C, kh, kw): cross-correlation, float64."""
    top, bottom, left, right = pad
    if top or bottom or left or right:
        x = np.pad(x, ((0, 0), (top, bottom), (left, right)))
    kh, kw = w.shape[-2:]
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, :: stride[0], :: stride[1]]  # (C, oh, ow, kh, kw)
    out = np.tensordot(w, windows, axes=([1, 2, 3], [0, 3, 4]))  # (F, oh, ow)
    if b is not None:
        out += b[:, None, None]
    return out


def plain_pool(x, kind, size, stride):
    windows = sliding_window_view(x, size, axis=(1, 2))[:, :: stride[0], :: stride[1]]
    return windows.max(axis=(3, 4)) if kind == "maxpool" else windows.mean(axis=(3, 4))


def plain_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def plain_softmax(z):
    z = z.ravel()
    e = np.exp(z - z.max())
    return e / e.sum()


def plain_network(problem: Problem):
    """A forward function over float64 arrays, with the parameters converted once, beforehand."""
    steps = []
    shape = problem.input.shape
    for layer in problem.layers:
        if isinstance(layer, Conv2d):
            p = layer.padding_for(shape)
            w, b, s, pads = f64(layer.filters), f64(layer.bias), layer.stride, (p.top, p.bottom, p.left, p.right)
            steps.append(lambda x, w=w, b=b, s=s, pads=pads: plain_conv(x, w, b, s, pads))
        elif isinstance(layer, Pool):
            steps.append(lambda x, k=layer.kind, n=layer.size, s=layer.stride: plain_pool(x, k, n, s))
        elif isinstance(layer, Conv1x1):
            w, b = f64(layer.weights), f64(layer.bias)
            steps.append(lambda x, w=w, b=b: np.tensordot(w, x, axes=1)[None] + (0.0 if b is None else b[0]))
        elif isinstance(layer, Dense):
            w = np.stack([f64(n).ravel() for n in layer.weights])
            b = f64(layer.bias)
            steps.append(lambda x, w=w, b=b: w @ x.ravel() + (0.0 if b is None else b))
        elif layer.kind == "relu":
            steps.append(lambda x: np.maximum(x, 0.0))
        elif layer.kind == "sigmoid":
            steps.append(plain_sigmoid)
        elif layer.kind == "softmax":
            steps.append(plain_softmax)
        else:
            raise ValueError(layer.kind)
        shape = layer.out_shape(shape)
    x0 = f64(problem.input)

    def forward():
        xs = [x0]
        for step in steps:
            xs.append(step(xs[-1]))
        return xs

    return forward


def check_equal(problem: Problem, trace, forward, exact: bool = True, atol: float = 0.0) -> None:
    """Every layer's output in the trace against the plain forward pass (a wrong trace stops here)."""
    xs = forward()
    for k, (record, x) in enumerate(zip(trace.layers, xs[1:]), 1):
        got = record.output.floats().reshape(x.shape)
        if exact:
            assert np.array_equal(got, x), f"{problem.title}: layer {k} ({record.layer.kind}) differs from numpy"
        else:
            assert np.allclose(got, x, rtol=0, atol=atol), (
                f"{problem.title}: layer {k} ({record.layer.kind}) differs from numpy by {np.abs(got - x).max()}"
            )


# ---------------------------------------------------------------- the problems


def lenet(rng) -> Problem:
    def ints(*shape, lo=-2, hi=2):
        return Values(rng.integers(lo, hi + 1, shape).astype(np.int64))

    layers = (
        Conv2d(ints(6, 1, 5, 5), padding=2),
        Activation("relu"),
        Pool("maxpool", (2, 2), (2, 2)),
        Conv2d(ints(16, 6, 5, 5)),
        Activation("relu"),
        Pool("maxpool", (2, 2), (2, 2)),
        Dense(tuple(ints(16, 5, 5) for _ in range(120))),
        Activation("relu"),
        Dense(tuple(ints(120) for _ in range(84))),
        Activation("relu"),
        Dense(tuple(ints(84) for _ in range(10))),
    )
    return Problem("LeNet", ints(1, 28, 28, lo=0, hi=9), layers)


def d2l_lenet(rng) -> Problem:
    """d2l's LeNet on a 28x28 image of digits 0-9: conv 6@5x5 padding 2, sigmoid, avgpool 2, conv 16@5x5, sigmoid,
    avgpool 2, flatten, dense 120, sigmoid, dense 84, sigmoid, dense 10; weights of one decimal, -0.3 to 0.3."""

    def tenths(*shape):
        return Values(rng.choice(np.array([-3, -2, -1, 1, 2, 3]), shape).astype(np.int64), 10)

    sigmoid, pool = Activation("sigmoid"), Pool("avgpool", (2, 2), (2, 2))
    layers = (
        Conv2d(tenths(6, 1, 5, 5), padding=2),
        sigmoid,
        pool,
        Conv2d(tenths(16, 6, 5, 5)),
        sigmoid,
        pool,
        Flatten(),
        Dense(tuple(tenths(400) for _ in range(120))),
        sigmoid,
        Dense(tuple(tenths(120) for _ in range(84))),
        sigmoid,
        Dense(tuple(tenths(84) for _ in range(10))),
    )
    return Problem("LeNet (d2l)", Values(rng.integers(0, 10, (1, 28, 28)).astype(np.int64)), layers)


def lenet_train(net: Problem) -> Problem:
    """The LeNet above trained one step: every weight its integer -2..2 in sixteenths (so that each layer keeps its
    values near 1 and the softmax is not saturated: the integers give logits in the millions, whose softmax is
    0 or 1 to any decimals), a softmax appended, and [train]: cross-entropy towards class 1, learning rate 0.01."""
    from dataclasses import replace

    from stepper.core.train import read_train

    def sixteenths(v: Values) -> Values:
        return Values(v.data, 16)

    layers = []
    for layer in net.layers:
        if isinstance(layer, Conv2d):
            layer = replace(layer, filters=sixteenths(layer.filters))
        elif isinstance(layer, Dense):
            layer = replace(layer, weights=tuple(sixteenths(w) for w in layer.weights))
        layers.append(layer)
    problem = replace(net, title="LeNet, trained", layers=tuple(layers) + (Activation("softmax"),))
    return replace(problem, train=read_train({"target": 1, "loss": "cross_entropy", "learning_rate": "0.01"}, problem))


def plain_backward(
    problem: Problem, xs: list[np.ndarray], dz: np.ndarray, given: dict[int, np.ndarray] | None = None
) -> dict[int, np.ndarray]:
    """dL/d(weights) of every conv and dense layer by plain numpy, from the forward pass's values `xs` (xs[k] the
    input of layer k + 1) and dL/dz at the softmax's input: {layer number: gradient, shaped as the weights}. With
    `given`, each layer starts from the dL/d(output) given for it (as carried) instead of the one worked here."""
    grads: dict[int, np.ndarray] = {}
    g = dz
    shape = problem.input.shape
    shapes = [shape]
    for layer in problem.layers:
        shape = layer.out_shape(shape)
        shapes.append(shape)
    for number in range(len(problem.layers) - 1, 0, -1):  # the softmax's gradient is dz: start below it
        layer, x = problem.layers[number - 1], xs[number - 1]
        g = (given[number] if given else g).reshape(shapes[number])
        if isinstance(layer, Dense):
            w = np.stack([f64(n).ravel() for n in layer.weights])
            grads[number] = np.outer(g, x.ravel())
            g = (w.T @ g).reshape(x.shape)
        elif layer.kind == "relu":
            g = g * (x > 0)
        elif isinstance(layer, Pool):  # max pooling, windows apart: each window's gradient to its first maximum
            (kh, kw), (sh, sw) = layer.size, layer.stride
            windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # (C, oh, ow, kh, kw)
            first = windows.reshape(*windows.shape[:3], kh * kw).argmax(axis=-1)
            dx = np.zeros_like(x)
            c, i, j = np.indices(first.shape)
            np.add.at(dx, (c, i * sh + first // kw, j * sw + first % kw), g)
            g = dx
        elif isinstance(layer, Conv2d):  # stride 1: dK by a correlation of x with g, dX by the full convolution
            pad = layer.padding_for(x.shape)
            xp = np.pad(x, ((0, 0), (pad.top, pad.bottom), (pad.left, pad.right)))
            k = f64(layer.filters)
            oh, ow = g.shape[1:]
            grads[number] = np.tensordot(g, sliding_window_view(xp, (oh, ow), axis=(1, 2)), axes=([1, 2], [3, 4]))
            kh, kw = k.shape[2:]
            gp = np.pad(g, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
            windows = sliding_window_view(gp, (kh, kw), axis=(1, 2))  # (F, H', W', kh, kw)
            dxp = np.tensordot(windows, k[:, :, ::-1, ::-1], axes=([0, 3, 4], [0, 2, 3])).transpose(2, 0, 1)
            g = dxp[:, pad.top : pad.top + x.shape[1], pad.left : pad.left + x.shape[2]]
        else:
            raise ValueError(layer.kind)
    return grads


def check_backward(problem: Problem, forward_trace, grads) -> None:
    """Each conv and dense layer's weight gradient in stepper's backward records against plain numpy from the same
    forward values: to 1e-9 in full precision; as carried, each from its own dL/d(output) and input as carried,
    to within half a unit of the last place."""
    settings = forward_trace.settings
    xs = [r.input.floats().astype(np.float64) for r in forward_trace.layers]
    p, y = forward_trace.output.floats().reshape(-1), problem.train.target.floats()
    ours = {g.number: g.weights.floats() for g in grads if g.weights is not None}
    carried = settings.rounding == "carry"
    given = {g.number: g.upstream.floats() for g in grads} if carried else None
    expected = plain_backward(problem, xs, p - y, given)
    assert sorted(ours) == sorted(expected), f"gradients for layers {sorted(ours)}, numpy {sorted(expected)}"
    half = 0.5 * 10.0**-settings.decimals + 1e-12
    for number, grad in expected.items():
        got = ours[number].reshape(grad.shape)
        if carried:
            assert np.abs(got - grad).max() <= half, f"layer {number}: dW is not numpy's, rounded"
        else:
            assert np.allclose(got, grad, rtol=1e-9, atol=1e-12), f"layer {number}: dW differs from numpy"
    assert all(np.abs(g).max() > 0 for g in ours.values()), "a gradient of zeros checks nothing"


def big_conv(rng) -> Problem:
    x = Values(rng.integers(0, 256, (3, 224, 224)).astype(np.int64))
    w = Values(rng.integers(-2, 3, (64, 3, 3, 3)).astype(np.int64))
    return Problem("conv 3x224x224, 64 filters 3x3", x, (Conv2d(w, stride=(1, 1), padding=1),))


RENDER_SIDE, RENDER_K = 36, 5  # 32 x 32 = 1024 windows of 25 terms


def render_problem(rng) -> Problem:
    x = Values(rng.integers(1, 10, (1, RENDER_SIDE, RENDER_SIDE)).astype(np.int64))  # no zero: 25 terms each
    w = Values(rng.choice(np.array([-2, -1, 1, 2]), (1, 1, RENDER_K, RENDER_K)).astype(np.int64))
    return Problem("render", x, (Conv2d(w),), Settings(terms="nonzero"))


# ---------------------------------------------------------------- the plain f-string rendering


def plain_grid(rows) -> str:
    body = " \\\\ ".join(" & ".join(map(str, row)) for row in rows)
    return f"\\left[\\begin{{array}}{{{'r' * len(rows[0])}}} {body} \\end{{array}}\\right]"


def plain_sum(terms) -> str:
    out = [str(terms[0])]
    for t in terms[1:]:
        out.append(f"- {-t}" if t < 0 else f"+ {t}")
    return " ".join(out)


def plain_render(trace) -> str:
    """The same visible content as the document's windows: heading, window grid and filter, the sum."""
    record = trace.layers[0]
    image = record.padded.data[0].tolist()
    kernel = record.filters.data[0, 0].tolist()
    sums = record.sums.data[0].tolist()
    kh, kw = len(kernel), len(kernel[0])
    kernel_text = f"K_{{1}} = {plain_grid(kernel)}"
    flat_kernel = [k for row in kernel for k in row]
    out = [f"# {trace.problem.title}\n\n$$\nX = {plain_grid(image)}\n$$\n\n### Filter 1\n"]
    for i, row_sums in enumerate(sums):
        for j, total in enumerate(row_sums):
            window = [r[j : j + kw] for r in image[i : i + kh]]
            products = [x * k for x, k in zip((x for r in window for x in r), flat_kernel) if x * k]
            lines = [plain_sum(products[n : n + 10]) for n in range(0, len(products), 10)]
            rest = "".join(f" \\\\ &\\quad {'- ' + line[1:] if line[0] == '-' else '+ ' + line}" for line in lines[1:])
            out.append(
                f"\n**Output row {i + 1}, column {j + 1}** (rows {i + 1}–{i + kh}, columns {j + 1}–{j + kw}):\n\n"
                f"$$\n\\begin{{gathered}} {plain_grid(window)} \\quad {kernel_text} \\end{{gathered}}\n$$\n\n"
                f"$$\n\\begin{{aligned}} z_{{{i + 1},{j + 1}}} &= {lines[0]}{rest} "
                f"\\\\ &= {total} \\end{{aligned}}\n$$\n"
            )
    out.append(f"\n$$\nF_{{1}} = {plain_grid(sums)}\n$$\n")
    return "".join(out)


# ---------------------------------------------------------------- reporting

results: list[tuple[str, bool | None]] = []


def line(name: str, value: str, target: str | None = None, ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    target_text = f"(target {target})" if target else ""
    print(f"  {name:<44} {value:>12}   {target_text:<22} {verdict}".rstrip())
    if ok is not None:
        results.append((name, ok))


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def main() -> None:
    started = time.perf_counter()
    import jinja2

    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), numpy {np.__version__}, "
        f"jinja2 {jinja2.__version__}, {os.cpu_count()} cpus, {platform.machine()} {platform.system()}"
    )
    print(
        f"timings: medians of {REPEATS}+ samples of >= {SAMPLE_SECONDS * 1000:.0f} ms each, "
        f"after {WARMUP}+ warm-up calls;"
        " the two sides of a ratio are sampled alternately"
    )
    rng = np.random.default_rng(20240611)

    # 1. the tutorial
    print("\n1. tutorial (examples/tutorial.toml)")
    tutorial = load_module.load(ROOT / "examples" / "tutorial.toml")
    forward = plain_network(tutorial)
    full = evaluate.trace(tutorial, Settings(rounding="full"))
    check_equal(tutorial, full, forward, exact=False, atol=1e-12)
    check_equal(tutorial, evaluate.trace(tutorial), forward, exact=False, atol=1e-3)  # carried rounded to 4 places
    t_trace, t_plain = compare(lambda: evaluate.trace(tutorial), forward, repeats=21)
    line("trace", f"{t_trace * 1e6:.0f} us")
    line("numpy forward", f"{t_plain * 1e6:.0f} us")
    r = t_trace / t_plain
    line("tutorial trace / numpy forward", f"{r:.1f}x", "<= 2x", r <= 2)

    # 2. LeNet
    print("\n2. LeNet-sized network (1x28x28, integer weights)")
    net = lenet(rng)
    forward = plain_network(net)
    tr = evaluate.trace(net)
    check_equal(net, tr, forward, exact=True)
    t_trace, t_plain = compare(lambda: evaluate.trace(net), forward, repeats=21)
    line("trace", f"{t_trace * 1e3:.2f} ms")
    line("numpy forward", f"{t_plain * 1e3:.2f} ms")
    r = t_trace / t_plain
    line("LeNet trace / numpy forward", f"{r:.1f}x", "<= 4x", r <= 4)
    held, macs = trace_bytes(tr), multiply_adds(tr)
    line("trace bytes", fmt_bytes(held))
    line("multiply-adds", f"{macs:,}")
    line("trace bytes per multiply-add", f"{held / macs:.2f}", "<= 16", held / macs <= 16)
    if held / macs > 16:
        print("    by layer: " + ", ".join(f"{k} {fmt_bytes(b)}" for k, b in bytes_by_layer(tr)))
    line("tracemalloc peak during trace (info)", fmt_bytes(peak_bytes(lambda: evaluate.trace(net))))
    line("tracemalloc peak, numpy forward (info)", fmt_bytes(peak_bytes(forward)))
    lenet_backward(net)

    # 3. one large conv layer
    print("\n3. one conv layer: 3x224x224 input, 64 filters 3x3, padding 1")
    conv = big_conv(rng)
    forward = plain_network(conv)
    tr = evaluate.trace(conv)
    check_equal(conv, tr, forward, exact=True)
    t_trace, t_plain = compare(lambda: evaluate.trace(conv), forward)
    line("trace", f"{t_trace * 1e3:.1f} ms")
    line("numpy forward", f"{t_plain * 1e3:.1f} ms")
    r = t_trace / t_plain
    line("conv trace / numpy forward", f"{r:.1f}x", "<= 2x", r <= 2)
    p_trace = peak_bytes(lambda: evaluate.trace(conv))
    p_plain = peak_bytes(forward)
    line("tracemalloc peak, trace", fmt_bytes(p_trace))
    line("tracemalloc peak, numpy forward", fmt_bytes(p_plain))
    r = p_trace / p_plain
    line("conv peak memory trace / numpy forward", f"{r:.1f}x", "<= 2x", r <= 2)
    record = tr.layers[0]
    F, oh, ow = record.sums.shape
    picks = list(
        zip(rng.integers(0, F, 1000).tolist(), rng.integers(0, oh, 1000).tolist(), rng.integers(0, ow, 1000).tolist())
    )
    w = record.window(*picks[0])  # the window's working is right
    assert int(w.products.data.sum()) == int(w.total.data), "window products do not add up to the sum"
    for f, i, j in picks[:100]:  # warm-up
        record.window(f, i, j)
    calls = []
    clock = time.perf_counter
    for f, i, j in picks:
        start = clock()
        record.window(f, i, j)
        calls.append(clock() - start)
    t_window = statistics.median(calls)
    line("one window on demand, record.window(f,i,j)", f"{t_window * 1e6:.1f} us", "< 10 us", t_window < 10e-6)
    del tr, record, w

    # 4. rendering
    print(f"\n4. rendering: {RENDER_SIDE}x{RENDER_SIDE} input, one {RENDER_K}x{RENDER_K} filter, Markdown")
    problem = render_problem(rng)
    tr = evaluate.trace(problem)
    windows = math.prod(tr.layers[0].sums.shape)
    doc = render_module.render(tr, "md")
    plain = plain_render(tr)
    assert doc.count("**Output row") == windows == plain.count("**Output row")
    record = tr.layers[0]
    for n in (0, windows // 2, windows - 1):  # the plain rendering's working adds up to the trace's sums
        i, j = divmod(n, record.sums.shape[2])
        assert int(record.window(0, i, j).products.data.sum()) == int(record.sums.data[0, i, j])
    t_render, t_plain = compare(lambda: render_module.render(tr, "md"), lambda: plain_render(tr))
    line("windows (25 terms each)", f"{windows}")
    line("render(trace, 'md')", f"{t_render * 1e3:.1f} ms", None)
    line("plain f-string rendering", f"{t_plain * 1e3:.1f} ms", None)
    line("document sizes, render / plain (info)", f"{len(doc) // 1024}/{len(plain) // 1024} KiB")
    r = t_render / t_plain
    line("render / plain f-strings", f"{r:.1f}x", "<= 1.6x", r <= 1.6)
    per_1000 = t_render / windows * 1000 * 1e3
    line("render ms per 1000 windows of 25 terms", f"{per_1000:.1f} ms", "<= 30 ms", per_1000 <= 30)

    # 5. marking a class
    print("\n5. marking: the tutorial's example working files (examples/tutorial-working-*.toml) as a class")
    check_module = importlib.import_module("stepper.marking.marker")
    working_module = importlib.import_module("stepper.marking.working")
    render_feedback = render_module.render_feedback
    paths = sorted((ROOT / "examples").glob("tutorial-working-*.toml"))
    right = working_module.load_working(ROOT / "examples" / "tutorial-working-right.toml", tutorial)
    assert check_module.Marker(tutorial).check(right).marks == len(check_module.Marker(tutorial).stages)

    def mark_class(with_reports: bool):
        marker = check_module.Marker(tutorial)  # as `stepper check` does: one marker for the class
        for path in paths:
            fb = marker.check(working_module.load_working(path, tutorial))
            if with_reports:
                render_feedback(fb, "md")

    t_mark, t_report = compare(lambda: mark_class(False), lambda: mark_class(True), repeats=7)
    line("working files", f"{len(paths)}")
    line("files marked per second", f"{len(paths) / t_mark:.0f}")
    line(
        "files marked per second, with md reports", f"{len(paths) / t_report:.0f}", ">= 20", len(paths) / t_report >= 20
    )
    seconds = class_from_csv(tutorial, paths)
    line("a class of 200 from one CSV, md reports", f"{seconds:.1f} s", "< 10 s", seconds < 10)

    # 6. exam variants
    print("\n6. exam variants: examples/tutorial-exam.toml, 50 variants drawn and judged, keys rendered")
    exam_module = importlib.import_module("stepper.exams.generate")
    sheets_module = importlib.import_module("stepper.exams.sheets")
    template = importlib.import_module("stepper.exams.variants").load_template(ROOT / "examples" / "tutorial-exam.toml")
    count = 50

    def draw():
        return exam_module.generate(template, count, 1)

    qr_module = importlib.import_module("stepper.exams.qr")
    width_module = importlib.import_module("stepper.writing.maths._width")

    def draw_and_render():
        # as one `stepper exam` run: nothing kept from an earlier repeat (the QR codes, the formulas measured)
        qr_module.modules.cache_clear()
        width_module.tex_width.cache_clear()
        sheets_module.write_exam(sheets_module.InMemory(), template, draw(), 1, ["md", "tex"])

    t_draw, t_all = compare(draw, draw_and_render, repeats=5)
    line("variants drawn per second (fair, distinct)", f"{count / t_draw:.0f}")
    line("variants per second, md+tex sheets and keys", f"{count / t_all:.0f}", ">= 20", count / t_all >= 20)

    # 7. large documents
    scale(rng)

    # 8. start-up
    startup()

    met = sum(ok for _, ok in results)
    missed = [name for name, ok in results if not ok]
    print(
        f"\nsummary: {met} of {len(results)} targets met"
        + (f"; missed: {', '.join(missed)}" if missed else "")
        + f" ({time.perf_counter() - started:.0f} s)"
    )


def lenet_backward(net: Problem) -> None:
    """The backward trace's cost (the loss and every layer's backward record), and for information the same with
    the update (every new weight), on a forward trace made beforehand, against the forward trace itself, on LeNet
    trained one step (lenet_train): as carried, the problem's own settings (the figure), then in full precision
    (for information: what rounding each gradient to the places a student keeps costs)."""
    backward_module = importlib.import_module("stepper.core.backward")
    problem = lenet_train(net)
    train = problem.train
    print("  backward: cross-entropy after a softmax, class 1, rate 0.01; weights in sixteenths (lenet_train)")
    for settings in (problem.settings, Settings(rounding="full")):
        forward_trace = evaluate.trace(problem, settings)
        loss = backward_module.loss_of(forward_trace, train, settings)
        check_backward(problem, forward_trace, backward_module.backward(forward_trace, loss, train, settings))

        def backward_trace(forward_trace=forward_trace, settings=settings):
            loss = backward_module.loss_of(forward_trace, train, settings)
            return backward_module.backward(forward_trace, loss, train, settings)

        def with_update(forward_trace=forward_trace, settings=settings):
            return backward_module.update(problem, backward_trace(forward_trace, settings), train, settings)

        forward = lambda settings=settings: evaluate.trace(problem, settings)  # noqa: E731
        t_back, t_trace = compare(backward_trace, forward, 21)
        t_all, t_trace_too = compare(with_update, forward, 21)
        r, r_all = t_back / t_trace, t_all / t_trace_too
        if settings.rounding == "carry":
            line(
                f"backward trace (loss, every gradient), carried to {settings.decimals} places",
                f"{t_back * 1e3:.2f} ms",
            )
            line("forward trace", f"{t_trace * 1e3:.2f} ms")
            line("LeNet backward trace / LeNet forward trace", f"{r:.1f}x", "<= 3x", r <= 3)
            line("the same with the update (info)", f"{r_all:.1f}x")
        else:
            line("the backward trace in full precision (info)", f"{r:.1f}x; {r_all:.1f}x with the update")


def class_from_csv(tutorial: Problem, paths: list[Path], students: int = 200) -> float:
    """`stepper check tutorial.toml answers.csv`, the whole command in this process, for a class of 200 made
    from the example working files (one student a row, every third with filter 1's first cell wrong), with a
    Markdown report each and the class summary: the median of 3 runs, in seconds."""
    import csv
    import tempfile

    from stepper.cli import main as stepper_main
    from stepper.marking.spreadsheet import cell_names
    from stepper.marking.working import load_working

    examples = [load_working(path, tutorial) for path in paths]
    rows = []
    for k in range(students):
        working = examples[k % len(examples)]
        row = {"student": f"{working.student} {k:03d}"}
        for answer in working.answers:
            if answer.values.shape == answer.stage.shape:
                row |= dict(zip(cell_names(answer.stage), answer.written))
            else:  # a map of another shape (no padding): the stage whole, in one cell
                width = answer.values.shape[-1]
                cells = answer.written
                row[answer.stage.key] = "\n".join(" ".join(cells[i : i + width]) for i in range(0, len(cells), width))
        if k % 3 == 1 and "layer1.filter1[1,1]" in row:
            row["layer1.filter1[1,1]"] = str(int(row["layer1.filter1[1,1]"]) + 3)
        rows.append(row)
    with tempfile.TemporaryDirectory() as folder:
        sheet = Path(folder) / "answers.csv"
        with sheet.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, list(dict.fromkeys(c for row in rows for c in row)))
            writer.writeheader()
            writer.writerows(rows)
        argv = ["check", str(ROOT / "examples" / "tutorial.toml"), str(sheet), "--out", str(Path(folder) / "out")]
        times = []
        for _ in range(3):
            started = time.perf_counter()
            _quietly(stepper_main, argv)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def scale(rng) -> None:
    """The estimate against the work it foresees, and what writing LeNet's documents at --detail 2 costs."""
    import shutil
    import tempfile
    from dataclasses import replace

    estimate_module = importlib.import_module("stepper.writing.estimate")
    cli = importlib.import_module("stepper.cli")
    print("\n7. large documents: d2l's LeNet (1x28x28; sigmoid, average pooling), --detail 2")
    net = d2l_lenet(rng)
    settings = replace(net.settings, detail=2)

    def solve():
        traced = evaluate.trace(net, settings)
        return render_module.render(traced, "md", settings), render_module.render(traced, "tex", settings)

    guess = estimate_module.estimate(net, settings)
    md, tex = solve()
    line("estimate: windows, bytes (info)", f"{guess.windows}, {guess.bytes // 1000} kB")
    line("written: md, tex bytes (info)", f"{len(md) // 1000}, {len(tex) // 1000} kB")
    t_estimate, t_solve = compare(lambda: estimate_module.estimate(net, settings), solve, repeats=5)
    line("estimate", f"{t_estimate * 1e3:.2f} ms")
    line("trace + render md and tex", f"{t_solve * 1e3:.0f} ms")
    r = t_estimate / t_solve
    line("estimate / solving", f"{r * 100:.2f}%", "< 5%", r < 0.05)
    if shutil.which("pdflatex") is None:
        print("  (no pdflatex: the documents are not typeset)")
        return
    with tempfile.TemporaryDirectory() as folder:
        problem = Path(folder, "lenet.toml")
        problem.write_text(importlib.import_module("stepper.interop.dump").dumps(net), encoding="utf-8")
        args = ["solve", str(problem), "--detail", "2", "--out", str(Path(folder, "out"))]
        start = time.perf_counter()
        _quietly(cli.main, args)
        seconds = time.perf_counter() - start
        tex_peak = _children_peak()
        peak = peak_bytes(lambda: _quietly(cli.main, args + ["--format", "md,tex"]))  # tracemalloc slows it
        pages = _pages(Path(folder, "out", "lenet.pdf"))
    line("stepper solve: md, tex and pdf (one run)", f"{seconds:.1f} s")
    line("tracemalloc peak of stepper, md and tex (info)", fmt_bytes(peak))
    line("largest LaTeX run, max RSS (info)", fmt_bytes(tex_peak))
    line("PDF pages (info)", pages)


def startup(repeats: int = 11) -> None:
    """`import stepper` in a new interpreter, and the tutorial's whole command against pdflatex alone on its .tex.

    Each is a new process, as a user's command is. The two sides of the ratio run back to back, so that each
    pair shares the machine's state of the moment, and the ratio is the median of the pairs' ratios."""
    import shutil
    import subprocess
    import tempfile

    print("\n8. start-up: new processes, medians of", repeats)
    code = "import time; t = time.perf_counter(); import stepper; print(time.perf_counter() - t)"
    seconds = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(repeats)
    ]
    t_import = statistics.median(seconds)
    line("import stepper", f"{t_import * 1e3:.0f} ms", "< 150 ms", t_import < 0.15)
    if shutil.which("pdflatex") is None:
        print("  (no pdflatex: the whole command is not timed)")
        return
    with tempfile.TemporaryDirectory() as folder:
        out, alone = Path(folder, "out"), Path(folder, "alone")
        alone.mkdir()
        solve = [sys.executable, "-m", "stepper", "solve", "--out", str(out), "--force"]
        subprocess.run(solve, capture_output=True, check=True)
        shutil.copy(out / "tutorial.tex", alone / "tutorial.tex")
        pdflatex = ["pdflatex", "-interaction=batchmode", "-no-shell-escape", "tutorial.tex"]
        ours, theirs = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(solve, capture_output=True, check=True)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(pdflatex, cwd=alone, capture_output=True, check=True)
            theirs.append(time.perf_counter() - start)
    t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
    line("stepper solve: md, tex and pdf", f"{t_ours * 1e3:.0f} ms")
    line("pdflatex alone on the same .tex", f"{t_theirs * 1e3:.0f} ms")
    r = statistics.median(a / b for a, b in zip(ours, theirs))
    line("whole command / pdflatex alone", f"{r:.2f}x", "<= 1.5x", r <= 1.5)


def _quietly(fn, *args):
    """fn(*args) with its stdout and stderr (the files it wrote, the estimate line) kept off the report."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = fn(*args)
    assert status == 0, f"{fn.__name__}{args} exited with {status}"


def _pages(pdf: Path) -> str:
    import subprocess

    try:
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return next((row.split()[1] for row in info.splitlines() if row.startswith("Pages:")), "?")


def _children_peak() -> int:
    """The largest resident set of any child process so far (the LaTeX runs), in bytes."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


if __name__ == "__main__":
    main()
