"""Exam variants as a Moodle XML quiz file, for Moodle's question import ("Moodle XML format").

What Moodle expects, as its importer (question/format/xml/format.php) reads it:

- one UTF-8 file, `<?xml ...?>` on the first line, then `<quiz>` holding `<question>` elements;
- a `<question type="category">` puts the questions after it into the category its path names:
  `$course$/top/A/B` is category B inside A; a `/` inside a name is written `//`;
- every question has `<name>`, `<questiontext format="html">` (HTML in CDATA) and may have
  `<generalfeedback>`, `<defaultgrade>`, `<penalty>`, `<hidden>`, `<idnumber>`;
- a `numerical` question holds `<answer fraction="100"><text>…</text><tolerance>…</tolerance></answer>`;
  with no `<units>` and `showunits` 3 no unit field is shown;
- a `cloze` (multianswer) question holds its blanks in its text, `{1:NUMERICAL:=value:tolerance}`;
  Moodle reads them with a regular expression, and its grade is the sum of the blanks' weights.

Each variant gets its own category, holding one question per stage of the worked solution:
a single value is a `numerical` question, a map or vector a `cloze` question with a table of
blanks laid out like the values. Maths in the Markdown sheets is turned into `\\(...\\)` and
`\\[...\\]`, which Moodle's MathJax filter typesets.
"""
from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from .errors import StepperError
from .numbers import Values, write_exact
from .stages import Stage, stages

if TYPE_CHECKING:
    from .exam import Variant

# Characters XML 1.0 does not allow even in CDATA: an untrusted sheet or title must not break the file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The start of a cloze blank as Moodle's multianswer regex finds it: text from a sheet that looks
# like one would become a blank, so its brace is written as an entity (the page still shows "{").
_BLANK_START = re.compile(r"\{(?=[0-9]*:[A-Z_]+:)")


LAYOUTS = ("stages", "whole")


def moodle_xml(title: str, variants: Sequence[Variant], questions: Mapping[str, str],
               keys: Mapping[str, Mapping[int, str]], layout: str = "stages") -> str:
    """A Moodle XML quiz. "stages": for each variant a category `title/Variant <id>` and one question per
    stage. "whole": one category `title` holding one cloze question per variant with every stage's blanks,
    so a quiz's random question from it gives each student one whole variant.

    `questions[v.id]` is the variant's question sheet in Markdown, shown by every question;
    `keys[v.id][n]` is the worked key of layer n in Markdown, the general feedback of that layer's
    questions (the whole key in each question would make the file many times larger).
    """
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<quiz>"]
    if layout == "whole":
        out += _whole_category(title)
        for v in variants:
            key = "\n".join(to_html(keys[v.id][n]) for n in sorted(keys[v.id]))
            out += _whole_question(v, to_html(questions[v.id]), key)
        out.append("</quiz>")
        return "\n".join(out) + "\n"
    for v in variants:
        sheet = to_html(questions[v.id])
        layer_keys = {n: to_html(text) for n, text in keys[v.id].items()}
        out += _category(title, v)
        for s in stages(v.problem):
            key = layer_keys[s.layer]
            values = s.of(v.trace.layers[s.layer - 1].output)
            answers = [answer(values, x, v.trace.settings.decimals) for x in values.data.ravel().tolist()]
            out += _question(v, s, values.shape, answers, sheet, key)
    out.append("</quiz>")
    return "\n".join(out) + "\n"


# ---- numbers ----

def answer(v: Values, x, decimals: int) -> tuple[str, str]:
    """One cell as Moodle's answer and tolerance, both plain decimals (Moodle's number syntax).

    An exact value that ends is written in full with no tolerance (3.375, 0); one that does not end
    (1/3), and any rounded value, is the key's value to `decimals` places, within one in the last place.
    """
    if v.symbolic:
        raise StepperError("a value holding symbols cannot be a Moodle numerical answer")
    step = format(Decimal(1).scaleb(-decimals), "f")  # 0.0001: a plain decimal, as Moodle reads numbers
    if v.exact:
        text = write_exact(int(x), v.scale, v.places)
        if "frac" not in text:
            return text, ("0" if v.places is None else step)
        x = Fraction(int(x), v.scale)
    x = float(x)
    if not math.isfinite(x):
        raise StepperError(f"the value {x} cannot be a Moodle numerical answer")
    text = f"{x:.{v.places if v.places is not None else decimals}f}"
    return (text.lstrip("-") if float(text) == 0 else text), step


def _rows(shape: tuple[int, ...], cells: list) -> list[list]:
    """Cells laid out as the worked solution shows them: a map row by row, a vector as one row."""
    columns = max(shape[-1], 1)
    return [cells[i:i + columns] for i in range(0, len(cells), columns)]


# ---- questions ----

def _category(title: str, v: Variant) -> list[str]:
    path = f"$course$/top/{category_name(title)}/Variant {category_name(v.id)}"
    info = f"<p>Variant {html.escape(v.id)} of {html.escape(title)} (seed {v.seed}).</p>"
    return ['  <question type="category">',
            f"    <category><text>{_xml(path)}</text></category>",
            f'    <info format="html"><text>{_cdata(info)}</text></info>',
            "  </question>"]


def _whole_category(title: str) -> list[str]:
    info = (f"<p>{html.escape(title)}: one question per variant. Add a random question from this category to "
            "a quiz, and each student gets one whole variant.</p>")
    return ['  <question type="category">',
            f"    <category><text>{_xml(f'$course$/top/{category_name(title)}')}</text></category>",
            f'    <info format="html"><text>{_cdata(info)}</text></info>',
            "  </question>"]


