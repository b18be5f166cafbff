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
  Moodle reads them with a regular expression (`\\{([0-9]*):(NUMERICAL|NM|...):`), and the leading number is
  the blank's weight, a whole number (1 when left out): the question's grade is the sum of its blanks' weights,
  and a `<defaultgrade>` given for a cloze question is ignored (qtype_multianswer_extract_question);
- a numerical answer is right within `answer ± (tolerance + ε)`, ε = 10^-precision of PHP's floats
  (qtype_numerical_answer::get_tolerance_interval), so a tolerance is inclusive.

Each variant gets its own category, holding one question per stage of the worked solution:
a single value is a `numerical` question, a map or vector a `cloze` question with a table of
blanks laid out like the values.

Marks follow the problem's `[marks]`, as `stepper check` counts them: each stage is worth its points, shared
equally among its cells (Moodle marks a cloze question blank by blank). As a blank's weight must be whole, every
mark is multiplied by one scale for the whole quiz (the least that makes every weight whole, 16 for the
tutorial's exam): each stage's blanks, or its numerical question's `<defaultgrade>`, add up to its marks times
that scale, so stages weigh against each other as `[marks]` says, whichever layout.

Tolerances: a value a student writes exactly (a whole number, or a decimal that ends, in a stage computed from
exact values only) has none; every value of a rounded stage (a stage that rounds, or is computed from a stage
that did) is right within half a unit in its last place, widened by how far the answer worked at full precision
(`rounding = "full"`) is from the key's carried one, so a student who rounds either way is right, and never 0
because a rounded answer happened to come out exact. Maths in the Markdown sheets is turned into `\\(...\\)` and
`\\[...\\]`, which Moodle's MathJax filter typesets.

Text that is not stepper's own maths (a title, any words of a sheet or key) is made inert for Moodle:
its MathJax delimiters are broken by a WORD JOINER (`\\(`, `\\[`, `$$` and `[tex]` would be typeset,
and `\\begin` would start an environment), and in HTML its braces are entities, so that neither
the cloze importer (`{1:NUMERICAL:...}`, and the `{#1}` placeholders it leaves) nor MathJax (an
unmatched `{`) reads them. A highlighted cell, `\\colorbox` for KaTeX, is `\\bbox[yellow]` here:
MathJax 2.7 (Moodle 4.5 and earlier) has no `\\colorbox`, and `\\bbox` works in MathJax 2.7 to 4.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from ..core.errors import StepperError
from ..core.evaluate import trace
from ..core.numbers import Values, fixed, write_exact
from ..core.spec import Problem
from ..core.stages import Stage, backward_stages, every_stage, stage_points, stages
from ..core.text import plain_text
from ..writing.filters import points

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

    from .generate import Variant

# Characters XML 1.0 does not allow even in CDATA: an untrusted sheet or title must not break the file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

LAYOUTS = ("stages", "whole")
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def moodle_chunks(
    title: str,
    variants: Iterable[Variant],
    question_of: Callable[[Variant], str],
    keys_of: Callable[[Variant], Mapping[int, str]],
    layout: str = "stages",
) -> Iterator[str]:
    """A Moodle XML quiz as text chunks, one question at a time, so that thousands of variants are never
    held at once. The first chunk is the `<?xml ...?>` declaration alone, with no line break (a caller
    may put a comment after it); the others, joined to it by a line break, make the file.

    "stages": for each variant a category `title/Variant <id>` and one question per stage. "whole": one
    category `title` holding one cloze question per variant with every stage's blanks, so a quiz's
    random question from it gives each student one whole variant.

    `question_of(v)` is the variant's question sheet in Markdown, shown by every question; `keys_of(v)[n]`
    is the worked key of layer n in Markdown, the general feedback of that layer's questions (the whole
    key in each question would make the file many times larger), and with [train] `keys_of(v)[BACKWARD_KEY]`
    the backward pass's answers, the feedback of its questions. Both are asked for once per variant.
    """
    variants = list(variants)  # already drawn: the marks' scale is one for the whole quiz
    scale = mark_scale(v.problem for v in variants)
    yield DECLARATION
    yield "<quiz>\n"
    if layout == "whole":
        yield _joined(_whole_category(title, scale))
    for v in variants:
        _refuse_coarse(v)  # a guard: the exam command checks every variant before writing (check_tolerances)
        sheet, keys = to_html(question_of(v)), keys_of(v)
        if layout == "whole":
            key = "\n".join(to_html(keys[n]) for n in key_order(keys))
            yield _joined(_whole_question(v, sheet, key, scale))
            continue
        layer_keys = {n: to_html(text) for n, text in keys.items()}
        yield _joined(_category(title, v, scale))
        marks = stage_marks(v.problem)
        for a in stage_answers(v):
            weight = Weighed(marks[a.stage.key], scale)
            yield _joined(_question(v, a, weight, sheet, layer_keys.get(key_number(a.stage), "")))
    yield "</quiz>\n"


def moodle_xml(
    title: str,
    variants: Sequence[Variant],
    questions: Mapping[str, str],
    keys: Mapping[str, Mapping[int, str]],
    layout: str = "stages",
) -> str:
    """moodle_chunks as one string, from sheets and keys already made (`questions[v.id]`, `keys[v.id][n]`)."""
    chunks = moodle_chunks(title, variants, lambda v: questions[v.id], lambda v: keys[v.id], layout)
    return next(chunks) + "\n" + "".join(chunks)


def _joined(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


# ---- marks ----

# Moodle keeps a question's grade as a decimal of at most 5 whole digits (question.defaultmark, NUMBER(12,7)).
MAX_GRADE = 99_999


def stage_marks(problem: Problem) -> dict[str, Fraction]:
    """Each stage's marks as the problem's `[marks]` gives them, counted as `stepper check` counts them (with
    [train], the backward pass's stages too)."""
    return stage_points(problem.marks, every_stage(problem))


def mark_scale(problems: Iterable[Problem]) -> int:
    """The one number every mark of the quiz is multiplied by so that each blank's weight (a stage's marks
    shared among its cells) is whole: the least such, or, should that make a variant worth more than Moodle
    keeps (MAX_GRADE), one that keeps the smallest weight about 20, each weight then rounded."""
    shares, totals = [], [Fraction(0)]
    for problem in problems:
        marks = stage_marks(problem)
        totals.append(sum(marks.values(), Fraction(0)))
        shares += [(m, _cells(s)) for s in every_stage(problem) if (m := marks[s.key])]
    exact = math.lcm(1, *((m / n).denominator for m, n in shares), *(m.denominator for m, _ in shares))
    total = max(totals)
    if exact * total <= MAX_GRADE:
        return exact
    finest = max((n / m for m, n in shares), default=Fraction(1))
    return max(1, min(math.ceil(20 * finest), math.floor(MAX_GRADE / total)))


class Weighed(NamedTuple):
    """A stage's marks as `[marks]` gives them, and the quiz's scale."""

    marks: Fraction
    scale: int

    def blank(self, cells: int) -> int:
        """The weight of each of the stage's `cells` blanks: its share of the marks, scaled, whole."""
        if not self.marks:
            return 0
        return max(1, round(self.marks * self.scale / cells))

    def said(self) -> str:
        return f"{points(self.marks)} mark{'' if self.marks == 1 else 's'}"


def _cells(s: Stage) -> int:
    return math.prod(s.shape) if s.shape else 1


# ---- answers ----


class StageAnswers(NamedTuple):
    """A stage's values, and each cell's Moodle answer and tolerance."""

    stage: Stage
    values: Values
    cells: list[tuple[str, str]]

    @property
    def rounded(self) -> bool:
        return any(tolerance != "0" for _, tolerance in self.cells)


def stage_answers(v: Variant) -> list[StageAnswers]:
    """Every stage's answers, with their tolerances: none for a value a student writes exactly; for every value
    of a rounded stage (one that rounds, or that follows from a rounded stage), half a unit in its last place,
    widened to take in the answer worked at full precision as well as the key's carried one."""
    settings = v.trace.settings
    full = v.trace if settings.rounding == "full" else trace(v.problem, replace(settings, rounding="full"))
    found: list[StageAnswers] = []
    before = False  # an earlier layer rounded: everything after it follows from rounded values
    for layer in range(1, len(v.trace.layers) + 1):
        here = [s for s in stages(v.problem) if s.layer == layer]
        for s in here:
            values = s.of(v.trace.layers[layer - 1].output)
            truth = s.of(full.layers[layer - 1].output).floats().ravel().tolist()
            cells = [answer(values, x, settings.decimals) for x in values.data.ravel().tolist()]
            if before or any(t != "0" for _, t in cells) or _differ(cells, truth):
                cells = [_either_way(a, b, values, settings.decimals) for (a, _), b in zip(cells, truth)]
            found.append(StageAnswers(s, values, cells))
        before = before or any(a.rounded for a in found[-len(here) :])
    return found + _backward_answers(v)


def _backward_answers(v: Variant) -> list[StageAnswers]:
    """A variant with [train]: the backward pass's stages, each cell the key's value to the problem's places
    (gradients are worked from rounded values, so none ends exactly), within half a unit in its last place
    widened to take in the backward pass worked at full precision as well as the key's carried one."""
    if v.training is None:
        return []
    from ..core.backward import training

    settings = v.trace.settings
    full = v.training if settings.rounding == "full" else training(v.problem, replace(settings, rounding="full"))
    found = []
    for s in backward_stages(v.problem):
        values = v.training.value(s)
        truth = full.value(s).floats().ravel().tolist()
        cells = [answer(values, x, settings.decimals) for x in values.data.ravel().tolist()]
        found.append(
            StageAnswers(s, values, [_either_way(a, b, values, settings.decimals) for (a, _), b in zip(cells, truth)])
        )
    return found


# A backward stage's general feedback is the backward pass's key (`keys_of(v)[BACKWARD_KEY]`), a forward
# stage's its layer's.
BACKWARD_KEY = 0


def key_number(s: Stage) -> int:
    """Which of a variant's keys a stage's question shows as its feedback: its layer's, or the backward pass's."""
    return BACKWARD_KEY if s.backward else s.layer


def key_order(keys: Iterable[int]) -> list[int]:
    """A variant's keys in the order of its worked solution: the layers', then the backward pass's."""
    return sorted(keys, key=lambda n: (n == BACKWARD_KEY, n))


def _answers(v: Variant, s: Stage) -> tuple[Values, list[tuple[str, str]]]:
    """One stage's values and its cells' answers and tolerances, as `stage_answers` gives them."""
    found = next(a for a in stage_answers(v) if a.stage == s)
    return found.values, found.cells


def _differ(cells: list[tuple[str, str]], truth: list[float]) -> bool:
    return any(abs(float(a) - b) > 1e-9 * max(1.0, abs(b)) for (a, _), b in zip(cells, truth))


def _either_way(given: str, truth: float, values: Values, decimals: int) -> tuple[str, str]:
    """A rounded stage's cell: the key's answer, within half a unit in its last place of both itself and the
    full-precision value rounded as the key rounds."""
    places = values.places if values.places is not None else decimals
    if not math.isfinite(truth):
        raise StepperError(f"the value {truth} cannot be a Moodle numerical answer")
    half = Decimal(5).scaleb(-places - 1)
    tolerance = half + abs(Decimal(given) - Decimal(fixed(truth, places)))
    return given, format(tolerance.normalize(), "f")


# ---- tolerances ----

# Rounded answers need at least this many decimals. Moodle marks right any answer within the tolerance,
# at least half a unit in the last place: with 0 decimals ±0.5, half of the values a sigmoid or softmax output
# (0 to 1) can take, and with 1 decimal ±0.05 or more (a guess of 0.5 is right for every |z| < 0.2).
# Every rounded value comes from e^x, σ, tanh or softmax, or a fraction that does not end, and lives on
# that scale, so 2 decimals (±0.005) is the least that still tells a worked answer from a guess.
MIN_DECIMALS = 2
# The values a stage of these layers can take, to say how much of them a tolerance accepts.
_RANGES = {
    "sigmoid": (Decimal(0), Decimal(1), "a sigmoid"),
    "softmax": (Decimal(0), Decimal(1), "a softmax output"),
    "tanh": (Decimal(-1), Decimal(1), "a tanh"),
}


def check_tolerances(variants: Iterable[Variant], source: str | None = None) -> None:
    """Refuse, in one line naming the template's decimals and the first stage concerned, a quiz whose
    rounded answers carry a tolerance too wide to mean anything (fewer than MIN_DECIMALS decimals).
    `source` is the template's file name. Call it before writing any file."""
    for v in variants:
        _refuse_coarse(v, source)


def _refuse_coarse(v: Variant, source: str | None = None) -> None:
    decimals = v.trace.settings.decimals
    if decimals >= MIN_DECIMALS:
        return
    for found in stage_answers(v):
        s = found.stage
        rounded = next(((a, t) for a, t in found.cells if t != "0"), None)
        if rounded is not None:
            title = s.title(v.problem)
            accepted = _accepted("" if s.backward else v.problem.layers[s.layer - 1].kind, *rounded)
            raise StepperError(
                f"{title[0].lower()}{title[1:]}: with decimals = {decimals} {accepted}; "
                f"use decimals = {MIN_DECIMALS} or more",
                file=source,
                place="settings, field 'decimals'",
            )


def _accepted(kind: str, value: str, tolerance: str) -> str:
    """What an answer within `tolerance` of `value` lets through, said for the teacher."""
    a, t = Decimal(value), Decimal(tolerance)
    if kind not in _RANGES:
        return f"the answer {value} is marked right anywhere from {a - t} to {a + t}"
    low, high, name = _RANGES[kind]
    share = (min(high, a + t) - max(low, a - t)) / (high - low)
    if share >= 1:
        return f"the tolerance ±{tolerance} accepts every value {name} can take"
    return f"the tolerance ±{tolerance} accepts {share:.0%} of the values {name} can take"


# ---- numbers ----


def answer(v: Values, x, decimals: int) -> tuple[str, str]:
    """One cell as Moodle's answer and tolerance, both plain decimals (Moodle's number syntax).

    An exact value that ends is written in full with no tolerance (3.375, 0); one that does not end
    (1/3), and any rounded value, is the key's value to `decimals` places (or the places it was rounded to),
    within half a unit in the last place (0.00005: a plain decimal, as Moodle reads numbers).
    `stage_answers` widens the tolerance of a rounded stage to take in the full-precision answer too.
    """
    if v.symbolic:
        raise StepperError("a value holding symbols cannot be a Moodle numerical answer")
    places = v.places if v.places is not None else decimals
    half = format(Decimal(5).scaleb(-places - 1), "f")
    if v.exact:
        text = write_exact(int(x), v.scale, v.places)
        if "frac" not in text:
            return text, ("0" if v.places is None else half)
        x = Fraction(int(x), v.scale)
    x = float(x)
    if not math.isfinite(x):
        raise StepperError(f"the value {x} cannot be a Moodle numerical answer")
    text = fixed(x, places)
    return (text.lstrip("-") if float(text) == 0 else text), half


def _rows(shape: tuple[int, ...], cells: list) -> list[list]:
    """Cells laid out as the worked solution shows them: a map row by row, a vector as one row."""
    columns = max(shape[-1], 1)
    return [cells[i : i + columns] for i in range(0, len(cells), columns)]


# ---- questions ----


def _category(title: str, v: Variant, scale: int) -> list[str]:
    path = f"$course$/top/{category_name(title)}/Variant {category_name(v.id)}"
    info = f"<p>Variant {_text(v.id)} of {_text(title)} (seed {v.seed}).</p>" + _scale_note(scale)
    return [
        '  <question type="category">',
        f"    <category><text>{_xml(_no_maths(path))}</text></category>",
        f'    <info format="html"><text>{_cdata(info)}</text></info>',
        "  </question>",
    ]


def _whole_category(title: str, scale: int) -> list[str]:
    info = (
        f"<p>{_text(title)}: one question per variant. Add a random question from this category to "
        "a quiz, and each student gets one whole variant.</p>" + _scale_note(scale)
    )
    return [
        '  <question type="category">',
        f"    <category><text>{_xml(_no_maths(f'$course$/top/{category_name(title)}'))}</text></category>",
        f'    <info format="html"><text>{_cdata(info)}</text></info>',
        "  </question>",
    ]


def _scale_note(scale: int) -> str:
    if scale == 1:
        return "<p>Each stage is worth its marks as the problem's [marks] gives them.</p>"
    return (
        f"<p>Each stage is worth its marks as the problem's [marks] gives them, times {scale}, so that every "
        "answer box has a whole weight, as Moodle needs.</p>"
    )


def _whole_question(v: Variant, sheet: str, key: str, scale: int | None = None) -> list[str]:
    """One cloze question holding every stage of the variant: a table of blanks per map, one blank per value.
    `scale` is the quiz's (mark_scale); by default this variant's own."""
    scale = mark_scale([v.problem]) if scale is None else scale
    marks = stage_marks(v.problem)
    parts = [
        _blanks(v.problem, a, Weighed(marks[a.stage.key], scale), v.trace.settings.decimals) for a in stage_answers(v)
    ]
    # The variant first, in stepper's own words whatever the sheet's template: Moodle's responses report shows the
    # question's text, not its name, and `stepper check` finds a student's variant there (marking/moodle_responses).
    # The sheet's own braces are entities: the blanks are ours.
    text = f"<p>Variant {_text(v.id)}</p>\n" + sheet + "\n<hr>\n" + "\n".join(parts)
    return [
        '  <question type="cloze">',
        f"    <name><text>{_xml(_no_maths(f'Variant {v.id}'))}</text></name>",
        f'    <questiontext format="html"><text>{_cdata(text)}</text></questiontext>',
        f'    <generalfeedback format="html"><text>{_cdata(key)}</text></generalfeedback>',
        "    <penalty>0</penalty>",
        "    <hidden>0</hidden>",
        f"    <idnumber>{_xml(v.id)}</idnumber>",
        "  </question>",
    ]


def _how(a: StageAnswers, decimals: int) -> str:
    return f"rounded to {decimals} decimal places" if a.rounded else "exactly"


def _blanks(problem: Problem, a: StageAnswers, weight: Weighed, decimals: int) -> str:
    """A stage's request, its marks and its blanks, each weighted by its share of the marks: a table laid out
    like the values, or one blank for one value."""
    stage, shape = _text(a.stage.title(problem)), a.values.shape
    w = weight.blank(len(a.cells))
    blanks = [f"{{{w}:NUMERICAL:={value}:{tolerance}}}" for value, tolerance in a.cells]
    if not shape:
        return f"<p><strong>{stage}</strong> ({_how(a, decimals)}; {weight.said()}): {blanks[0]}</p>"
    rows = "".join("<tr>" + "".join(f"<td>{b}</td>" for b in row) + "</tr>" for row in _rows(shape, blanks))
    return (
        f"<p><strong>{stage}</strong> ({weight.said()}): enter every value, {_how(a, decimals)}.</p>"
        f'<table class="stepper-answer"><tbody>{rows}</tbody></table>'
    )


def category_name(name: str) -> str:
    """One name in a category path, as Moodle's own exporter writes it: `/` doubled so it does not
    start a subcategory, and a space against a slash at either end (Moodle trims it off again)."""
    name = (
        " ".join(plain_text(name).split()) or "Exam"
    )  # Moodle trims names; a blank one would make a nameless category
    escaped = name.replace("/", "//")
    return (" " if escaped.startswith("/") else "") + escaped + (" " if escaped.endswith("/") else "")


def _question(v: Variant, a: StageAnswers, weight: Weighed, sheet: str, key: str) -> list[str]:
    """One stage's question: a cloze question of weighted blanks for a map or vector, whose grade is their sum;
    a numerical question, with its marks as `<defaultgrade>`, for a single value."""
    stage, decimals = a.stage.title(v.problem), v.trace.settings.decimals
    kind = "cloze" if a.values.shape else "numerical"
    if kind == "cloze":
        ask = _blanks(v.problem, a, weight, decimals)
    else:
        ask = f"<p><strong>{_text(stage)}</strong> ({weight.said()}): enter its value, {_how(a, decimals)}.</p>"
    text = sheet + "\n<hr>\n" + ask  # the sheet's own braces are entities: the blanks are ours
    lines = [
        f'  <question type="{kind}">',
        f"    <name><text>{_xml(_no_maths(f'Variant {v.id}: {stage}'))}</text></name>",
        f'    <questiontext format="html"><text>{_cdata(text)}</text></questiontext>',
        f'    <generalfeedback format="html"><text>{_cdata(key)}</text></generalfeedback>',
    ]
    if kind == "numerical":  # a cloze question's grade is the sum of its blanks; Moodle ignores one given
        lines.append(f"    <defaultgrade>{weight.blank(1)}</defaultgrade>")
    lines += [
        "    <penalty>0</penalty>",
        "    <hidden>0</hidden>",
        f"    <idnumber>{_xml(f'{v.id}-{a.stage.key}')}</idnumber>",
    ]
    if kind == "numerical":
        ((value, tolerance),) = a.cells
        lines += [
            '    <answer fraction="100" format="moodle_auto_format">',
            f"      <text>{value}</text>",
            '      <feedback format="html"><text></text></feedback>',
            f"      <tolerance>{tolerance}</tolerance>",
            "    </answer>",
            "    <unitgradingtype>0</unitgradingtype>",
            "    <unitpenalty>0</unitpenalty>",
            "    <showunits>3</showunits>",  # 3: no units, and no unit field
            "    <unitsleft>0</unitsleft>",
        ]
    lines.append("  </question>")
    return lines


# ---- text ----

WORD_JOINER = "\u2060"  # invisible, and no break: it only keeps two characters from reading as one token
# What starts maths for Moodle's MathJax and TeX filters in text: \( \[ (and any \command, such as \begin{...},
# which MathJax reads as an environment), $$, and [tex]. A WORD JOINER after the first character breaks each.
_DELIMITER = re.compile(r"\\|\$(?=\$)|\[(?=tex\])", re.IGNORECASE)
# The start of a cloze blank as Moodle's multianswer regex finds it, and of the {#N} placeholder it leaves.
# In maths, where braces must stay braces for the typesetter, such a brace is written as an entity
# (the browser gives MathJax a "{" again); stepper's own maths never holds one.
_BLANK_LIKE = re.compile(r"\{(?=[0-9]*:[A-Z_]+:|#)")
# Stepper's own maths is marked off by these two private-use characters while the sheet is made HTML,
# so that everything else can be made inert; they are taken out of the Markdown first.
_MATHS_OPEN, _MATHS_CLOSE = "\ue000", "\ue001"
_MATHS = re.compile(f"{_MATHS_OPEN}(.*?){_MATHS_CLOSE}", re.S)
# The md highlight of a window's cell (render.FORMATS["md"]): `\colorbox{yellow}{$...$}`.
_COLORBOX = "\\colorbox{yellow}{"


def _no_maths(text: str) -> str:
    """Plain text (a name, a category) that no Moodle filter can take for maths."""
    return _DELIMITER.sub(lambda m: m[0] + WORD_JOINER, text)


def _inert(html_text: str) -> str:
    """HTML text outside maths, made inert: no maths delimiters, and braces as entities, which neither
    the cloze importer nor MathJax reads (`{#1}` would be a second copy of blank 1, and an unmatched `{`
    spoils the page)."""
    return _no_maths(html_text).replace("{", "&#123;").replace("}", "&#125;")


def _text(text: str) -> str:
    """Untrusted plain text as inert HTML, with no control or bidi characters."""
    return _inert(html.escape(plain_text(text)))


def _maths(tex: str, options: dict) -> str:
    # Moodle's MathJax filter looks for \( \) and \[ \]; a single $ is not one of its delimiters.
    tex = _BLANK_LIKE.sub("&#123;", html.escape(bboxed(tex), quote=False))
    tex = f"\\[{tex}\\]" if options["display_mode"] else f"\\({tex}\\)"
    return _MATHS_OPEN + tex + _MATHS_CLOSE


def bboxed(tex: str) -> str:
    """Each `\\colorbox{yellow}{$x$}` in `tex` as `\\bbox[yellow]{x}`, which MathJax 2.7 draws too;
    `x` may hold braces of its own (`\\frac{1}{2}`)."""
    out, start = [], 0
    while (at := tex.find(_COLORBOX, start)) >= 0:
        opened = at + len(_COLORBOX)
        end = _closing_brace(tex, opened)
        if end is None:
            break  # unbalanced: left as written
        body = tex[opened:end]
        if len(body) >= 2 and body[0] == body[-1] == "$":
            body = body[1:-1]
        out += [tex[start:at], "\\bbox[yellow]{", bboxed(body), "}"]
        start = end + 1
    out.append(tex[start:])
    return "".join(out)


def _closing_brace(tex: str, start: int) -> int | None:
    """The index of the `}` closing a group whose contents begin at `start` (`\\{` and `\\}` are not braces)."""
    depth, k = 1, start
    while k < len(tex):
        ch = tex[k]
        if ch == "\\":
            k += 2
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return k
        k += 1
    return None


@cache
def _markdown() -> MarkdownIt:
    """The Markdown reader, made when a quiz is first written: markdown-it is imported only then."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    # Raw HTML in a sheet is shown as text, not passed on: the sheets may carry text a student or author typed.
    markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    dollarmath_plugin(markdown, double_inline=True, renderer=_maths)
    return markdown


def to_html(markdown: str) -> str:
    """A Markdown sheet (maths in `$...$` and `$$...$$`) as HTML for Moodle: the maths for MathJax,
    everything else inert."""
    markdown = markdown.replace(_MATHS_OPEN, "").replace(_MATHS_CLOSE, "")
    parts = _MATHS.split(_markdown().render(markdown).strip())
    return "".join(part if k % 2 else _inert(part) for k, part in enumerate(parts))


def _xml(text: str) -> str:
    """Text as XML character data."""
    return html.escape(_NOT_XML.sub("", text), quote=False)


def _cdata(text: str) -> str:
    """Text in a CDATA section, as Moodle writes HTML: a `]]>` inside is split across two sections."""
    text = _NOT_XML.sub("", text)
    return ("<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>") if text else ""
