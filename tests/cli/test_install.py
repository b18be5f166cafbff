"""A plain (non-editable) install carries the templates and the tutorial, and solves from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from tests.helpers import ROOT


def test_wheel_installs_and_renders_the_tutorial(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("stepper-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "stepper/templates/md/document.md" in names and "stepper/templates/layers/conv2d.j2" in names
    assert "stepper/examples/tutorial.toml" in names

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))
    where = subprocess.run(
        [sys.executable, "-c", "import stepper; print(stepper.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(site))  # the installed copy, not this checkout
    run = subprocess.run(
        [sys.executable, "-m", "stepper", "solve", "--format", "md,tex"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    md = (elsewhere / "output" / "tutorial.md").read_text()
    assert "-7 & -6 & -5 & -9 \\\\\n0 & 6 & -1 & -1" in md and "0.5663" in md
    assert (elsewhere / "output" / "tutorial.tex").read_text().rstrip().endswith("\\end{document}")