def _whole_question(v: Variant, sheet: str, key: str) -> list[str]:
    """One cloze question holding every stage of the variant: a table of blanks per map, one blank per value."""
    parts = []
    for s in stages(v.problem):
        values = s.of(v.trace.layers[s.layer - 1].output)
        answers = [answer(values, x, v.trace.settings.decimals) for x in values.data.ravel().tolist()]
        parts.append(_blanks(s.title(v.problem), values.shape, answers, v.trace.settings.decimals))
    text = _BLANK_START.sub("&#123;", sheet) + "\n<hr>\n" + "\n".join(parts)
    return ['  <question type="cloze">',
            f"    <name><text>{_xml(f'Variant {v.id}')}</text></name>",
            f'    <questiontext format="html"><text>{_cdata(text)}</text></questiontext>',
            f'    <generalfeedback format="html"><text>{_cdata(key)}</text></generalfeedback>',
            "    <penalty>0</penalty>",
            "    <hidden>0</hidden>",
            f"    <idnumber>{_xml(v.id)}</idnumber>",
            "  </question>"]


def _blanks(stage: str, shape: tuple[int, ...], answers: list[tuple[str, str]], decimals: int) -> str:
    """A stage's request and its blanks: a table laid out like the values, or one blank for one value."""
    rounded = any(tol != "0" for _, tol in answers)
    how = f"rounded to {decimals} decimal places" if rounded else "exactly"
    blanks = [f"{{1:NUMERICAL:={a}:{tol}}}" for a, tol in answers]
    if not shape:
        return f"<p><strong>{html.escape(stage)}</strong> ({how}): {blanks[0]}</p>"
    rows = "".join("<tr>" + "".join(f"<td>{b}</td>" for b in row) + "</tr>" for row in _rows(shape, blanks))
    return (f"<p><strong>{html.escape(stage)}</strong>: enter every value, {how}.</p>"
            f'<table class="stepper-answer"><tbody>{rows}</tbody></table>')


def category_name(name: str) -> str:
    """One name in a category path, as Moodle's own exporter writes it: `/` doubled so it does not
    start a subcategory, and a space against a slash at either end (Moodle trims it off again)."""
    name = " ".join(name.split()) or "Exam"  # Moodle trims names; a blank one would make a nameless category
    escaped = name.replace("/", "//")
    return (" " if escaped.startswith("/") else "") + escaped + (" " if escaped.endswith("/") else "")


def _question(v: Variant, s: Stage, shape: tuple[int, ...], answers: list[tuple[str, str]],
              sheet: str, key: str) -> list[str]:
    stage = s.title(v.problem)
    rounded = any(tol != "0" for _, tol in answers)
    how = f"rounded to {v.trace.settings.decimals} decimal places" if rounded else "exactly"
    if shape:
        kind = "cloze"
        ask = _blanks(stage, shape, answers, v.trace.settings.decimals)
    else:
        kind = "numerical"
        ask = f"<p><strong>{html.escape(stage)}</strong>: enter its value, {how}.</p>"
    text = _BLANK_START.sub("&#123;", sheet) + "\n<hr>\n" + ask
    lines = [f'  <question type="{kind}">',
             f"    <name><text>{_xml(f'Variant {v.id}: {stage}')}</text></name>",
             f'    <questiontext format="html"><text>{_cdata(text)}</text></questiontext>',
             f'    <generalfeedback format="html"><text>{_cdata(key)}</text></generalfeedback>']
    if kind == "numerical":  # a cloze question's grade is the sum of its blanks; Moodle ignores one given
        lines.append("    <defaultgrade>1</defaultgrade>")
    lines += ["    <penalty>0</penalty>",
              "    <hidden>0</hidden>",
              f"    <idnumber>{_xml(f'{v.id}-{s.key}')}</idnumber>"]
    if kind == "numerical":
        (value, tolerance), = answers
        lines += ['    <answer fraction="100" format="moodle_auto_format">',
                  f"      <text>{value}</text>",
                  '      <feedback format="html"><text></text></feedback>',
                  f"      <tolerance>{tolerance}</tolerance>",
                  "    </answer>",
                  "    <unitgradingtype>0</unitgradingtype>",
                  "    <unitpenalty>0</unitpenalty>",
                  "    <showunits>3</showunits>",  # 3: no units, and no unit field
                  "    <unitsleft>0</unitsleft>"]
    lines.append("  </question>")
    return lines


# ---- text ----

def _maths(tex: str, options: dict) -> str:
    # Moodle's MathJax filter looks for \( \) and \[ \]; a single $ is not one of its delimiters.
    tex = html.escape(tex, quote=False)
    return f"\\[{tex}\\]" if options["display_mode"] else f"\\({tex}\\)"


# Raw HTML in a sheet is shown as text, not passed on: the sheets may carry text a student or author typed.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
dollarmath_plugin(_MARKDOWN, double_inline=True, renderer=_maths)


def to_html(markdown: str) -> str:
    """A Markdown sheet (maths in `$...$` and `$$...$$`) as HTML for Moodle."""
    return _MARKDOWN.render(markdown).strip()


def _xml(text: str) -> str:
    """Text as XML character data."""
    return html.escape(_NOT_XML.sub("", text), quote=False)


def _cdata(text: str) -> str:
    """Text in a CDATA section, as Moodle writes HTML: a `]]>` inside is split across two sections."""
    text = _NOT_XML.sub("", text)
    return ("<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>") if text else ""
