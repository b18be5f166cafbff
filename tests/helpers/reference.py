"""An independent forward pass, for checking stepper's trace.

It shares no code with stepper: it reads the same problem description (plain
dicts, as a TOML file holds them), computes with numpy object arrays of
Python Fractions (exact) and math.exp, loops over windows in plain Python, and
rounds with Decimal-free Fraction arithmetic, half away from zero.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def number(x) -> Fraction:
    if isinstance(x, str):
        return Fraction(x.replace("\u2212", "-"))
    return Fraction(str(x)) if isinstance(x, float) else Fraction(x)


def grid(raw) -> np.ndarray:
    if isinstance(raw, str):
        rows = [line.replace(",", " ").split() for line in raw.strip().splitlines() if line.strip()]
    else:
        rows = raw
    return np.array([[number(x) for x in row] for row in rows], dtype=object)


def channels(raw) -> np.ndarray:
    """(C, H, W) from one grid or a list of grids."""
    if (
        isinstance(raw, list)
        and raw
        and (
            isinstance(raw[0], str)
            and len(raw[0].split()) > 1
            or isinstance(raw[0], list)
            and raw[0]
            and isinstance(raw[0][0], list)
        )
    ):
        return np.stack([grid(g) for g in raw])
    return grid(raw)[None]


def round_half_away(x, places: int) -> Fraction:
    f = Fraction(x) if not isinstance(x, float) else Fraction(x)
    unit = 10**places
    scaled = abs(f) * unit
    q = math.floor(scaled)
    if scaled - q >= Fraction(1, 2):
        q += 1
    return Fraction(q if f >= 0 else -q, unit)


def carry(a: np.ndarray, places: int) -> np.ndarray:
    """What a student writes down: values with more than `places` decimals are rounded."""
    unit = 10**places
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        v = Fraction(v)
        out[idx] = v if (v * unit).denominator == 1 else round_half_away(v, places)
    return out


def same_padding(n: int, k: int, s: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def filter_grids(layer: dict) -> list[np.ndarray]:
    """Each filter of a layer as a (C, kh, kw) array; one filter may be written without the outer list."""
    filters = layer["filters"]
    if (
        isinstance(filters, list)
        and filters
        and isinstance(filters[0], list)
        and filters[0]
        and not isinstance(filters[0][0], (list, str))
    ):
        filters = [filters]
    if isinstance(filters, str):
        filters = [filters]
    return [channels(f) for f in filters]


def conv2d(x: np.ndarray, layer: dict) -> np.ndarray:
    kernels = filter_grids(layer)
    if layer.get("flip", False):  # a true convolution turns each filter 180 degrees
        kernels = [k[:, ::-1, ::-1] for k in kernels]
    sh, sw = pair(layer.get("stride", 1))
    dh, dw = pair(layer.get("dilation", 1))
    padding = layer.get("padding", 0)
    C, H, W = x.shape
    kh, kw = kernels[0].shape[1:]
    reach_h, reach_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "valid":
        pads = (0, 0, 0, 0)
    elif padding == "same":
        pads = same_padding(H, reach_h, sh) + same_padding(W, reach_w, sw)
    elif isinstance(padding, list) and len(padding) == 4:
        pads = tuple(padding)
    elif isinstance(padding, list):
        pads = (padding[0], padding[0], padding[1], padding[1])
    else:
        pads = (padding,) * 4
    padded = np.full((C, H + pads[0] + pads[1], W + pads[2] + pads[3]), Fraction(0), dtype=object)
    padded[:, pads[0] : pads[0] + H, pads[2] : pads[2] + W] = x
    oh = (padded.shape[1] - reach_h) // sh + 1
    ow = (padded.shape[2] - reach_w) // sw + 1
    bias = [number(b) for b in layer.get("bias", [0] * len(kernels))]
    out = np.empty((len(kernels), oh, ow), dtype=object)
    for f, k in enumerate(kernels):
        for i in range(oh):
            for j in range(ow):
                total = Fraction(0)
                for c in range(C):
                    for a in range(kh):
                        for b in range(kw):
                            total += padded[c, i * sh + a * dh, j * sw + b * dw] * k[c, a, b]
                out[f, i, j] = total + bias[f]
    return out


def conv_transpose2d(x: np.ndarray, layer: dict) -> np.ndarray:
    """Each input cell adds filter * value into the output, shifted by the stride; then the padding is trimmed."""
    kernels = filter_grids(layer)
    (sh, sw), (ph, pw) = pair(layer.get("stride", 1)), pair(layer.get("padding", 0))
    ah, aw = pair(layer.get("output_padding", 0))
    C, H, W = x.shape
    kh, kw = kernels[0].shape[1:]
    full_h, full_w = (H - 1) * sh + kh + ah, (W - 1) * sw + kw + aw
    full = np.full((len(kernels), full_h, full_w), Fraction(0), dtype=object)
    for f, k in enumerate(kernels):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    for a in range(kh):
                        for b in range(kw):
                            full[f, i * sh + a, j * sw + b] += x[c, i, j] * k[c, a, b]
    out = full[:, ph : full_h - ph, pw : full_w - pw]
    bias = [number(b) for b in layer.get("bias", [0] * len(kernels))]
    return np.array([out[f] + bias[f] for f in range(len(kernels))], dtype=object)


def pair(raw) -> tuple[int, int]:
    return (raw[0], raw[1]) if isinstance(raw, list) else (raw, raw)


def pool(x: np.ndarray, layer: dict) -> np.ndarray:
    C, H, W = x.shape
    if layer["type"] == "globalavgpool":
        kh, kw, sh, sw = H, W, 1, 1
    else:
        kh, kw = pair(layer["size"])
        sh, sw = pair(layer.get("stride", layer["size"]))
    padding = layer.get("padding", 0)
    top, bottom, left, right = (
        (padding,) * 4
        if isinstance(padding, int)
        else ((padding[0], padding[0], padding[1], padding[1]) if len(padding) == 2 else tuple(padding))
    )
    oh, ow = (H + top + bottom - kh) // sh + 1, (W + left + right - kw) // sw + 1
    out = np.empty((C, oh, ow), dtype=object)
    for c in range(C):
        for i in range(oh):
            for j in range(ow):
                # cells of the window inside the map; padding is skipped by max, counted as 0 by the average
                cells = [
                    x[c, r, q]
                    for a in range(kh)
                    for b in range(kw)
                    for r, q in [(i * sh + a - top, j * sw + b - left)]
                    if 0 <= r < H and 0 <= q < W
                ]
                if layer["type"] == "maxpool":
                    out[c, i, j] = max(cells)
                else:
                    out[c, i, j] = sum(cells, Fraction(0)) / (kh * kw)
    return out


def forward(data: dict, rounding: str = "carry", places: int = 4) -> list[np.ndarray]:
    """Each layer's output, as carried forward (Fractions; floats only where rounding is 'full')."""
    x = channels(data["input"])
    outputs = []
    for layer in data.get("layers", []):
        kind = layer["type"]
        if kind == "conv2d":
            y = conv2d(x, layer)
        elif kind == "conv_transpose2d":
            y = conv_transpose2d(x, layer)
        elif kind in ("maxpool", "avgpool", "globalavgpool"):
            y = pool(x, layer)
        elif kind == "relu":
            y = np.vectorize(lambda v: v if v > 0 else v * 0, otypes=[object])(x)
        elif kind == "leaky_relu":
            slope = number(layer.get("slope", "0.01"))
            y = np.vectorize(lambda v: v if v > 0 else v * slope, otypes=[object])(x)
        elif kind == "identity":
            y = x
        elif kind == "flatten":
            y = x.reshape(-1)
        elif kind == "tanh":
            y = np.vectorize(lambda v: math.tanh(float(v)), otypes=[object])(x)
            if rounding == "carry":
                y = np.vectorize(lambda v: round_half_away(v, places), otypes=[object])(y)
        elif kind == "conv1x1":
            w = [number(v) for v in layer["weights"]]
            y = sum((w[c] * x[c] for c in range(x.shape[0])), np.zeros(x.shape[1:], dtype=object))[None]
            if "bias" in layer:
                y = y + number(layer["bias"])
        elif kind == "dense":
            flat = x.reshape(-1)
            rows = []
            for w in layer["weights"]:
                flat_list = isinstance(w, list) and all(
                    not isinstance(v, list) and not (isinstance(v, str) and len(v.split()) > 1) for v in w
                )
                wv = np.array([number(v) for v in w], dtype=object) if flat_list else channels(w).reshape(-1)
                rows.append(sum((a * b for a, b in zip(wv, flat)), Fraction(0)))
            bias = [number(b) for b in layer.get("bias", [0] * len(rows))]
            y = np.array([r + b for r, b in zip(rows, bias)], dtype=object)
        elif kind == "sigmoid":
            y = np.vectorize(
                lambda v: 1 / (1 + math.exp(-float(v))) if v >= 0 else math.exp(float(v)) / (1 + math.exp(float(v))),
                otypes=[object],
            )(x)
            if rounding == "carry":
                y = np.vectorize(lambda v: round_half_away(v, places), otypes=[object])(y)
        elif kind == "softmax":
            z = [float(v) for v in x.reshape(-1)]
            # stepper's documented rule: shift by the largest z when some |z| > 30
            # or when the largest e^z is below one unit of the last decimal place
            m = max(z) if max(abs(v) for v in z) > 30 or math.exp(max(z)) < 10.0**-places else 0.0
            exps = [math.exp(v - m) for v in z]
            if rounding == "carry":
                exps = [round_half_away(e, places) for e in exps]
                total = sum(exps, Fraction(0))
                y = np.array([round_half_away(e / total, places) for e in exps], dtype=object)
            else:
                total = sum(exps)
                y = np.array([e / total for e in exps], dtype=object)
        else:
            raise ValueError(kind)
        if rounding == "carry" and kind not in ("sigmoid", "tanh", "softmax"):
            y = carry(y, places) if all(not isinstance(v, float) for v in y.ravel()) else y
        outputs.append(y)
        x = y
    return outputs
