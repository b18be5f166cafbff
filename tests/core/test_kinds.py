"""Common tests over every kind of layer (as scikit-learn's test_common runs the same checks on every estimator),
and the proof that a new kind of layer needs only its class, record, step and template.

Every kind in `spec.KINDS` loads from a minimal problem, has a heading, a sentence, a partial template that exists,
an estimate, and writes back as a problem file that reads as the same problem. A kind added to KINDS without a
minimal problem in MINIMAL fails `test_every_kind_has_a_minimal_problem`, which names it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import ClassVar

import numpy as np
import pytest

from stepper.core import evaluate, spec
from stepper.core.errors import StepperError
from stepper.core.evaluate import trace
from stepper.core.load import loads
from stepper.core.numbers import Values
from stepper.core.spec import KINDS, Kind, Settings, about, title
from stepper.core.stages import TITLES, layer_title, stages
from stepper.interop.dump import dumps
from stepper.writing.documents import builtin_templates, environment, partial, render
from stepper.writing.estimate import estimate

INPUT = '''input = """
1 -2 3 0
0 4 -1 2
2 1 0 -3
-1 0 2 1
"""
'''
# Each kind's [[layers]] table after its `type`, for the 1x4x4 input above: as many of its fields as a minimal
# problem can hold, so that writing them back is tested too.
MINIMAL = {
    "conv2d": 'filters = [[1, 0], [0, "-1/2"]]\nstride = [1, 2]\npadding = [1, 0]\nflip = true\nbias = [1]',
    "relu": "",
    "leaky_relu": "slope = 0.1",
    "sigmoid": "",
    "tanh": "",
    "identity": "",
    "softmax": "",
    "flatten": "",
    "conv_transpose2d": "filters = [[1, 2], [0, -1]]\nstride = 2\npadding = 1\noutput_padding = 1\nbias = [0.5]",
    "maxpool": "size = 2\nstride = 1\npadding = 1",
    "avgpool": "size = [2, 3]\nstride = [2, 1]",
    "globalavgpool": "",
    "conv1x1": "weights = [3]\nbias = 1",
    "dense": f"weights = [{list(range(16))}, {list(range(-8, 8))}]\nbias = [1, -1]",
}


def minimal(kind: str, layer: str | None = None) -> str:
    return f'{INPUT}\n[[layers]]\ntype = "{kind}"\n{MINIMAL[kind] if layer is None else layer}\n'


def same(a, b) -> bool:
    """Structural equality of problems, layers and values (a Problem compares by identity)."""
    if isinstance(a, Values) or isinstance(b, Values):
        return isinstance(a, Values) and isinstance(b, Values) and a.shape == b.shape and a.numbers() == b.numbers()
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    return a == b


def test_every_kind_has_a_minimal_problem():
    assert set(KINDS) - set(MINIMAL) == set(), "add a minimal [[layers]] table to MINIMAL for these kinds"
    assert set(MINIMAL) - set(KINDS) == set(), "MINIMAL names kinds that KINDS does not"


@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_loads_traces_and_is_declared(kind):
    problem = loads(minimal(kind))
    layer = problem.layers[0]
    assert layer.kind == kind and isinstance(layer, KINDS[kind])
    declared = about(kind)
    assert declared is not None and declared.title and TITLES[kind] == title(kind) == declared.title
    assert set(declared.required) <= set(declared.fields)
    assert layer_title(problem, 1) == f"Layer 1 ({declared.title})"
    assert trace(problem).output.shape == problem.shapes()[-1]
    assert stages(problem), "every layer has a stage to write down"


@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_refuses_unknown_and_missing_fields(kind):
    with pytest.raises(StepperError, match=f"unknown field 'nonsense' in a {kind} layer"):
        loads(minimal(kind, "nonsense = 1"))
    for field in KINDS[kind].kinds[kind].required:
        with pytest.raises(StepperError, match=f"missing field '{field}'"):
            loads(minimal(kind, ""))


@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_has_a_sentence_and_a_template(kind):
    problem = loads(minimal(kind))
    record = trace(problem).layers[0]
    sentence = environment("md", Settings()).globals["describe"](problem.layers[0], problem.input.shape)
    assert sentence.endswith(".") and len(sentence) > 2
    assert (builtin_templates() / "layers" / partial(record)).is_file()


@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_writes_back_as_the_same_problem(kind):
    problem = loads(minimal(kind))
    again = loads(dumps(problem))
    assert same(again, problem)
    assert dumps(again) == dumps(problem)


@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_has_an_estimate(kind):
    problem = loads(minimal(kind))
    assert estimate(problem).bytes > 0
    assert estimate(problem, Settings(detail="shapes")).pages >= 1


# ---- a new kind of layer, added through the extension points alone ----


@dataclass(frozen=True)
class Negate:
    """y = -x, cell by cell: the toy kind the five-file test adds."""

    kind = "negate"
    kinds: ClassVar[dict[str, Kind]] = {"negate": Kind("negation")}

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    @classmethod
    def from_table(cls, kind: str, raw: dict) -> Negate:
        return cls()


@dataclass(frozen=True, eq=False)
class NegateTrace:
    number: int
    layer: Negate
    input: Values
    sums: Values
    output: Values


def negate_step(number: int, layer: Negate, x: Values, settings: Settings) -> NegateTrace:
    y = Values(-x.data, x.scale, x.places)
    return NegateTrace(number, layer, x, y, y)


NEGATE_TEMPLATE = r"""\VAR{mk.heading(2, "Layer " ~ record.number ~ ": negation")}

