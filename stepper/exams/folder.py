"""An exam folder that is always one whole exam: built beside `--out`, then swapped in at once.

`stepper exam` writes every file into a private staging folder next to the exam folder,
`.NAME.stepper-new`, held under an exclusive lock (flock) for the whole run, so a second run
into the same folder stops at once instead of mixing two exams. When every file is written and
flushed to disk, the staging folder takes the exam folder's place in one rename (an atomic
exchange where the kernel offers it), with the folder's permissions, owner and extended
attributes. A run that fails, is killed or meets a full disk never touches the exam folder: the
earlier exam stays as it was, and the staging folder is removed (or, after a kill, by the next
run, which finds it unlocked).

The manifest lists every file of the exam with its SHA-256, which tells the exam's own files from
the user's. The user's files in the folder, including any added while the exam was being built,
are carried over into the new one (hard-linked, or copied where links are not possible) just
before the swap, so nothing of theirs is lost; a file of the user's, or one changed since the exam
wrote it, that the new exam would replace needs --force, and a subfolder (which cannot be carried
over safely) is refused.

Limits, stated plainly: the folder above `--out` must be writable (the staging folder lives
there), `--out` cannot be a mount point (a mount point cannot be renamed), and a shell whose
current folder is `--out` is left in the replaced folder (`cd .` brings it to the new one).
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
import stat
from pathlib import Path

from ..core.errors import StepperError
from ..writing.output import open_regular, written_by_stepper

STAGING = ".{}.stepper-new"
ASIDE = ".{}.stepper-aside"  # the earlier exam, for a moment, where the kernel cannot exchange two folders
# Files an exam wrote before manifests listed them (a manifest without "files").
_OLD_EXAM_FILE = re.compile(
    r"variant-\d+-(question|key)\.(md|tex|pdf)|keys\.(md|tex|pdf)|moodle\.xml|qti\.zip|canvas\.zip|manifest\.json"
)
MAX_MANIFEST_BYTES = 256 * 2**20


class ExamFolder:
    """Files written into staging as they are made; `commit()` swaps the whole exam into place."""

    def __init__(self, out: Path, names: list[str], force: bool = False):
        self.shown = Path(out)  # as the user gave it, for messages
        self.out = _real_folder(Path(out))
        self.names = set(names)  # every file the new exam writes
        self.force = force
        self.staging = self.out.parent / STAGING.format(self.out.name)
        self.hashes: dict[str, str] = {}
        self._lock: int | None = None  # the staging folder, open and locked; files are made relative to it

    def __enter__(self) -> ExamFolder:
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StepperError(f"cannot make the folder: {e.strerror or e}", file=str(self.shown.parent)) from None
        self._lock = _claim(self.staging, self.shown)
        try:
            survey(self.out, self.names, self.force, self.shown)  # refuse at once what would be refused at the end
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind, error, tb) -> None:
        if self._lock is not None:  # not committed: the earlier exam stays, the half-built one goes
            shutil.rmtree(self.staging, ignore_errors=True)
            os.close(self._lock)
            self._lock = None

    def open(self, name: str) -> _HashingFile:
        """A new file of the exam, to write in pieces; its hash is taken as it is written."""
        return _HashingFile(self, name)

    def write(self, name: str, data: bytes) -> None:
        with self.open(name) as f:
            f.write(data)

    def read_text(self, name: str) -> str:
        """A file this run wrote, read back (a long LaTeX document, for pdflatex)."""
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self._staging_fd())
        with os.fdopen(fd, encoding="utf-8") as f:
            return f.read()

    def commit(self) -> list[str]:
        """Swap the finished exam in; returns the names of the earlier exam's files it no longer has."""
        # Listed again now: files the user added while the exam was being built are theirs to keep too.
        replaced, kept = survey(self.out, self.names, self.force, self.shown)
        staging = self._staging_fd()
        for name in kept:
            _carry(self.out / name, name, staging)
        _adopt_attributes(self.out, staging)
        _sync(staging)
        if self.out.exists():
            _swap(self.staging, self.out, self.shown)  # the staging name now holds the earlier exam
            _clear_earlier(self.staging, self.out, set(replaced) | set(kept))
        else:
            try:
                os.rename(self.staging, self.out)
            except OSError as e:
                raise StepperError(f"cannot put the exam in place: {e.strerror or e}", file=str(self.shown)) from None
        _sync_folder(self.out.parent)
        os.close(staging)
        self._lock = None
        return sorted(set(replaced) - set(self.hashes))

    def _staging_fd(self) -> int:
        """The locked staging folder, open: files are made relative to it, so only between `with` and
        `commit()`."""
        if self._lock is None:
            raise ValueError("the exam folder is not open: use it in a with block, before commit()")
        return self._lock


