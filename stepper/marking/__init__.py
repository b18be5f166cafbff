"""Marking: a student's working read from its file (working), checked against the worked solution stage by
stage with follow-through, the known mistake behind a wrong stage named (marker, mistakes, _diagnose), written
sums checked term by term (written), and a whole class marked with its summary (classroom).

May import stepper.core, stepper.writing and stepper.exams; never stepper.cli. Checking one working loads
only stepper.core: sympy is imported to read a written sum, and the class's names (whose summaries use
stepper.writing) are imported when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .marker import EMPTY, CellNote, Diagnosis, Feedback, Marker, StageResult, SumResult, check_working
from .mistakes import Mistake, catalogue
from .working import Answer, Working, WrittenSum, dumps_working, load_working, loads_working
from .written import SumCheck, TermCheck, check_sum, parse_sum

# The names for marking a class, and their module: imported on first use.
_CLASS = {
    name: "stepper.marking.classroom"
    for name in (
        "Markers",
        "Skipped",
        "common_mistakes",
        "mark_all",
        "scan_folder",
        "summary_csv",
        "summary_md",
        "working_files",
    )
}

__all__ = [
    "EMPTY",
    "Answer",
    "CellNote",
    "Diagnosis",
    "Feedback",
    "Marker",
    "Mistake",
    "StageResult",
    "SumCheck",
    "SumResult",
    "TermCheck",
    "Working",
    "WrittenSum",
    "catalogue",
    "check_sum",
    "check_working",
    "dumps_working",
    "load_working",
    "loads_working",
    "parse_sum",
    # imported on first use (_CLASS)
    "Markers",
    "Skipped",
    "common_mistakes",
    "mark_all",
    "scan_folder",
    "summary_csv",
    "summary_md",
    "working_files",
]

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name not in _CLASS:
        raise AttributeError(f"module 'stepper.marking' has no attribute {name!r}")
    value = getattr(importlib.import_module(_CLASS[name]), name)
    globals()[name] = value  # found once; later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