\VAR{mk.label("Every value changes its sign:")}

\BLOCK{filter display}
\VAR{m.grid(record.output[0])}
\BLOCK{endfilter}
"""


def test_a_new_kind_needs_its_class_record_step_and_template_only(monkeypatch, tmp_path):
    """The five files of a new kind, each stood in for here: its spec class (registered in spec.KINDS), its record
    (NegateTrace: no registry), its step (evaluate.STEPS), no writer methods (its template uses existing ones), and
    its template (negate.j2, in a user's templates folder). Every other table falls back to its default."""
    monkeypatch.setitem(spec.KINDS, "negate", Negate)
    monkeypatch.setitem(evaluate.STEPS, Negate, negate_step)
    (tmp_path / "negate.j2").write_text(NEGATE_TEMPLATE, encoding="utf-8")

    text = INPUT + '\n[[layers]]\ntype = "negate"\n\n[[layers]]\ntype = "relu"\n'
    problem = loads(text)
    result = trace(problem)
    x = np.array([[1, -2, 3, 0], [0, 4, -1, 2], [2, 1, 0, -3], [-1, 0, 2, 1]])
    assert np.array_equal(result.layers[0].output.floats(), -x[None])
    assert np.array_equal(result.output.floats(), np.maximum(-x, 0)[None])

    md = render(result, "md", templates=tmp_path)
    assert "Layer 1: negation" in md and "Negation." in md  # its template, and its sentence from its heading
    tex = render(result, "tex", templates=tmp_path)
    assert "negation" in tex and r"\end{document}" in tex

    assert [s.key for s in stages(problem)][:1] == ["layer1.map"]  # maps by channel: the default partition
    assert layer_title(problem, 1) == "Layer 1 (negation)"
    assert same(loads(dumps(problem)), problem)  # written back from its declared fields (none)
    assert estimate(problem).bytes > 0


def test_a_kind_a_table_does_not_know_is_said_in_one_line(monkeypatch):
    """The tables that cannot fall back (PyTorch, [random]) refuse a kind they do not know in one line; the
    catalogue of mistakes has none for it."""
    from stepper.exams.variants import loads_template
    from stepper.interop.pytorch import to_torch
    from stepper.marking.mistakes import catalogue

    monkeypatch.setitem(spec.KINDS, "negate", Negate)
    monkeypatch.setitem(evaluate.STEPS, Negate, negate_step)
    problem = loads(INPUT + '\n[[layers]]\ntype = "negate"\n')
    with pytest.raises(StepperError, match="to_torch does not know layer kind 'negate'"):
        to_torch(problem)
    assert catalogue(problem, problem.settings) == []
    template = INPUT + '\n[[layers]]\ntype = "negate"\n\n[random]\ninput = "0..4"\n"layer1.scale" = "0..2"\n'
    with pytest.raises(StepperError, match=r"layer 1 \(negate\) may vary nothing"):
        loads_template(template)


def test_a_layer_with_no_step_is_said_in_one_line(monkeypatch):
    monkeypatch.setitem(spec.KINDS, "negate", Negate)
    with pytest.raises(StepperError, match="no step for layer kind 'negate'"):
        trace(loads(INPUT + '\n[[layers]]\ntype = "negate"\n'))
