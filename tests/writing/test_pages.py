"""Pages: no heading or label is left at the foot of a page without what it introduces, and no line runs off it.

A page's last line is read with `pdftotext -layout` (the page number under it aside). It ends a page wrongly when it
is a heading the templates write, or a label: a line ending with a colon (every label that introduces a display or
a list does: "Output row 1, column 2 (padded rows 1-3, columns 3-5):", "Filters:", "The working:") or the end of
one of the few labels that end with a full stop. Every .tex in output/ is compiled afresh, with the engine stepper
would choose, and its log must show no overfull box of more than 1 pt.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from stepper import loads, render, trace
from stepper.writing import output as stepper_output
from stepper.writing.documents import render_question
from tests.helpers import ROOT

OUTPUT = ROOT / "output"
TEMPLATES = ROOT / "templates"

needs_tex = pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
    reason="pdflatex and poppler-utils are needed",
)

# The headings templates/ writes (mk.heading), as they print: test_every_template_heading_is_recognised keeps
# this list in step with the templates.
HEADINGS = [
    r"The problem",
    r"The network",
    r"Shapes, parameters and multiply-adds",
    r"Answer",
    r"Marks",
    r"Written sums",
    r"What to write down",
    r"Layer \d+: [^:]+",  # Layer 1: convolution, Layer 4: 1×1 filter across the channels
    r"Filter \d+",
    r"Channel \d+",
    r"Layer \d+ \([^)]+\)(, [a-z]+ \d+)*(, row \d+, column \d+)?",  # a feedback stage or written sum
    # the backward pass (backward.j2, grad_*.j2): Backward, layer 6: dense; Filter 1, channel 2; The update
    r"Backward pass",
    r"Backward, layer \d+: [^:]+",
    r"The (loss|weights|bias|input|filters|update)",
    r"Where the gradient starts",
    r"After the step",
    r"Filter \d+, channel \d+",
    r"Input channel \d+",
    r"Answer: the backward pass",  # an exam key's backward answers (answer_backward.j2)
    r"Variant \d+( \(seed \d+\)| +seed \d+)?",  # an exam key's title
]
HEADING = re.compile("|".join(f"(?:{h})" for h in HEADINGS))
# Labels that end with a full stop rather than a colon: the last words of each, as the templates write them.
LABEL_ENDINGS = re.compile(
    r"(input( \(\d+ channels\))?|stay as they are|from overflowing|laid out like the input map|"
    r"in the order of the input|and b the biases)\.$"
)


def is_heading_or_label(line: str) -> bool:
    return line.endswith(":") or HEADING.fullmatch(line) is not None or LABEL_ENDINGS.search(line) is not None


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M)[1])


def page_lines(pdf: Path, page: int) -> list[str]:
    """A page's lines of text, stripped, without blank lines and without the page number at its foot."""
    text = subprocess.run(
        ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[-1].isdigit():
        lines.pop()
    return lines


def stranded(pdf: Path) -> list[tuple[int, str]]:
    """The pages (but the last) that end with a heading or a label, with that line."""
    found = []
    for page in range(1, page_count(pdf)):
        lines = page_lines(pdf, page)
        if lines and is_heading_or_label(lines[-1]):
            found.append((page, lines[-1]))
    return found


def compile_tex(tex: str, folder: Path) -> tuple[str, Path]:
    """A LaTeX document compiled as stepper compiles one (its engine, no shell escape, a fixed date): the log's
    text and the PDF."""
    engine = getattr(stepper_output, "tex_engine", lambda _: "pdflatex")(tex)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "doc.tex").write_text(tex, encoding="utf-8")
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
    subprocess.run(
        [engine, "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=600,
    )
    log = (folder / "doc.log").read_text(encoding="utf-8", errors="replace")
    assert (folder / "doc.pdf").exists(), log[-2000:]
    return log, folder / "doc.pdf"


def overfull(log: str) -> list[str]:
    """Every box the log reports as overfull by more than 1 pt."""
    return [
        m[0]
        for m in re.finditer(r"Overfull \\[hv]box \((\d+(?:\.\d+)?)pt too (?:wide|high)\)[^\n]*", log)
        if float(m[1]) > 1.0
    ]


def kept(suffix: str) -> list[Path]:
    return sorted(OUTPUT.rglob(f"*{suffix}"))


def name(path: Path) -> str:
    return str(path.relative_to(OUTPUT))


@needs_tex
@pytest.mark.parametrize("pdf", kept(".pdf"), ids=name)
def test_no_page_ends_with_a_heading_or_label(pdf):
    assert stranded(pdf) == []


@needs_tex
@pytest.mark.parametrize("tex", kept(".tex"), ids=name)
def test_no_line_runs_off_the_page(tex, tmp_path):
    log, _ = compile_tex(tex.read_text(encoding="utf-8"), tmp_path)
    assert overfull(log) == []


# Problems made to be wide: CS231n's scores with the image as a 1x4 grid (the dense row of input and three
# neurons' weights ran 190 pt off the page), 16 dense inputs of 7 characters, a 12-wide padded grid of decimals.
CS231N_ROW = """
title = "CS231n scores, the image as one row"
input = "56 231 24 2"
[[layers]]
type = "dense"
weights = [[0.2, -0.5, 0.1, 2.0], [1.5, 1.3, 2.1, 0.0], [0, 0.25, 0.2, -0.3]]
bias = [1.1, 3.2, -1.2]
"""
WIDE_DENSE = """
title = "Sixteen inputs"
input = \"\"\"
0.1234 -0.5678 0.9123 -0.4567 0.8912 -0.3456 0.7891 -0.2345
0.6789 -0.1234 0.5678 -0.9123 0.4567 -0.8912 0.3456 -0.7891
\"\"\"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
weights = [
 [0.11, -0.22, 0.33, -0.44, 0.55, -0.66, 0.77, -0.88, 0.99, -0.12, 0.23, -0.34, 0.45, -0.56, 0.67, -0.78],
 [-0.11, 0.22, -0.33, 0.44, -0.55, 0.66, -0.77, 0.88, -0.99, 0.12, -0.23, 0.34, -0.45, 0.56, -0.67, 0.78],
 [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
]
bias = [0.125, -0.25, 0.5]
[[layers]]
type = "sigmoid"
[[layers]]
type = "softmax"
"""
WIDE_GRID = """
title = "Decimals through a wide convolution"
input = \"\"\"
0.1234 -0.5678 0.9123 -0.4567 0.8912 -0.3456 0.7891 -0.2345 0.5 -0.25
0.6789 -0.1234 0.5678 -0.9123 0.4567 -0.8912 0.3456 -0.7891 0.5 -0.25
0.1234 -0.5678 0.9123 -0.4567 0.8912 -0.3456 0.7891 -0.2345 0.5 -0.25
0.6789 -0.1234 0.5678 -0.9123 0.4567 -0.8912 0.3456 -0.7891 0.5 -0.25
\"\"\"
[[layers]]
type = "conv2d"
padding = 1
filters = ["0.25 -0.5 0.125\\n-0.75 1.5 -0.375\\n0.5 -0.25 0.0625"]
[[layers]]
type = "tanh"
[[layers]]
type = "maxpool"
size = 2
"""
WIDE = {"cs231n-row": CS231N_ROW, "wide-dense": WIDE_DENSE, "wide-grid": WIDE_GRID}


@needs_tex
@pytest.mark.parametrize("problem", list(WIDE))
def test_wide_problems_wrap_within_the_page(problem, tmp_path):
    """Their worked solutions and question sheets: no overfull box, and no stranded label."""
    result = trace(loads(WIDE[problem], name=f"{problem}.toml"))
    for kind, tex in (("solution", render(result, "tex")), ("question", render_question(result, "tex", "1"))):
        log, pdf = compile_tex(tex, tmp_path / kind)
        assert overfull(log) == [], kind
        assert stranded(pdf) == [], kind


@needs_tex
def test_the_cs231n_row_once_ran_off_the_page(tmp_path):
    """The same dense row with every item forced onto one line is wider than the page: what the test above
    protects against is real."""
    result = trace(loads(CS231N_ROW, name="row.toml"))
    tex = render(result, "tex")
    row = re.search(r"\\\[\n\\begin\{gathered\} \\text\{input\}.*?\\\]", tex, re.S)[0]
    assert " \\\\ " in row  # wrapped: two lines
    log, _ = compile_tex(tex.replace(row, row.replace(" \\\\ ", " \\qquad ")), tmp_path)
    assert overfull(log), "forced onto one line, the row should have overflowed"


@needs_tex
def test_labels_fall_to_the_foot_without_steplabel(tmp_path):
    """With \\steplabel reduced to plain text, the tutorial's labels end pages again: the check above can fail,
    and \\steplabel is what keeps each label with its display."""
    tex = (OUTPUT / "tutorial.tex").read_text(encoding="utf-8")
    plain = tex.replace("\\begin{document}", "\\renewcommand{\\steplabel}[1]{#1\\par}\n\\begin{document}", 1)
    _, pdf = compile_tex(plain, tmp_path)
    assert len(stranded(pdf)) >= 3


@needs_tex
def test_the_recogniser_finds_the_headings_and_labels_it_looks_for():
    """Read line by line, the tutorial's PDF holds headings and labels the check recognises, and text it does not."""
    pdf = OUTPUT / "tutorial.pdf"
    lines = [line for page in range(1, page_count(pdf) + 1) for line in page_lines(pdf, page)]
    recognised = {line for line in lines if is_heading_or_label(line)}
    for expected in (
        "The problem",
        "Layer 1: convolution",
        "Filter 1",
        "Filter 2",
        "Channel 1",
        "Answer",
        "Layer 4: 1×1 filter across the channels",
        "Filters:",
        "Feature map of filter 1:",
        "Output row 1, column 1 (padded rows 1–3, columns 1–3):",
        "Perform a forward pass of the network below on this 8×8 input.",
    ):
        assert expected in recognised, expected
    assert not is_heading_or_label("z1,1 = −2 − 5 = −7")
    assert not is_heading_or_label("Numbers are kept exact.")
    assert len(recognised) < len(set(lines)) / 2


def template_headings() -> list[str]:
    """Every mk.heading(...) of templates/, with each expression in it written as an example value."""
    examples = {
        "record.number": "3",
        "how": "max",
        "m.activation_title(record.layer)": "leaky ReLU",
        "mk.times": "×",
        "(c + 1)": "2",
        "(f + 1)": "1",
        "r.title|escape": "Layer 1 (convolution), filter 1",
        "s.title|escape": "Layer 1 (convolution), filter 1, row 1, column 2",
        "grad.number": "6",
        "m.kind_title(grad.layer)|escape": "dense",
        "u.number": "6",
        "u.name": "weights",
    }
    found = []
    for path in TEMPLATES.rglob("*"):
        if path.is_file() and not path.name.endswith("_md.j2"):  # a partial for Markdown alone has no pages
            for call in re.findall(r"mk\.heading\(\d, (.*?)\)\}", path.read_text(encoding="utf-8")):
                parts = [p.strip() for p in call.split(" ~ ")]
                found.append("".join(p[1:-1] if p.startswith('"') else examples[p] for p in parts))
    return found


def test_every_template_heading_is_recognised():
    headings = template_headings()
    assert "Layer 3: max" in " ".join(headings) and "Written sums" in headings
    for heading in headings:
        assert HEADING.fullmatch(heading), heading


@needs_tex
def test_width_estimates_follow_what_tex_measures(tmp_path):
    """Wrapping rests on stepper.writing.maths.tex_width: every displayed formula of the tutorial, a feedback report and
    the wide problems, set by TeX, is within 15% of its estimate, and none estimated to fit the line overflows."""
    from stepper.writing.maths import LINE_WIDTH, tex_width

    texts = [
        (OUTPUT / "tutorial.tex").read_text(encoding="utf-8"),
        (OUTPUT / "feedback" / "tutorial-working-slips-feedback.tex").read_text(encoding="utf-8"),
    ]
    texts += [render(trace(loads(WIDE[p], name=f"{p}.toml")), "tex") for p in WIDE]
    formulas = sorted({f for text in texts for f in re.findall(r"\\\[\n(.*?)\n\\\]", text, re.S)})
    preamble = (OUTPUT / "tutorial.tex").read_text(encoding="utf-8").split("\\begin{document}")[0]
    body = "\n".join(
        f"\\setbox0=\\hbox{{$\\displaystyle {f}$}}\\typeout{{WIDTH {k}: \\the\\wd0}}" for k, f in enumerate(formulas)
    )
    log, _ = compile_tex(f"{preamble}\\begin{{document}}\n{body}\nx\n\\end{{document}}\n", tmp_path)
    measured = {int(k): float(pt) for k, pt in re.findall(r"WIDTH (\d+): ([\d.]+)pt", log)}
    assert len(measured) == len(formulas) > 100
    text_width = 481.0  # A4 less 2 cm margins, in points
    for k, formula in enumerate(formulas):
        estimate, real = tex_width(formula), measured[k]
        if real > 40:
            assert 0.85 <= estimate / real <= 1.15, (formula, estimate, real)
        assert estimate > LINE_WIDTH or real <= text_width, (formula, estimate, real)
