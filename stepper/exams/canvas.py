"""Exam variants as a QTI 1.2 package in the dialect Canvas imports (Course settings, Import course content,
"QTI .zip file"), into Classic Quizzes (from which New Quizzes can migrate them).

What Canvas reads, as its importer does (the QTI 1.2 ASI binding, with Canvas's own metadata, as Canvas's quiz
export and the text2qti project write it; Canvas turns the package into QTI 2 and its `NumericInteraction`
converter reads the answers):

- `imsmanifest.xml` (IMS Content Packaging, the Common Cartridge 1.1 namespace) with, per quiz, a resource of type
  `imsqti_xmlv1p2` for `<id>/<id>.xml` depending on one of type `associatedcontent/imscc_xmlv1p1/
  learning-application-resource` for `<id>/assessment_meta.xml`, Canvas's quiz settings, found by that path;
- `<questestinterop><assessment><section>` holding `<item>`s, each with `itemmetadata` fields `question_type`
  and `points_possible`;
- a `numerical_question` answered in a `response_str` with `render_fib fibtype="Decimal"`, right when
  `<or><varequal>x</varequal><and><vargte>x-t</vargte><varlte>x+t</varlte></and></or>`: Canvas reads it as an
  exact answer x with margin t (the upper bound less x); `vargte`, not `vargt`, so that Canvas does not read it as
  a "precision" answer;
- general feedback as `<itemfeedback ident="general_fb">`, shown by a `respcondition` on `<other/>`;
- a `text_only_question` for text with no answer: here the variant's question sheet, first.

Canvas's numerical question has one answer box, and its multiple-blanks question compares text, with no
tolerance, so every cell of a map is its own numerical question ("row 2, column 3"), worth its share of the
stage's points. Each variant is a quiz of its own, so that each student can be given one (Canvas's question
groups draw questions, not whole variants): `layout` is taken for moodle_chunks' sake, and changes nothing. The
layer's worked key is the general feedback of its first question. The answers, tolerances and marks are
moodle.py's (`stage_answers`, `stage_marks`: the problem's `[marks]`); the HTML is moodle.to_html's (maths as
`\\(...\\)`, which Canvas typesets), written as escaped text in `<mattext texttype="text/html">`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from ..core.stages import Stage
from .moodle import _refuse_coarse, _xml, key_number, stage_answers, stage_marks, to_html
from .qti import DECLARATION, attribute, decimal, deterministic_zip, text

if TYPE_CHECKING:
    from .generate import Variant

QTI12 = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
QTI12_XSD = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd"
CC = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
CANVAS = "http://canvas.instructure.com/xsd/cccv1p0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def canvas_package(
    title: str,
    variants: Iterable[Variant],
    question_of: Callable[[Variant], str],
    keys_of: Callable[[Variant], Mapping[int, str]],
    layout: str = "stages",
) -> bytes:
    """The Canvas QTI 1.2 package of the exam, as zip bytes: one quiz per variant, a numerical question per cell.
    The arguments are moodle_chunks' (`layout` changes nothing: see the module's note)."""
    files: dict[str, bytes] = {"non_cc_assessments/": b""}
    quizzes = []
    for v in variants:
        _refuse_coarse(v)  # as moodle_chunks: a guard, the exam command checks every variant first
        ident = f"stepper-variant-{v.id}"
        name = f"{title}: variant {v.id}"
        items, total = _items(v, to_html(question_of(v)), keys_of(v))
        files[f"{ident}/{ident}.xml"] = _assessment(ident, name, items).encode("utf-8")
        files[f"{ident}/assessment_meta.xml"] = _meta(ident, name, total).encode("utf-8")
        quizzes.append(ident)
    files["imsmanifest.xml"] = _manifest(quizzes).encode("utf-8")
    return deterministic_zip(files)


def shares(marks: Fraction, cells: int) -> list[Fraction]:
    """A stage's marks shared among its cells as the points a platform stores (4 decimal places), the last cell
    taking what rounding left, so that a stage right in full earns its marks exactly (1.5 over 16 cells: 15 of
    0.0938 and one of 0.093)."""
    each = Fraction(round(marks / cells * 10**4), 10**4)
    return [each] * (cells - 1) + [marks - each * (cells - 1)]


def _items(v: Variant, sheet: str, keys: Mapping[int, str]) -> tuple[list[str], Fraction]:
    """The variant's items: its sheet, then a numerical question per cell of every stage; and the points in all."""
    items = [_text_item(f"v{v.id}-sheet", f"Variant {v.id}", f"<p>Variant {text(v.id)}</p>\n{sheet}")]
    marks, total, keyed = stage_marks(v.problem), Fraction(0), set()
    for found in stage_answers(v):
        s, answers = found.stage, found.cells
        total += marks[s.key]
        how = f"rounded to {v.trace.settings.decimals} decimal places" if found.rounded else "exactly"
        for index, (value, tolerance), share in zip(np.ndindex(*s.shape), answers, shares(marks[s.key], len(answers))):
            where = _place(s, index)
            ask = f"<p>Variant {text(v.id)}: <strong>{text(s.title(v.problem))}</strong>{where} ({how})</p>"
            key = None if key_number(s) in keyed or key_number(s) not in keys else to_html(keys[key_number(s)])
            keyed.add(key_number(s))
            ident = f"v{v.id}-{s.key}" + ("-" + "-".join(str(i + 1) for i in index) if index else "")
            items.append(_numerical(ident, f"{s.title(v.problem)}{where}", ask, value, tolerance, share, key))
    return items, total


