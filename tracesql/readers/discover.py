"""Finding trace files under a folder, ourselves, so nothing is dropped silently.

DuckDB's glob() quietly leaves out broken symlinks; this walk reports them, and also
FIFOs, sockets, unreadable folders and folder symlinks that lead out of the folder being
read, as diagnostics instead of hanging, aborting or wandering off.
"""

from __future__ import annotations

import glob as globlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase

from tracesql.errors import ReaderError
from tracesql.readers.base import Diagnostic, expand, shown_path
from tracesql.readers.files import plain_name

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class FoundFile:
    path: str  # absolute
    relpath: str  # POSIX, relative to the root (the file name when the root is a file)
    size: int
    mtime_ns: int
    inode: int = 0
    ctime_ns: int = 0


def discover(
    root: str, pattern: str, recursive: bool, source_kind: str, follow_symlinks: bool = False
) -> tuple[str, list[FoundFile], list[Diagnostic]]:
    """Return (resolved root folder, matching files sorted by relative path, diagnostics)."""
    diagnostics: list[Diagnostic] = []
    if not pattern or "/" in pattern or "\\" in pattern:
        raise ReaderError(f"file_pattern must match file names, not paths: {pattern!r}")
    full = expand(root)
    if not os.path.exists(full) and not os.path.islink(full):
        if _GLOB_CHARS & set(root):
            return _from_glob(full, source_kind, diagnostics)
        raise ReaderError(f"trace folder not found: {shown_path(full)}", path=shown_path(full))
    if not os.path.isdir(full):
        found = _stat_file(full, os.path.basename(full), source_kind, diagnostics)
        return os.path.dirname(full), ([found] if found else []), diagnostics
    files: list[FoundFile] = []
    for entry, rel in walk(full, recursive, follow_symlinks, source_kind, diagnostics):
        if _matches(entry.name, pattern):
            if _is_dir(entry):
                if recursive:
                    continue
                _skip(diagnostics, source_kind, entry.path, "matches the pattern but is a folder")
                continue
            found = _stat_file(entry.path, rel, source_kind, diagnostics)
            if found:
                files.append(found)
    files.sort(key=lambda f: f.relpath)
    if not files and not diagnostics:
        where = "under" if recursive else "directly in"
        _skip(
            diagnostics,
            source_kind,
            full,
            f"no files match {pattern!r} {where} {shown_path(full)}",
        )
    return full, files, diagnostics


def _from_glob(
    pattern_path: str, source_kind: str, diagnostics: list[Diagnostic]
) -> tuple[str, list[FoundFile], list[Diagnostic]]:
    base = pattern_path
    while _GLOB_CHARS & set(base):
        base = os.path.dirname(base)
    files = []
    for match in sorted(globlib.glob(pattern_path, recursive=True)):
        if os.path.isdir(match):
            continue
        found = _stat_file(match, os.path.relpath(match, base).replace(os.sep, "/"), source_kind, diagnostics)
        if found:
            files.append(found)
    if not files and not diagnostics:
        _skip(diagnostics, source_kind, pattern_path, "no files match this glob")
    return base, files, diagnostics


def walk(
    root: str, recursive: bool, follow_symlinks: bool, source_kind: str, diagnostics: list[Diagnostic]
) -> Iterator[tuple[os.DirEntry, str]]:
    """Every entry under `root` with its POSIX path relative to it, folders included, in
    no particular order. Iterative (any depth); each folder is entered once (symlink
    loops end); a folder symlink that leads outside `root` is not followed unless
    `follow_symlinks` (a link to / would otherwise read the whole machine)."""
    inside = os.path.realpath(root)
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[str, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            _skip(diagnostics, source_kind, folder, f"cannot list folder: {exc.strerror or exc}")
            continue
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            yield entry, rel
            if not recursive or not _is_dir(entry):
                continue
            if not follow_symlinks and entry.is_symlink():
                target = os.path.realpath(entry.path)
                if target != inside and not target.startswith(inside.rstrip(os.sep) + os.sep):
                    _skip(
                        diagnostics,
                        source_kind,
                        entry.path,
                        f"folder symlink to {shown_path(target)}, outside the folder being read: not followed "
                        "(follow_symlinks := true follows it)",
                    )
                    continue
            stack.append((entry.path, rel + "/"))


def _matches(name: str, pattern: str) -> bool:
    """A name matches the pattern, or its uncompressed name does (`s.jsonl.gz` for `*.jsonl`)."""
    return fnmatchcase(name, pattern) or (plain_name(name) != name and fnmatchcase(plain_name(name), pattern))


def _skip(diagnostics: list[Diagnostic], source_kind: str, path: str, reason: str) -> None:
    diagnostics.append(Diagnostic(source_kind, shown_path(path), None, "skip", reason))


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _stat_file(path: str, rel: str, source_kind: str, diagnostics: list[Diagnostic]) -> FoundFile | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        target = os.readlink(path) if os.path.islink(path) else "?"
        _skip(diagnostics, source_kind, path, f"broken symlink (points to {shown_path(target)})")
        return None
    except OSError as exc:
        _skip(diagnostics, source_kind, path, f"cannot stat file: {exc.strerror or exc}")
        return None
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        _skip(diagnostics, source_kind, path, f"cannot read: {kind}")
        return None
    return FoundFile(path, rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
