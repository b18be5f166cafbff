"""The trace JSON's `training` object (a problem with [train]): it validates against the shipped schema, and its
loss, gradients, updates, losses and backward stages equal a plain numpy backward pass written here, cell by cell
with loops, from the JSON's own input and parameters (in full precision), and, as carried rounded, each layer's
step from the JSON's own carried values rounded to the settings' places."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest

from stepper import load, trace
from stepper.writing.data import trace_data, trace_json
from tests.helpers import ROOT

jsonschema = pytest.importorskip("jsonschema")

TRAINED = ["tutorial-train", "mazur-backprop"]


def validator():
    schema = json.loads(resources.files("stepper.writing").joinpath("trace.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def problem_of(name: str):
    return load(ROOT / "examples" / f"{name}.toml")


def data_of(name: str, **settings) -> dict:
    problem = problem_of(name)
    return json.loads(trace_json(trace(problem, replace(problem.settings, **settings))))


def arr(a: dict) -> np.ndarray:
    """An Array's float values in its shape."""
    return np.array(a["value"], dtype=np.float64).reshape(a["shape"])


def num(n: dict) -> float:
    return float(n["value"])


# ---- a plain numpy network, read from the JSON's forward layers ----


def network(data: dict) -> list[dict]:
    """Each layer's kind and parameters (float64), read from the JSON's forward part."""
    layers = []
    for layer in data["layers"]:
        kind, p = layer["kind"], {"kind": layer["kind"]}
        if kind == "conv2d":
            pad = layer["padding"]
            p |= {
                "filters": arr(layer["filters"]),  # as applied
                "bias": None if layer["bias"] is None else arr(layer["bias"]),
                "stride": tuple(layer["stride"]),
                "padding": (pad["top"], pad["bottom"], pad["left"], pad["right"]),
            }
            assert layer["dilation"] == [1, 1] and not layer["flip"], "this test's convolution has no dilation"
        elif kind == "maxpool":
            pad = layer["padding"]
            assert not any(pad.values()), "this test's pooling has no padding"
            p |= {"size": tuple(layer["size"]), "stride": tuple(layer["stride"])}
        elif kind in ("conv1x1", "dense"):
            p |= {"weights": arr(layer["weights"]), "bias": None if layer["bias"] is None else arr(layer["bias"])}
        else:
            assert kind in ("relu", "sigmoid", "softmax"), kind
        layers.append(p)
    return layers


def with_params(layers: list[dict], params: dict[tuple[int, str], np.ndarray]) -> list[dict]:
    """The network with some parameters replaced: {(layer number, field): array}."""
    out = [dict(p) for p in layers]
    for (number, name), value in params.items():
        field = "filters" if name == "filters" else name
        out[number - 1][field] = value.reshape(out[number - 1][field].shape)
    return out


def forward_one(p: dict, x: np.ndarray) -> np.ndarray:
    kind = p["kind"]
    if kind == "conv2d":
        top, bottom, left, right = p["padding"]
        xp = np.pad(x, ((0, 0), (top, bottom), (left, right)))
        K, (sh, sw) = p["filters"], p["stride"]
        F, C, kh, kw = K.shape
        oh, ow = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
        out = np.zeros((F, oh, ow))
        for f in range(F):
            for i in range(oh):
                for j in range(ow):
                    out[f, i, j] = np.sum(K[f] * xp[:, i * sh : i * sh + kh, j * sw : j * sw + kw])
                    out[f, i, j] += 0.0 if p["bias"] is None else p["bias"][f]
        return out
    if kind == "maxpool":
        (kh, kw), (sh, sw) = p["size"], p["stride"]
        C, H, W = x.shape
        oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
        out = np.zeros((C, oh, ow))
        for c in range(C):
            for i in range(oh):
                for j in range(ow):
                    out[c, i, j] = x[c, i * sh : i * sh + kh, j * sw : j * sw + kw].max()
        return out
    if kind == "conv1x1":
        out = sum(p["weights"][c] * x[c] for c in range(x.shape[0]))[None]
        return out + (0.0 if p["bias"] is None else p["bias"][0])
    if kind == "dense":
        return p["weights"] @ x.reshape(-1) + (0.0 if p["bias"] is None else p["bias"])
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-x))
    e = np.exp(x.reshape(-1) - x.max())  # softmax
    return e / e.sum()


