"""Regenerate output/: the worked solution of each example, in every format; the tutorial's interactive page (and
a picture of it), slide deck and JSON; in output/feedback/ the
feedback reports and class summary of the tutorial's example working files; and in output/exam/ a few
variants of the tutorial's exam template, with question sheets, keys, a manifest and a Moodle quiz.

    python tools/regenerate_output.py

tests/test_output_current.py fails when output/ is older than the code that writes it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The examples whose worked solutions are kept in output/.
EXAMPLES = [
    "examples/tutorial.toml",
    "examples/two-channels.toml",
    "examples/activations.toml",
    "examples/strides-and-pooling.toml",
    "examples/true-convolution.toml",
    "examples/dilation.toml",
    "examples/transposed-convolution.toml",
    "examples/volumetric-symbols.toml",
    "examples/cs231n-scores.toml",
    "examples/lenet.toml",
    "examples/mazur-backprop.toml",
    "examples/tutorial-train.toml",
]  # lenet.toml says detail = "shapes": its table of shapes, no windows
FORMATS = "md,tex,pdf"
# `stepper check` of the tutorial's example working files, as a class.
WORKINGS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("tutorial-working-*.toml"))
FEEDBACK = "output/feedback"


# A class from a spreadsheet: the tutorial's blank answer sheet, the example working files as one filled sheet,
# and that sheet marked (a report per row, the class summary in CSV, Markdown and one page of PDF).
ANSWER_SHEET = "answer-sheet.csv"
CLASS_SHEET = "class-answers.csv"
CLASS = "output/feedback/class"


def class_sheet() -> str:
    """The example working files as one filled class sheet."""
    from stepper.core.load import load
    from stepper.marking.spreadsheet import row_of_working, sheet_of_rows
    from stepper.marking.working import load_working

    problem = load(ROOT / "examples" / "tutorial.toml")
    rows = [row_of_working(load_working(ROOT / w, problem, name=Path(w).name), problem) for w in WORKINGS]
    return sheet_of_rows(rows, problem)


def answer_sheet_args(out: str) -> list[str]:
    return ["check", "--answer-sheet", str(ROOT / "examples" / "tutorial.toml"), "--out", out]


def class_args(sheet: str, out: str) -> list[str]:
    return ["check", str(ROOT / "examples" / "tutorial.toml"), sheet, "--format", FORMATS, "--out", out]


# The tutorial for teaching from: its interactive page, its slide deck (LaTeX and PDF) and its trace as data.
LECTURE_FORMATS = "html,beamer,json"
LECTURE_FILES = ["tutorial.html", "tutorial-slides.tex", "tutorial-slides.pdf", "tutorial.json"]


def lecture_args(out: str) -> list[str]:
    return ["solve", str(ROOT / "examples" / "tutorial.toml"), "--format", LECTURE_FORMATS, "--out", out]


# The README shows the tutorial's page with output cell (1, 2) of filter 1 open, as a browser draws it.
PAGE_PICTURE = "tutorial-interactive.png"


def page_picture(page: Path, picture: Path) -> None:
    """A 1280x800 screenshot of the page in headless Chromium (the system's, through Playwright), with a window
    open; left as it is, with a note, where Playwright or Chromium is missing."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print(f"regenerate_output: no Playwright or Chromium, so {picture.name} is left as it is", file=sys.stderr)
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        shown = browser.new_page(viewport={"width": 1280, "height": 800})
        shown.goto(page.as_uri())
        shown.locator('table[data-layer="0"] button[aria-label="Output row 1, column 2 of filter 1"]').click()
        shown.mouse.move(0, 0)
        shown.evaluate("window.scrollTo(0, document.getElementById('layer1').offsetTop - 60)")
        shown.screenshot(path=str(picture))
        browser.close()


# `stepper exam --stress 200` of the tutorial's exam template: how often each constraint holds and how hard the
# accepted variants are. Its first line says how long the run took, which no two runs share.
STRESS = "output/exam-stress.txt"
STRESS_ARGS = ["exam", str(ROOT / "examples" / "tutorial-exam.toml"), "--stress", "200", "--seed", "1"]


def stress_report() -> str:
    """The stress run's report, as `stepper exam --stress` prints it."""
    run = subprocess.run([sys.executable, "-m", "stepper", *STRESS_ARGS], cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(run.stderr)
    return run.stdout


# `stepper exam` of the tutorial's exam template: a few variants in every format.
EXAM = "output/exam"


def exam_args(out: str) -> list[str]:
    return [
        "exam",
        str(ROOT / "examples" / "tutorial-exam.toml"),
        "--variants",
        "3",
        "--seed",
        "1",
        "--format",
        FORMATS + ",moodle",
        "--out",
        out,
    ]


def check_args(out: str) -> list[str]:
    return [
        "check",
        str(ROOT / "examples" / "tutorial.toml"),
        *(str(ROOT / w) for w in WORKINGS),
        "--format",
        FORMATS,
        "--out",
        out,
    ]


# The README shows this page of the tutorial's PDF as a picture.
PICTURE_PAGE = 2
PICTURE = f"tutorial-page{PICTURE_PAGE}.png"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from stepper.cli import main as stepper

    status = stepper(["solve", *(str(ROOT / e) for e in EXAMPLES), "--format", FORMATS, "--out", str(ROOT / "output")])
    if status == 0:
        status = stepper(lecture_args(str(ROOT / "output")))
    if status == 0:
        page_picture(ROOT / "output" / "tutorial.html", ROOT / "output" / PAGE_PICTURE)
        status = stepper(check_args(str(ROOT / FEEDBACK)))
    if status == 0:
        status = stepper(answer_sheet_args(str(ROOT / FEEDBACK)))
    if status == 0:
        sheet = ROOT / FEEDBACK / CLASS_SHEET
        sheet.write_text(class_sheet(), encoding="utf-8")
        status = stepper(class_args(str(sheet), str(ROOT / CLASS)))
    if status == 0:
        status = stepper(exam_args(str(ROOT / EXAM)))
    if status == 0:
        (ROOT / STRESS).write_text(stress_report(), encoding="utf-8")
    if status == 0:
        page = str(PICTURE_PAGE)
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "80",
                "-f",
                page,
                "-l",
                page,
                "-singlefile",
                str(ROOT / "output" / "tutorial.pdf"),
                str(ROOT / "output" / PICTURE[:-4]),
            ],
            check=True,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
