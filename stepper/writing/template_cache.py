"""Compiled templates kept between runs, so that a run does not compile every template again.

Jinja compiles a template to Python on first use, which for the tutorial's two formats costs more than rendering
them (about 0.2 s against 0.02 s). The compiled code is kept in the user's own cache ($XDG_CACHE_HOME/stepper/,
else ~/.cache/stepper/), in a folder named by Jinja's version and settings, keyed by the template's path and
checked against its source, so an edited template (a user's own included) is compiled afresh. The folders are used
only when they are the user's own and no one else may write to them, since what is in them is run; when they
cannot be made or used, or STEPPER_CACHE=off, templates are compiled every run as before. A failure to read or
write the cache never stops a run.
"""

from __future__ import annotations

import hashlib
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


@lru_cache(maxsize=4)
def template_cache(settings: str = "") -> jinja2.BytecodeCache | None:
    """The cache of compiled templates for Jinja environments made with `settings` (a text that names them), or
    None when there is none to use. The folder's name holds Jinja's version and a digest of the settings, since
    both change what a template compiles to."""
    if os.environ.get(CACHE_SETTING, "").strip().lower() in ("off", "0", "no", "false"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None  # no home to speak of (expanduser left "~"), or a relative setting
    digest = hashlib.sha256(settings.encode("utf-8")).hexdigest()[:12]
    stepper = Path(base, "stepper")
    folder = stepper / f"templates-jinja{jinja2.__version__}-{digest}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    # What is in the folder is run: every folder from the cache's base down must be the user's (the base may be
    # root's) and closed to writing by others, so that no one else can put code there or swap a folder for a link.
    if not (_safe(Path(base), follow=True, root_may_own=True) and _safe(stepper) and _safe(folder)):
        return None
    return _QuietCache(str(folder))


def _safe(folder: Path, follow: bool = False, root_may_own: bool = False) -> bool:
    try:
        found = os.stat(folder) if follow else os.lstat(folder)
    except OSError:
        return False
    owners = (os.getuid(), 0) if root_may_own else (os.getuid(),)
    return stat.S_ISDIR(found.st_mode) and found.st_uid in owners and not found.st_mode & 0o022
