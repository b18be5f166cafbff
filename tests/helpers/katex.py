"""Check that maths fragments render with KaTeX.

Plain helper functions for the tests.  The actual rendering is done by
``tests/katex_check.mjs`` under node, using the KaTeX version pinned in the
repository's ``package.json`` (installed into ``node_modules`` by ``npm ci``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECK_SCRIPT = Path(__file__).resolve().parent / "katex_check.mjs"
KATEX_DIR = REPO_ROOT / "node_modules" / "katex"

TIMEOUT_SECONDS = 120

# Token types produced by the dollarmath plugin, mapped to display mode.
_MATH_TOKENS = {
    "math_inline": False,
    "math_inline_double": True,
    "math_block": True,
    "math_block_label": True,
}


def node_katex_available() -> bool:
    """True when node is on PATH and KaTeX is installed in node_modules."""
    return shutil.which("node") is not None and (KATEX_DIR / "package.json").is_file()


def render_errors(formulas: list[tuple[str, bool]]) -> list[tuple[str, str]]:
    """Render every ``(tex, display)`` pair with KaTeX in a single node run.

    Returns ``(tex, error message)`` for each formula that failed to render,
    in input order; an empty list means everything rendered.
    """
    formulas = list(formulas)
    if not formulas:
        return []
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH")
    payload = json.dumps([{"tex": tex, "display": bool(display)} for tex, display in formulas])
    proc = subprocess.run(
        [node, str(CHECK_SCRIPT)],
        input=payload,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT_SECONDS,
        cwd=REPO_ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"katex_check.mjs exited with status {proc.returncode}:\n{proc.stderr.strip()}")
    results = json.loads(proc.stdout)
    if len(results) != len(formulas):
        raise RuntimeError(f"katex_check.mjs returned {len(results)} results for {len(formulas)} formulas")
    return [(tex, error) for (tex, _), error in zip(formulas, results) if error is not None]


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    # double_inline: a ``$$...$$`` written inside a paragraph is display maths too.
    dollarmath_plugin(md, double_inline=True)
    return md


def _walk(tokens: list[Token]):
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


def markdown_formulas(text: str) -> list[tuple[str, bool]]:
    """Every maths fragment of a Markdown document as ``(tex, display)``.

    ``$$...$$`` blocks (possibly spanning several lines) are display maths;
    ``$...$`` inside text is inline maths.  Escaped dollars (``\\$``) and
    anything inside code spans or code blocks are ignored.
    """
    found = []
    for token in _walk(_parser().parse(text)):
        display = _MATH_TOKENS.get(token.type)
        if display is not None:
            found.append((token.content, display))
    return found
