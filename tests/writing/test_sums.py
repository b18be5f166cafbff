"""Every traced step's total equals its terms, and every printed total equals its printed terms."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings

from stepper import loads, render, trace
from stepper.core.trace import ConvTrace, DenseTrace, MixTrace, PoolTrace, SoftmaxTrace
from tests.helpers.problems import problems, to_toml


def fractions(v) -> list:
    return np.array(v.numbers(), dtype=object).ravel().tolist()


def total_of(step) -> Fraction:
    products = sum(fractions(step.products), Fraction(0))
    bias = fractions(step.bias)[0] if step.bias is not None else 0
    return products + bias


def check_steps(result) -> int:
    """Check every step of every layer; returns how many steps were checked."""
    checked = 0
    for record in result.layers:
        if isinstance(record, ConvTrace):
            for f in range(record.filters.shape[0]):
                for w in record.windows(f):
                    if w.products.exact:
                        assert fractions(w.products) == [
                            a * b for a, b in zip(fractions(w.inputs), fractions(w.kernel))
                        ]
                    else:
                        assert np.allclose(w.products.floats(), w.inputs.floats() * w.kernel.floats())
                    if w.products.exact:
                        assert total_of(w) == fractions(w.total)[0]
                    else:
                        assert abs(float(total_of(w)) - float(fractions(w.total)[0])) < 1e-9
                    checked += 1
        elif isinstance(record, PoolTrace):
            for c in range(record.output.shape[0]):
                for w in record.windows(c):
                    cells = fractions(w.values)
                    expected = max(cells) if w.kind == "maxpool" else sum(cells, Fraction(0)) / len(cells)
                    if w.values.exact:
                        assert fractions(w.result)[0] == expected
                    if w.where is not None:
                        assert cells[w.where[0] * w.values.shape[1] + w.where[1]] == max(cells)
                    checked += 1
        elif isinstance(record, (DenseTrace, MixTrace)):
            steps = (
                [record.neuron(k) for k in range(record.weights.shape[0])]
                if isinstance(record, DenseTrace)
                else [record.cell(i, j) for i in range(record.input.shape[1]) for j in range(record.input.shape[2])]
            )
            for t in steps:
                if t.products.exact:
                    assert total_of(t) == fractions(t.total)[0]
                checked += 1
        elif isinstance(record, SoftmaxTrace):
            exps = fractions(record.exps)
            total = float(fractions(record.total)[0])
            assert abs(float(sum(exps)) - total) <= 1e-12 * max(1.0, abs(total))
            checked += 1
    return checked


def test_tutorial_steps(tutorial):
    assert check_steps(tutorial) == 32 + 8 + 4 + 2 + 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_random_network_steps(problem):
    check_steps(trace(loads(to_toml(problem))))


NUMBER = r"-?(?:\d+(?:\.\d+)?(?: \\times 10\^\{-?\d+\})?|\\frac\{\d+\}\{\d+\})"


def parse(term: str) -> Fraction:
    term = term.replace(" ", "")
    sign = -1 if term.startswith("-") else 1
    term = term.lstrip("-")
    m = re.fullmatch(r"\\frac\{(\d+)\}\{(\d+)\}", term)
    if m:
        return sign * Fraction(int(m[1]), int(m[2]))
    m = re.fullmatch(r"([\d.]+)\\times10\^\{(-?\d+)\}", term)  # 4.85 \times 10^{8}
    if m:
        return sign * Fraction(m[1]) * Fraction(10) ** int(m[2])
    return sign * Fraction(term)


def steps_of(block: str) -> list[tuple[str, str]]:
    """A displayed formula as [(relation, expression), ...]: `z = a + b = c \\approx d` gives
    [("", "z"), ("=", "a + b"), ("=", "c"), ("\\approx", "d")]."""
    body = block
    for noise in ("\\begin{aligned}", "\\end{aligned}", "&\\quad", "\\\\", "&"):
        body = body.replace(noise, " ")
    parts = re.split(r"\s(=|\\approx)\s", " ".join(body.split()))
    return [("", parts[0].strip())] + [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]


def terms_of(expression: str) -> list[Fraction]:
    terms = re.findall(r"(?:^|[+-])\s*(?:" + NUMBER.replace("-?", "") + ")", expression)
    assert "".join(terms).replace(" ", "") == expression.replace(" ", ""), expression  # nothing left unread
    return [parse(t.replace("+", "")) for t in terms]


def braced(text: str, start: int) -> tuple[str, str]:
    """The contents of the {...} group opening at text[start], and the text after it."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i], text[i + 1 :]
    raise ValueError(f"unbalanced braces in {text!r}")


