"""The README's library example runs as written, and names exactly the public face."""

from __future__ import annotations

import os
import re

import stepper
from tests.helpers import ROOT


def library_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("### As a library", 1)[1].split("\n## ", 1)[0]


def test_the_example_runs(monkeypatch):
    (code,) = re.findall(r"```python\n(.*?)```", library_section(), re.S)
    monkeypatch.chdir(ROOT)
    names: dict = {}
    exec(compile(code, "README.md", "exec"), names)  # noqa: S102 (the README's own example)
    assert names["markdown"] == stepper.render(stepper.trace(stepper.load("examples/tutorial.toml")), "md")
    assert names["feedback"].marks == names["feedback"].out_of  # the right working earns every mark
    assert os.getcwd() == str(ROOT)


def test_it_lists_every_public_name():
    listed = set(re.findall(r"`(\w+)`", library_section().split("The public names are", 1)[1].split(";")[0]))
    assert listed == set(stepper.__all__) - {"__version__"}
