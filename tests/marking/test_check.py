"""Marking a student's working: each well-known mistake planted into the tutorial is named, the stages
after it earn follow-through credit, and a degenerate answer earns none.

The planted working is computed here by the independent reference (tests/reference.py) on a changed copy
of the problem, or by hand for the formula slips, and written as a working file by this module's own
writer, so nothing in a planted answer comes from stepper.
"""

from __future__ import annotations

import copy
import csv
import math
import tomllib
from fractions import Fraction

import numpy as np
import pytest

from stepper.cli import main
from stepper.core.load import load, loads
from stepper.marking.marker import Marker
from stepper.marking.working import loads_working
from stepper.writing.documents import render_feedback
from tests.helpers import ROOT, reference

TUTORIAL = ROOT / "examples" / "tutorial.toml"
DATA = tomllib.loads(TUTORIAL.read_text(encoding="utf-8"))
PROBLEM = load(TUTORIAL)
MARKER = Marker(PROBLEM)
TRUTH = reference.forward(DATA)


# ---- an independent writer of working files ----


def written(v) -> str:
    """A number as a student writes it: exactly when it ends within 4 places, else rounded to 4."""
    f = Fraction(v) if not isinstance(v, float) else Fraction(v)
    if (f * 10**4).denominator == 1:
        text = f"{float(f):.4f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    return f"{float(reference.round_half_away(f, 4)):.4f}"


def grid(a: np.ndarray) -> str:
    return '"""\n' + "\n".join(" ".join(written(x) for x in row) for row in a) + '\n"""'


PARTS = {1: "filter", 2: "channel", 3: "channel"}


def working(outputs: list, student: str = "A. Student", keep: int = 7) -> str:
    """A working file for the tutorial from each layer's output (the first `keep` layers)."""
    lines = [f'student = "{student}"']
    for n, out in enumerate(outputs[:keep], 1):
        if out is None:
            continue
        out = np.asarray(out, dtype=object)
        lines.append(f"[layer{n}]")
        if n in PARTS:
            lines += [f"{PARTS[n]}{c + 1} = {grid(out[c])}" for c in range(out.shape[0])]
        elif n in (4, 5):
            lines.append(f"map = {grid(out[0])}")
        elif n == 6:
            lines += [f"z{k + 1} = {written(z)}" for k, z in enumerate(out)]
        else:
            lines.append('values = "' + " ".join(written(p) for p in out) + '"')
    return "\n".join(lines) + "\n"


def then(x: np.ndarray, first: int) -> list:
    """The reference's outputs of layers `first`.. (1-based) of the tutorial, starting from `x`."""
    data = {"input": [[[str(v) for v in row] for row in ch] for ch in x], "layers": DATA["layers"][first - 1 :]}
    return reference.forward(data)


def changed(**edits) -> list:
    """The reference's outputs for the tutorial with some layers' fields changed: {index: {field: value}}."""
    data = copy.deepcopy(DATA)
    for index, fields in edits.items():
        data["layers"][int(index[1:])].update(fields)
    return reference.forward(data)


def rounded(values, places=4) -> np.ndarray:
    return np.vectorize(lambda v: reference.round_half_away(v, places), otypes=[object])(values)


def softmax_from(z) -> np.ndarray:
    exps = [reference.round_half_away(math.exp(float(v)), 4) for v in z]
    return np.array([reference.round_half_away(e / sum(exps), 4) for e in exps], dtype=object)


def transposed_filters(text: str) -> str:
    rows = [r.split() for r in text.strip().splitlines()]
    return "\n".join(" ".join(col) for col in zip(*rows))


# ---- the mistakes of the issue, planted ----