def _place(s: Stage, index: tuple[int, ...]) -> str:
    """Where a cell sits in its stage, in words: ", row 2, column 3", ", value 2", or nothing for one value."""
    if len(index) == 2:
        return f", row {index[0] + 1}, column {index[1] + 1}"
    if len(index) == 1:
        return f", value {index[0] + 1}" if s.shape[0] > 1 else ""
    return f", position ({', '.join(str(i + 1) for i in index)})" if index else ""


def _metadata(kind: str, points: str) -> str:
    fields = (("question_type", kind), ("points_possible", points))
    rows = "".join(
        f"<qtimetadatafield><fieldlabel>{label}</fieldlabel><fieldentry>{entry}</fieldentry></qtimetadatafield>"
        for label, entry in fields
    )
    return f"        <itemmetadata><qtimetadata>{rows}</qtimetadata></itemmetadata>"


def _material(html_text: str) -> str:
    return f'<material><mattext texttype="text/html">{_xml(html_text)}</mattext></material>'


def _text_item(ident: str, name: str, html_text: str) -> str:
    return "\n".join(
        [
            f'      <item ident="{ident}" title="{attribute(name)}">',
            _metadata("text_only_question", "0"),
            f"        <presentation>{_material(html_text)}</presentation>",
            "      </item>",
        ]
    )


def _numerical(ident: str, name: str, ask: str, value: str, tolerance: str, share: Fraction, key: str | None) -> str:
    """One numerical question: right within `tolerance` of `value`, worth `share`; `key` its general feedback."""
    x, t = Decimal(value), Decimal(tolerance)
    right = (
        f'<or><varequal respident="response1">{value}</varequal><and><vargte respident="response1">{x - t:f}</vargte>'
        f'<varlte respident="response1">{x + t:f}</varlte></and></or>'
    )
    feedback = (
        '          <respcondition continue="Yes"><conditionvar><other/></conditionvar>'
        '<displayfeedback feedbacktype="Response" linkrefid="general_fb"/></respcondition>'
    )
    return "\n".join(
        [
            f'      <item ident="{ident}" title="{attribute(name)}">',
            _metadata("numerical_question", decimal(share)),
            f"        <presentation>{_material(ask)}",
            '          <response_str ident="response1" rcardinality="Single"><render_fib fibtype="Decimal">'
            '<response_label ident="answer1"/></render_fib></response_str>',
            "        </presentation>",
            "        <resprocessing>",
            '          <outcomes><decvar maxvalue="100" minvalue="0" varname="SCORE" vartype="Decimal"/></outcomes>',
            *([feedback] if key is not None else []),
            f'          <respcondition continue="No"><conditionvar>{right}</conditionvar>'
            '<setvar action="Set" varname="SCORE">100</setvar></respcondition>',
            "        </resprocessing>",
            *(
                [f'        <itemfeedback ident="general_fb"><flow_mat>{_material(key)}</flow_mat></itemfeedback>']
                if key is not None
                else []
            ),
            "      </item>",
        ]
    )


def _assessment(ident: str, name: str, items: list[str]) -> str:
    return "\n".join(
        [
            DECLARATION,
            f'<questestinterop xmlns="{QTI12}" xmlns:xsi="{XSI}" xsi:schemaLocation="{QTI12} {QTI12_XSD}">',
            f'  <assessment ident="{ident}" title="{attribute(name)}">',
            "    <qtimetadata><qtimetadatafield><fieldlabel>cc_maxattempts</fieldlabel><fieldentry>1</fieldentry>"
            "</qtimetadatafield></qtimetadata>",
            '    <section ident="root_section">',
            *items,
            "    </section>",
            "  </assessment>",
            "</questestinterop>",
            "",
        ]
    )


def _meta(ident: str, name: str, total: Fraction) -> str:
    """Canvas's quiz settings: a graded quiz, unpublished, one attempt, answers shown after it."""
    fields = [
        ("title", attribute(name)),
        ("description", ""),
        ("shuffle_answers", "false"),
        ("scoring_policy", "keep_highest"),
        ("quiz_type", "assignment"),
        ("points_possible", decimal(total)),
        ("show_correct_answers", "true"),
        ("allowed_attempts", "1"),
        ("one_question_at_a_time", "false"),
        ("cant_go_back", "false"),
        ("available", "false"),
    ]
    body = "".join(f"\n  <{tag}>{value}</{tag}>" if value else f"\n  <{tag}/>" for tag, value in fields)
    return (
        f'{DECLARATION}\n<quiz xmlns="{CANVAS}" xmlns:xsi="{XSI}" xsi:schemaLocation="{CANVAS} '
        f'https://canvas.instructure.com/xsd/cccv1p0.xsd" identifier="{ident}">{body}\n</quiz>\n'
    )


def _manifest(quizzes: list[str]) -> str:
    lines = [
        DECLARATION,
        f'<manifest xmlns="{CC}" xmlns:xsi="{XSI}" xsi:schemaLocation="{CC} http://www.imsglobal.org/xsd/'
        f'imscp_v1p1.xsd" identifier="stepper-exam">',
        "  <metadata><schema>IMS Content</schema><schemaversion>1.1.3</schemaversion></metadata>",
        "  <organizations/>",
        "  <resources>",
    ]
    for q in quizzes:
        lines += [
            f'    <resource identifier="{q}" type="imsqti_xmlv1p2">',
            f'      <file href="{q}/{q}.xml"/>',
            f'      <dependency identifierref="{q}-meta"/>',
            "    </resource>",
            f'    <resource identifier="{q}-meta" type="associatedcontent/imscc_xmlv1p1/learning-application-resource"'
            f' href="{q}/assessment_meta.xml">',
            f'      <file href="{q}/assessment_meta.xml"/>',
            "    </resource>",
        ]
    lines += ["  </resources>", "</manifest>", ""]
    return "\n".join(lines)
