"""The QTI 2.1 and Canvas QTI 1.2 packages: their layout, the elements each importer reads, answers and tolerances
against moodle.py's, marks against [marks], escaping of untrusted text, and the same bytes every time.

No package on PyPI, npm or Debian ships the IMS schemas (imsqti_v2p1p2.xsd, ims_qtiasiv1p2p1.xsd), so these tests
check well-formedness with lxml and the structure the schemas and the importers require, element by element, and
score each item by running its response processing here (`score`); test_qti_player.py has a real player score it."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from fractions import Fraction

import pytest

lxml_etree = pytest.importorskip("lxml.etree")

from stepper.exams.canvas import canvas_package  # noqa: E402
from stepper.exams.generate import generate  # noqa: E402
from stepper.exams.moodle import stage_answers, stage_marks  # noqa: E402
from stepper.exams.qti import ZIP_TIME, qti_package, xhtml  # noqa: E402
from stepper.exams.variants import load_template  # noqa: E402
from stepper.writing.documents import render_layer  # noqa: E402
from tests.helpers import ROOT  # noqa: E402

QTI = "{http://www.imsglobal.org/xsd/imsqti_v2p1}"
CP = "{http://www.imsglobal.org/xsd/imscp_v1p1}"
CC = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"
Q12 = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
TEMPLATE = """
[random]
input = "0..4"
"layer1.filters" = [-1, 0, 1]
"layer3.type" = ["maxpool", "avgpool"]
"layer6.weights" = "0..0.5 by 0.1"
[constraints]
integers = ["layer1"]
[marks]
layer1 = 4
"layer7.values" = 3
"""
TITLE = 'Week 3 / CNN <quiz> & ]]> "test" \\(x\\)'
# The elements QTI 2.1's item body may hold (its XHTML subset and the interaction used here).
QTI_BODY = set(
    "a abbr acronym address b big blockquote br caption cite code dd dfn div dl dt em h1 h2 h3 h4 h5 h6 hr i kbd li "
    "ol p pre q samp small span strong sub sup table tbody tfoot thead tr td th tt ul var textEntryInteraction".split()
)


@pytest.fixture(scope="module")
def variants(root, tmp_path_factory):
    path = tmp_path_factory.mktemp("qti") / "exam.toml"
    path.write_text((root / "examples" / "tutorial.toml").read_text() + TEMPLATE)
    return generate(load_template(path), 2, seed=1)


def question_of(v):
    # Maths, raw HTML, a CDATA end, a control character and an unsafe link: all must stay inert or go.
    return (
        f"# {v.problem.title}\n\nCompute $\\sigma(x)$ for <script>alert(1)</script> ]]> \x01 "
        "[link](javascript:alert(1)) ~~old~~ ![img](x.png)\n\n$$\n\\begin{bmatrix} 1 & 2 \\end{bmatrix}\n$$\n"
    )


def keys_of(v):
    return {n: render_layer(v.trace, n, "md") for n in range(1, len(v.trace.layers) + 1)}


@pytest.fixture(scope="module", params=["stages", "whole"])
def qti(request, variants):
    return request.param, qti_package(TITLE, variants, question_of, keys_of, request.param)


@pytest.fixture(scope="module")
def canvas(variants):
    return canvas_package(TITLE, variants, question_of, keys_of)


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        assert names == sorted(names)
        assert all(i.date_time == ZIP_TIME for i in z.infolist())
        assert z.testzip() is None
        return {n: z.read(n) for n in names}


def parse(data: bytes):
    return lxml_etree.fromstring(data)  # well-formed, or it raises


# ---- QTI 2.1 ----


def test_qti_package_is_the_same_bytes_each_time(variants, qti):
    layout, data = qti
    assert qti_package(TITLE, variants, question_of, keys_of, layout) == data


def test_qti_manifest_lists_every_file_and_only_files_that_exist(qti):
    files = unzip(qti[1])
    manifest = parse(files["imsmanifest.xml"])
    assert manifest.tag == f"{CP}manifest"
    listed = {f.get("href") for f in manifest.iter(f"{CP}file")}
    assert listed == set(files) - {"imsmanifest.xml"}
    resources = {r.get("identifier"): r for r in manifest.iter(f"{CP}resource")}
    for r in resources.values():
        assert r.get("type") in ("imsqti_item_xmlv2p1", "imsqti_test_xmlv2p1")
        assert r.get("href") in files
        assert all(d.get("identifierref") in resources for d in r.iter(f"{CP}dependency"))
    items = {n for n in files if n.startswith("items/")}
    assert {r.get("href") for r in resources.values() if r.get("type") == "imsqti_item_xmlv2p1"} == items


def test_qti_test_gives_one_whole_variant(qti, variants):
    files = unzip(qti[1])
    test = parse(files["test.xml"])
    assert test.tag == f"{QTI}assessmentTest"
    outer = test.find(f"{QTI}testPart/{QTI}assessmentSection")
    assert outer.find(f"{QTI}selection").get("select") == "1"
    inner = outer.findall(f"{QTI}assessmentSection")
    assert [s.get("identifier") for s in inner] == [f"v{v.id}" for v in variants]
    for section in inner:
        for ref in section.findall(f"{QTI}assessmentItemRef"):
            assert ref.get("href") in files
            assert parse(files[ref.get("href")]).get("identifier") == ref.get("identifier")


def items_of(files, v):
    return [parse(files[n]) for n in sorted(files) if n.startswith(f"items/v{v.id}-")]


def test_qti_item_structure_follows_the_schema_order(qti):
    order = ["responseDeclaration", "outcomeDeclaration", "itemBody", "responseProcessing", "modalFeedback"]
    for name, data in unzip(qti[1]).items():
        if not name.startswith("items/"):
            continue
        item = parse(data)
        assert item.tag == f"{QTI}assessmentItem" and item.get("adaptive") == "false"
        tags = [c.tag.removeprefix(QTI) for c in item]
        assert tags == sorted(tags, key=order.index), name
        body = item.find(f"{QTI}itemBody")
        used = {e.tag.removeprefix(QTI) for e in body.iter() if e is not body}
        assert used <= QTI_BODY, used - QTI_BODY
        declared = {d.get("identifier") for d in item.findall(f"{QTI}responseDeclaration")}
        asked = [i.get("responseIdentifier") for i in body.iter(f"{QTI}textEntryInteraction")]
        assert sorted(asked) == sorted(declared)
        for a in body.iter(f"{QTI}a"):
            assert a.get("href") and not a.get("href").lower().startswith("javascript")


def score(item, responses: dict[str, Fraction]) -> Fraction:
    """The item's SCORE for these responses, by running its responseProcessing as QTI 2.1 defines the rules it
    uses (responseCondition, setOutcomeValue, sum, product, divide, equal, variable, correct, baseValue), exactly."""
    correct = {
        d.get("identifier"): Fraction(d.find(f"{QTI}correctResponse/{QTI}value").text)
        for d in item.findall(f"{QTI}responseDeclaration")
    }
    outcomes = {
        o.get("identifier"): Fraction(o.find(f".//{QTI}value").text) if o.find(f".//{QTI}value") is not None else None
        for o in item.findall(f"{QTI}outcomeDeclaration")
    }

    def value(e):
        tag, kids = e.tag.removeprefix(QTI), [value(k) for k in e]
        if tag == "baseValue":
            return e.text if e.get("baseType") == "identifier" else Fraction(e.text)
        if tag == "variable":
            name = e.get("identifier")
            return responses.get(name) if name in correct else outcomes[name]
        if tag == "correct":
            return correct[e.get("identifier")]
        if tag == "sum":
            return sum(kids, Fraction(0))
        if tag == "product":
            return kids[0] * kids[1]
        if tag == "divide":
            return kids[0] / kids[1]
        if tag == "isNull":
            return kids[0] is None
        if tag == "not":
            return None if kids[0] is None else not kids[0]
        if tag == "and":
            return None if None in kids else all(kids)
        if tag in ("equal", "gte", "lte"):
            assert tag != "equal" or e.get("toleranceMode") == "exact"
            if None in kids:
                return None
            return {"equal": kids[0] == kids[1], "gte": kids[0] >= kids[1], "lte": kids[0] <= kids[1]}[tag]
        raise AssertionError(f"an expression the test does not know: {tag}")

    def run(rule):
        tag = rule.tag.removeprefix(QTI)
        if tag == "setOutcomeValue":
            outcomes[rule.get("identifier")] = value(rule[0])
        elif tag == "responseCondition":
            branch = rule.find(f"{QTI}responseIf")
            if value(branch[0]) is True:  # NULL counts as false
                for r in branch[1:]:
                    run(r)
        else:
            raise AssertionError(f"a rule the test does not know: {tag}")

    for rule in item.find(f"{QTI}responseProcessing"):
        run(rule)
    return outcomes["SCORE"]


def test_qti_answers_tolerances_and_marks_are_moodles(qti, variants):
    layout, data = qti
    files = unzip(data)
    for v in variants:
        found, marks = stage_answers(v), stage_marks(v.problem)
        items = items_of(files, v)
        assert len(items) == (1 if layout == "whole" else len(found))
        correct, tolerance, total = {}, {}, Fraction(0)
        for item in items:
            for d in item.findall(f"{QTI}responseDeclaration"):
                correct[d.get("identifier")] = d.find(f"{QTI}correctResponse/{QTI}value").text
            for c in item.iter(f"{QTI}responseIf"):
                test = c[0]
                rid = test.find(f".//{QTI}variable").get("identifier")
                if test.tag == f"{QTI}equal":
                    tolerance[rid] = "0"
                else:  # low <= x <= high, centred on the correct value
                    low, high = (Decimal(test.find(f"{QTI}{b}/{QTI}baseValue").text) for b in ("gte", "lte"))
                    assert (low + high) / 2 == Decimal(correct[rid])
                    tolerance[rid] = str((high - low) / 2)
            total += Fraction(item.find(f"{QTI}outcomeDeclaration[@identifier='MAXSCORE']//{QTI}value").text)
        for a in found:
            for k, (value, tol) in enumerate(a.cells, 1):
                rid = f"{a.stage.key.replace('.', '_')}_{k}"
                assert (correct[rid], Decimal(tolerance[rid])) == (value, Decimal(tol))
        assert total == sum(marks.values())


def test_qti_scores_each_stage_by_its_marks_and_its_right_cells(qti, variants):
    """Every answer right earns each stage's marks exactly; an answer off by its tolerance still counts; one wrong
    cell costs its stage marks/cells; a blank earns nothing."""
    layout, data = qti
    files = unzip(data)
    v = variants[0]
    found, marks = stage_answers(v), stage_marks(v.problem)
    earned = Fraction(0)
    for item in items_of(files, v):
        asked = {d.get("identifier"): d for d in item.findall(f"{QTI}responseDeclaration")}
        right = {rid: Fraction(d.find(f".//{QTI}value").text) for rid, d in asked.items()}
        here = [a for a in found if f"{a.stage.key.replace('.', '_')}_1" in asked]
        assert score(item, {}) == 0
        assert score(item, dict.fromkeys(asked)) == 0  # every box left blank (NULL), even where 0 is near right
        full = score(item, right)
        assert full == sum(marks[a.stage.key] for a in here)
        edge = dict(right)
        for a in here:
            for k, (value, tol) in enumerate(a.cells, 1):
                edge[f"{a.stage.key.replace('.', '_')}_{k}"] = Fraction(value) + Fraction(tol)
        assert score(item, edge) == full
        a = here[-1]
        wrong = dict(right, **{f"{a.stage.key.replace('.', '_')}_1": right[f"{a.stage.key.replace('.', '_')}_1"] + 1})
        assert score(item, wrong) == full - marks[a.stage.key] / len(a.cells)
        earned += full
    assert earned == sum(marks.values())


def test_full_marks_are_maxscore_when_marks_are_not_whole_decimals(tmp_path):
    """A third of a mark shared by two filters is 1/6 each: scored exactly, full marks were 0.33333 against a
    MAXSCORE written 0.3333. Each stage's marks are now the 4-place points a platform stores, in both."""
    path = tmp_path / "thirds.toml"
    path.write_text(
        (ROOT / "examples" / "tutorial.toml").read_text() + TEMPLATE.replace('layer1 = 4', 'layer1 = "1/3"'),
        encoding="utf-8",
    )
    (v,) = generate(load_template(path), 1, seed=2)
    files = unzip(qti_package(TITLE, [v], question_of, keys_of, "whole"))
    (item,) = items_of(files, v)
    right = {d.get("identifier"): Fraction(d.find(f".//{QTI}value").text) for d in item.findall(f"{QTI}responseDeclaration")}
    maximum = Fraction(item.find(f"{QTI}outcomeDeclaration[@identifier='MAXSCORE']//{QTI}value").text)
    assert score(item, right) == maximum
    assert abs(maximum - sum(stage_marks(v.problem).values())) < Fraction(1, 1000)