def plant(kind: str) -> tuple[list, int, int]:
    """(the outputs a student with this mistake writes, the layer it is made in, how many layers they give)."""
    t = TRUTH
    if kind == "no padding":
        return changed(l0={"padding": 0}), 1, 5  # 3x3 maps; the 2x2 dense weights no longer fit
    if kind == "padding 2":
        return changed(l0={"padding": 2}), 1, 5
    if kind == "stride 1":
        return changed(l0={"stride": 1}), 1, 5
    if kind == "flipped":
        return changed(l0={"flip": True}), 1, 7
    if kind == "kernel transposed":
        return changed(l0={"filters": [transposed_filters(f) for f in DATA["layers"][0]["filters"]]}), 1, 7
    if kind == "rows and columns swapped":
        maps = np.stack([m.T for m in t[0]])
        return [maps] + then(maps, 2), 1, 7
    if kind == "ReLU forgotten":
        return changed(l1={"type": "identity"}), 2, 7
    if kind == "after max pooling":
        data = copy.deepcopy(DATA)
        data["layers"][1], data["layers"][2] = data["layers"][2], data["layers"][1]
        return reference.forward(data), 2, 7
    if kind == "average pooling":
        return changed(l2={"type": "avgpool"}), 3, 7
    if kind == "sigmoid written 1/(1 + e^z)":
        a = rounded(np.vectorize(lambda v: 1 / (1 + math.exp(float(v))), otypes=[object])(t[3]))
        return t[:4] + [a] + then(a, 6), 5, 7
    if kind == "without the exponential":
        z = t[5]
        return t[:6] + [rounded(np.array([v / sum(z) for v in z], dtype=object))], 7, 7
    if kind == "dense weights applied transposed":
        weights = [transposed_filters(w) for w in DATA["layers"][5]["weights"]]
        out = changed(l5={"weights": weights})
        return out[:6] + [softmax_from(out[5])], 6, 7
    if kind == "rounding too early":  # sigmoid to 2 places, then carried on exactly from those
        a = rounded(np.vectorize(lambda v: 1 / (1 + math.exp(-float(v))), otypes=[object])(t[3]), 2)
        return t[:4] + [a] + then(a, 6), 5, 7
    raise ValueError(kind)


MISTAKES = [
    "no padding",
    "padding 2",
    "stride 1",
    "flipped",
    "kernel transposed",
    "rows and columns swapped",
    "ReLU forgotten",
    "after max pooling",
    "average pooling",
    "sigmoid written 1/(1 + e^z)",
    "without the exponential",
    "dense weights applied transposed",
    "rounding too early",
]


def mark(text: str):
    return MARKER.check(loads_working(text, PROBLEM, name="planted.toml"))


def test_the_right_working_earns_every_mark():
    fb = mark(working(TRUTH))
    assert [r.verdict for r in fb.stages] == ["correct"] * len(fb.stages)
    assert fb.marks == fb.out_of == len(fb.stages)


@pytest.mark.parametrize("kind", MISTAKES)
def test_a_planted_mistake_is_named_and_the_stages_after_it_follow_through(kind):
    outputs, layer, keep = plant(kind)
    fb = mark(working(outputs, keep=keep))
    at = [r for r in fb.stages if r.stage.layer == layer and r.verdict == "wrong"]
    assert at, f"no wrong stage in layer {layer}"
    for n, r in enumerate(at):
        assert r.diagnosis is not None and kind in r.diagnosis.name, (r.title, r.diagnosis)
        # A mistake of method earns no marks for the first stage it is in; by default ([marks] repeated = "once")
        # the same mistake in the layer's other stages is charged once, and says so.
        assert (r.marks, bool(r.charged)) == ((0, False) if n == 0 else (r.out_of, True)), r.title
    later = [r for r in fb.stages if r.stage.layer > layer and r.answer is not None]
    for r in later:
        assert r.verdict in ("correct", "follow-through"), (r.title, r.verdict, r.diagnosis)
        assert r.marks == r.out_of
    truth_later = [r for r in later if r.verdict == "correct"]
    if len(truth_later) < len(later):
        assert any(r.verdict == "follow-through" and r.follows_from is not None for r in later)


def test_follow_through_earns_credit_a_correct_answer_would_not():
    """With the ReLU forgotten, max pooling of the student's own maps differs from the worked solution
    and is still credited in full."""
    outputs, _, _ = plant("ReLU forgotten")
    fb = mark(working(outputs))
    pooled = [r for r in fb.stages if r.stage.layer == 3]
    assert any(r.verdict == "follow-through" for r in pooled)
    assert not np.array_equal(np.asarray(outputs[2], dtype=float), np.asarray(TRUTH[2], dtype=float))


