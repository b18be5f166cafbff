"""Large problems: LeNet on a 28x28 image, a 3x224x224 layer. An estimate before any work says how large the
solution will be and refuses one beyond stepper's limits in one line; below them every format is written (the
LaTeX in short lines, typeset within TeX's limits); a document LaTeX cannot typeset leaves its Markdown, its
LaTeX and the LaTeX log."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import stepper.writing.solution
from stepper import load, loads, render, trace
from stepper.core.errors import StepperError
from stepper.writing.estimate import PDF_LIMIT, TEXT_LIMIT, estimate
from stepper.writing.latex import TEX_LINE, wrap_tex
from stepper.writing.output import written_by_stepper
from tests.helpers import ROOT
from tests.helpers.one_line import assert_one_error, run_stepper

TUTORIAL = ROOT / "examples" / "tutorial.toml"
TINY = 'title = "Tiny"\ninput = """\n1 -2\n3 4\n"""\n\n[[layers]]\ntype = "relu"\n'
needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")


# ---- the problems ----


def grid(rng: random.Random, rows: int, columns: int, cells: list[str]) -> str:
    return '"""\n' + "\n".join(" ".join(rng.choice(cells) for _ in range(columns)) for _ in range(rows)) + '\n"""'


def lenet_toml(seed: int = 1) -> str:
    """d2l's LeNet on a 28x28 image of digits 0-9, weights drawn from +-0.1, +-0.2, +-0.3: conv 6@5x5 padding 2,
    sigmoid, avgpool 2, conv 16@5x5, sigmoid, avgpool 2, flatten, dense 120, sigmoid, dense 84, sigmoid, dense 10."""
    rng = random.Random(seed)
    weights = ["-0.3", "-0.2", "-0.1", "0.1", "0.2", "0.3"]

    def conv(filters: int, channels: int, padding: int) -> str:
        bank = ",\n".join(
            "[" + ", ".join(grid(rng, 5, 5, weights) for _ in range(channels)) + "]" for _ in range(filters)
        )
        return f'[[layers]]\ntype = "conv2d"\npadding = {padding}\nfilters = [\n{bank}\n]\n'

    def dense(neurons: int, inputs: int) -> str:
        rows = ",\n".join("[" + ", ".join(rng.choice(weights) for _ in range(inputs)) + "]" for _ in range(neurons))
        return f'[[layers]]\ntype = "dense"\nweights = [\n{rows}\n]\n'

    sigmoid, pool = '[[layers]]\ntype = "sigmoid"\n', '[[layers]]\ntype = "avgpool"\nsize = 2\nstride = 2\n'
    return "\n".join(
        [
            f'title = "LeNet on a 28x28 image"\ninput = {grid(rng, 28, 28, list("0123456789"))}\n',
            conv(6, 1, 2),
            sigmoid,
            pool,
            conv(16, 6, 0),
            sigmoid,
            pool,
            '[[layers]]\ntype = "flatten"\n',
            dense(120, 400),
            sigmoid,
            dense(84, 120),
            sigmoid,
            dense(10, 84),
        ]
    )


def conv_toml(side: int, filters: int, channels: int = 3, title: str = "One layer", seed: int = 2) -> str:
    """One conv2d layer with `filters` 3x3 filters over a channels x side x side input of digits."""
    rng = random.Random(seed)
    image = "[" + ", ".join(grid(rng, side, side, list("0123456789")) for _ in range(channels)) + "]"
    bank = ",\n".join(
        "[" + ", ".join(grid(rng, 3, 3, ["-1", "0", "1", "2"]) for _ in range(channels)) + "]" for _ in range(filters)
    )
    return f'title = "{title}"\ninput = {image}\n\n[[layers]]\ntype = "conv2d"\nfilters = [\n{bank}\n]\n'


def solve(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stepper", "solve", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def longest_line(path: Path) -> int:
    return max(map(len, path.read_text(encoding="utf-8").splitlines()))


# ---- below the limits, every format ----


@pytest.fixture(scope="module")
def lenet_detail_2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lenet")
    (folder / "lenet.toml").write_text(lenet_toml(), encoding="utf-8")
    return folder, solve(folder / "lenet.toml", "--detail", "2", "--out", folder / "out")


@needs_pdflatex
def test_lenet_at_detail_2_writes_every_format(lenet_detail_2):
    """pdflatex stopped on this document (main memory size=5000000), and nothing was written."""
    folder, done = lenet_detail_2
    assert done.returncode == 0, done.stderr
    out = folder / "out"
    assert sorted(p.name for p in out.iterdir()) == ["lenet.md", "lenet.pdf", "lenet.tex"]
    assert (out / "lenet.pdf").read_bytes().startswith(b"%PDF")
    assert longest_line(out / "lenet.tex") <= TEX_LINE
    # it is large enough to be announced before the work, in one line
    assert re.fullmatch(r"stepper: \S*lenet\.toml: about 102 windows, [\d,]+ pages, [\d.,]+ [kM]B\n", done.stderr), (
        done.stderr
    )


@needs_pdflatex
def test_a_224_layer_at_detail_1_writes_every_format(tmp_path):
    """A 3x224x224 input wrote each matrix on one line of 200,000 characters and more, which TeX cannot read."""
    (tmp_path / "wide.toml").write_text(conv_toml(224, 2), encoding="utf-8")
    done = solve(tmp_path / "wide.toml", "--detail", "1", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["wide.md", "wide.pdf", "wide.tex"]
    assert longest_line(tmp_path / "out" / "wide.tex") <= TEX_LINE


def test_the_estimate_is_near_the_document(lenet_detail_2):
    """Within a factor of 1.5 of the bytes written, and the windows worked counted exactly (the tutorial works
    2 x 16 windows, 8 pooling windows, 4 cells of the 1x1 filter, 4 sigmoids and 2 neurons)."""
    folder, done = lenet_detail_2
    assert done.returncode == 0, done.stderr
    lenet = load(folder / "lenet.toml")
    tutorial = load(TUTORIAL)
    cases = [
        (lenet, replace(lenet.settings, detail=2), (folder / "out" / "lenet.md").stat().st_size, 102),
        (tutorial, tutorial.settings, len(render(trace(tutorial), "md").encode()), 50),
    ]
    for problem, settings, size, windows in cases:
        guess = estimate(problem, settings)
        assert guess.windows == windows, problem.title
        assert size / 1.5 <= guess.bytes <= size * 1.5, (problem.title, guess, size)
        assert 1 <= guess.pages <= guess.bytes / 500, guess


TRAIN = '\n[train]\ntarget = 1\nloss = "mse"\nlearning_rate = 0.1\n'


def test_the_estimate_counts_the_backward_pass(tmp_path):
    """With [train] the backward pass is most of the document (LeNet's at --detail 2: 2.7 of its 4.1 MB): the
    estimate of the whole stays within a factor of 1.5 of what is written, for LeNet trained one step and for the
    tutorial's example, whose gradients are mostly 0 below its max pooling."""
    (tmp_path / "lenet.toml").write_text(lenet_toml() + TRAIN, encoding="utf-8")
    lenet, tutorial = load(tmp_path / "lenet.toml"), load(ROOT / "examples" / "tutorial-train.toml")
    for problem, settings in ((lenet, replace(lenet.settings, detail=2)), (tutorial, tutorial.settings)):
        size = len(render(trace(problem, settings), "md").encode())
        guess, forward = estimate(problem, settings), estimate(replace(problem, train=None), settings)
        assert size / 1.5 <= guess.bytes <= size * 1.5, (problem.title, guess, size)
        assert guess.bytes > 1.5 * forward.bytes and guess.pages > forward.pages, (guess, forward)


def test_a_trained_lenet_worked_in_full_is_refused_before_any_work(capsys, monkeypatch, tmp_path):
    """Its forward pass alone is within the 20 MB pdflatex is given; with the backward pass (58 MB of Markdown
    when written) it is not, and stepper says so before tracing anything."""
    (tmp_path / "lenet.toml").write_text(lenet_toml() + TRAIN, encoding="utf-8")
    problem = load(tmp_path / "lenet.toml")
    full = replace(problem.settings, detail="all")
    assert estimate(replace(problem, train=None), full).bytes < PDF_LIMIT["pdflatex"] < estimate(problem, full).bytes
    untraced(monkeypatch)
    out = tmp_path / "out"
    code, _, err = run_stepper(capsys, "solve", tmp_path / "lenet.toml", "--detail", "all", "--out", out)
    assert_one_error(code, err, tmp_path / "lenet.toml", (r"MB of LaTeX", r"more than the 20 MB stepper typesets"))
    assert not out.exists()


def test_the_estimate_counts_detail():
    problem = load(TUTORIAL)
    sizes = [estimate(problem, replace(problem.settings, detail=d)) for d in ("answers", 1, 2, "all")]
    assert [s.windows for s in sizes] == [0, 7, 14, 50]  # a window, neuron or cell of each of 7 stages, then 2
    assert sizes[0].bytes < sizes[1].bytes < sizes[2].bytes < sizes[3].bytes


# ---- beyond them, a refusal before any work ----


def untraced(monkeypatch):
    """Tracing, the first work, fails loudly: a refusal must come before it."""

    def trace_called(*args, **kwargs):
        raise StepperError("TRACED")

    monkeypatch.setattr(stepper.writing.solution, "trace", trace_called)


def test_a_document_too_large_to_typeset_is_refused_in_one_line(capsys, monkeypatch, tmp_path):
    problem = tmp_path / "big.toml"
    problem.write_text(conv_toml(160, 4, channels=1), encoding="utf-8")
    size = estimate(load(problem)).bytes
    assert PDF_LIMIT["pdflatex"] < size < TEXT_LIMIT, size  # the test is about the PDF limit alone
    untraced(monkeypatch)
    out = tmp_path / "out"
    code, _, err = run_stepper(capsys, "solve", problem, "--out", out)
    assert_one_error(
        code,
        err,
        problem,
        (
            r"about [\d,]+ windows, [\d,]+ pages, \d+ MB of LaTeX",
            r"more than the 20 MB stepper typesets",
            r"--detail N",
            r"--detail shapes",
            r"--format md",
            r"--force",
        ),
    )
    assert not out.exists()
    # without the PDF it is within the limits: the work starts (and here stops at once)
    code, _, err = run_stepper(capsys, "solve", problem, "--format", "md,tex", "--out", out)
    assert err.splitlines()[-1].endswith("TRACED"), err


def test_a_title_that_needs_luatex_lowers_the_limit(capsys, monkeypatch, tmp_path):
    """LuaLaTeX takes ten times as long as pdflatex on a large document, so it is given a quarter of the bytes."""
    untraced(monkeypatch)
    for title, refused in (("Latin", False), ("\u738b\u5c0f\u660e", True)):
        problem = tmp_path / "mid.toml"
        problem.write_text(conv_toml(160, 1, channels=1, title=title), encoding="utf-8")
        assert PDF_LIMIT["lualatex"] < estimate(load(problem)).bytes < PDF_LIMIT["pdflatex"]
        code, _, err = run_stepper(capsys, "solve", problem, "--out", tmp_path / "out")
        assert code == 2 and len(err.splitlines()) == (1 if refused else 2), err
        assert ("with LuaLaTeX, which its title needs" in err) is refused, err


def test_a_document_too_large_to_write_is_refused_even_as_markdown(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(stepper.writing.solution, "TEXT_LIMIT", 20_000)
    untraced(monkeypatch)
    code, _, err = run_stepper(capsys, "solve", TUTORIAL, "--format", "md", "--out", tmp_path / "out")
    message = assert_one_error(
        code,
        err,
        TUTORIAL,
        (r"of md, more than the 20 kB stepper writes", r"--detail N", r"--detail shapes", r"--force"),
    )
    assert "--format" not in message  # no format would help
    assert not (tmp_path / "out").exists()


def test_force_makes_it_anyway(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(stepper.writing.solution, "PDF_LIMIT", {"pdflatex": 1000, "lualatex": 1000})
    out = tmp_path / "out"
    code, _, err = run_stepper(capsys, "solve", TUTORIAL, "--format", "md,tex", "--out", out)
    assert code == 0, err  # no PDF asked for: the PDF limit does not apply
    code, _, err = run_stepper(capsys, "solve", TUTORIAL, "--out", out)
    assert code == 2 and "--force" in err
    code, _, err = run_stepper(capsys, "solve", TUTORIAL, "--format", "md", "--out", out, "--force")
    assert code == 0 and err == "", err
    if shutil.which("pdflatex"):
        code, _, err = run_stepper(capsys, "solve", TUTORIAL, "--out", out, "--force")
        assert code == 0 and err.startswith(f"stepper: {TUTORIAL}: about 50 windows, "), err
        assert (out / "tutorial.pdf").exists()


# ---- the LaTeX in short lines ----


def test_long_lines_are_wrapped_where_a_line_break_is_a_space():
    row = " & ".join(str(n) for n in range(3000))
    tex = f"% {row}\n\\[ \\left[\\begin{{array}}{{r}} {row} \\end{{array}}\\right] \\]\n{row} % {row}\nshort\n"
    wrapped = wrap_tex(tex)
    lines = wrapped.split("\n")
    assert lines[0] == f"% {row}"  # a comment is never broken: its second half would be read as LaTeX
    assert all(len(line) <= TEX_LINE for line in lines[1:-3]) and len(lines) > 100
    assert lines[-3].endswith(f"% {row}") and lines[-2:] == ["short", ""]
    assert wrapped.split() == tex.split()  # the same words: only spaces became line breaks
    assert all(line.strip() for line in lines[:-1])  # no blank line, which TeX reads as a paragraph break


def test_a_space_that_is_part_of_a_command_is_never_a_line_break():
    tex = "x\\ " * 200 + "end"  # every space a control space: nowhere to break
    assert wrap_tex(tex) == tex
    tex = "a" * 150 + "\\\\ " + "b" * 100 + "  " + "c" * 100  # \\ ends a row; two spaces are no single break
    assert wrap_tex(tex).split("\n") == ["a" * 150 + "\\\\", "b" * 100 + "  " + "c" * 100]


# ---- a failed typeset keeps what it made ----


def broken_sigmoid(folder: Path) -> Path:
    """A template folder whose sigmoid partial LaTeX cannot typeset."""
    (folder / "tex").mkdir(parents=True)
    (folder / "tex" / "sigmoid.j2").write_text("\\NoSuchCommandHere\n", encoding="utf-8")
    return folder


@needs_pdflatex
def test_a_failed_typeset_leaves_markdown_latex_and_the_log(capsys, tmp_path):
    (tmp_path / "good.toml").write_text(TINY, encoding="utf-8")
    (tmp_path / "bad.toml").write_text(TINY.replace('"relu"', '"sigmoid"'), encoding="utf-8")
    templates, out = broken_sigmoid(tmp_path / "templates"), tmp_path / "out"
    args = ("solve", tmp_path / "good.toml", tmp_path / "bad.toml", "--templates", templates, "--out", out)
    code, stdout, err = run_stepper(capsys, *args)
    message = assert_one_error(
        code,
        err,
        out / "bad.pdf",
        (
            r"^pdflatex failed: Undefined control sequence\. l\.\d+ \\NoSuchCommandHere; ",
            rf"written: {re.escape(str(out / 'bad.md'))}, {re.escape(str(out / 'bad.tex'))}, "
            rf"the LaTeX log {re.escape(str(out / 'bad.log'))}$",
        ),
    )
    assert "see the LaTeX log" not in message
    assert sorted(p.name for p in out.iterdir()) == ["bad.log", "bad.md", "bad.tex", "good.md", "good.pdf", "good.tex"]
    assert len(stdout.splitlines()) == 6
    log = out / "bad.log"
    assert "! Undefined control sequence." in log.read_text(encoding="utf-8") and written_by_stepper(log)
    # stepper's log is its own to replace; once the document typesets, the log of its failure goes
    assert run_stepper(capsys, *args)[0] == 2
    code, _, err = run_stepper(capsys, "solve", tmp_path / "bad.toml", "--out", out)
    assert code == 0, err
    assert not log.exists() and (out / "bad.pdf").exists()


@needs_pdflatex
def test_a_log_of_the_users_is_neither_replaced_nor_removed(capsys, tmp_path):
    (tmp_path / "bad.toml").write_text(TINY.replace('"relu"', '"sigmoid"'), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "bad.log").write_text("my own pdflatex run\n", encoding="utf-8")
    templates = broken_sigmoid(tmp_path / "templates")
    code, _, err = run_stepper(capsys, "solve", tmp_path / "bad.toml", "--templates", templates, "--out", out)
    assert_one_error(
        code,
        err,
        out / "bad.pdf",
        (
            r"pdflatex failed",
            r"written: .*bad\.md, .*bad\.tex; "
            r"its LaTeX log is not written, as .*bad\.log is there",
        ),
    )
    assert run_stepper(capsys, "solve", tmp_path / "bad.toml", "--out", out)[0] == 0
    assert (out / "bad.log").read_text(encoding="utf-8") == "my own pdflatex run\n"


@needs_pdflatex
def test_bad_input_still_writes_nothing(capsys, tmp_path):
    """A failed typeset keeps its files, but a problem that cannot be rendered still stops the whole run."""
    (tmp_path / "good.toml").write_text(TINY, encoding="utf-8")
    (tmp_path / "bad.toml").write_text(TINY.replace('"relu"', '"sigmoid"'), encoding="utf-8")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "sigmoid.j2").write_text("\\VAR{record.no_such_field}\n", encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run_stepper(
        capsys,
        "solve",
        tmp_path / "good.toml",
        tmp_path / "bad.toml",
        "--templates",
        tmp_path / "templates",
        "--out",
        out,
    )
    assert code == 2 and "no_such_field" in err and len(err.splitlines()) == 1, err
    assert not out.exists()


@needs_pdflatex
def test_a_report_that_does_not_typeset_leaves_its_markdown_and_the_log(capsys, tmp_path):
    working = tmp_path / "ada.toml"
    working.write_text('student = "Ada"\n\n[dense]\nz1 = 0.5095\n', encoding="utf-8")
    (tmp_path / "templates" / "tex").mkdir(parents=True)
    (tmp_path / "templates" / "tex" / "feedback.tex").write_text(
        '\\BLOCK{include "preamble.tex"}\n\\begin{document}\n\\NoSuchCommandHere\n\\end{document}\n', encoding="utf-8"
    )
    out = tmp_path / "out"
    code, stdout, err = run_stepper(
        capsys, "check", TUTORIAL, working, "--format", "md,pdf", "--out", out, "--templates", tmp_path / "templates"
    )
    assert_one_error(
        code,
        err,
        out / "ada-feedback.pdf",
        (r"pdflatex failed: Undefined control sequence", r"written: .*ada-feedback\.md, the LaTeX log "),
    )
    assert sorted(p.name for p in out.iterdir()) == ["ada-feedback.log", "ada-feedback.md"]
    assert stdout.startswith("ada.toml: Ada: ")


@pytest.mark.parametrize(
    "path", sorted(p for p in (ROOT / "examples").glob("*.toml") if "-working-" not in p.name), ids=lambda p: p.stem
)
def test_every_example_has_an_estimate_that_grows_with_detail(path):
    from stepper.exams.variants import load_template

    problem = load_template(path).base if "-exam" in path.name else load(path)
    sizes = [estimate(problem, replace(problem.settings, detail=d)) for d in ("shapes", "answers", 1, "all")]
    assert [s.windows for s in sizes[:2]] == [0, 0] and sizes[2].windows <= sizes[3].windows
    assert all(a.bytes <= b.bytes and 1 <= a.pages <= b.pages for a, b in zip(sizes, sizes[1:])), sizes


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (ROOT / "examples").glob("*.toml") if "-working-" not in p.name and "-exam" not in p.name),
    ids=lambda p: p.stem,
)
@pytest.mark.parametrize("train", ['loss = "mse"', 'loss = "half_sse"\nupdate_bias = false\nsteps = 3'])
def test_every_example_trained_has_an_estimate_that_grows_with_detail(path, train):
    """Every example that ends in a vector and holds numbers, trained one way or another: the backward pass adds
    to the estimate at every detail but shapes, and it still grows with detail (every kind of layer the examples
    have: convolutions plain, dilated, true and transposed, pooling, 1x1 filters, dense, every activation)."""
    text = path.read_text(encoding="utf-8")
    if "[train]" in text:
        text = text[: text.index("[train]")]
    try:
        problem = loads(text + f"\n[train]\ntarget = 1\n{train}\n")
    except StepperError:  # maps out, or symbols: no training to estimate
        pytest.skip("this example cannot be trained")
    plain = loads(text)
    sizes = [estimate(problem, replace(problem.settings, detail=d)) for d in ("answers", 1, "all")]
    without = [estimate(plain, replace(plain.settings, detail=d)) for d in ("answers", 1, "all")]
    assert all(a.bytes <= b.bytes and a.pages <= b.pages for a, b in zip(sizes, sizes[1:])), sizes
    assert all(t.bytes > p.bytes and t.windows >= p.windows for t, p in zip(sizes, without)), (sizes, without)
