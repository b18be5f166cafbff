"""Versioned keys: the manifest records what made the exam, and `stepper exam --regenerate` makes the same files
again, byte for byte (PDFs too: LaTeX runs with a fixed date), or says what changed and writes nothing."""

from __future__ import annotations

import json
import shutil

import pytest

from stepper.cli import main
from stepper.exams.manifest import stepper_version
from stepper.writing.latex import pdflatex_available
from tests.helpers import ROOT

TEMPLATE = ROOT / "examples" / "tutorial-exam.toml"
FORMATS = "md,tex,pdf,moodle" if pdflatex_available() else "md,tex,moodle"


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    work = tmp_path_factory.mktemp("regenerate")
    shutil.copy(TEMPLATE, work / "exam.toml")
    out = work / "exam"
    assert (
        main(
            ["exam", str(work / "exam.toml"), "--variants", "3", "--seed", "1", "--format", FORMATS, "--out", str(out)]
        )
        == 0
    )
    return work, out, files(out)


def test_the_manifest_records_what_made_the_exam(exam):
    work, out, _ = exam
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    import hashlib

    assert data["stepper"] == stepper_version()
    assert data["template_file"] == "../exam.toml"  # relative to the manifest's folder
    assert data["template_sha256"] == hashlib.sha256((work / "exam.toml").read_bytes()).hexdigest()
    assert data["formats"] == FORMATS.split(",") and data["seed"] == 1 and len(data["variants"]) == 3


def test_regenerate_reproduces_the_example_exam_byte_for_byte(exam, tmp_path, monkeypatch, capsys):
    _, out, before = exam
    monkeypatch.chdir(tmp_path)  # from another folder: the manifest's paths are its own
    assert main(["exam", "--regenerate", str(out / "manifest.json")]) == 0
    after = files(out)
    assert after.keys() == before.keys() and any(n.endswith(".pdf") for n in after) == ("pdf" in FORMATS)
    assert [n for n in after if after[n] != before[n]] == []
    assert capsys.readouterr().out.strip().endswith("every file as before")


def test_a_changed_template_is_reported_and_nothing_written(exam, tmp_path, capsys):
    work, out, _ = exam
    copy = tmp_path / "copy"
    shutil.copytree(work, copy)
    manifest = copy / "exam" / "manifest.json"
    (copy / "exam.toml").write_text(TEMPLATE.read_text(encoding="utf-8").replace("largest = 40", "largest = 30"))
    before = files(copy / "exam")
    assert main(["exam", "--regenerate", str(manifest)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "the template" in err[0] and "changed since the exam was made" in err[0]
    assert "--force" in err[0]
    assert files(copy / "exam") == before
    assert main(["exam", "--regenerate", str(manifest), "--force"]) == 0
    assert (
        json.loads(manifest.read_text())["template_sha256"]
        != json.loads((out / "manifest.json").read_text())["template_sha256"]
    )


def test_another_stepper_version_is_reported(exam, tmp_path, capsys):
    work, _, _ = exam
    copy = tmp_path / "copy"
    shutil.copytree(work, copy)
    manifest = copy / "exam" / "manifest.json"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace(f'"stepper": "{stepper_version()}"', '"stepper": "0.0.1"'), encoding="utf-8")
    # the manifest itself changed, so the folder asks for --force to replace it; the version is reported first
    assert main(["exam", "--regenerate", str(manifest)]) == 2
    assert "made by stepper 0.0.1, this is stepper" in capsys.readouterr().err


def test_regenerate_takes_nothing_the_manifest_records(exam, capsys):
    _, out, _ = exam
    assert main(["exam", "--regenerate", str(out / "manifest.json"), "--seed", "2"]) == 2
    assert "leave out --seed" in capsys.readouterr().err