def test_qti_key_is_feedback_and_untrusted_text_is_inert(qti):
    for name, data in unzip(qti[1]).items():
        text = data.decode("utf-8")
        assert "<script" not in text and "\x01" not in text and 'href="javascript' not in text
        if name.startswith("items/"):
            item = parse(data)
            assert TITLE.split(" \\(")[0] in item.get("title")
            feedback = item.find(f"{QTI}modalFeedback")
            assert feedback.get("outcomeIdentifier") == "FEEDBACK" and feedback.get("showHide") == "show"
            assert "\\[" in "".join(feedback.itertext())  # the worked key's maths, for MathJax


def test_xhtml_keeps_what_qti_allows_and_nothing_else():
    made = xhtml(
        '<p class="x" style="color:red">a <s>b</s> <img src="y" alt="pic" onerror="z"><br>'
        '<a href="javascript:alert(1)">c</a> <a href="https://e.org/?a=1&amp;b=2">d</a> <video>v</video>'
        "<table><tr><td align=right>1</td></tr></table> <em>open"
    )
    parse(f"<div>{made}</div>".encode())
    assert made == (
        '<p>a <span class="s">b</span> pic<br/>c <a href="https://e.org/?a=1&amp;b=2">d</a> v'
        "<table><tr><td>1</td></tr></table> <em>open</em></p>"
    )


