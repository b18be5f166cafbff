"""Public names that load their module on first use, so that importing a package costs nothing until it is used.

A package's `__init__` lists each public name with the module that defines it and takes `__getattr__` and
`__dir__` from `exports` (PEP 562). A name must not be that of one of the package's own modules: importing the
module would set the attribute to the module, and which one a reader got would depend on what ran first.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def exports(package: str, public: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose names in `public` map to the modules (relative to the
    package, as ".evaluate") that define them."""

    def __getattr__(name: str) -> Any:
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(public[name], package), name)
        setattr(sys.modules[package], name, value)  # found once; later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