def _real_folder(out: Path) -> Path:
    """`out` as an absolute path, through a link to the folder it names (the link itself is left as it is)."""
    path = Path(os.path.abspath(out))
    if path.is_symlink():
        try:
            path = path.resolve(strict=True)
        except (OSError, RuntimeError) as e:  # a loop of links, or a link to nothing
            raise StepperError(
                f"is a link that leads nowhere: {getattr(e, 'strerror', None) or e}", file=str(out)
            ) from None
    return path


class _HashingFile:
    """A file created exclusively in the locked staging folder, flushed to disk when closed."""

    def __init__(self, folder: ExamFolder, name: str):
        if "/" in name or name.startswith("."):
            raise ValueError(f"not a plain file name: {name!r}")
        self.folder, self.name = folder, name
        self.hash = hashlib.sha256()
        try:  # relative to the folder's descriptor: a path swapped for a link cannot redirect the file
            self.fd = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder._staging_fd()
            )
        except OSError as e:
            raise self._error(e) from None

    def _error(self, e: OSError) -> StepperError:
        return StepperError(f"cannot write it: {e.strerror or e}", file=str(self.folder.shown / self.name))

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as e:
            raise self._error(e) from None
        return len(data)

    def __enter__(self) -> _HashingFile:
        return self

    def __exit__(self, kind, error, tb) -> None:
        try:
            if kind is None:
                os.fsync(self.fd)
        except OSError as e:
            raise self._error(e) from None
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
        raise StepperError(
            "is a file, so an exam cannot be written there: choose another --out folder", file=str(shown)
        )
    try:
        names = sorted(os.listdir(out))
    except OSError as e:
        raise StepperError(f"cannot read the folder: {e.strerror or e}", file=str(shown)) from None
    listed = _listed_files(out)
    exam, kept = [], []
    for name in names:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            raise StepperError(
                "is a folder: the exam folder is replaced whole, and a folder inside cannot be "
                "carried over safely; move it out, or choose another --out folder",
                file=str(shown / name),
            )
        if _is_exam_file(path, name, listed):
            exam.append(name)
        elif name in new and not force:
            why = (
                "was changed after `stepper exam` wrote it"
                if listed and name in listed
                else "was not written by stepper as part of an exam"
            )
            raise StepperError(
                f"{why}, so it is left alone; choose another --out folder, or pass --force to replace it",
                file=str(shown / name),
            )
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
    return _OLD_EXAM_FILE.fullmatch(name) is not None and _sha256(path) is not None and written_by_stepper(path)


def _listed_files(out: Path) -> dict[str, str | None] | None:
    """The manifest's list of its exam's files (name -> SHA-256), or None when it has none."""
    manifest = out / "manifest.json"
    data = _read_regular(manifest, MAX_MANIFEST_BYTES)
    if data is None or not written_by_stepper(manifest):
        return None
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return None
    files = parsed.get("files") if isinstance(parsed, dict) else None
    if not isinstance(files, dict):
        return None
    listed: dict[str, str | None] = {n: h for n, h in files.items() if isinstance(h, str)}
    listed["manifest.json"] = None  # it cannot hold its own hash
    return listed