def forward(layers: list[dict], x: np.ndarray) -> list[np.ndarray]:
    xs = [x]
    for p in layers:
        xs.append(forward_one(p, xs[-1]))
    return xs


def loss_and_grad(kind: str, p: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """L and dL/dyhat (never the combined shortcut: the softmax's own Jacobian is applied below)."""
    if kind == "half_sse":
        return 0.5 * np.sum((p - y) ** 2), p - y
    if kind == "mse":
        return np.mean((p - y) ** 2), 2 * (p - y) / p.size
    assert kind == "cross_entropy"
    return -np.sum(y[y > 0] * np.log(p[y > 0])), np.where(y > 0, -y / np.where(p > 0, p, 1), 0.0)


def back_one(p: dict, x: np.ndarray, y: np.ndarray, g: np.ndarray) -> dict:
    """One layer's gradients by loops: dL/d(input), and dL/d(weights) and dL/db where it has them."""
    kind = p["kind"]
    out: dict = {"local": None, "weights": None, "bias": None}
    if kind == "conv2d":
        top, bottom, left, right = p["padding"]
        xp = np.pad(x, ((0, 0), (top, bottom), (left, right)))
        K, (sh, sw) = p["filters"], p["stride"]
        F, C, kh, kw = K.shape
        dK, dxp = np.zeros_like(K), np.zeros_like(xp)
        for f in range(F):
            for i in range(g.shape[1]):
                for j in range(g.shape[2]):
                    dK[f] += g[f, i, j] * xp[:, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    dxp[:, i * sh : i * sh + kh, j * sw : j * sw + kw] += g[f, i, j] * K[f]
        out |= {
            "weights": dK,
            "bias": None if p["bias"] is None else g.sum(axis=(1, 2)),
            "input": dxp[:, top : top + x.shape[1], left : left + x.shape[2]],
        }
    elif kind == "maxpool":
        (kh, kw), (sh, sw) = p["size"], p["stride"]
        dx, share = np.zeros_like(x), np.zeros_like(x)
        for c in range(g.shape[0]):
            for i in range(g.shape[1]):
                for j in range(g.shape[2]):
                    window = x[c, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    u, v = divmod(int(np.argmax(window)), kw)  # the first maximum in reading order
                    dx[c, i * sh + u, j * sw + v] += g[c, i, j]
                    share[c, i * sh + u, j * sw + v] += 1
        out |= {"input": dx, "local": share}
    elif kind == "conv1x1":
        out |= {
            "weights": np.array([np.sum(g[0] * x[c]) for c in range(x.shape[0])]),
            "bias": None if p["bias"] is None else np.array([g.sum()]),
            "input": np.stack([p["weights"][c] * g[0] for c in range(x.shape[0])]),
        }
    elif kind == "dense":
        xf = x.reshape(-1)
        dW = np.array([[g[k] * xf[d] for d in range(xf.size)] for k in range(g.size)])
        dx = np.array([sum(p["weights"][k, d] * g[k] for k in range(g.size)) for d in range(xf.size)])
        out |= {"weights": dW, "bias": None if p["bias"] is None else g.copy(), "input": dx.reshape(x.shape)}
    elif kind == "relu":
        out |= {"local": (x > 0).astype(float), "input": g * (x > 0)}
    elif kind == "sigmoid":
        out |= {"local": y * (1 - y), "input": g * y * (1 - y)}
    else:  # softmax: its Jacobian, diag(s) - s s^T
        s = y.reshape(-1)
        jacobian = np.diag(s) - np.outer(s, s)
        out |= {"input": (jacobian.T @ g.reshape(-1)).reshape(x.shape)}
    return out


def backward(layers: list[dict], xs: list[np.ndarray], grad: np.ndarray) -> dict[int, dict]:
    """Every layer's gradients, by number, with its upstream."""
    found = {}
    for number in range(len(layers), 0, -1):
        g = grad.reshape(xs[number].shape)
        record = back_one(layers[number - 1], xs[number - 1], xs[number], g)
        found[number] = record | {"upstream": g}
        grad = record["input"]
    return found


# ---- the schema ----


@pytest.mark.parametrize("name", TRAINED)
@pytest.mark.parametrize("settings", [{}, {"rounding": "full"}, {"detail": "answers"}, {"detail": 1, "terms": "all"}])
def test_the_training_json_validates(name, settings):
    data = data_of(name, **settings)
    assert "training" in data
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(data)]
    assert errors == [], errors[:5]


def test_the_schema_refuses_a_broken_training_object():
    """The schema can fail: a training object without its losses, or with a gradient that is not an Array."""
    check = validator()
    data = data_of("mazur-backprop")
    del data["training"]["losses"]
    assert list(check.iter_errors(data))
    data = data_of("mazur-backprop")
    data["training"]["layers"][0]["input"] = [0.1, 0.2]
    assert list(check.iter_errors(data))
    data = data_of("mazur-backprop")
    data["training"]["settings"]["loss"] = "hinge"
    assert list(check.iter_errors(data))


def test_without_train_the_data_is_as_it_was():
    """The same network without [train]: the same data, field for field, without `training`."""
    problem = problem_of("tutorial-train")
    with_train = trace_data(trace(problem))
    without = trace_data(trace(replace(problem, train=None)))
    assert "training" not in without
    assert {k: v for k, v in with_train.items() if k != "training"} == without
    assert "training" not in json.loads(trace_json(trace(load(ROOT / "examples" / "tutorial.toml"))))


# ---- the numbers against numpy ----


def close(got: np.ndarray | float, expected: np.ndarray | float, what: str, tol: float = 1e-12) -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    assert np.allclose(got, expected, rtol=1e-9, atol=tol), f"{what}: {got} != {expected}"


def stage_value(key: str, loss: float, grads: dict, new: dict, shape: tuple[int, ...]) -> np.ndarray:
    """A backward stage's values from the numpy pass, parted as its key says (loss, layer6.grad.z1,
    layer1.dw.filter2, layer4.dw.values, layer3.db, layer6.new.neuron1, layer6.new_bias)."""
    if key == "loss":
        return np.array(loss)
    layer, what, *rest = key.split(".")
    number = int(layer[len("layer") :])
    part = rest[0] if rest else ""
    if what == "grad":
        whole = grads[number]["upstream"]
    elif what == "dw":
        whole = grads[number]["weights"]
    elif what == "db":
        return grads[number]["bias"]
    elif what == "new_bias":
        return new[(number, "bias")]
    else:
        whole = next(v for (n, name), v in new.items() if n == number and name != "bias")
    if part in ("values", "map") and whole.shape[0] == 1 and len(shape) < whole.ndim:
        return whole[0]
    if part == "values":
        return whole
    head = part.rstrip("0123456789")
    if "_channel" in part:  # filter2_channel1
        f, c = part.removeprefix("filter").split("_channel")
        return whole[int(f) - 1, int(c) - 1]
    index = int(part[len(head) :]) - 1
    piece = whole[index]
    return piece[0] if head == "filter" and what != "grad" and piece.ndim == 3 else piece.reshape(shape)


@pytest.mark.parametrize("name", TRAINED)
def test_full_precision_training_equals_numpy(name):
    """With rounding = "full", every number of `training` equals the plain numpy pass to 1e-12."""
    data = data_of(name, rounding="full")
    training = data["training"]
    layers = network(data)
    x = arr(data["input"])
    xs = forward(layers, x)
    close(arr(data["output"]), xs[-1], "forward output")
    settings = training["settings"]
    y, kind, rate = arr(settings["target"]), settings["loss"], num(settings["learning_rate"])
    loss, d_out = loss_and_grad(kind, xs[-1].reshape(-1), y)
    grads = backward(layers, xs, d_out)

    got = training["loss"]
    close(num(got["value"]), loss, "L")
    close(arr(got["output"]), xs[-1].reshape(-1), "yhat")
    close(arr(got["target"]), y, "y")
    close(arr(got["terms"]).sum() / (y.size if kind == "mse" else 1), loss, "the terms add up to L")
    combined = got["combined"]
    assert combined == (kind == "cross_entropy")
    start = len(layers) - 1 if combined else len(layers)
    first = grads[start]["upstream"].reshape(-1)  # dL/dz at the softmax's input, by its Jacobian
    close(arr(got["gradient"]), first, "the loss's gradient")

    assert [g["number"] for g in training["layers"]] == list(range(start, 0, -1))
    for g in training["layers"]:
        ours, what = grads[g["number"]], f"layer {g['number']} ({g['kind']})"
        assert g["kind"] == layers[g["number"] - 1]["kind"]
        for field in ("upstream", "input", "weights", "bias", "local"):
            if g[field] is None:
                assert ours[field] is None or field == "local", f"{what}: no {field}"
            else:
                close(arr(g[field]), ours[field].reshape(g[field]["shape"]), f"{what}: {field}")

    update_bias = settings["update_bias"]
    new, names = {}, []
    for number in range(1, len(layers) + 1):
        p = layers[number - 1]
        for field, grad_field in (("filters", "weights"), ("weights", "weights"), ("bias", "bias")):
            if p.get(field) is None or number > start or (field == "bias" and not update_bias):
                continue
            old = p[field]
            new[(number, field)] = old - rate * grads[number][grad_field].reshape(old.shape)
            names.append((number, field))
    assert [(u["layer"], u["name"]) for u in training["updates"]] == names
    for u in training["updates"]:
        what = f"layer {u['layer']} {u['name']}"
        key = (u["layer"], u["name"])
        close(arr(u["old"]), layers[u["layer"] - 1][u["name"]].reshape(u["old"]["shape"]), f"{what}: old")
        grad = grads[u["layer"]]["weights" if u["name"] != "bias" else "bias"]
        close(arr(u["grad"]), grad.reshape(u["grad"]["shape"]), f"{what}: grad")
        close(arr(u["new"]), new[key].reshape(u["new"]["shape"]), f"{what}: new")

    after = forward(with_params(layers, new), x)
    loss_after, _ = loss_and_grad(kind, after[-1].reshape(-1), y)
    assert len(training["losses"]) == settings["steps"] + 1 == 2
    close([num(n) for n in training["losses"]], [loss, loss_after], "losses")

    for s in training["stages"]:
        shape = tuple(s["shape"])
        assert s["values"]["shape"] == list(shape), s["key"]
        expected = stage_value(s["key"], loss, grads, new, shape)
        close(arr(s["values"]), np.asarray(expected).reshape(shape), f"stage {s['key']}")
    keys = [s["key"] for s in training["stages"]]
    assert keys[0] == "loss" and len(keys) == len(set(keys))


def test_mazur_published_numbers():
    """Matt Mazur's step-by-step example: the total error, and every weight after the update, as he gives them."""
    training = data_of("mazur-backprop")["training"]
    assert abs(num(training["loss"]["value"]) - 0.298371109) < 1e-9
    new = {u["layer"]: arr(u["new"]) for u in training["updates"]}
    assert set(new) == {1, 3}  # the biases stay (update_bias = false)
    close(new[3], [[0.35891648, 0.408666186], [0.511301270, 0.561370121]], "w5..w8", tol=1e-8)
    close(new[1], [[0.149780716, 0.19956143], [0.24975114, 0.29950229]], "w1..w4", tol=1e-8)
    assert abs(num(training["losses"][1]) - 0.291027924) < 1e-6
    assert training["conventions"]["update"].endswith("the biases stay as they are")


def carried(value: np.ndarray, exact: np.ndarray, places: int, what: str) -> None:
    """`value` is `exact` rounded to `places` (a tie may go either way in floats)."""
    value, exact = np.asarray(value, dtype=float), np.asarray(exact, dtype=float).reshape(np.shape(value))
    unit = 10.0**places
    assert np.allclose(value * unit, np.round(value * unit), atol=1e-6), f"{what}: not to {places} places"
    assert np.all(np.abs(value - exact) <= 0.5 / unit + 1e-9), f"{what}: {value} is not {exact} rounded"


def test_carried_gradients_are_each_layers_step_rounded():
    """The tutorial as carried (4 places): each layer's gradients are its own step from the JSON's carried values,
    rounded; each layer's upstream is the input gradient of the layer after it; and all stay near full precision."""
    data = data_of("tutorial-train")
    training, places = data["training"], data["settings"]["decimals"]
    assert data["settings"]["rounding"] == "carry"
    layers = network(data)
    loss = training["loss"]
    yhat, y = arr(loss["output"]), arr(loss["target"])
    close(yhat, arr(data["output"]), "yhat is the output as carried")
    carried(arr(loss["terms"]), np.where(y > 0, -y * np.log(np.where(y > 0, yhat, 1)), 0.0), places, "terms")
    carried(arr(loss["gradient"]), yhat - y, places, "yhat - y")
    upstream = arr(loss["gradient"])
    for g in training["layers"]:
        number, what = g["number"], f"layer {g['number']} ({g['kind']})"
        forward_record = data["layers"][number - 1]
        x, out = arr(forward_record["input"]), arr(forward_record["output"])
        close(arr(g["upstream"]).reshape(-1), upstream.reshape(-1), f"{what}: upstream is the gradient from above")
        step = back_one(layers[number - 1], x, out, arr(g["upstream"]))
        if g["kind"] in ("sigmoid", "relu"):  # the carried local derivative times the carried upstream
            carried(arr(g["local"]), step["local"], places, f"{what}: local")
            step["input"] = arr(g["upstream"]) * arr(g["local"])
        for field in ("weights", "bias", "input"):
            if g[field] is not None:
                carried(arr(g[field]), step[field], places, f"{what}: {field}")
        upstream = arr(g["input"])
    rate = num(training["settings"]["learning_rate"])
    for u in training["updates"]:
        carried(arr(u["new"]), arr(u["old"]) - rate * arr(u["grad"]), places, f"layer {u['layer']} {u['name']}")

    records = {
        g["number"]: {f: None if g[f] is None else arr(g[f]) for f in ("upstream", "weights", "bias")}
        for g in training["layers"]
    }
    new = {(u["layer"], u["name"]): arr(u["new"]) for u in training["updates"]}
    for s in training["stages"]:  # each stage is its part of the records, as carried
        expected = stage_value(s["key"], num(loss["value"]), records, new, tuple(s["shape"]))
        assert np.array_equal(arr(s["values"]), np.asarray(expected).reshape(s["shape"])), s["key"]

    full = data_of("tutorial-train", rounding="full")["training"]  # near the full-precision pass
    for ours, theirs in zip(training["layers"], full["layers"]):
        for field in ("upstream", "weights", "input"):
            if ours[field] is not None:
                assert np.allclose(arr(ours[field]), arr(theirs[field]), atol=2e-3), (ours["number"], field)
    values = [num(n) for n in training["losses"]]
    assert values[1] < values[0], "one step towards class 1 lowers the loss"
    assert np.allclose(values, [num(n) for n in full["losses"]], atol=2e-3)
