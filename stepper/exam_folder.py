"""An exam folder that is always one whole exam: built beside `--out`, then swapped in at once.

`stepper exam` writes every file into a private staging folder next to the exam folder,
`.NAME.stepper-new`, held under an exclusive lock (flock) for the whole run, so a second run
into the same folder stops at once instead of mixing two exams. When every file is written and
flushed to disk, the staging folder takes the exam folder's place in one rename (an atomic
exchange where the kernel offers it). A run that fails, is killed or meets a full disk never
touches the exam folder: the earlier exam stays as it was, and the staging folder is removed
(or, after a kill, by the next run, which finds it unlocked).

The manifest lists every file of the exam with its SHA-256, which tells the exam's own files from
the user's. The user's files in the folder are carried over into the new one (hard-linked, or
copied where links are not possible) before the swap, so nothing of theirs is lost; a file of the
user's, or one changed since the exam wrote it, that the new exam would replace needs --force, and
a subfolder (which cannot be carried over safely) is refused.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import IO

from .errors import StepperError
from .output import written_by_stepper

STAGING = ".{}.stepper-new"
# Files an exam wrote before manifests listed them (a manifest without "files").
_OLD_EXAM_FILE = re.compile(
    r"variant-\d+-(question|key)\.(md|tex|pdf)|keys\.(md|tex|pdf)|moodle\.xml|manifest\.json")


class ExamFolder:
    """Files written into staging as they are made; `commit()` swaps the whole exam into place."""

    def __init__(self, out: Path, names: list[str], force: bool = False):
        self.shown = Path(out)  # as the user gave it, for messages
        self.out = Path(os.path.abspath(out))
        if self.out.is_symlink():  # replace the folder the link names, not the link
            self.out = self.out.resolve()
        self.names = names  # every file the new exam writes
        self.force = force
        self.staging = self.out.parent / STAGING.format(self.out.name)
        self.hashes: dict[str, str] = {}
        self.replaced: list[str] = []  # the earlier exam's files
        self.kept: list[str] = []  # the user's files, carried over
        self._lock: int | None = None

    # ---- the run ----

    def __enter__(self) -> ExamFolder:
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StepperError(f"cannot make the folder: {e.strerror or e}", file=str(self.shown.parent)) from None
        self._lock = _claim(self.staging, self.shown)
        try:
            self.replaced, self.kept = survey(self.out, set(self.names), self.force, self.shown)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind, error, tb) -> None:
        if self._lock is not None:  # not committed: the earlier exam stays, the half-built one goes
            shutil.rmtree(self.staging, ignore_errors=True)
            os.close(self._lock)
            self._lock = None

    def open(self, name: str) -> IO[bytes]:
        """A new file of the exam, to write in pieces; its hash is taken as it is written."""
        return _HashingFile(self, name)

    def write(self, name: str, data: bytes) -> None:
        with self.open(name) as f:
            f.write(data)

    def commit(self) -> list[str]:
        """Swap the finished exam in; returns the names of the earlier exam's files it no longer has."""
        for name in self.kept:
            _carry(self.out / name, self.staging / name)
        _sync_folder(self.staging)
        gone = sorted(set(self.replaced) - set(self.hashes) - {"manifest.json"})
        if self.out.exists():
            _swap(self.staging, self.out)  # the staging name now holds the earlier exam
            shutil.rmtree(self.staging, ignore_errors=True)
        else:
            try:
                os.rename(self.staging, self.out)
            except OSError as e:
                raise StepperError(f"cannot put the exam in place: {e.strerror or e}", file=str(self.shown)) from None
        _sync_folder(self.out.parent)
        os.close(self._lock)
        self._lock = None
        return gone