@pytest.mark.parametrize("degenerate", ["zeros", "copy of the input"])
def test_a_degenerate_answer_earns_no_follow_through(degenerate):
    maps = np.array(TRUTH[0], dtype=object)
    if degenerate == "zeros":
        maps[0] = np.zeros_like(maps[0])
        student = [maps] + then(maps, 2)
    else:  # filter 1's map is the image itself, and the student carries on from it
        image = reference.channels(DATA["input"])
        student = [np.stack([image[0], image[0]])] + then(np.stack([image[0], image[0]]), 2)
    fb = mark(working(student, keep=5))
    first = fb.stages[0]
    assert first.verdict == "wrong" and first.degenerate and first.marks == 0
    for r in fb.stages[1:]:
        assert r.verdict != "follow-through", r.title
        if r.answer is not None and r.verdict == "wrong" and r.answer.values.shape == r.right.shape:
            # only the cells that are right in themselves earn anything
            mine = np.asarray(r.answer.values.floats(), dtype=float).ravel()
            truth = np.asarray(TRUTH[r.stage.layer - 1], dtype=float)[r.stage.index].ravel()
            right = Fraction(int((abs(mine - truth) <= 5e-5).sum()), mine.size) * r.out_of
            assert r.marks == (0 if r.degenerate else right), r.title


def test_a_partial_answer_is_marked_on_what_it_has():
    text = working(TRUTH).split("[layer2]")[0]  # the convolution only
    fb = mark(text)
    verdicts = {r.stage.key: r.verdict for r in fb.stages}
    assert verdicts["layer1.filter1"] == verdicts["layer1.filter2"] == "correct"
    assert all(v == "missing" for k, v in verdicts.items() if not k.startswith("layer1."))
    assert fb.marks == 2 and fb.out_of == 11


# ---- tolerance: the rounding in force ----


@pytest.mark.parametrize(
    "value, right",
    [("0.9526", True), ("0.95257", True), ("0.952574", True), ("0.9527", False), ("0.95", False), ("0.9525", False)],
)
def test_a_rounded_value_is_right_within_half_a_unit_of_the_last_place(value, right):
    text = working(TRUTH, keep=4) + f'[layer5]\nmap = """\n{value} 0.5\n0.8808 0.8808\n"""\n'
    r = [r for r in mark(text).stages if r.stage.layer == 5][0]
    assert (r.verdict == "correct") is right


def test_a_student_who_keeps_full_precision_is_not_penalised():
    full = reference.forward(DATA, rounding="full")
    text = working(TRUTH, keep=5) + f"[layer6]\nz1 = {float(full[5][0]):.6f}\nz2 = {float(full[5][1]):.6f}\n"
    assert all(r.verdict == "correct" for r in mark(text).stages if r.answer is not None)


# ---- a single wrong cell: its working, and the term that differs ----


def test_a_single_wrong_cell_shows_its_window_and_the_term_left_out():
    maps = np.array(TRUTH[0], dtype=object)
    maps[0, 0, 0] += 5  # window (1,1) of filter 1 is -2 - 5 = -7: the student left out the -5
    fb = mark(working([maps] + then(maps, 2), keep=1))
    r = fb.stages[0]
    assert r.verdict == "wrong" and r.wrong == ((0, 0),) and r.diagnosis is None
    assert r.marks == Fraction(15, 16)
    note = r.notes[0]
    assert note.written == "-2" and note.slip == "missing" and int(note.term.p.data) == -5
    report = render_feedback(fb, "md")
    assert "Row 1, column 1" in report and "without the term" in report
    assert "z_{1,1} = -2 - 5 = -7" in report  # the window's right working, as the worked solution writes it


# ---- written sums, term by term ----


def sums(*texts: str, layer=1, filter=1, row=1, column=2) -> list:
    windows = "".join(
        f'[[window]]\nlayer = {layer}\nfilter = {filter}\nrow = {row}\ncolumn = {column}\nsum = "{t}"\n' for t in texts
    )
    return mark('student = "S"\n' + windows).sums


