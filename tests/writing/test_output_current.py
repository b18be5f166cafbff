"""output/ holds the current worked solutions: regenerate with `python tools/regenerate_output.py`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from regenerate_output import (  # noqa: E402
    ANSWER_SHEET,
    CLASS,
    CLASS_SHEET,
    STRESS,
    answer_sheet_args,
    class_args,
    class_sheet,
    stress_report,
    EXAM,
    EXAMPLES,
    FEEDBACK,
    LECTURE_FILES,
    PAGE_PICTURE,
    PICTURE,
    WORKINGS,
    check_args,
    exam_args,
    lecture_args,
)

STALE = "output/ is stale: run `python tools/regenerate_output.py` and commit the result"


def stepper_into(tmp_path_factory, name: str, args) -> Path:
    """A fresh folder, written by `stepper ARGS` run as a separate process, as the regenerating tool runs it."""
    out = tmp_path_factory.mktemp(name)
    run = subprocess.run([sys.executable, "-m", "stepper", *args(str(out))], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return out


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    return stepper_into(
        tmp_path_factory, "fresh", lambda out: ["solve", *EXAMPLES, "--format", "md,tex,pdf", "--out", out]
    )


@pytest.mark.parametrize("example", EXAMPLES)
@pytest.mark.parametrize("suffix", [".md", ".tex"])
def test_text_outputs_are_current(fresh, example, suffix):
    name = ROOT.joinpath(example).stem + suffix
    kept = ROOT / "output" / name
    assert kept.exists(), STALE
    assert kept.read_bytes() == (fresh / name).read_bytes(), STALE


@pytest.mark.parametrize("example", EXAMPLES)
def test_pdf_outputs_are_current(fresh, example):
    """The PDF's text must match a fresh build (its bytes depend on the TeX version installed)."""
    name = ROOT.joinpath(example).stem + ".pdf"
    assert (ROOT / "output" / name).exists(), STALE
    assert_same_files(ROOT / "output", fresh, [name])


def test_lecture_outputs_are_current(tmp_path_factory):
    """The tutorial's page, slide deck and JSON, as `stepper solve --format html,beamer,json` writes them."""
    fresh = stepper_into(tmp_path_factory, "lecture", lecture_args)
    assert sorted(p.name for p in fresh.iterdir()) == sorted(LECTURE_FILES)
    for name in LECTURE_FILES:
        assert (ROOT / "output" / name).exists(), STALE
    assert_same_files(ROOT / "output", fresh, LECTURE_FILES)


@pytest.fixture(scope="module")
def fresh_feedback(tmp_path_factory):
    return stepper_into(tmp_path_factory, "feedback", check_args)


def feedback_names() -> list[str]:
    reports = [ROOT.joinpath(w).stem + "-feedback" + s for w in WORKINGS for s in (".md", ".tex", ".pdf")]
    return reports + ["class-summary.csv", "class-summary.md", "class-summary.pdf"]


SHEETS = [ANSWER_SHEET, CLASS_SHEET]  # beside the reports: the blank answer sheet and the examples as one class sheet


def assert_same_files(kept, fresh, names) -> None:
    """Text files byte for byte; a PDF by its text (its bytes depend on the TeX version installed)."""
    for name in names:
        if name.endswith(".pdf"):
            text = [
                subprocess.run(
                    ["pdftotext", "-layout", str(folder / name), "-"], capture_output=True, text=True, check=True
                ).stdout
                for folder in (kept, fresh)
            ]
            assert text[0] == text[1], STALE
        elif name == "manifest.json":  # it names its template relative to itself: the same file, another way
            manifests = [json.loads((folder / name).read_text(encoding="utf-8")) for folder in (kept, fresh)]
            templates = [(folder / m.pop("template_file")).resolve() for folder, m in zip((kept, fresh), manifests)]
            assert templates[0] == templates[1] and manifests[0] == manifests[1], STALE
        else:
            assert (kept / name).read_bytes() == (fresh / name).read_bytes(), STALE


def test_feedback_outputs_are_current(fresh_feedback):
    kept = ROOT / FEEDBACK
    assert sorted(p.name for p in kept.iterdir()) == sorted(feedback_names() + SHEETS + [Path(CLASS).name]), STALE
    assert_same_files(kept, fresh_feedback, feedback_names())


def test_the_class_sheets_and_their_marking_are_current(tmp_path_factory):
    """The blank answer sheet, the example working files as one class sheet, and that sheet marked."""
    sheet = stepper_into(tmp_path_factory, "sheet", answer_sheet_args)
    assert_same_files(ROOT / FEEDBACK, sheet, [ANSWER_SHEET])
    assert (ROOT / FEEDBACK / CLASS_SHEET).read_text(encoding="utf-8") == class_sheet(), STALE
    marked = stepper_into(tmp_path_factory, "class", lambda out: class_args(str(ROOT / FEEDBACK / CLASS_SHEET), out))
    names = sorted(p.name for p in marked.iterdir())
    assert sorted(p.name for p in (ROOT / CLASS).iterdir()) == names, STALE
    assert "class-summary.pdf" in names
    assert_same_files(ROOT / CLASS, marked, names)


@pytest.fixture(scope="module")
def fresh_exam(tmp_path_factory):
    return stepper_into(tmp_path_factory, "exam", exam_args)


def test_exam_outputs_are_current(fresh_exam):
    kept = ROOT / EXAM
    names = sorted(p.name for p in fresh_exam.iterdir())
    assert sorted(p.name for p in kept.iterdir()) == names, STALE
    assert "moodle.xml" in names and "manifest.json" in names and "variant-003-key.pdf" in names
    assert_same_files(kept, fresh_exam, names)


def test_no_stray_files_in_output():
    expected = {ROOT.joinpath(e).stem + s for e in EXAMPLES for s in (".md", ".tex", ".pdf")} | {"feedback", "exam"}
    extra = {p.name for p in (ROOT / "output").iterdir()} - expected - set(LECTURE_FILES) - {PICTURE, PAGE_PICTURE}
    extra -= {Path(STRESS).name}
    assert not extra, f"files in output/ that no example makes: {sorted(extra)}"
    for picture in (PICTURE, PAGE_PICTURE):
        assert (ROOT / "output" / picture).read_bytes().startswith(b"\x89PNG"), STALE


def test_the_exam_stress_report_is_current():
    """output/exam-stress.txt: 200 candidates of the exam template, all but the first line (its timing)."""
    kept = (ROOT / STRESS).read_text(encoding="utf-8").splitlines()[1:]
    fresh = stress_report().splitlines()
    assert kept == fresh[1:], STALE
    assert any(line.startswith("Difficulty of the accepted variants") for line in fresh)