def _carry(source: Path, target: Path) -> None:
    """A user's file into the new folder: a hard link (the same file, nothing copied), else a copy."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileNotFoundError:
        return  # removed by its owner meanwhile
    except OSError:
        try:
            shutil.copy2(source, target, follow_symlinks=False)
        except OSError as e:
            raise StepperError(f"cannot carry it over into the new exam folder: {e.strerror or e}",
                               file=str(source)) from None


class _HashingFile:
    """A file created exclusively in the staging folder, flushed to disk when closed."""

    def __init__(self, folder: ExamFolder, name: str):
        if "/" in name or name.startswith("."):
            raise ValueError(f"not a plain file name: {name!r}")
        self.folder, self.name = folder, name
        self.hash = hashlib.sha256()
        path = folder.staging / name
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise StepperError(f"cannot write it: {e.strerror or e}", file=str(folder.shown / name)) from None

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as e:
            raise StepperError(f"cannot write it: {e.strerror or e}", file=str(self.folder.shown / self.name)) from None
        return len(data)

    def __enter__(self) -> _HashingFile:
        return self

    def __exit__(self, kind, error, tb) -> None:
        try:
            if kind is None:
                os.fsync(self.fd)
        except OSError as e:
            raise StepperError(f"cannot write it: {e.strerror or e}", file=str(self.folder.shown / self.name)) from None
        finally:
            os.close(self.fd)
        if kind is None:
            self.folder.hashes[self.name] = self.hash.hexdigest()


# ---- what is there already ----

def survey(out: Path, new: set[str], force: bool, shown: Path | None = None) -> tuple[list[str], list[str]]:
    """What `out` holds: the earlier exam's files, and the user's files to carry over. A user's file (or an
    exam file changed since) that the new exam would replace needs `force`; a subfolder is refused.
    `shown` is the folder as messages name it."""
    shown = shown or out
    if not out.exists():
        return [], []
    if not out.is_dir():
        raise StepperError("is a file, so an exam cannot be written there: choose another --out folder",
                           file=str(shown))
    try:
        names = sorted(os.listdir(out))
    except OSError as e:
        raise StepperError(f"cannot read the folder: {e.strerror or e}", file=str(shown)) from None
    listed = _listed_files(out)
    exam, kept = [], []
    for name in names:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            raise StepperError("is a folder: the exam folder is replaced whole, and a folder inside cannot be "
                               "carried over safely; move it out, or choose another --out folder",
                               file=str(shown / name))
        if _is_exam_file(path, name, listed):
            exam.append(name)
        elif name in new and not force:
            why = ("was changed after `stepper exam` wrote it" if listed and name in listed
                   else "was not written by stepper as part of an exam")
            raise StepperError(f"{why}, so it is left alone; choose another --out folder, or pass --force to "
                               "replace it", file=str(shown / name))
        elif name in new:
            exam.append(name)  # --force: replaced
        else:
            kept.append(name)
    return exam, kept


def _is_exam_file(path: Path, name: str, listed: dict[str, str | None] | None) -> bool:
    """Written by an earlier exam, as its manifest lists it and unchanged since (or, before manifests
    listed files, by name and mark)."""
    if listed is not None:
        return name in listed and (listed[name] is None or _sha256(path) == listed[name])
    return (_OLD_EXAM_FILE.fullmatch(name) is not None and path.is_file() and not path.is_symlink()
            and written_by_stepper(path))


def _listed_files(out: Path) -> dict[str, str | None] | None:
    """The manifest's list of its exam's files (name -> SHA-256), or None when it has none."""
    manifest = out / "manifest.json"
    if not manifest.is_file() or manifest.is_symlink() or not written_by_stepper(manifest):
        return None
    try:
        with manifest.open("rb") as f:
            data = json.loads(f.read(256 * 1024 * 1024))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return None
    listed: dict[str, str | None] = {n: h for n, h in files.items() if isinstance(h, str)}
    listed["manifest.json"] = None  # it cannot hold its own hash
    return listed


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def verify(out: Path) -> str | None:
    """Why `out` is not one whole exam, or None when it is: every listed file there and unchanged, and no
    other file that looks like an exam's (the user's own files may sit beside it)."""
    listed = _listed_files(out)
    if listed is None:
        return "no manifest listing the exam's files"
    names = set(os.listdir(out))
    stray = sorted(n for n in names - set(listed) if _OLD_EXAM_FILE.fullmatch(n))
    missing = sorted(set(listed) - names)
    if stray or missing:
        return f"exam files not in the manifest: {stray}, missing: {missing}"
    changed = [n for n, h in listed.items() if h is not None and _sha256(out / n) != h]
    return f"changed since written: {changed}" if changed else None


# ---- the lock and the swap ----

def _claim(staging: Path, out: Path) -> int:
    """Make the staging folder and hold its lock; a folder left by a killed run (unlocked) is cleared first."""
    for _ in range(3):
        try:
            os.mkdir(staging, 0o755)
        except FileExistsError:
            _clear_stale(staging, out)  # left by a killed run; raises if a live run holds it
            continue
        except OSError as e:
            raise StepperError(f"cannot make the staging folder: {e.strerror or e}", file=str(staging)) from None
        fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another run found it first and took it as stale
            os.close(fd)
            raise _busy(out) from None
        return fd
    raise _busy(out)


def _clear_stale(staging: Path, out: Path) -> None:
    """Remove a staging folder nobody holds; a held one means another run is writing this exam now."""
    try:
        fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise StepperError(f"is in the way of the exam's staging folder: {e.strerror or e}; remove it",
                           file=str(staging)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _busy(out) from None
    try:
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        os.close(fd)


def _busy(out: Path) -> StepperError:
    return StepperError("another `stepper exam` is writing into this folder now; wait for it to finish, "
                        "or choose another --out folder", file=str(out))


def _swap(new: Path, old: Path) -> None:
    """Exchange two folders in one step where the kernel can; else two renames (the exam is briefly absent)."""
    if _exchange(new, old):
        return
    aside = old.parent / f".{old.name}.stepper-old"
    shutil.rmtree(aside, ignore_errors=True)
    try:
        os.rename(old, aside)
        os.rename(new, old)
        os.rename(aside, new)  # so the caller removes the earlier exam under the staging name
    except OSError as e:
        raise StepperError(f"cannot put the exam in place: {e.strerror or e}", file=str(old)) from None


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """renameat2(RENAME_EXCHANGE): both names swap their folders atomically (Linux 3.15+, most file systems)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries, so a crash after the swap cannot bring back a half-made folder."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the files themselves were synced
    finally:
        os.close(fd)
