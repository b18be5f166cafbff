"""Marking: a student's working read from its file (working), checked against the worked solution stage by
stage with follow-through, the known mistake behind a wrong stage named (marker, mistakes, _diagnose; each stage's
record in _results), the backward pass of a problem with [train] judged the same way (backward), written sums
checked term by term (written), and a whole class marked with its summary (classroom).

May import stepper.core, stepper.writing and stepper.exams; never stepper.cli. The names below load their
modules on first use (see stepper/core/lazy.py): checking one working loads only stepper.core, sympy comes
only to read a written sum, and stepper.writing only to summarise a class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import exports

_PUBLIC = {
    "EMPTY": ".marker",
    "CellNote": "._results",
    "Diagnosis": "._diagnose",
    "Feedback": ".marker",
    "Marker": ".marker",
    "StageResult": "._results",
    "SumResult": ".marker",
    "check_working": ".marker",
    "Mistake": ".mistakes",
    "catalogue": ".mistakes",
    "Answer": ".working",
    "Working": ".working",
    "WrittenSum": ".working",
    "dumps_working": ".working",
    "load_working": ".working",
    "loads_working": ".working",
    "SumCheck": ".written",
    "TermCheck": ".written",
    "check_sum": ".written",
    "parse_sum": ".written",
    "Markers": ".classroom",
    "Skipped": ".classroom",
    "common_mistakes": ".classroom",
    "mark_all": ".classroom",
    "scan_folder": ".classroom",
    "summary_csv": ".classroom",
    "summary_md": ".classroom",
    "working_files": ".classroom",
}
__all__ = list(_PUBLIC)
__getattr__, __dir__ = exports(__name__, _PUBLIC)

if TYPE_CHECKING:
    from ._diagnose import Diagnosis
    from ._results import CellNote, StageResult
    from .classroom import (
        Markers,
        Skipped,
        common_mistakes,
        mark_all,
        scan_folder,
        summary_csv,
        summary_md,
        working_files,
    )
    from .marker import EMPTY, Feedback, Marker, SumResult, check_working
    from .mistakes import Mistake, catalogue
    from .working import Answer, Working, WrittenSum, dumps_working, load_working, loads_working
    from .written import SumCheck, TermCheck, check_sum, parse_sum
