"""`stepper exam`: fair variants of a template, each key checked against an independent forward pass.

The forward pass here is plain float numpy written for the tutorial's network, reading each variant's
problem file (from the manifest) with tomllib: it shares no code with stepper.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from stepper.cli import main
from stepper.core.errors import StepperError
from stepper.exams.generate import candidate_seed, generate, stress, stress_report, variant_seed
from stepper.exams.fairness import judge
from stepper.interop.dump import dumps
from stepper.exams.variants import load_template, loads_template
from tests.helpers import ROOT

TEMPLATE = ROOT / "examples" / "tutorial-exam.toml"
TUTORIAL = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")
COUNT = 200


# ---- an independent forward pass of the tutorial's network, in floats ----


def cells(raw) -> np.ndarray:
    """A grid written as text or nested lists, or a flat list of numbers."""
    if isinstance(raw, list) and not any(isinstance(x, list) for x in raw):
        return np.array([eval_number(x) for x in raw])
    rows = [line.split() for line in raw.strip().splitlines()] if isinstance(raw, str) else raw
    return np.array([[eval_number(x) for x in row] for row in rows])


def eval_number(x) -> float:
    if isinstance(x, str) and "/" in x:
        a, b = x.split("/")
        return float(a) / float(b)
    return float(x)


def numpy_forward(problem_text: str) -> dict[str, np.ndarray]:
    data = tomllib.loads(problem_text)
    layers = data["layers"]
    places = data.get("settings", {}).get("decimals", 4)
    unit = 10.0**places
    # The tutorial carries any value of more than 4 places rounded to 4, halves away from zero (z = 1.18815
    # is exact, and becomes 1.1882); the 1e-6 absorbs float error in sums of exact decimals.
    r = lambda a: np.sign(a) * np.floor(np.abs(a) * unit + 0.5 + 1e-6) / unit
    image = cells(data["input"])
    conv = layers[0]
    s, p = conv["stride"], conv["padding"]
    padded = np.pad(image, p)
    maps = []
    for f in conv["filters"]:
        k = cells(f)
        n = (padded.shape[0] - k.shape[0]) // s + 1
        maps.append(
            np.array([[np.sum(padded[i * s : i * s + 3, j * s : j * s + 3] * k) for j in range(n)] for i in range(n)])
        )
    conv_out = np.stack(maps)
    relu = np.maximum(conv_out, 0)
    pool = layers[2]
    size = pool["size"]
    pooled = relu.reshape(2, relu.shape[1] // size, size, relu.shape[2] // size, size)
    pooled = pooled.max(axis=(2, 4)) if pool["type"] == "maxpool" else pooled.mean(axis=(2, 4))
    w = np.array([eval_number(x) for x in layers[3]["weights"]])
    mixed = np.tensordot(w, pooled, axes=1)
    sig = r(1 / (1 + np.exp(-mixed)))
    z = r(np.array([np.sum(cells(g).reshape(sig.shape) * sig) for g in layers[5]["weights"]]))
    e = r(np.exp(z))
    soft = r(e / r(e.sum()))
    out = {f"layer1.filter{f + 1}": conv_out[f] for f in range(2)}
    out |= {f"layer2.channel{c + 1}": relu[c] for c in range(2)}
    out |= {f"layer3.channel{c + 1}": pooled[c] for c in range(2)}
    out |= {"layer4.map": mixed, "layer5.map": sig, "layer6.z1": z[0], "layer6.z2": z[1], "layer7.values": soft}
    return out


@pytest.fixture(scope="module")
def exam_run(tmp_path_factory):
    """200 variants in md, tex and Moodle XML, written twice with the same seed."""
    outs = []
    for name in ("first", "second"):
        out = tmp_path_factory.mktemp(name)
        assert (
            main(
                [
                    "exam",
                    str(TEMPLATE),
                    "--variants",
                    str(COUNT),
                    "--seed",
                    "5",
                    "--format",
                    "md,tex,moodle",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        outs.append(out)
    return outs


def test_every_answer_equals_a_numpy_forward_pass(exam_run):
    manifest = json.loads((exam_run[0] / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["variants"]) == COUNT
    for v in manifest["variants"]:
        expected = numpy_forward(v["problem"])
        assert set(v["answers"]) == set(expected)
        for key, written in v["answers"].items():
            got = np.array([float(x) for x in written])
            want = np.ravel(expected[key])
            assert np.allclose(got, want, rtol=0, atol=1e-9), (v["id"], key, got, want)


def test_each_key_shows_the_numpy_answers(exam_run):
    """Every stage's values, from the numpy forward pass, are printed in the variant's key: each row of a map
    as the key writes a matrix row, each neuron's z, and the final answer in the Answer section."""
    manifest = json.loads((exam_run[0] / "manifest.json").read_text(encoding="utf-8"))
    for v in manifest["variants"]:
        key = (exam_run[0] / f"variant-{v['id']}-key.md").read_text(encoding="utf-8")
        for name, values in numpy_forward(v["problem"]).items():
            places = 4 if name.split(".")[0] in ("layer5", "layer6", "layer7") else None
            text = [f"{x:.{places}f}" if places else f"{x:g}" for x in np.ravel(values)]
            rows = (
                [" & ".join(text[i : i + values.shape[-1]]) for i in range(0, len(text), values.shape[-1])]
                if np.ndim(values)
                else text
            )
            for row in rows:
                assert row in key, (v["id"], name, row)
        answer = key[key.index("## Answer") :]
        final = numpy_forward(v["problem"])["layer7.values"]
        assert f"{final[0]:.4f} & {final[1]:.4f}" in answer, v["id"]
        question = (exam_run[0] / f"variant-{v['id']}-question.md").read_text(encoding="utf-8")
        assert "## Answer" not in question and v["answers"]["layer7.values"][0] not in question


