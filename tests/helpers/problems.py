"""Random problems for the property tests: networks of every layer kind, as TOML a problem file would hold."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

NUMBERS = st.one_of(st.integers(-4, 5), st.sampled_from(["1/2", "-1/3", "0.25", "-1.5", "2/3", "0.1"]))


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return str(v)


def to_toml(problem: dict) -> str:
    lines = [f"input = {toml_value(problem['input'])}", "[settings]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in problem["settings"].items()]
    for layer in problem["layers"]:
        lines.append("[[layers]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in layer.items()]
    return "\n".join(lines) + "\n"


def matrix(draw, rows: int, cols: int, elements=NUMBERS) -> list:
    return [[draw(elements) for _ in range(cols)] for _ in range(rows)]


@st.composite
def problems(draw) -> dict:
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(2, 7)), draw(st.integers(2, 7))
    problem = {
        "input": [matrix(draw, H, W, st.integers(-3, 6)) for _ in range(C)],
        "settings": {"rounding": draw(st.sampled_from(["carry", "full"])), "decimals": draw(st.integers(2, 6))},
        "layers": [],
    }
    shape = (C, H, W)
    for _ in range(draw(st.integers(1, 6))):
        options = ["relu", "leaky_relu", "sigmoid", "tanh", "identity", "dense", "softmax", "flatten"]
        if len(shape) == 3:
            options += ["conv2d", "conv2d", "conv_transpose2d", "maxpool", "avgpool", "globalavgpool", "conv1x1"]
        kind = draw(st.sampled_from(options))
        layer: dict = {"type": kind}
        if kind == "conv2d":
            C, H, W = shape
            kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            dh, dw = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2]))
            rh, rw = (kh - 1) * dh + 1, (kw - 1) * dw + 1  # the rows and columns one window reaches
            padding = draw(st.sampled_from([0, 1, 2, "same", "valid", "pair", "sides"]))
            if padding == "pair":
                padding = [draw(st.integers(0, rh - 1)), draw(st.integers(0, rw - 1))]
            elif padding == "sides":
                padding = [
                    draw(st.integers(0, rh - 1)),
                    draw(st.integers(0, rh - 1)),
                    draw(st.integers(0, rw - 1)),
                    draw(st.integers(0, rw - 1)),
                ]
            elif isinstance(padding, int):
                padding = min(padding, rh - 1, rw - 1)  # more padding than that adds windows of zeros only
            sides = (
                {"valid": [0] * 4, "same": None}.get(padding)
                if isinstance(padding, str)
                else (
                    [padding] * 4
                    if isinstance(padding, int)
                    else [padding[0], padding[0], padding[1], padding[1]]
                    if len(padding) == 2
                    else padding
                )
            )
            if sides is not None and (rh > H + sides[0] + sides[1] or rw > W + sides[2] + sides[3]):
                padding, sides = "same", None  # "same" always fits
            F = draw(st.integers(1, 3))
            layer.update(
                stride=sh if sh == sw and draw(st.booleans()) else [sh, sw],
                padding=padding,
                filters=[[matrix(draw, kh, kw) for _ in range(C)] for _ in range(F)],
            )
            if (dh, dw) != (1, 1):
                layer["dilation"] = [dh, dw]
            if draw(st.booleans()):
                layer["bias"] = [draw(NUMBERS) for _ in range(F)]
            if draw(st.integers(0, 3)) == 0:
                layer["flip"] = True
            if sides is None:
                out = (-(-H // sh), -(-W // sw))
            else:
                out = ((H + sides[0] + sides[1] - rh) // sh + 1, (W + sides[2] + sides[3] - rw) // sw + 1)
            shape = (F,) + out
        elif kind == "conv_transpose2d":
            C, H, W = shape
            kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
            ah, aw = draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))
            oh, ow = (H - 1) * sh - 2 * ph + kh + ah, (W - 1) * sw - 2 * pw + kw + aw
            if oh < 1 or ow < 1 or oh * ow > 100:
                continue  # nothing left after trimming, or a map too big to be worth working
            F = draw(st.integers(1, 2))
            layer.update(
                stride=[sh, sw],
                padding=[ph, pw],
                output_padding=[ah, aw],
                filters=[[matrix(draw, kh, kw) for _ in range(C)] for _ in range(F)],
            )
            if draw(st.booleans()):
                layer["bias"] = [draw(NUMBERS) for _ in range(F)]
            shape = (F, oh, ow)
        elif kind in ("maxpool", "avgpool"):
            C, H, W = shape
            kh, kw = draw(st.integers(1, min(H, 3))), draw(st.integers(1, min(W, 3)))
            sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            layer.update(size=kh if kh == kw and draw(st.booleans()) else [kh, kw], stride=sh if sh == sw else [sh, sw])
            ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))  # at most half a window
            if (ph, pw) != (0, 0):
                layer["padding"] = ph if ph == pw else [ph, pw]
            shape = (C, (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1)
        elif kind == "globalavgpool":
            shape = (shape[0], 1, 1)
        elif kind == "conv1x1":
            layer["weights"] = [draw(NUMBERS) for _ in range(shape[0])]
            if draw(st.booleans()):
                layer["bias"] = draw(NUMBERS)
            shape = (1,) + shape[1:]
        elif kind == "dense":
            size = int(np.prod(shape))
            n = draw(st.integers(1, 4))
            layer["weights"] = [[draw(NUMBERS) for _ in range(size)] for _ in range(n)]
            if draw(st.booleans()):
                layer["bias"] = [draw(NUMBERS) for _ in range(n)]
            shape = (n,)
        elif kind in ("softmax", "flatten"):
            shape = (int(np.prod(shape)),)
        elif kind == "leaky_relu" and draw(st.booleans()):
            layer["slope"] = draw(st.sampled_from(["0.01", "0.1", "1/4", "0"]))
        problem["layers"].append(layer)
    return problem