# ---- Canvas ----


def canvas_items(files, v):
    quiz = parse(files[f"stepper-variant-{v.id}/stepper-variant-{v.id}.xml"])
    return quiz, list(quiz.iter(f"{Q12}item"))


def metadata(item) -> dict[str, str]:
    fields = item.iter(f"{Q12}qtimetadatafield")
    return {f.find(f"{Q12}fieldlabel").text: f.find(f"{Q12}fieldentry").text for f in fields}


def test_canvas_package_is_the_same_bytes_each_time(variants, canvas):
    assert canvas_package(TITLE, variants, question_of, keys_of) == canvas


def test_canvas_manifest_points_at_each_quiz_and_its_settings(canvas, variants):
    files = unzip(canvas)
    manifest = parse(files["imsmanifest.xml"])
    resources = {r.get("identifier"): r for r in manifest.iter(f"{CC}resource")}
    for v in variants:
        quiz = resources[f"stepper-variant-{v.id}"]
        assert quiz.get("type") == "imsqti_xmlv1p2"
        (dependency,) = quiz.iter(f"{CC}dependency")
        meta = resources[dependency.get("identifierref")]
        assert meta.get("type").endswith("learning-application-resource")
        # Canvas finds a quiz's settings at <its ident>/assessment_meta.xml
        assert meta.get("href") == f"stepper-variant-{v.id}/assessment_meta.xml" in files
    assert {f.get("href") for f in manifest.iter(f"{CC}file")} | {"imsmanifest.xml", "non_cc_assessments/"} == set(
        files
    )