def test_variants_are_distinct_and_drawn_from_the_template(exam_run):
    manifest = json.loads((exam_run[0] / "manifest.json").read_text(encoding="utf-8"))
    finals = [tuple(v["answers"]["layer7.values"]) for v in manifest["variants"]]
    assert len(set(finals)) == COUNT
    assert len({v["problem"] for v in manifest["variants"]}) == COUNT
    template = load_template(TEMPLATE)
    for v in manifest["variants"][:20]:
        data = tomllib.loads(v["problem"])
        assert set(np.ravel(cells(data["input"]))) <= {0, 1, 2, 3, 4}
        for f in data["layers"][0]["filters"]:
            assert set(np.ravel(cells(f))) <= {-1, 0, 1}
        assert data["layers"][0]["stride"] == 2 and data["layers"][3]["weights"] == ["0.5", "0.5"]
        for g in data["layers"][5]["weights"]:
            w = np.ravel(cells(g))
            assert np.all((w >= 0) & (w <= 0.5)) and np.allclose(w * 10, np.round(w * 10))
        # the manifest's seed draws the same problem again
        again = dumps(template.draw(v["seed"]))
        assert again.split("\n", 1)[1] == v["problem"].split("\n", 1)[1]  # all but the title line


def test_two_runs_with_one_seed_are_byte_identical(exam_run):
    first, second = exam_run
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert len(names) == 2 * 2 * COUNT + 2 + 2  # question and key in md and tex; keys.md/.tex; moodle; manifest
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_different_seed_gives_different_variants(tmp_path):
    template = load_template(TEMPLATE)
    a = [dumps(v.problem) for v in generate(template, 5, 1)]
    b = [dumps(v.problem) for v in generate(template, 5, 2)]
    assert not set(a) & set(b)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_the_tex_of_all_200_keys_compiles(exam_run, tmp_path):
    for name in ("keys.tex", "variant-001-question.tex", f"variant-{COUNT}-key.tex"):
        shutil.copy(exam_run[0] / name, tmp_path / name)
        run = subprocess.run(
            ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout[-2000:]
    pages = re.search(r"Output written on keys\.pdf \((\d+) pages", (tmp_path / "keys.log").read_text(errors="replace"))
    assert pages and int(pages[1]) >= COUNT  # one variant per page at least


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_pdfs_are_byte_identical_across_runs(tmp_path):
    for out in ("a", "b"):
        assert (
            main(
                [
                    "exam",
                    str(TEMPLATE),
                    "--variants",
                    "2",
                    "--seed",
                    "9",
                    "--format",
                    "pdf",
                    "--out",
                    str(tmp_path / out),
                ]
            )
            == 0
        )
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [
        "keys.pdf",
        "manifest.json",
        "variant-001-key.pdf",
        "variant-001-question.pdf",
        "variant-002-key.pdf",
        "variant-002-question.pdf",
    ]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_answers_only_key(tmp_path):
    text = TEMPLATE.read_text(encoding="utf-8").replace('key = "full"', 'key = "answers"')
    (tmp_path / "t.toml").write_text(text, encoding="utf-8")
    assert main(["exam", str(tmp_path / "t.toml"), "--variants", "1", "--format", "md", "--out", str(tmp_path)]) == 0
    full = tmp_path / "full"
    assert main(["exam", str(TEMPLATE), "--variants", "1", "--format", "md", "--out", str(full)]) == 0
    short, long = (tmp_path / "variant-001-key.md").read_text(), (full / "variant-001-key.md").read_text()
    window = "**Output row 1, column 1**"
    assert window in long and window not in short
    assert short[short.index("## Answer") :] == long[long.index("## Answer") :]  # the same answer either way


# ---- each default constraint: a template built to break it is reported, and passes with it turned off ----


def template_with(random: str, constraints: str = "") -> str:
    return TUTORIAL + f"\n[random]\n{random}\n\n[constraints]\ntries = 40\n{constraints}\n"


BROKEN = {
    # every filter cell 0: every feature map is all zeros
    "nonzero": ('"layer1.filters" = [0]\ninput = "0..4"', ""),
    # a bright image and positive filters: every sigmoid rounds to 1.0000
    "saturated": ('input = "9..9"\n"layer1.filters" = [1]\n"layer6.weights" = "0.1..0.5 by 0.1"', ""),
    # an image of ones and a filter of ones: each pooling window holds equal values
    "no_ties": ('input = "1..1"\n"layer1.filters" = [1]\n"layer6.weights" = "0.1..0.5 by 0.1"', ""),
    # sums above the limit
    "largest": ('input = "3..4"\n"layer1.filters" = [1, 2]', "largest = 10"),
    # a dense layer's z adds rounded sigmoids times tenths: never a whole number
    "integers": ('input = "0..4"', 'integers = ["layer6"]'),
    # one value to draw from: every variant is the tutorial itself, so the second repeats the first
    "distinct": ('"layer6.weights" = ["0.1"]', ""),
    # a stride that leaves the dense weights the wrong shape
    "fits": ('"layer1.stride" = [1]', ""),
}
SWITCHES = ("nonzero", "saturated", "no_ties", "largest", "distinct")


def constraints_only(name: str, extra: str, on: bool = True) -> str:
    """Every constraint but `name` turned off, so only `name` can reject a candidate."""
    lines = [f"{other} = false" for other in SWITCHES if other != name or not on]
    return "\n".join(lines + ([extra] if on and extra else []))


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_template_that_breaks_a_constraint_is_reported(name):
    random, extra = BROKEN[name]
    template = loads_template(template_with(random, constraints_only(name, extra)), name="broken.toml")
    with pytest.raises(StepperError) as caught:
        generate(template, 3, 1)
    message = str(caught.value)
    assert message.startswith("broken.toml: [constraints]: cannot draw variant")
    assert f"most often failed: {name!r}" in message and "in 40 of 40" in message
    if name != "fits":  # always on: a layer that does not fit cannot be worked at all
        relaxed = loads_template(template_with(random, constraints_only(name, extra, on=False)), name="relaxed")
        assert len(generate(relaxed, 3, 1)) == 3


def test_judge_names_only_the_broken_constraint():
    template = loads_template(
        template_with('input = "1..1"\n"layer1.filters" = [1]', "nonzero = false\nsaturated = false"), name="t"
    )
    verdict = judge(template.draw(1), template.constraints)
    assert set(verdict.failures) == {"no_ties"}
    assert verdict.failures["no_ties"] == "layer3, channel 1: the window at row 1, column 2 has a tie for the largest"


def test_unsatisfiable_run_exits_2_in_one_line(tmp_path, capsys):
    path = tmp_path / "zero.toml"
    path.write_text(template_with('"layer1.filters" = [0]'), encoding="utf-8")
    assert main(["exam", str(path), "--variants", "2", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nonzero'" in err[0] and "40 of 40" in err[0] and str(path) in err[0]
    assert not (tmp_path / "out").exists()


def test_a_long_search_for_one_variant_says_how_it_goes(tmp_path, capsys, monkeypatch):
    """Candidates that can never pass: a note every so many tried (10,000; 100 here, to be quick), then the
    one-line error."""
    import stepper.exams.generate

    monkeypatch.setattr(stepper.exams.generate, "ATTEMPTS_NOTE_FROM", 100)
    path = tmp_path / "zero.toml"
    path.write_text(template_with('"layer1.filters" = [0]').replace("tries = 40", "tries = 200"), encoding="utf-8")
    assert main(["exam", str(path), "--variants", "1", "--progress", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if "candidates tried" in line] == [
        f"stepper: drawing variant 1: {n} of 200 candidates tried, none fair yet" for n in (100, 200)
    ]
    assert err[-1].startswith("stepper: error: ") and "none of 200 candidates" in err[-1]
    assert not (tmp_path / "out").exists()


# ---- the stress test ----


def test_stress_reports_every_constraint_and_each_answer(capsys):
    assert main(["exam", str(TEMPLATE), "--stress", "1000"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1,000 candidates drawn in")
    for name in ("fits", "nonzero", "saturated", "no_ties", "largest", "integers", "distinct"):
        assert re.search(rf"^{name} \(.*\)\s+[\d,]+\s+[\d.]+%$", out, re.M), name
    for key in ("layer1.filter1", "layer5.map", "layer6.z1", "layer7.values"):
        assert re.search(rf"^  {re.escape(key)}\s+-?[\d.]+ \.\. ", out, re.M), key
    assert "Winning class" in out


def test_stress_counts_match_judging_each_candidate():
    template = load_template(TEMPLATE)
    result = stress(template, 60, 3)
    verdicts = [judge(template.draw(candidate_seed(template, 3, n, 0)), template.constraints) for n in range(1, 61)]
    for name in ("nonzero", "no_ties", "largest"):
        assert result.passed[name] == sum(name not in v.failures for v in verdicts)
    assert result.accepted <= sum(not v.failures for v in verdicts)


def test_stress_flags_an_answer_students_could_guess():
    """Only the dense weights vary, over two values: the earlier stages are the same in every variant."""
    template = loads_template(template_with('"layer6.weights" = [0.1, 0.2]', constraints_only("", "")), name="t")
    result = stress(template, 200, 1)
    flagged = {key for key, _, _ in result.repeats}
    assert "layer1.filter1" in flagged and "layer5.map" in flagged
    report = stress_report(result, template.constraints)
    assert "layer1.filter1: " in report.split("could guess")[1]


# ---- a student's working marked against their own variant ----


def test_check_marks_working_against_its_variant(tmp_path, capsys):
    out = tmp_path / "exam"
    assert main(["exam", str(TEMPLATE), "--variants", "3", "--format", "md", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    v2 = manifest["variants"][1]
    lines = ['student = "Ada"', 'variant = "002"']
    for key, values in v2["answers"].items():
        layer, part = key.split(".")
        lines += [f"[{layer}]"] if f"[{layer}]" not in lines else []
        side = int(len(values) ** 0.5)
        if len(values) > 1 and side * side == len(values) and layer != "layer7":  # a map: one row per line
            rows = [" ".join(values[r * side : (r + 1) * side]) for r in range(side)]
            lines.append(f'{part} = """\n' + "\n".join(rows) + '\n"""')
        else:
            lines.append(f'{part} = "{" ".join(values)}"')
    working = tmp_path / "ada.toml"
    working.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["check", str(out / "manifest.json"), str(working), "--out", str(tmp_path / "fb")]) == 0
    line = capsys.readouterr().out
    total = re.search(r"Ada: ([\d.]+) / ([\d.]+)", line)
    assert total and total[1] == total[2], line
    # the same values claimed for variant 001 are not right there
    working.write_text(working.read_text().replace('variant = "002"', 'variant = "001"'), encoding="utf-8")
    assert main(["check", str(out / "manifest.json"), str(working), "--out", str(tmp_path / "fb")]) == 0
    total = re.search(r"Ada: ([\d.]+) / ([\d.]+)", capsys.readouterr().out)
    assert total[1] != total[2]


@pytest.mark.parametrize("variant, needle", [(None, "names no variant"), ('"999"', "no variant '999'")])
def test_check_with_a_manifest_needs_a_known_variant(variant, needle, tmp_path, capsys):
    out = tmp_path / "exam"
    assert main(["exam", str(TEMPLATE), "--variants", "2", "--format", "md", "--out", str(out)]) == 0
    working = tmp_path / "bob.toml"
    working.write_text(
        'student = "Bob"\n' + (f"variant = {variant}\n" if variant else "") + "[layer6]\nz1 = 1\n", encoding="utf-8"
    )
    capsys.readouterr()
    assert main(["check", str(out / "manifest.json"), str(working), "--out", str(tmp_path / "fb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and str(working) in err[0] and "field 'variant'" in err[0]


def test_progress_bar_when_asked(tmp_path, capsys):
    assert main(["exam", str(TEMPLATE), "--variants", "3", "--format", "md", "--progress", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "drawing 3/3" in err and "writing 3/3" in err and "typesetting" not in err  # no PDF asked for


def test_exam_runs_as_a_fresh_process(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepper",
            "exam",
            str(TEMPLATE),
            "--variants",
            "2",
            "--format",
            "md",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0 and "2 variants" in run.stdout, run.stderr


# ---- what a fresh-eyes review found: each kept as a test ----

DENSE_OVER_CHANNELS = '''title = "Dense over two channels"
input = """
1 2 0 1
0 1 3 1
2 0 1 2
1 1 0 3
"""
[[layers]]
type = "conv2d"
filters = ["1 0\\n0 1", "0 1\\n-1 0"]
[[layers]]
type = "relu"
[[layers]]
type = "maxpool"
size = 2
stride = 1
[[layers]]
type = "dense"
weights = [[[[1, 0], [0, 1]], [[2, 1], [1, 2]]], [[[1, 1], [0, 0]], [[0, 0], [1, 1]]]]
bias = [1, -1]
[random]
input = "0..3"
"layer4.weights" = [1, 2, 3]
[constraints]
nonzero = false
'''


def test_question_sheet_shows_every_weight_a_student_needs():
    """A dense layer over two channels: each neuron's weights for both channels, and the biases."""
    from stepper.writing.documents import render_question

    template = loads_template(DENSE_OVER_CHANNELS, name="t")
    v = generate(template, 1, 3)[0]
    sheet = render_question(v.trace, "md", v.id)
    dense = v.problem.layers[3]
    for k, w in enumerate(dense.weights):
        for c in range(2):
            rows = [" & ".join(str(int(x)) for x in row) for row in w.floats().reshape(2, 2, 2)[c]]
            assert (
                f"N_{{{k + 1},{c + 1}}} = \\left[\\begin{{array}}{{rr}} {rows[0]} \\\\\n{rows[1]} \\end{{array}}"
                in sheet
            ), (k, c)
    assert "b = \\left[\\begin{array}{rr} 1 & -1 \\end{array}\\right]" in sheet
    assert "K_{1}" in sheet and "K_{2}" in sheet  # the filters


def test_stress_with_shapes_that_vary_by_variant():
    """Strides, padding and pooling drawn: the maps differ in size from variant to variant."""
    text = (
        TUTORIAL.split("[[layers]]")[0]
        + """
[[layers]]
type = "conv2d"
filters = ["1 0 -1\\n0 1 0\\n-1 0 1"]
[[layers]]
type = "relu"
[[layers]]
type = "maxpool"
size = 2
[[layers]]
type = "sigmoid"
[random]
input = "0..3"
"layer1.stride" = [1, 2]
"layer1.padding" = [0, 1]
"layer3.type" = ["maxpool", "avgpool"]
"""
    )
    template = loads_template(text, name="t")
    result = stress(template, 100, 1)
    assert result.accepted > 0
    shapes = {
        judge(template.draw(variant_seed(1, n, 0)), template.constraints).trace.output.shape for n in range(1, 30)
    }
    assert len(shapes) > 1  # the test would not test anything if every shape were the same
    assert "layer1.filter1" in stress_report(result, template.constraints)


def test_a_tie_for_the_winning_class_is_rejected_and_a_key_says_so(tmp_path):
    tie = """title = "tie"
input = "1 1\\n1 1"
[[layers]]
type = "dense"
weights = [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]]
[[layers]]
type = "softmax"
"""
    template = loads_template(
        tie + '[random]\n"layer1.weights.3" = [0, 1]\n[constraints]\ndistinct = false\nlargest = false\n', name="t"
    )
    verdict = judge(template.base, template.constraints)
    assert verdict.failures == {"no_ties": "classes 1 and 2 tie for the highest probability, as written"}
    (tmp_path / "tie.toml").write_text(tie, encoding="utf-8")
    assert main(["solve", str(tmp_path / "tie.toml"), "--format", "md", "--out", str(tmp_path)]) == 0
    assert "Classes 1 and 2 tie for the highest probability, $0.4879$" in (tmp_path / "tie.md").read_text()


def test_largest_covers_average_pooling_and_softmax_sums():
    # each conv sum is at most 2 * 9 = 18, but a pooling window adds four of them
    template = loads_template(
        template_with(
            'input = "2..2"\n"layer1.filters" = [1]\n"layer3.type" = ["avgpool"]',
            constraints_only("largest", "largest = 20"),
        ),
        name="t",
    )
    assert "window sum" in judge(template.draw(1), template.constraints).failures["largest"]
    big = TUTORIAL.replace("0.1 0.3\n  0.2 0.1", "9 9\n  9 9")
    template = loads_template(
        big
        + '\n[random]\n"layer6.weights.2" = [0]\n[constraints]\nlargest = 500\n'
        + "nonzero = false\nno_ties = false\n",
        name="t",
    )
    assert "sum of exponentials" in judge(template.draw(1), template.constraints).failures["largest"]


def test_a_template_with_symbols_left_is_refused_in_one_line(tmp_path, capsys):
    text = (ROOT / "examples" / "volumetric-symbols.toml").read_text(encoding="utf-8")
    (tmp_path / "sym.toml").write_text(text + '\n[random]\n"input.1" = "0..5"\n', encoding="utf-8")
    assert main(["exam", str(tmp_path / "sym.toml"), "--variants", "2", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds symbols" in err[0] and "[random]" in err[0] and "sym.toml" in err[0]


def test_a_second_run_into_the_same_folder_leaves_no_earlier_files(tmp_path, capsys):
    out = tmp_path / "exam"
    assert (
        main(["exam", str(TEMPLATE), "--variants", "3", "--seed", "9", "--format", "md,moodle", "--out", str(out)]) == 0
    )
    (out / "notes.md").write_text("mine", encoding="utf-8")  # the lecturer's own file stays
    assert main(["exam", str(TEMPLATE), "--variants", "2", "--seed", "2", "--format", "md", "--out", str(out)]) == 0
    assert "removed 3 files of an earlier exam" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "keys.md",
        "manifest.json",
        "notes.md",
        "variant-001-key.md",
        "variant-001-question.md",
        "variant-002-key.md",
        "variant-002-question.md",
    ]


@pytest.mark.parametrize("written", ["2", '"2"', '" 002 "'])
def test_variant_typed_as_a_number_is_found(written, tmp_path, capsys):
    out = tmp_path / "exam"
    assert main(["exam", str(TEMPLATE), "--variants", "2", "--format", "md", "--out", str(out)]) == 0
    working = tmp_path / "w.toml"
    working.write_text(f'student = "Cy"\nvariant = {written}\n[layer6]\nz1 = 1\n', encoding="utf-8")
    assert main(["check", str(out / "manifest.json"), str(working), "--out", str(tmp_path / "fb")]) == 0
    report = (tmp_path / "fb" / "w-feedback.md").read_text(encoding="utf-8")
    assert "variant 002" in report


def test_moodle_whole_layout_from_the_template(tmp_path, capsys):
    text = TEMPLATE.read_text(encoding="utf-8").replace('moodle = "stages"', 'moodle = "whole"')
    assert 'moodle = "whole"' in text
    (tmp_path / "t.toml").write_text(text, encoding="utf-8")
    assert (
        main(
            ["exam", str(tmp_path / "t.toml"), "--variants", "3", "--format", "moodle", "--out", str(tmp_path / "out")]
        )
        == 0
    )
    import xml.etree.ElementTree as ET

    root = ET.parse(tmp_path / "out" / "moodle.xml").getroot()
    assert [q.get("type") for q in root.findall("question")] == ["category", "cloze", "cloze", "cloze"]
    (tmp_path / "t.toml").write_text(text.replace('moodle = "whole"', 'moodle = "all"'), encoding="utf-8")
    capsys.readouterr()
    assert main(["exam", str(tmp_path / "t.toml"), "--variants", "3", "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "[exam] field 'moodle': expected 'stages'" in err and "found 'all'" in err


def test_stress_says_which_options_it_ignores(tmp_path, capsys):
    assert main(["exam", str(TEMPLATE), "--stress", "20", "--variants", "3", "--out", str(tmp_path / "x")]) == 0
    captured = capsys.readouterr()
    assert "--stress writes nothing, so --variants, --out are ignored" in captured.err
    assert captured.out.startswith("20 candidates drawn") and not (tmp_path / "x").exists()


def test_a_draw_whose_values_overflow_is_rejected_as_not_fitting(tmp_path, capsys):
    """22 dense layers of weight 4e15: (4e15)^20 is beyond a float, so every draw fails 'fits' at layer 20."""
    layers = "".join('\n[[layers]]\ntype = "dense"\nweights = [[4000000000000000]]\n' for _ in range(22))
    path = tmp_path / "overflow.toml"
    path.write_text(
        f'title = "t"\ninput = "1"\n{layers}\n[random]\ninput = "1..3"\n[constraints]\ntries = 5\n', encoding="utf-8"
    )
    limit = next(n for n in range(1, 23) if (4 * 10**15) ** n > sys.float_info.max)  # with input 1; 3 is no sooner
    assert main(["exam", str(path), "--variants", "1", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'fits'" in err[0] and f"layer {limit} (dense): values grow beyond" in err[0]


def test_a_misspelt_constraint_gets_a_hint(tmp_path, capsys):
    path = tmp_path / "t.toml"
    path.write_text(template_with('input = "0..4"', "no_tie = false"), encoding="utf-8")
    assert main(["exam", str(path), "--variants", "1", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown constraint 'no_tie': did you mean 'no_ties'?" in err[0]
