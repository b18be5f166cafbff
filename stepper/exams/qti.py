"""Exam variants as an IMS QTI 2.1 content package (a .zip), which OpenOlat, ILIAS, Inspera and other QTI 2.1
platforms import.

What the package holds, as IMS QTI 2.1 (Assessment, Section and Item information model, and its Content
Packaging profile) describes it:

- `imsmanifest.xml`, an IMS Content Packaging 1.1 manifest listing every file as a resource: an item is of type
  `imsqti_item_xmlv2p1`, a test `imsqti_test_xmlv2p1`, each with its `<file>` and the test depending on its items;
- one `assessmentItem` per variant and stage (`items/v001-layer1.filter1.xml`), or with `layout = "whole"` one per
  variant holding every stage; each cell a `textEntryInteraction` bound to a `responseDeclaration` of base type
  float whose `correctResponse` is the key's value;
- `responseProcessing` that counts, per stage, the cells whose answer lies within the tolerance of the correct
  one (between two bounds; `equal` where the key is exact), then sets `SCORE` once to each stage's
  marks times the share of its cells that are right, and shows the worked key as `modalFeedback` once answered.
  Counting in whole numbers and dividing once means a stage right in full earns its marks exactly even on a
  platform that stores an outcome to a few places between rules (the citolab player keeps 3), where adding a
  share per cell would drift (16 cells of 0.0625 came to 1.007 there);
- `test.xml`, an `assessmentTest` whose one section selects one of its sections, one per variant, so that a
  platform that runs the test gives each candidate one whole variant.

The answers and tolerances are moodle.py's (`stage_answers`: the value and tolerance a Moodle question gets), and
a stage's marks are moodle.py's too (`stage_marks`: the problem's `[marks]`), shared equally among its cells. Item
bodies are XHTML, so the sheet's HTML (moodle.to_html: maths as `\\(...\\)` for the platform's MathJax,
untrusted text made inert) is rewritten into the XHTML subset QTI 2.1 allows: unknown elements keep their text,
attributes QTI does not know are dropped. The zip is the same bytes for the same exam: entries sorted, timestamps fixed.
"""

from __future__ import annotations

import html
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from html.parser import HTMLParser
from io import BytesIO
from typing import TYPE_CHECKING

from ..core.text import plain_text
from ..writing.output import ZIP_MARK
from .moodle import (
    _NOT_XML,
    StageAnswers,
    _no_maths,
    _refuse_coarse,
    key_number,
    key_order,
    stage_answers,
    stage_marks,
    to_html,
)

if TYPE_CHECKING:
    from .generate import Variant

QTI = "http://www.imsglobal.org/xsd/imsqti_v2p1"
QTI_XSD = "http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1p2.xsd"
CP = "http://www.imsglobal.org/xsd/imscp_v1p1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: no clock in the bytes


def qti_package(
    title: str,
    variants: Iterable[Variant],
    question_of: Callable[[Variant], str],
    keys_of: Callable[[Variant], Mapping[int, str]],
    layout: str = "stages",
) -> bytes:
    """The QTI 2.1 package of the exam, as zip bytes. The arguments are moodle_chunks': `question_of(v)` is the
    variant's question sheet in Markdown, `keys_of(v)[n]` the worked key of layer n (moodle.key_number: the backward
    pass's for its stages); "stages" makes an item per
    variant and stage, "whole" one item per variant with every stage."""
    files: dict[str, bytes] = {}
    sections: list[tuple[str, list[str]]] = []
    for v in variants:
        _refuse_coarse(v)  # as moodle_chunks: a guard, the exam command checks every variant first
        sheet, keys = xhtml(to_html(question_of(v))), keys_of(v)
        found = stage_answers(v)
        groups = [found] if layout == "whole" else [[a] for a in found]
        names = []
        for group in groups:
            ident = f"v{v.id}-" + ("whole" if layout == "whole" else group[0].stage.key)
            layers = key_order({key_number(a.stage) for a in group})
            key = "\n".join(xhtml(to_html(keys[n])) for n in layers if n in keys)
            files[f"items/{ident}.xml"] = _item(ident, title, v, group, sheet, key).encode("utf-8")
            names.append(ident)
        sections.append((v.id, names))
    files["test.xml"] = _test(title, sections).encode("utf-8")
    files["imsmanifest.xml"] = _manifest(title, sections).encode("utf-8")
    return deterministic_zip(files)