def test_written_sums_are_checked_term_by_term():
    # Window (1,2) of filter 1 covers padded rows 1-3, columns 2-4: its products are 2, -1, -5, -2.
    right, sign, missing, slip, extra = sums(
        "0 + 2 - 1 - 5 - 2", "2 + 1 - 5 - 2", "2 - 1 - 5", "2 - 1 - 5 - 2 = -7", "2 - 1 - 5 - 2 + 3"
    )
    assert right.check.correct and {t.verdict for t in right.check.terms} == {"zero", "right"}
    assert not sign.check.correct and [t.verdict for t in sign.check.terms][1] == "sign"
    assert not missing.check.correct and [t.verdict for t in missing.check.terms][-1] == "missing"
    assert int(missing.check.terms[-1].expected.p.data) == -2
    assert slip.check.slip and not slip.check.correct and slip.check.added == -6
    assert [t.verdict for t in extra.check.terms][-1] == "extra"


def test_a_product_with_a_value_from_another_cell_is_named():
    # Window (1,1) of filter 1: padded rows 1-3, columns 1-3; its nonzero products are 2 . (-1) and 5 . (-1).
    (result,) = sums("0*1 + 3*0 + 2*(-1) + 4*(-1)", column=1)
    verdicts = [t.verdict for t in result.check.terms]
    assert verdicts[2] == "right" and verdicts[3] == "cell"
    assert not result.check.correct


def test_the_tutorials_volumetric_slip_is_flagged_at_its_term():
    """The seed writes (w4 . 5) where the window holds 6: flagged at that term, the right term shown."""
    problem = load(ROOT / "examples" / "volumetric-symbols.toml")
    text = (
        'student = "S"\n[[window]]\nlayer = 1\nrow = 1\ncolumn = 1\n'
        'sum = "w1*1 + w2*2 + w3*5 + w4*5 + w1*a + w2*b + w3*e + w4*f"\n'
    )
    fb = Marker(problem).check(loads_working(text, problem))
    (s,) = fb.sums
    verdicts = [t.verdict for t in s.check.terms]
    assert verdicts == ["right"] * 3 + ["cell"] + ["right"] * 4 and not s.check.correct
    term = s.check.terms[3]
    assert str(term.expected.p.data.item()) == "6*w4" and term.other.where == "channel 1, row 2, column 1 of the window"
    report = render_feedback(fb, "md")
    assert "w_4 \\cdot 6" in report and "wrong cell" in report


# ---- marks ----


def test_the_marking_scheme_in_the_problem_file_is_used():
    text = TUTORIAL.read_text(encoding="utf-8") + '\n[marks]\nper = "stage"\nlayer1 = 4\n"layer6.z1" = 3\n'
    problem = loads(text, name="tutorial-marks.toml")
    maps = np.array(TRUTH[0], dtype=object)
    maps[0, 0, 0] += 5
    fb = Marker(problem).check(loads_working(working([maps] + then(maps, 2)), problem))
    by_key = {r.stage.key: r for r in fb.stages}
    assert by_key["layer1.filter1"].out_of == 2 and by_key["layer1.filter1"].marks == 0  # all or nothing
    assert by_key["layer1.filter2"].marks == 2 and by_key["layer6.z1"].out_of == 3
    assert fb.out_of == 4 + 3 + 8  # eight other stages at the default 1


# ---- a class: a folder of working files ----


