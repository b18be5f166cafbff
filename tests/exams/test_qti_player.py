"""The QTI 2.1 package in a real QTI player: Citolab's converter (@citolab/qti-convert, which runs 1EdTech's QTI 2 to
QTI 3 transform) turns it into QTI 3, and Citolab's player (@citolab/qti-components) shows each item in a headless
Chromium, where the test types into the boxes as a student would and lets the player's own response processing
score it. Both packages are pinned in package.json and installed by `npm ci`; the page is served by the test
itself, so nothing is fetched from anywhere.

What it shows: every box the sheet asks for is there; the key's answers earn the stage's marks exactly (the player
keeps an outcome to 3 places between rules, which is why qti.py counts right cells in whole numbers); an answer
that rounds the other way, inside the tolerance, earns them too; one wrong cell costs its share; the key is the
item's feedback. With STEPPER_SCREENSHOT set to a folder, a screenshot of the first item answered is saved there."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from tests.helpers import ROOT

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from stepper.exams.generate import generate  # noqa: E402
from stepper.exams.moodle import stage_answers, stage_marks  # noqa: E402
from stepper.exams.qti import qti_package  # noqa: E402
from stepper.exams.variants import load_template  # noqa: E402
from stepper.writing.documents import render_layer  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node")
CONVERT = ROOT / "node_modules" / "@citolab" / "qti-convert" / "dist" / "qti-convert-pkg.mjs"
PLAYER = ROOT / "node_modules" / "@citolab" / "qti-components" / "cdn" / "index.js"
STYLE = ROOT / "node_modules" / "@citolab" / "qti-components" / "dist" / "item.css"
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt install chromium)"),
    pytest.mark.skipif(NODE is None or not CONVERT.exists() or not PLAYER.exists(), reason="run `npm ci` first"),
]

ORIGIN = "http://player.stepper.invalid"  # never resolved: every request is answered by the test's route
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="stylesheet" href="/item.css"></head><body><script type="module">
import { qtiTransformItem } from "/player.js";
const xml = await (await fetch(new URLSearchParams(location.search).get("item"))).text();
document.body.appendChild(qtiTransformItem().parse(xml).htmlDoc());
await customElements.whenDefined("qti-assessment-item");
window.itemReady = true;
</script></body></html>"""
TEMPLATE = """
[random]
input = "0..4"
"layer1.filters" = [-1, 0, 1]
"layer6.weights" = "0..0.5 by 0.1"
[constraints]
integers = ["layer1"]
[marks]
layer1 = 4
"layer5.map" = 2
"layer7.values" = 3
"""


def rid(stage_key: str, k: int) -> str:
    return f"{stage_key.replace('.', '_')}_{k}"


@pytest.fixture(scope="module")
def variant(tmp_path_factory):
    path = tmp_path_factory.mktemp("qti-player") / "exam.toml"
    path.write_text((ROOT / "examples" / "tutorial.toml").read_text() + TEMPLATE)
    (v,) = generate(load_template(path), 1, seed=3)
    return v


