"""Regenerate output/: the worked solution of each example, in every format; in output/feedback/ the
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
]  # lenet.toml says detail = "shapes": its table of shapes, no windows
FORMATS = "md,tex,pdf"
# `stepper check` of the tutorial's example working files, as a class.
WORKINGS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("tutorial-working-*.toml"))
FEEDBACK = "output/feedback"


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
        status = stepper(check_args(str(ROOT / FEEDBACK)))
    if status == 0:
        status = stepper(exam_args(str(ROOT / EXAM)))
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