def test_a_class_folder_is_marked_with_a_summary_csv(tmp_path, capsys):
    folder, out = tmp_path / "class", tmp_path / "feedback"
    folder.mkdir()
    planted = {}
    for n in range(4):
        (folder / f"right-{n}.toml").write_text(working(TRUTH, f"Right {n}"), encoding="utf-8")
        planted[f"right-{n}.toml"] = None
    for i, kind in enumerate(MISTAKES):
        outputs, _, keep = plant(kind)
        for copy_ in range(2):
            name = f"m{i:02d}-{copy_}.toml"
            (folder / name).write_text(working(outputs, f"Student {i}.{copy_}", keep), encoding="utf-8")
            planted[name] = kind
    assert len(planted) >= 30
    assert main(["check", str(TUTORIAL), str(folder), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "class-summary.csv").open(encoding="utf-8")))
    assert len(rows) == len(planted)
    stage_keys = [s.key for s in MARKER.stages]
    for row in rows:
        kind = planted[row["file"]]
        assert (kind is None) == (row["diagnoses"] == ""), row
        if kind is not None:
            assert kind in row["diagnoses"]
        total = sum(Fraction(row[k]) for k in stage_keys)
        assert abs(total - Fraction(row["total"])) < Fraction(1, 50)
        assert (out / row["file"].replace(".toml", "-feedback.md")).is_file()
    summary = (out / "class-summary.md").read_text(encoding="utf-8")
    assert "Most common mistakes" in summary
    printed = capsys.readouterr().out
    assert f"{len(planted)} marked" in printed


def test_names_are_escaped_in_every_format_and_in_the_csv(tmp_path):
    name = '=HYPERLINK(\\"x\\") <b>$\\\\frac{1}{0}$ 50% Łukasz'
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    (folder / "a.toml").write_text(working(TRUTH, name), encoding="utf-8")
    assert main(["check", str(TUTORIAL), str(folder), "--out", str(out), "--format", "md,tex"]) == 0
    md = (out / "a-feedback.md").read_text(encoding="utf-8")
    tex = (out / "a-feedback.tex").read_text(encoding="utf-8")
    assert "<b>" not in md and "&lt;b&gt;" in md and "\\$" in md
    assert "\\textless{}b\\textgreater{}" in tex and "50\\%" in tex and "Łukasz" in tex
    row = next(csv.DictReader((out / "class-summary.csv").open(encoding="utf-8")))
    assert row["student"].startswith("'=")


# ---- the example working files, and the reports in every format ----

WORKINGS = sorted((ROOT / "examples").glob("tutorial-working-*.toml"))


@pytest.mark.parametrize("path", WORKINGS, ids=lambda p: p.stem)
def test_each_example_working_file_is_diagnosed_as_its_name_says(path):
    expect = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect: ")
    fb = MARKER.check(load_working_file(path))
    wrong = [r for r in fb.stages if r.verdict == "wrong"]
    if expect == "right":
        assert not wrong and fb.marks == fb.out_of
    elif expect == "slips":
        assert wrong and all(r.diagnosis is None and r.notes for r in wrong)
        assert [s.check.correct for s in fb.sums] == [False, False, True]
    else:
        assert wrong and all(expect in r.diagnosis.name for r in wrong if r.stage.layer == wrong[0].stage.layer)
        assert all(
            r.verdict in ("correct", "follow-through")
            for r in fb.stages
            if r.stage.layer > wrong[0].stage.layer and r.answer is not None and "rounded" not in expect
        )


def load_working_file(path):
    from stepper.marking.working import load_working

    return load_working(path, PROBLEM)


def test_feedback_reports_compile_with_pdflatex_and_render_in_katex():
    from stepper.writing.latex import typeset
    from tests.helpers.katex import markdown_formulas, render_errors

    formulas = []
    for path in WORKINGS:
        fb = MARKER.check(load_working_file(path))
        assert typeset(render_feedback(fb, "tex"), path.name).startswith(b"%PDF")
        formulas += markdown_formulas(render_feedback(fb, "md"))
    assert len(formulas) > 40
    assert render_errors(formulas) == []


def test_reports_are_deterministic(tmp_path):
    runs = []
    for n in range(2):
        out = tmp_path / f"run{n}"
        assert main(["check", str(TUTORIAL), *map(str, WORKINGS), "--out", str(out), "--format", "md,tex"]) == 0
        runs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert runs[0] == runs[1] and len(runs[0]) == 2 * len(WORKINGS) + 2


def test_a_marking_scheme_survives_writing_the_problem_back():
    from stepper.interop.dump import dumps

    text = TUTORIAL.read_text(encoding="utf-8") + '\n[marks]\nper = "stage"\nlayer1 = 4\n"layer6.z1" = 2.5\n'
    problem = loads(text)
    assert loads(dumps(problem)).marks == problem.marks
