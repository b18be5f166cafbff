"""Every traced step's total equals its terms, and every printed total equals its printed terms."""
from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings

from stepper import loads, render, trace
from stepper.trace import ConvTrace, DenseTrace, MixTrace, PoolTrace, SoftmaxTrace
from tests.test_reference import problems, to_toml


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
                        assert fractions(w.products) == [a * b for a, b in zip(fractions(w.inputs), fractions(w.kernel))]
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
                        assert cells[w.where[0] * record.layer.size + w.where[1]] == max(cells)
                    checked += 1
        elif isinstance(record, (DenseTrace, MixTrace)):
            steps = ([record.neuron(k) for k in range(record.weights.shape[0])] if isinstance(record, DenseTrace)
                     else [record.cell(i, j) for i in range(record.input.shape[1]) for j in range(record.input.shape[2])])
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


NUMBER = r"-?(?:\d+(?:\.\d+)?|\\frac\{\d+\}\{\d+\})"


def parse(term: str) -> Fraction:
    term = term.replace(" ", "")
    sign = -1 if term.startswith("-") else 1
    term = term.lstrip("-")
    m = re.fullmatch(r"\\frac\{(\d+)\}\{(\d+)\}", term)
    return sign * (Fraction(int(m[1]), int(m[2])) if m else Fraction(term))


def printed_sums(md: str):
    """(terms, total) for every written sum `lhs = ... = t1 + t2 - t3 = total`, aligned or not."""
    for block in re.findall(r"\$\$\n(.*?)\n\$\$", md, re.S):
        if not re.match(r"(\\begin\{aligned\} )?[zy]_\{", block):
            continue
        body = block.replace("\\begin{aligned}", "").replace("\\end{aligned}", "")
        body = body.replace("&\\quad", "").replace("\\\\", " ").replace("&=", "=")
        steps = [s.strip() for s in body.split(" = ")[1:]]
        total = steps[-1].split("\\approx")[0].strip()
        if len(steps) < 2 or "\\cdot" in steps[-2]:
            continue  # a single product or none: nothing is added
        terms = re.findall(r"(?:^|[+-])\s*(?:" + NUMBER.replace("-?", "") + ")", steps[-2].replace(" ", " "))
        values = [parse(t.replace("+", "")) for t in terms]
        yield steps[-2], values, parse(total)


def test_printed_totals_equal_their_printed_terms(tutorial, root):
    from dataclasses import replace
    from stepper import load
    checked = 0
    for path in sorted((root / "examples").glob("*.toml")):
        result = trace(load(path))
        for terms_setting in ("nonzero", "all"):
            md = render(result, "md", replace(result.problem.settings, terms=terms_setting, detail="all"))
            for text, values, total in printed_sums(md):
                assert sum(values, Fraction(0)) == total, text
                checked += 1
    assert checked > 60