def _read_regular(path: Path, limit: int) -> bytes | None:
    fd = open_regular(path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    return data if len(data) <= limit else None


def _sha256(path: Path) -> str | None:
    fd = open_regular(path)
    if fd is None:
        return None
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
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


# ---- carrying the user's files and the folder's own attributes ----


def _carry(source: Path, name: str, folder: int) -> None:
    """A user's file into the new folder: a hard link (the same file, nothing copied), else a copy."""
    try:
        os.link(source, name, dst_dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return  # removed by its owner meanwhile
    except OSError:
        try:
            shutil.copy2(source, f"/proc/self/fd/{folder}/{name}", follow_symlinks=False)
        except OSError as e:
            raise StepperError(
                f"cannot carry it over into the new exam folder: {e.strerror or e}", file=str(source)
            ) from None


def _adopt_attributes(out: Path, folder: int) -> None:
    """The new folder gets the old one's permissions, owner and extended attributes (ACLs among them), so a
    private folder of answer keys stays private; a new folder gets what mkdir would have given it."""
    try:
        info = os.stat(out)
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(folder, 0o777 & ~mask)
        return
    try:
        os.chown(folder, info.st_uid, info.st_gid)
    except PermissionError:
        pass  # only root may give a folder away; it stays the user's own
    os.chmod(folder, stat.S_IMODE(info.st_mode))  # after chown, which clears the set-group-id bit
    try:
        for attribute in os.listxattr(out):
            try:
                os.setxattr(folder, attribute, os.getxattr(out, attribute))
            except OSError:
                pass  # an attribute this file system or user may not set
    except OSError:
        pass  # no extended attributes here


def _clear_earlier(old: Path, new: Path, known: set[str]) -> None:
    """Remove the earlier exam, now at the staging name: its files, and the links of the user's files that
    now live in the new folder. Anything else (added in the moment before the swap) is moved across."""
    left = False
    for name in os.listdir(old):
        path = old / name
        if name in known:
            path.unlink(missing_ok=True)
        elif not os.path.lexists(new / name):
            os.rename(path, new / name)
        else:
            left = True
    if not left:
        os.rmdir(old)
    else:  # never seen in practice: kept under a name no run clears, rather than lost
        os.rename(old, old.parent / f".{new.name}.stepper-left")


# ---- the lock and the swap ----


def _claim(staging: Path, out: Path) -> int:
    """Make the staging folder and hold its lock; a folder left by a killed run (unlocked) is cleared first."""
    for _ in range(5):
        try:
            os.mkdir(staging, 0o700)
        except FileExistsError:
            _clear_stale(staging, out)  # left by a killed run; raises if a live run holds it
            continue
        except OSError as e:
            raise StepperError(
                f"cannot make the staging folder beside it: {e.strerror or e}; stepper exam builds "
                "the exam next to --out, so the folder above --out must be writable",
                file=str(out),
            ) from None
        fd = _lock(staging, out)
        if fd is not None and _same(fd, staging):
            return fd
        if fd is not None:  # another run cleared our new folder as stale before we locked it: start again
            os.close(fd)
    raise _busy(out)


def _lock(folder: Path, out: Path) -> int | None:
    """The folder opened and locked, or None when it vanished; a held lock means another run is writing."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StepperError(
            f"is in the way of the exam's staging folder: {e.strerror or e}; remove it", file=str(folder)
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _busy(out) from None
    except OSError as e:
        os.close(fd)
        raise StepperError(
            f"cannot lock the staging folder ({e.strerror or e}): this file system has no locks; "
            "choose an --out folder on a local disk",
            file=str(folder),
        ) from None
    return fd


def _same(fd: int, path: Path) -> bool:
    """`fd` is still the folder at `path` (not one removed and made again by another run)."""
    try:
        there = os.lstat(path)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _clear_stale(staging: Path, out: Path) -> None:
    """Remove a staging folder nobody holds; a held one means another run is writing this exam now."""
    fd = _lock(staging, out)
    if fd is None:
        return
    try:
        if _same(fd, staging):
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        os.close(fd)


def _busy(out: Path) -> StepperError:
    return StepperError(
        "another `stepper exam` is writing into this folder now; wait for it to finish, or choose another --out folder",
        file=str(out),
    )


def _swap(new: Path, old: Path, shown: Path) -> None:
    """Exchange two folders in one step where the kernel can; else two renames (the exam is briefly absent),
    undone if the second fails."""
    if _exchange(new, old):
        return
    aside = old.parent / ASIDE.format(old.name)
    if os.path.lexists(aside):
        raise StepperError(
            "was left by an interrupted run and holds an earlier exam, perhaps with your files: "
            "look inside, then remove it",
            file=str(aside),
        )
    try:
        os.rename(old, aside)
    except OSError as e:
        raise _cannot_replace(e, shown) from None
    try:
        os.rename(new, old)
    except OSError as e:
        os.rename(aside, old)  # the earlier exam back where it was
        raise _cannot_replace(e, shown) from None
    os.rename(aside, new)  # so the caller clears the earlier exam under the staging name


def _cannot_replace(e: OSError, shown: Path) -> StepperError:
    if e.errno == errno.EBUSY:
        return StepperError(
            "is a mount point, which cannot be replaced: give a folder inside it as --out", file=str(shown)
        )
    return StepperError(f"cannot put the exam in place: {e.strerror or e}", file=str(shown))


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


def _sync(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the files themselves were synced


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries, so a crash after the swap cannot bring back a half-made folder."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        _sync(fd)
    finally:
        os.close(fd)
