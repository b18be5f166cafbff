import atexit
import os
import shutil
import sys
import tempfile

import pytest

from tests.helpers import ROOT

if str(ROOT) not in sys.path:  # the tests run against this checkout, installed or not
    sys.path.insert(0, str(ROOT))

# Compiled templates go to a cache of the test run's own, not the user's (stepper runs started by tests inherit it),
# removed when the run ends.
os.environ["XDG_CACHE_HOME"] = _CACHE = tempfile.mkdtemp(prefix="stepper-tests-cache-")
atexit.register(shutil.rmtree, _CACHE, True)


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