# ---- the item ----


def _item(ident: str, title: str, v: Variant, group: list[StageAnswers], sheet: str, key: str) -> str:
    """One assessmentItem: a response per cell of the group's stages, the sheet and a table of blanks per stage,
    the right cells counted per stage and scored once from the counts, and the key shown once answered."""
    # Each stage's marks as the platform stores points (4 decimal places), so that full marks are MAXSCORE exactly
    # (1/6 of a mark is 0.1667 in both).
    marks = {key: Fraction(decimal(m)) for key, m in stage_marks(v.problem).items()}
    declarations, counts, asks, conditions, parts = [], [], [], [], []
    for found in group:
        s, answers = found.stage, found.cells
        base = s.key.replace(".", "_")
        ids = [f"{base}_{k}" for k in range(1, len(answers) + 1)]
        for rid, (value, tolerance) in zip(ids, answers):
            declarations.append(
                f'  <responseDeclaration identifier="{rid}" cardinality="single" baseType="float">'
                f"<correctResponse><value>{value}</value></correctResponse></responseDeclaration>"
            )
            conditions.append(_condition(rid, value, tolerance, f"RIGHT_{base}"))
        counts.append(_outcome(f"RIGHT_{base}", "integer", "0"))
        if marks[s.key]:
            parts.append(_stage_score(f"RIGHT_{base}", marks[s.key], len(answers)))
        asks.append(_ask(s.title(v.problem), s.shape, ids, found, v.trace.settings.decimals))
    total = sum((marks[found.stage.key] for found in group), Fraction(0))
    if parts:
        conditions.append(f'    <setOutcomeValue identifier="SCORE"><sum>{"".join(parts)}</sum></setOutcomeValue>')
    name = f"{plain_text(title)}: variant {v.id}" + (f", {group[0].stage.title(v.problem)}" if len(group) == 1 else "")
    return "\n".join(
        [
            DECLARATION,
            f'<assessmentItem xmlns="{QTI}" xmlns:xsi="{XSI}" xsi:schemaLocation="{QTI} {QTI_XSD}" '
            f'identifier="{ident}" title="{attribute(name)}" adaptive="false" timeDependent="false">',
            *declarations,
            _outcome("SCORE", "float", "0"),
            _outcome("MAXSCORE", "float", decimal(total)),
            *counts,
            '  <outcomeDeclaration identifier="FEEDBACK" cardinality="single" baseType="identifier"/>',
            f'  <itemBody>\n    <p>Variant {text(v.id)}</p>\n    <div class="stepper-sheet">{sheet}</div>\n    <hr/>',
            *asks,
            "  </itemBody>",
            "  <responseProcessing>",
            *conditions,
            '    <setOutcomeValue identifier="FEEDBACK"><baseValue baseType="identifier">KEY</baseValue>'
            "</setOutcomeValue>",
            "  </responseProcessing>",
            '  <modalFeedback outcomeIdentifier="FEEDBACK" identifier="KEY" showHide="show" title="Answer key">'
            f'<div class="stepper-key">{key}</div></modalFeedback>',
            "</assessmentItem>",
            "",
        ]
    )


def _outcome(identifier: str, base: str, default: str) -> str:
    return (
        f'  <outcomeDeclaration identifier="{identifier}" cardinality="single" baseType="{base}">'
        f"<defaultValue><value>{default}</value></defaultValue></outcomeDeclaration>"
    )


