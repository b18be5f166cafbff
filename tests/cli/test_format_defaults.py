"""One default for --format: `solve`, `check` and `exam` all write md, tex and pdf, and leave pdf out, with a note,
where pdflatex is missing."""

from __future__ import annotations

import pytest

import stepper.writing.latex as latex
from stepper.cli import arguments, main
from tests.helpers import ROOT

TUTORIAL = ROOT / "examples" / "tutorial.toml"
TEMPLATE = ROOT / "examples" / "tutorial-exam.toml"


def test_the_default_is_defined_once():
    assert arguments.DEFAULT_FORMATS == "md,tex,pdf"
    for command in ("solve", "check", "exam"):
        sub = arguments.parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        sub.format_help()  # a command's arguments are added when first needed
        (fmt,) = [a for a in sub._actions if "--format" in a.option_strings]
        assert fmt.default is None and "default: md,tex,pdf" in fmt.help


@pytest.fixture
def no_pdflatex(monkeypatch, tmp_path_factory):
    """A PATH without pdflatex, as on a machine without TeX. (Patching pdflatex_available itself would leak: a
    command module first imported under the patch would keep the patched function for every later test.)"""
    monkeypatch.setenv("PATH", str(tmp_path_factory.mktemp("no-tex-bin")))
    assert not latex.pdflatex_available()


NOTE = "stepper: note: pdflatex is not installed, so no PDF is made (md and tex are)"


def test_solve_without_pdflatex(no_pdflatex, tmp_path, capsys):
    assert main(["solve", str(TUTORIAL), "--detail", "answers", "--out", str(tmp_path)]) == 0
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".md", ".tex"]
    assert NOTE in capsys.readouterr().err


def test_exam_without_pdflatex(no_pdflatex, tmp_path, capsys):
    out = tmp_path / "exam"
    assert main(["exam", str(TEMPLATE), "--variants", "1", "--out", str(out)]) == 0
    assert {p.suffix for p in out.iterdir()} == {".md", ".tex", ".json"}
    assert NOTE in capsys.readouterr().err


def test_check_without_pdflatex(no_pdflatex, tmp_path, capsys):
    working = tmp_path / "w.toml"
    working.write_text('student = "A"\n[layer1]\nfilter1 = [[1]]\n')
    out = tmp_path / "feedback"
    main(["check", str(TUTORIAL), str(working), "--out", str(out)])
    assert NOTE in capsys.readouterr().err
    assert {p.suffix for p in out.iterdir()} <= {".md", ".tex"} and any(p.suffix == ".tex" for p in out.iterdir())


@pytest.mark.skipif(not latex.pdflatex_available(), reason="pdflatex is not installed")
def test_exam_with_pdflatex_writes_pdf_by_default(tmp_path, capsys):
    out = tmp_path / "exam"
    assert main(["exam", str(TEMPLATE), "--variants", "1", "--out", str(out)]) == 0
    assert {p.suffix for p in out.iterdir()} == {".md", ".tex", ".pdf", ".json"}
    assert "note" not in capsys.readouterr().err