def printed_sums(md: str):
    """(text, sum of printed terms, relation, printed total, places) for every written sum in a document:
    each window, neuron and 1x1 cell, each average pool, and the softmax denominator."""
    for block in re.findall(r"\$\$\n(.*?)\n\$\$", md, re.S):
        block = block.replace("\\\\\n", "\\\\ ")  # Markdown ends each line of a block after its \\: read it as one
        steps = steps_of(block)
        lhs = steps[0][1]
        if re.match(r"[zy]_\{", lhs):
            sums = [i for i, (_, e) in enumerate(steps) if i and "\\cdot" not in e]
            if len(sums) < 2:
                continue  # a single term: nothing is added
            k = sums[0]
            terms = steps[k][1]
            if re.search(r"[A-Za-z]", re.sub(r"\\(frac|times)", "", terms)):
                continue  # a symbolic sum: tests/test_symbols.py checks those
            # channels = "grouped": each channel's products in brackets, then a step of one subtotal per channel,
            # which must add up to exactly what the products do
            added = sum(terms_of(terms.replace("(", "").replace(")", "").replace("+ -", "- ")), Fraction(0))
            while k + 2 < len(steps) and steps[k + 1][0] == "=" and len(terms_of(steps[k + 1][1])) > 1:
                assert sum(terms_of(steps[k + 1][1]), Fraction(0)) == added, block
                k += 1
            relation, total = steps[k + 1]
            yield block, added, relation, total
        elif "\\tfrac{1}{" in block and "\\bigl(" in block:  # a long average pool window, over lines
            count = int(re.search(r"\\tfrac\{1\}\{(\d+)\}", block)[1])
            inner = block.split("\\bigl(")[1].split("\\bigr)")[0]
            inner = " ".join(inner.replace("&\\qquad", " ").replace("\\\\", " ").split())
            m = re.search(r"\\bigr\) \\\\ &(=|\\approx) (\S+)", block)
            yield block, sum(terms_of(inner), Fraction(0)) / count, m[1], m[2]
        elif lhs.startswith("\\left[") and "p_{" in lhs and "\\max(" not in block:  # an average pool window
            start = block.index("\\frac{", block.index("p_{")) + len("\\frac")
            numerator, rest = braced(block, start)
            count, rest = braced(rest, 0)
            m = re.match(r" (=|\\approx) (\S+)", rest)
            yield block, sum(terms_of(numerator), Fraction(0)) / int(count), m[1], m[2]
        elif "\\textstyle\\sum_j" in block:  # the softmax denominator
            flat = " ".join(block.replace("&\\quad", " ").replace("\\\\", " ").split())
            m = re.search(
                r"\\sum_j e\^\{z_j[^}]*\} &= (.*?) (=|\\approx) (\S+(?: \\times 10\^\{-?\d+\})?) \\end\{aligned\}", flat
            )
            if m is None:
                assert re.search(r"\\sum_j e\^\{z_j[^}]*\} &= [^=]+ \\end\{aligned\}", flat), flat  # one term: no sum
                continue
            yield block, sum(terms_of(m[1]), Fraction(0)), m[2], m[3]


def test_printed_totals_equal_their_printed_terms(root):
    """`=` before a total means the printed terms add up to it exactly; `\\approx` means within rounding."""
    from dataclasses import replace

    from stepper import load

    checked = {"=": 0, "\\approx": 0}
    for path in sorted(
        p for p in (root / "examples").glob("*.toml") if "-working-" not in p.name and "-exam" not in p.name
    ):
        result = trace(load(path))
        if result.settings.detail == "shapes":
            continue  # a network summed up by its shapes (LeNet), not worked by hand
        for terms_setting in ("nonzero", "all"):
            for rounding in ("carry", "full"):
                settings = replace(result.problem.settings, terms=terms_setting, detail="all", rounding=rounding)
                md = render(trace(result.problem, settings), "md", settings)
                for text, added, relation, total in printed_sums(md):
                    if relation == "=":
                        assert added == parse(total), text
                    else:
                        assert abs(added - parse(total)) <= Fraction(len(text), 10**settings.decimals), text
                    checked[relation] += 1
    assert checked["="] > 100 and checked["\\approx"] > 5


def test_document_windows_match_their_records(root):
    """Documents write a filter's windows in bulk; each must read exactly as its own window record does,
    dilation, flips, strides and all."""
    from dataclasses import replace

    from stepper import load
    from stepper.core.trace import ConvTrace
    from stepper.writing.documents import portable_maths
    from stepper.writing.maths import Maths, sub

    checked = 0
    for path in sorted(
        p for p in (root / "examples").glob("*.toml") if "-working-" not in p.name and "-exam" not in p.name
    ):
        result = trace(load(path))
        if result.settings.detail == "shapes":
            continue  # a network summed up by its shapes (LeNet), not worked by hand
        for terms in ("nonzero", "all"):
            settings = replace(result.settings, terms=terms, detail="all")
            text = render(result, "md", settings)
            maths = Maths(settings, "%s")
            for record in result.layers:
                if isinstance(record, ConvTrace):
                    for f in range(record.filters.shape[0]):
                        for w in record.windows(f):
                            carried = None if record.output is record.sums else record.output[f, w.row, w.col]
                            written = portable_maths(maths.window_equation(sub("z", w.row, w.col), w, carried))
                            assert f"$$\n{written}\n$$" in text
                            checked += 1
    assert checked > 100
