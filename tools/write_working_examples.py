"""Write examples/tutorial-working-*.toml: the tutorial worked right, and worked with each known mistake.

    python tools/write_working_examples.py

Each file is what a student with that mistake would hand in, typed in as a working file: the mistake made
in one stage and every later stage worked on from the student's own values. Its first comment line
says which mistake it holds (`# expect: ...`), and tests/test_check.py checks that `stepper check` names it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# file name -> (the start of the mistake's name in stepper's catalogue, how many layers the student works)
PLANTED = {
    "no-padding": ("no padding", 5),  # 3x3 maps: the 2x2 dense weights no longer fit, so the student stops
    "wrong-padding": ("padding 2 instead of 1", 7),
    "stride-1": ("stride 1 instead of 2", 5),
    "kernel-flipped": ("kernel flipped", 7),
    "kernel-transposed": ("kernel transposed", 7),
    "relu-forgotten": ("ReLU forgotten", 7),
    "relu-after-pooling": ("ReLU applied after max pooling", 7),
    "average-pooling": ("average pooling instead of max pooling", 7),
    "sigmoid-sign": ("sigmoid written 1/(1 + e^z)", 7),
    "softmax-without-exp": ("softmax without the exponential", 7),
    "dense-transposed": ("dense weights applied transposed", 7),
    "rounding-too-early": ("rounded to 2 decimal places", 7),
}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from stepper.core.load import load
    from stepper.core.numbers import Values
    from stepper.marking.marker import Marker
    from stepper.marking.mistakes import outputs
    from stepper.marking.working import dumps_working

    problem = load(ROOT / "examples" / "tutorial.toml")
    marker = Marker(problem)
    truth = [r.output for r in marker.trace.layers]
    files = {"right": dumps_working(truth, problem, "Ada Right", 4, "expect: right\nThe tutorial worked right.")}
    for name, (mistake, keep) in PLANTED.items():
        ((m, values),) = [(m, v) for m, v in zip(marker.mistakes, marker.mistaken) if m.name.startswith(mistake)]
        kept = values[:keep] + [None] * (len(values) - keep)
        files[name] = dumps_working(
            kept,
            problem,
            f"Student {name.replace('-', ' ')}",
            4,
            f"expect: {mistake}\nPlanted: {m.name}, in layer {m.layer}; "
            "every later stage is worked on from these values.",
        )
    # Rows and columns swapped: the feature maps written down their columns, the rest worked on from them.
    conv = truth[0]
    swapped = Values(conv.data.transpose(0, 2, 1).copy(), conv.scale, conv.places)
    later = outputs(problem.layers, swapped, problem.settings, first=2)
    files["rows-columns-swapped"] = dumps_working(
        [swapped] + later,
        problem,
        "Student rows columns swapped",
        4,
        "expect: rows and columns swapped\nPlanted: filter maps written "
        "down their columns; every later stage worked on from them.",
    )
    # Slips: two wrong cells and written sums, one with a sign slip, one with an addition slip.
    cells = conv.data.copy()
    cells[0, 0, 0] = -2  # window (1,1) is -2 - 5 = -7: the -5 left out
    cells[1, 3, 3] = -6  # window (4,4) of filter 2 is -10
    slipped = Values(cells, conv.scale)
    sums = (
        ({"layer": 1, "filter": 1, "row": 1, "column": 2}, "0 + 2 + 1 - 5 - 2 = -4"),
        ({"layer": 1, "filter": 1, "row": 2, "column": 2}, "5*1 + 2*1 + 4*1 - 1*1 - 1*1 - 1*1 = 8"),
        ({"layer": 6, "neuron": 1}, "0.1*0.9526 + 0.3*0.5 + 0.2*0.8808 + 0.1*0.8808 = 0.5095"),
    )
    files["slips"] = dumps_working(
        [slipped] + outputs(problem.layers, slipped, problem.settings, first=2)[:1],
        problem,
        "Student slips",
        4,
        "expect: slips\nTwo wrong cells of the feature maps, and three written sums.",
        sums,
    )
    for name, text in files.items():
        path = ROOT / "examples" / f"tutorial-working-{name}.toml"
        path.write_text(text, encoding="utf-8")
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
