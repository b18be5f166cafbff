"""Exams: a template drawn into fair variants (variants, fairness, generate), their question sheets and answer
keys (sheets), a Moodle quiz (moodle), the folder they are written to (folder), and the manifest that
`stepper check` marks against (manifest).

May import stepper.core, stepper.interop and stepper.writing; never marking or cli. The names from the modules that
write files (folder, sheets) load stepper.writing and Jinja when first used, so drawing variants stays light.

The functions `generate` and `manifest` are not named here: each would hide the module of its name
(stepper.exams.generate, stepper.exams.manifest), which callers and tests reach as attributes. Import them
from stepper.exams.generate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import exports
from .fairness import Constraints, Verdict, judge
from .generate import Stress, Variant, stress, stress_report
from .manifest import is_manifest, load_manifest
from .moodle import check_tolerances, moodle_xml
from .variants import Template, load_template, loads_template

# The names whose modules write files, and those modules: imported on first use (see stepper/core/lazy.py).
_WRITERS = {
    "ExamFolder": ".folder",
    "verify": ".folder",
    "InMemory": ".sheets",
    "file_names": ".sheets",
    "write_exam": ".sheets",
}
__getattr__, __dir__ = exports(__name__, _WRITERS)

__all__ = [
    "Constraints",
    "Stress",
    "Template",
    "Variant",
    "Verdict",
    "check_tolerances",
    "is_manifest",
    "judge",
    "load_manifest",
    "load_template",
    "loads_template",
    "moodle_xml",
    "stress",
    "stress_report",
    *_WRITERS,
]

if TYPE_CHECKING:
    from .folder import ExamFolder, verify
    from .sheets import InMemory, file_names, write_exam
