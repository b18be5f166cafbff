"""Copy the KaTeX files the HTML page embeds from the pinned npm package into the stepper package.

    python tools/vendor_katex.py

reads node_modules/katex (the version pinned in package.json) and writes stepper/writing/assets/katex/: the script
(katex.min.js), the stylesheet with its woff2 fonts inlined as data: URIs (katex.min.css: the page then loads no
font file; the woff and ttf fallbacks are dropped, as every browser that runs the page reads woff2), KaTeX's
LICENSE and a VERSION file. pip users have no npm, so the files are committed; tests/writing/test_page.py checks
that they equal what this script makes from the pinned package.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KATEX = ROOT / "node_modules" / "katex"
TARGET = ROOT / "stepper" / "writing" / "assets" / "katex"

# One font's sources in katex.min.css: the woff2 first, then the woff and ttf fallbacks.
FONT_SOURCES = re.compile(r'src:url\(fonts/([\w-]+)\.woff2\) format\("woff2"\)(?:,url\([^)]*\) format\("\w+"\))*')


def pinned_version(root: Path = ROOT) -> str:
    """The KaTeX version package.json pins."""
    return json.loads((root / "package.json").read_text(encoding="utf-8"))["dependencies"]["katex"]


def inline_fonts(css: str, fonts: Path) -> str:
    """The stylesheet with each font's sources replaced by its woff2 file as a data: URI."""

    def data_uri(match: re.Match[str]) -> str:
        encoded = base64.b64encode((fonts / f"{match.group(1)}.woff2").read_bytes()).decode("ascii")
        return f'src:url(data:font/woff2;base64,{encoded}) format("woff2")'

    inlined = FONT_SOURCES.sub(data_uri, css)
    if "url(fonts/" in inlined:
        raise SystemExit("katex.min.css names a font this script does not inline")
    return inlined


def vendored(katex: Path = KATEX, version: str | None = None) -> dict[str, bytes]:
    """The vendored files, by name, made from the KaTeX package folder (checked to be the pinned version)."""
    version = version or pinned_version()
    found = json.loads((katex / "package.json").read_text(encoding="utf-8"))["version"]
    if found != version:
        raise SystemExit(f"node_modules/katex is {found}, package.json pins {version}: run npm ci")
    dist = katex / "dist"
    css = inline_fonts((dist / "katex.min.css").read_text(encoding="utf-8"), dist / "fonts")
    return {
        "katex.min.js": (dist / "katex.min.js").read_bytes(),
        "katex.min.css": css.encode("utf-8"),
        "LICENSE": (katex / "LICENSE").read_bytes(),
        "VERSION": f"{version}\n".encode("ascii"),
    }


def main() -> int:
    """Write the vendored files into the package."""
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, data in vendored().items():
        (TARGET / name).write_bytes(data)
        print(f"{TARGET.relative_to(ROOT) / name}: {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