def _condition(rid: str, value: str, tolerance: str, count: str) -> str:
    """count += 1 when the response is the correct one exactly (tolerance 0) or lies within `tolerance` of it.
    The interval is written as bounds (`gte` and `lte`, as Canvas's QTI 1.2 has it) rather than as `equal` with
    `toleranceMode="absolute"`: every engine evaluates comparisons, where the citolab player, for one, compares
    `equal` exactly whatever its tolerance says. A blank box is never inside it (`isNull` first)."""
    variable = f'<variable identifier="{rid}"/>'
    if Decimal(tolerance) == 0:
        test = f'<equal toleranceMode="exact">{variable}<correct identifier="{rid}"/></equal>'
    else:
        low, high = (format(Decimal(value) + sign * Decimal(tolerance), "f") for sign in (-1, 1))
        test = (
            f"<and><not><isNull>{variable}</isNull></not>"
            f'<gte>{variable}<baseValue baseType="float">{low}</baseValue></gte>'
            f'<lte>{variable}<baseValue baseType="float">{high}</baseValue></lte></and>'
        )
    return (
        f"    <responseCondition><responseIf>{test}"
        f'<setOutcomeValue identifier="{count}"><sum><variable identifier="{count}"/>'
        '<baseValue baseType="integer">1</baseValue></sum></setOutcomeValue></responseIf></responseCondition>'
    )


def _stage_score(count: str, marks: Fraction, cells: int) -> str:
    """A stage's part of SCORE: count x marks / cells, as count x numerator / (cells x denominator), so that one
    division of whole numbers is the only rounding (a stage right in full earns exactly its marks)."""
    return (
        f'<divide><product><variable identifier="{count}"/><baseValue baseType="integer">{marks.numerator}'
        f'</baseValue></product><baseValue baseType="integer">{cells * marks.denominator}</baseValue></divide>'
    )


def _ask(stage: str, shape: tuple[int, ...], ids: list[str], found: StageAnswers, decimals: int) -> str:
    """A stage's request and its blanks: a table laid out like the values, or one blank for one value."""
    how = f"rounded to {decimals} decimal places" if found.rounded else "exactly"
    width = max(len(a) for a, _ in found.cells) + 2
    blanks = [f'<textEntryInteraction responseIdentifier="{rid}" expectedLength="{width}"/>' for rid in ids]
    if not shape:
        return f"    <p><strong>{text(stage)}</strong> ({how}): {blanks[0]}</p>"
    columns = max(shape[-1], 1)
    rows = [blanks[i : i + columns] for i in range(0, len(blanks), columns)]
    body = "".join("<tr>" + "".join(f"<td>{b}</td>" for b in row) + "</tr>" for row in rows)
    return (
        f"    <p><strong>{text(stage)}</strong>: enter every value, {how}.</p>\n"
        f'    <table class="stepper-answer"><tbody>{body}</tbody></table>'
    )


def decimal(x: Fraction) -> str:
    """Points as a plain decimal, to 4 places at most (1/3 of a point: 0.3333)."""
    text = format(Decimal(x.numerator) / Decimal(x.denominator), ".4f").rstrip("0").rstrip(".")
    return text or "0"


# ---- the test and the manifest ----


def _test(title: str, sections: Sequence[tuple[str, list[str]]]) -> str:
    """An assessmentTest that gives each candidate one whole variant: a section selecting one of the variants'."""
    lines = [
        DECLARATION,
        f'<assessmentTest xmlns="{QTI}" xmlns:xsi="{XSI}" xsi:schemaLocation="{QTI} {QTI_XSD}" '
        f'identifier="exam" title="{attribute(title)}">',
        '  <testPart identifier="part" navigationMode="nonlinear" submissionMode="simultaneous">',
        '    <assessmentSection identifier="variants" title="One variant" visible="false">',
        '      <selection select="1"/>',
    ]
    for vid, items in sections:
        lines.append(f'      <assessmentSection identifier="v{vid}" title="Variant {attribute(vid)}" visible="true">')
        lines += [f'        <assessmentItemRef identifier="{i}" href="items/{i}.xml"/>' for i in items]
        lines.append("      </assessmentSection>")
    lines += ["    </assessmentSection>", "  </testPart>", "</assessmentTest>", ""]
    return "\n".join(lines)


