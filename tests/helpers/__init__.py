"""What the tests share: the repository's root, an independent forward pass, random problems, one-line error checks
and KaTeX. Every test imports them one way: `from tests.helpers... import ...`."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