def test_canvas_questions_are_numerical_with_moodles_answers_and_margins(canvas, variants):
    files = unzip(canvas)
    for v in variants:
        quiz, items = canvas_items(files, v)
        assert quiz.find(f"{Q12}assessment").get("ident") == f"stepper-variant-{v.id}"
        sheet, *questions = items
        assert metadata(sheet)["question_type"] == "text_only_question"
        cells = [(value, tol) for a in stage_answers(v) for value, tol in a.cells]
        assert len(questions) == len(cells)
        for item, (value, tol) in zip(questions, cells):
            assert metadata(item)["question_type"] == "numerical_question"
            assert [c.tag.removeprefix(Q12) for c in item][:3] == ["itemmetadata", "presentation", "resprocessing"]
            assert item.find(f".//{Q12}render_fib").get("fibtype") == "Decimal"
            (right,) = [r for r in item.iter(f"{Q12}respcondition") if r.find(f".//{Q12}setvar") is not None]
            exact = right.find(f".//{Q12}or/{Q12}varequal").text
            low = right.find(f".//{Q12}and/{Q12}vargte").text
            high = right.find(f".//{Q12}and/{Q12}varlte").text
            assert exact == value
            # As Canvas's importer reads it: an exact answer, its margin the upper bound less the answer
            assert Decimal(high) - Decimal(exact) == Decimal(exact) - Decimal(low) == Decimal(tol)
            assert right.find(f".//{Q12}vargt") is None  # vargt would read as a "precision" answer


def test_canvas_points_follow_marks_and_keys_are_feedback(canvas, variants):
    files = unzip(canvas)
    for v in variants:
        _, (_, *questions) = canvas_items(files, v)
        points = sum(Fraction(metadata(q)["points_possible"]) for q in questions)
        marks = sum(stage_marks(v.problem).values())
        assert abs(points - marks) < Fraction(len(questions), 10**4)
        meta = parse(files[f"stepper-variant-{v.id}/assessment_meta.xml"])
        assert Fraction(meta.find("{http://canvas.instructure.com/xsd/cccv1p0}points_possible").text) == marks
        keyed = [q for q in questions if q.find(f"{Q12}itemfeedback[@ident='general_fb']") is not None]
        assert len(keyed) == len(v.trace.layers)  # each layer's key once, on its first question
        for q in keyed:
            assert q.find(f".//{Q12}displayfeedback").get("linkrefid") == "general_fb"


def test_canvas_untrusted_text_is_escaped_html(canvas):
    for data in unzip(canvas).values():
        text = data.decode("utf-8")
        assert "<script" not in text and "\x01" not in text
        if data:
            parse(data)
    quiz = parse(unzip(canvas)["stepper-variant-001/stepper-variant-001.xml"])
    assert quiz.find(f"{Q12}assessment").get("title").startswith('Week 3 / CNN <quiz> & ]]> "test"')
    html_text = quiz.find(f".//{Q12}mattext").text
    assert "&lt;script&gt;" in html_text  # the sheet's raw HTML shown as text, in Canvas's HTML