def _manifest(title: str, sections: Sequence[tuple[str, list[str]]]) -> str:
    """The content package's manifest: each item a resource, and the test one that depends on all of them."""
    items = [i for _, names in sections for i in names]
    lines = [
        DECLARATION,
        f'<manifest xmlns="{CP}" xmlns:xsi="{XSI}" xsi:schemaLocation="{CP} http://www.imsglobal.org/xsd/'
        f'imscp_v1p1.xsd" identifier="stepper-exam">',
        "  <metadata><schema>QTIv2.1 Package</schema><schemaversion>1.0.0</schemaversion></metadata>",
        "  <organizations/>",
        "  <resources>",
        '    <resource identifier="exam" type="imsqti_test_xmlv2p1" href="test.xml">',
        '      <file href="test.xml"/>',
        *[f'      <dependency identifierref="{i}"/>' for i in items],
        "    </resource>",
    ]
    for i in items:
        lines += [
            f'    <resource identifier="{i}" type="imsqti_item_xmlv2p1" href="items/{i}.xml">',
            f'      <file href="items/{i}.xml"/>',
            "    </resource>",
        ]
    lines += ["  </resources>", "</manifest>", ""]
    return "\n".join(lines)


def deterministic_zip(files: Mapping[str, bytes]) -> bytes:
    """A zip of `files` (name -> bytes) that is the same bytes every time: sorted entries, one fixed timestamp,
    fixed permissions and system, deflated. A name ending in `/` is a folder entry."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED if name.endswith("/") else zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the machine
            info.external_attr = (0o40755 if name.endswith("/") else 0o100644) << 16
            z.writestr(info, files[name], compresslevel=9)
        z.comment = ZIP_MARK  # stepper's mark (writing.output.written_by_stepper), which no platform reads
    return out.getvalue()


# ---- text ----


def attribute(value: str) -> str:
    """Untrusted text as an XML attribute value: no control or bidi characters, quotes escaped."""
    return html.escape(_NOT_XML.sub("", plain_text(value)), quote=True)


def text(value: str) -> str:
    """Untrusted text as XML character data that no MathJax filter takes for maths."""
    return html.escape(_NOT_XML.sub("", _no_maths(plain_text(value))), quote=False)


# The XHTML elements QTI 2.1's item body allows, with the attributes kept on each (class on all).
_ALLOWED: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        "abbr acronym address b big blockquote br caption cite code dd dfn div dl dt em h1 h2 h3 h4 h5 h6 hr i kbd "
        "li ol p pre q samp small span strong sub sup table tbody tfoot thead tr tt ul var".split(),
        (),
    ),
    "a": ("href",),
    "td": ("colspan", "rowspan"),
    "th": ("colspan", "rowspan", "scope"),
}
_RENAMED = {"s": "span", "del": "span", "strike": "span", "ins": "span", "u": "span", "mark": "span"}
_VOID = {"br", "hr"}
_SAFE_LINK = re.compile(r"(https?:|mailto:|#)|[^:]*$", re.IGNORECASE)


class _Xhtml(HTMLParser):
    """HTML rewritten as the XHTML QTI 2.1 allows: well formed, known elements only (others leave their text),
    images as their alternative text, links only to the web or mail."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.out.append(text(dict(attrs).get("alt") or ""))
            return
        name = _RENAMED.get(tag, tag)
        if name not in _ALLOWED:
            return
        kept = [(k, v) for k, v in attrs if k in _ALLOWED[name] and v is not None]
        kept = [(k, v) for k, v in kept if k != "href" or _SAFE_LINK.match(v)]
        if name == "a" and not kept:  # QTI's `a` must have an href: a link to elsewhere keeps its text only
            return
        if tag != name:
            kept.append(("class", tag))
        written = "".join(f' {k}="{attribute(v)}"' for k, v in kept)
        if name in _VOID:
            self.out.append(f"<{name}{written}/>")
            return
        self.out.append(f"<{name}{written}>")
        self.open.append(name)

    def handle_endtag(self, tag: str) -> None:
        name = _RENAMED.get(tag, tag)
        if name in self.open:
            while self.open:
                last = self.open.pop()
                self.out.append(f"</{last}>")
                if last == name:
                    break

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(_NOT_XML.sub("", data), quote=False))

    def close(self) -> None:
        super().close()
        self.out += [f"</{name}>" for name in reversed(self.open)]
        self.open = []


def xhtml(html_text: str) -> str:
    """HTML (moodle.to_html's) as the XHTML a QTI 2.1 item body allows."""
    parser = _Xhtml()
    parser.feed(html_text)
    parser.close()
    return "".join(parser.out)
