"""The HTML page of a worked solution (writing/page.py), read without a browser: self-contained, deterministic,
escaped, every stage drawn as tables, and the vendored KaTeX equal to what tools/vendor_katex.py makes from the
pinned npm package (test_page_browser.py runs it in a browser)."""

from __future__ import annotations

import importlib.util
import json
import re
from html.parser import HTMLParser

import pytest

from tests.helpers import ROOT

HOSTILE = '</script><script>alert(1)</script> & "x"'
# The tables each kind of stage shows (their data-role), besides its output.
ROLES = {
    "conv2d": {"padded", "filter", "output"},
    "relu": {"in", "output"},
    "maxpool": {"padded", "output"},
    "conv1x1": {"in", "weights", "output"},
    "sigmoid": {"in", "output"},
    "dense": {"in", "weights-1", "weights-2", "output"},
    "softmax": {"in", "exps", "output"},
}


class Page(HTMLParser):
    """What the tests read from a page: its tables by layer and role, its buttons, its scripts."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, set[str]] = {}
        self.cells: list[dict[str, str | None]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.script_text: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("data-layer") is not None:
            self.tables.setdefault(a["data-layer"], set()).add(a["data-role"])
        elif tag == "button" and "cell" in (a.get("class") or "").split():
            self.cells.append(a)
        elif tag == "script":
            self.scripts.append(a)
            self._in_script = True
            self.script_text.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_text[-1] += data


@pytest.fixture(scope="module")
def page(tutorial) -> str:
    from stepper.writing.page import render_page

    return render_page(tutorial)


def test_self_contained(page):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"@import|url\(\s*[\"']?\s*(https?:)?//", page, re.IGNORECASE)
    assert "<link" not in page.lower()
    parsed = Page(page)
    assert [s.get("src") for s in parsed.scripts] == [None, None, None]
    assert page.count("data:font/woff2;base64,") == 20  # every KaTeX font inlined


def test_same_bytes_each_time(tutorial, page):
    from stepper.writing.page import render_page

    assert render_page(tutorial) == page


def test_hostile_title_and_file_name_escaped(tmp_path):
    from stepper import load, trace
    from stepper.writing.page import render_page

    source = (ROOT / "examples" / "tutorial.toml").read_text(encoding="utf-8")
    source = re.sub(r'(?m)^title = ".*"$', lambda _: f"title = '{HOSTILE}'", source)
    problem = tmp_path / "<img onerror=x>&.toml"
    problem.write_text(source, encoding="utf-8")
    page = render_page(trace(load(problem)))
    assert "alert(1)" in page  # the title is there, but only as text
    assert "<script>alert" not in page and "<img onerror" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;x&#34;" in page
    parsed = Page(page)
    assert len(parsed.scripts) == 3  # the data, KaTeX and the page's script: nothing the title opened
    data = json.loads(parsed.script_text[0])
    assert data["title"] == HOSTILE and data["source"] == "<img onerror=x>&.toml"


def test_every_stage_has_its_tables(page, tutorial):
    parsed = Page(page)
    assert parsed.tables["input"] == {"input"} and parsed.tables["answer"] == {"answer"}
    for n, record in enumerate(tutorial.layers):
        assert parsed.tables[str(n)] == ROLES[record.layer.kind], record.layer.kind
        assert f'id="layer{n + 1}"' in page


def test_each_worked_cell_is_a_labelled_button(page):
    cells = Page(page).cells
    # 2 filters of 4x4 windows, 32 ReLU elements, 8 pooling windows, 4 1x1 cells, 4 sigmoids, 2 neurons
    assert len(cells) == 32 + 32 + 8 + 4 + 4 + 2
    labels = [c["aria-label"] for c in cells if c["data-layer"] == "0"]
    assert labels[1] == "Output row 1, column 2 of filter 1" and labels[16] == "Output row 1, column 1 of filter 2"
    assert 'aria-live="polite"' in page


def test_embedded_data_is_the_trace(page, tutorial):
    from stepper.writing.data import trace_data

    embedded = json.loads(Page(page).script_text[0])
    assert embedded == json.loads(json.dumps(trace_data(tutorial)))
    assert embedded["layers"][0]["windows"][1]["working"].endswith("= 2 - 1 - 5 - 2 = -6")


def test_user_templates_come_first(tmp_path, tutorial):
    from stepper.writing.page import render_page

    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "page.html").write_text("mine: {{ data.title }}\n", encoding="utf-8")
    assert render_page(tutorial, templates=tmp_path) == "mine: CNN tutorial: a forward pass by hand\n"


def test_shades_are_signed_quarters():
    from stepper.writing.page import grids, shade

    assert [shade(v, 8) for v in (-8, -7, -2, 0, 0.5, 4, 8)] == [-4, -4, -1, 0, 1, 2, 4]
    assert shade(None, 8) == 0 and shade(3, 0) == 0
    (grid,) = grids({"shape": [2], "text": ["-1", "2"], "value": [-1.0, 2.0], "exact": ["-1", "2"]})
    assert [(c["at"], c["shade"]) for c in grid["rows"][0]] == [("1", -2), ("2", 4)]


def _vendor_tool():
    spec = importlib.util.spec_from_file_location("vendor_katex", ROOT / "tools" / "vendor_katex.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not (ROOT / "node_modules" / "katex" / "package.json").is_file(), reason="KaTeX not installed: run npm ci"
)
def test_vendored_katex_is_the_pinned_package():
    tool = _vendor_tool()
    made = tool.vendored()
    folder = ROOT / "stepper" / "writing" / "assets" / "katex"
    assert sorted(p.name for p in folder.iterdir()) == sorted(made)
    for name, data in made.items():
        assert (folder / name).read_bytes() == data, f"{name} differs: run python tools/vendor_katex.py"
    assert (folder / "VERSION").read_text(encoding="ascii").strip() == tool.pinned_version()
