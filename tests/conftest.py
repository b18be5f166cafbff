import sys

import pytest

from tests.helpers import ROOT

if str(ROOT) not in sys.path:  # the tests run against this checkout, installed or not
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def tutorial():
    from stepper import load, trace

    return trace(load(ROOT / "examples" / "tutorial.toml"))


@pytest.fixture(scope="session")
def tutorial_md(tutorial) -> str:
    from stepper import render

    return render(tutorial, "md")
