"""The rendered documents: LaTeX compiles, Markdown maths renders in KaTeX,
output is deterministic, user templates override, untrusted text is escaped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stepper import loads, render, trace
from stepper.writing.latex import typeset
from tests.helpers import ROOT
from tests.helpers.katex import markdown_formulas, render_errors
from tests.helpers.problems import problems, to_toml

EXAMPLES = sorted(
    p for p in (ROOT / "examples").glob("*.toml") if "-working-" not in p.name and "-exam" not in p.name
)  # problem files only
HOSTILE_TITLE = (
    "Week 3 & <script>alert(1)</script> $x$ 100% #1 _a_ {b} ~c^ \\end{document} `code` [link](x) ü \x7f\x85 日本"
)


def solve(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stepper", "solve", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def documents():
    """(name, trace) for every example, at full detail, plus a hostile title."""
    from stepper import load

    for path in EXAMPLES:
        yield path.stem, trace(load(path))
    text = (ROOT / "examples" / "tutorial.toml").read_text()
    title = HOSTILE_TITLE.replace("\\", "\\\\").replace('"', '\\"')
    title = "".join(c if 0x20 <= ord(c) < 0x7F or ord(c) >= 0xA0 else f"\\u{ord(c):04x}" for c in title)
    yield (
        "hostile-title",
        trace(loads(text.replace('title = "CNN tutorial: a forward pass by hand"', f'title = "{title}"'))),
    )


@pytest.mark.parametrize("name,result", list(documents()), ids=lambda x: x if isinstance(x, str) else "")
def test_latex_compiles_with_pdflatex(name, result):
    pdf = typeset(render(result, "tex"), name)
    assert pdf.startswith(b"%PDF")


@pytest.mark.parametrize("name,result", list(documents()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_markdown_formula_renders_in_katex(name, result):
    formulas = markdown_formulas(render(result, "md"))
    assert len(formulas) > 8  # a document of maths, not an empty extraction
    assert render_errors(formulas) == []


def test_generated_output_folder_renders_too(root):
    for md in sorted((root / "output").glob("*.md")):
        assert render_errors(markdown_formulas(md.read_text())) == [], md.name
    for tex in sorted((root / "output").glob("*.tex")):
        typeset(tex.read_text(), tex.name)


def test_random_networks_render_in_both_formats():
    """A handful of generated networks: their documents compile and render too."""
    from hypothesis import HealthCheck, given, settings

    collected = []

    @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(problems())
    def collect(problem):
        collected.append(trace(loads(to_toml(problem))))

    collect()
    formulas = [f for t in collected for f in markdown_formulas(render(t, "md"))]
    assert render_errors(formulas) == []
    for t in collected:
        typeset(render(t, "tex"), "generated")


def test_untrusted_title_is_escaped(tmp_path):
    result = dict(documents())["hostile-title"]
    md = render(result, "md")
    heading = md.splitlines()[0]
    assert "<script>" not in md and "&lt;script&gt;" in heading
    assert "\\$x\\$" in heading and "\\[link\\](x)" in heading
    from markdown_it import MarkdownIt  # with its brackets escaped, [link](x) is text, not a link

    assert "<a " not in MarkdownIt("commonmark").render(heading) and "[link](x)" in MarkdownIt("commonmark").render(
        heading
    )
    tex = render(result, "tex")
    assert "\\end{document}" in tex and tex.count("\\end{document}") == 1
    assert "\\textbackslash{}end\\{document\\}" in tex and "100\\%" in tex and "\\&" in tex


def test_same_input_gives_identical_files(tmp_path):
    for out in ("a", "b"):
        run = solve("--out", str(tmp_path / out))
        assert run.returncode == 0, run.stderr
    for name in ("tutorial.md", "tutorial.tex", "tutorial.pdf"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_user_templates_override_one_file_at_a_time(tmp_path):
    (tmp_path / "md").mkdir()
    (tmp_path / "relu.j2").write_text("RELU OVERRIDDEN IN LAYER \\VAR{record.number}\n")
    (tmp_path / "md" / "answer.j2").write_text("MARKDOWN ANSWER: \\VAR{m.vector(trace.output)}\n")
    run = solve("--format", "md,tex", "--templates", str(tmp_path), "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    md = (tmp_path / "out" / "tutorial.md").read_text()
    tex = (tmp_path / "out" / "tutorial.tex").read_text()
    assert "RELU OVERRIDDEN IN LAYER 2" in md and "RELU OVERRIDDEN IN LAYER 2" in tex
    assert "MARKDOWN ANSWER: \\left[\\begin{array}{rr} 0.4337 & 0.5663" in md
    assert "MARKDOWN ANSWER" not in tex and "section*{Answer}" in tex
    assert "## Layer 1: convolution" in md  # everything not overridden is the built-in template


def test_a_template_naming_a_missing_field_fails_loudly(tmp_path):
    (tmp_path / "relu.j2").write_text("\\VAR{record.no_such_field}\n")
    run = solve("--format", "md", "--templates", str(tmp_path), "--out", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "no_such_field" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out" / "tutorial.md").exists()


def test_help_explains_every_option():
    run = subprocess.run([sys.executable, "-m", "stepper", "solve", "--help"], capture_output=True, text=True)
    assert run.returncode == 0
    for option in ("--format", "--out", "--detail", "--terms", "--rounding", "--decimals", "--templates", "--force"):
        assert option in run.stdout


def test_pdf_without_pdflatex_says_so(tmp_path):
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "stepper", "solve", "--format", "pdf", "--out", str(tmp_path / "o")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 2 and "pdflatex is not installed" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "stepper", "solve", "--out", str(tmp_path / "o")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0 and "no PDF" in run.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["tutorial.md", "tutorial.tex"]


@pytest.mark.parametrize(
    "side, stride, said, zeros",
    [
        (5, 2, "same padding (1 cell on each side)", "1 above, 1 below, 1 left, 1 right"),
        (4, 2, "same padding (0 above, 1 below, 0 left, 1 right)", "0 above, 1 below, 0 left, 1 right"),
    ],
)
def test_same_padding_says_how_many_cells(side, stride, said, zeros):
    """A question sheet shows only the problem statement: "same" must say what it adds (TensorFlow's rule:
    ceil(n / s) outputs, the odd cell after), matching the padded input the working shows."""
    image = "\n".join(" ".join("1" for _ in range(side)) for _ in range(side))
    problem = loads(
        f'input = """\n{image}\n"""\n[[layers]]\ntype = "conv2d"\nstride = {stride}\npadding = "same"\n'
        'filters = ["1 0 1\\n0 1 0\\n1 0 1"]\n'
    )
    total = max((-(-side // stride) - 1) * stride + 3 - side, 0)
    assert zeros.startswith(f"{total // 2} above, {total - total // 2} below")
    md = render(trace(problem), "md")
    statement, working = md.split("## Layer 1")
    assert said in statement and said in working
    assert f"(zeros added: {zeros})" in working