@pytest.fixture(scope="module", params=["stages", "whole"])
def converted(request, variant, tmp_path_factory):
    """The variant's QTI 2.1 package converted to QTI 3 by Citolab's command: (layout, {item path: QTI 3 text})."""
    folder = tmp_path_factory.mktemp(f"qti3-{request.param}")
    package = folder / "exam.zip"
    keys = {n: render_layer(variant.trace, n, "md") for n in range(1, len(variant.trace.layers) + 1)}
    package.write_bytes(
        qti_package("Exam", [variant], lambda v: "# Exam\n\nWork each stage.", lambda v: keys, request.param)
    )
    done = subprocess.run([NODE, str(CONVERT), str(package)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(folder / "exam-qti3.zip") as z:
        items = {n: z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("items/")}
    with zipfile.ZipFile(package) as z:
        assert sorted(items) == sorted(n for n in z.namelist() if n.startswith("items/"))
    assert all("<qti-assessment-item" in text for text in items.values())
    return request.param, items


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


class Item:
    """One item open in the player."""

    def __init__(self, browser, text: str):
        self.page = browser.new_page(locale="en-US", viewport={"width": 1000, "height": 800})
        self.problems: list[str] = []
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        files = {"/": (PAGE, "text/html"), "/player.js": (PLAYER.read_bytes(), "text/javascript")}
        files["/item.css"] = (STYLE.read_bytes(), "text/css")
        files["/item.xml"] = (text, "application/xml")

        def serve(route):
            path = route.request.url.removeprefix(ORIGIN).split("?")[0]
            if route.request.url.startswith(ORIGIN) and path in files:
                body, kind = files[path]
                route.fulfill(body=body, content_type=kind)
            else:
                self.problems.append(f"asked for {route.request.url}")
                route.abort()

        self.page.route("**/*", serve)
        self.page.goto(f"{ORIGIN}/?item=/item.xml")
        self.page.wait_for_function("window.itemReady === true", timeout=30_000)

    def boxes(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "qti-text-entry-interaction", "els => els.map(e => e.getAttribute('response-identifier'))"
        )

    def answer(self, answers: dict[str, str]) -> Fraction:
        """Type each answer into its box (Tab to leave it, as a student would), submit, and read SCORE."""
        for ident, text in answers.items():
            box = self.page.locator(f'qti-text-entry-interaction[response-identifier="{ident}"] input')
            box.fill(text)
            box.press("Tab")
        score = self.page.evaluate(
            "() => { const it = document.querySelector('qti-assessment-item'); it.processResponse();"
            " return it.getOutcome('SCORE').value; }"
        )
        return Fraction(Decimal(score))

    def close(self) -> None:
        self.page.close()


def near(score: Fraction, marks: Fraction) -> bool:
    """The player keeps an outcome to 3 decimal places."""
    return abs(score - marks) <= Fraction(1, 2000)


def test_the_player_scores_every_item_as_the_marks_say(browser, converted, variant, tmp_path):
    layout, items = converted
    found, marks = stage_answers(variant), stage_marks(variant.problem)
    by_item = {n: [a for a in found if f'identifier="{rid(a.stage.key, 1)}"' in text] for n, text in items.items()}
    assert sorted(a.stage.key for group in by_item.values() for a in group) == sorted(a.stage.key for a in found)
    shot = os.environ.get("STEPPER_SCREENSHOT")
    for name, group in sorted(by_item.items()):
        item = Item(browser, items[name])
        try:
            asked = {rid(a.stage.key, k) for a in group for k in range(1, len(a.cells) + 1)}
            assert sorted(item.boxes()) == sorted(asked), name
            assert item.answer({}) == 0, name  # nothing typed: no box is right, even where the answer is near 0
            right = {rid(a.stage.key, k): value for a in group for k, (value, _) in enumerate(a.cells, 1)}
            full = sum((marks[a.stage.key] for a in group), Fraction(0))
            assert item.answer(right) == full, name  # exactly: the marks counted in whole numbers
            if shot:
                Path(shot).mkdir(parents=True, exist_ok=True)
                item.page.screenshot(path=str(Path(shot) / f"qti-{layout}-{Path(name).stem}.png"), full_page=True)
                shot = None
            # The other way of rounding: the tolerance's edge, less a hair, is still right.
            other = {
                rid(a.stage.key, k): str(Decimal(value) - Decimal(tol) * Decimal("0.9"))
                for a in group
                for k, (value, tol) in enumerate(a.cells, 1)
                if Decimal(tol)
            }
            assert item.answer(other) == full, name
            stage = group[-1]
            first = rid(stage.stage.key, 1)
            assert near(
                item.answer({first: str(Decimal(right[first]) + 1)}), full - marks[stage.stage.key] / len(stage.cells)
            )
            feedback = item.page.locator("qti-modal-feedback").first.inner_text()
            assert f"Layer {stage.stage.layer}" in feedback, name  # the worked key, shown once answered
            assert not item.problems, item.problems
        finally:
            item.close()
