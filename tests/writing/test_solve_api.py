"""stepper.solve: a path, TOML text or a Problem gives the documents stepper solve writes, settings overridden."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

import stepper
from stepper.writing.latex import typeset
from tests.helpers import ROOT

TUTORIAL = ROOT / "examples" / "tutorial.toml"


@pytest.fixture(scope="module")
def expected():
    problem = stepper.load(TUTORIAL)
    return problem, stepper.render(stepper.trace(problem), "md")


def test_a_path_text_or_problem_give_the_same_solution(expected):
    problem, markdown = expected
    for given in (TUTORIAL, str(TUTORIAL), TUTORIAL.read_text(encoding="utf-8"), problem):
        solution = stepper.solve(given)
        assert solution.markdown() == markdown
        assert solution.problem.title == problem.title


def test_settings_given_override_the_problem_file(expected):
    problem, _ = expected
    solution = stepper.solve(TUTORIAL, detail="answers", rounding="full")
    assert solution.settings == replace(problem.settings, detail="answers", rounding="full")
    settings = replace(problem.settings, detail="answers", rounding="full")
    assert solution.latex() == stepper.render(stepper.trace(problem, settings), "tex")


def test_a_misspelt_setting_is_one_clear_error():
    with pytest.raises(stepper.StepperError, match="unknown setting 'detial': did you mean 'detail'"):
        stepper.solve(TUTORIAL, detial=2)


def test_a_bad_setting_value_is_refused_as_in_a_problem_file():
    with pytest.raises(stepper.StepperError):
        stepper.solve(TUTORIAL, rounding="sideways")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_its_pdf_is_the_typeset_latex():
    solution = stepper.solve(TUTORIAL)
    assert solution.pdf() == typeset(solution.latex(), "tutorial.toml")


def test_a_path_holding_an_equals_sign_is_a_path(tmp_path):
    folder = tmp_path / "lr=0.1"
    folder.mkdir()
    (folder / "p.toml").write_text(TUTORIAL.read_text(encoding="utf-8"), encoding="utf-8")
    assert stepper.solve(str(folder / "p.toml")).problem.title == stepper.load(TUTORIAL).title


def test_a_templates_folder_that_is_not_there_is_one_clear_error(tmp_path):
    with pytest.raises(stepper.StepperError, match="no such folder"):
        stepper.solve(TUTORIAL, templates=tmp_path / "missing")
