"""Compiled templates kept between runs, so that a run does not compile every template again.

Jinja compiles a template to Python on first use, which for the tutorial's two formats costs more than rendering
them (about 0.2 s against 0.02 s). The compiled code is kept in a folder of the user's own cache
($XDG_CACHE_HOME/stepper/templates, else ~/.cache/stepper/templates), keyed by the template's path and checked
against its source, so an edited template (a user's own included) is compiled afresh. The folder is used only when
it is the user's own and no one else may write to it, since what is in it is run; when it cannot be made or
used, or STEPPER_CACHE=off, templates are compiled every run as before. A failure to read or write the cache never
stops a run.
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2.bccache import Bucket

CACHE_SETTING = "STEPPER_CACHE"


class _QuietCache(jinja2.FileSystemBytecodeCache):
    """A cache whose faults (a full disk, a file removed meanwhile) cost only the time it would have saved."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError):
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


@lru_cache(maxsize=1)
def template_cache() -> jinja2.BytecodeCache | None:
    """The cache of compiled templates, or None when there is none to use."""
    if os.environ.get(CACHE_SETTING, "").strip().lower() in ("off", "0", "no", "false"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None  # no home to speak of (expanduser left "~"), or a relative setting
    folder = Path(base, "stepper", "templates")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o022:
        return None  # a link, someone else's folder, or one others may write to: its code is not to be run
    return _QuietCache(str(folder))
