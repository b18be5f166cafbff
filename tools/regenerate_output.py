"""Regenerate output/: the worked solution of each example, in every format.

    python tools/regenerate_output.py

tests/test_output_current.py fails when output/ is older than the code that writes it.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The examples whose worked solutions are kept in output/.
EXAMPLES = ["examples/tutorial.toml", "examples/two-channels.toml"]
FORMATS = "md,tex,pdf"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from stepper.cli import main as stepper
    return stepper(["solve", *(str(ROOT / e) for e in EXAMPLES), "--format", FORMATS, "--out", str(ROOT / "output")])


if __name__ == "__main__":
    sys.exit(main())
