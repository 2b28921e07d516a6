"""Finding trace files under a folder, ourselves, so nothing is dropped silently.

DuckDB's glob() quietly leaves out broken symlinks; this walk reports them, and also
FIFOs, sockets and unreadable folders, as diagnostics instead of hanging or aborting.
"""

from __future__ import annotations

import glob as globlib
import os
import stat
from dataclasses import dataclass
from fnmatch import fnmatchcase

from tracesql.errors import ReaderError
from tracesql.readers.base import Diagnostic, expand

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class FoundFile:
    path: str  # absolute
    relpath: str  # POSIX, relative to the root (the file name when the root is a file)
    size: int
    mtime_ns: int


def discover(
    root: str, pattern: str, recursive: bool, source_kind: str
) -> tuple[str, list[FoundFile], list[Diagnostic]]:
    """Return (resolved root folder, matching files sorted by relative path, diagnostics)."""
    diagnostics: list[Diagnostic] = []
    if not pattern or "/" in pattern or "\\" in pattern:
        raise ReaderError(f"file_pattern must match file names, not paths: {pattern!r}")
    full = expand(root)
    if not os.path.exists(full) and not os.path.islink(full):
        if _GLOB_CHARS & set(root):
            return _from_glob(full, source_kind, diagnostics)
        raise ReaderError(f"trace folder not found: {full}", path=full)
    if not os.path.isdir(full):
        found = _stat_file(full, os.path.basename(full), source_kind, diagnostics)
        return os.path.dirname(full), ([found] if found else []), diagnostics
    files: list[FoundFile] = []
    _walk(full, "", pattern, recursive, source_kind, files, diagnostics, set())
    files.sort(key=lambda f: f.relpath)
    if not files and not diagnostics:
        where = "under" if recursive else "directly in"
        diagnostics.append(
            Diagnostic(source_kind, full, None, "skip", f"no files match {pattern!r} {where} {full}")
        )
    return full, files, diagnostics


def _from_glob(pattern_path: str, source_kind: str, diagnostics: list[Diagnostic]):
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
        diagnostics.append(Diagnostic(source_kind, pattern_path, None, "skip", "no files match this glob"))
    return base, files, diagnostics


def _walk(
    folder: str,
    prefix: str,
    pattern: str,
    recursive: bool,
    source_kind: str,
    files: list[FoundFile],
    diagnostics: list[Diagnostic],
    seen: set[tuple[int, int]],
) -> None:
    try:
        st = os.stat(folder)
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return
        seen.add(key)
        entries = list(os.scandir(folder))
    except OSError as exc:
        diagnostics.append(
            Diagnostic(source_kind, folder, None, "skip", f"cannot list folder: {exc.strerror or exc}")
        )
        return
    for entry in entries:
        rel = f"{prefix}{entry.name}"
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError:
            is_dir = False
        if is_dir:
            if recursive:
                _walk(entry.path, rel + "/", pattern, recursive, source_kind, files, diagnostics, seen)
            elif fnmatchcase(entry.name, pattern):
                diagnostics.append(
                    Diagnostic(source_kind, entry.path, None, "skip", "matches the pattern but is a folder")
                )
            continue
        if not fnmatchcase(entry.name, pattern):
            continue
        found = _stat_file(entry.path, rel, source_kind, diagnostics)
        if found:
            files.append(found)


def _stat_file(path: str, rel: str, source_kind: str, diagnostics: list[Diagnostic]) -> FoundFile | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        target = os.readlink(path) if os.path.islink(path) else "?"
        diagnostics.append(
            Diagnostic(source_kind, path, None, "skip", f"broken symlink (points to {target})")
        )
        return None
    except OSError as exc:
        diagnostics.append(
            Diagnostic(source_kind, path, None, "skip", f"cannot stat file: {exc.strerror or exc}")
        )
        return None
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        diagnostics.append(Diagnostic(source_kind, path, None, "skip", f"cannot read: {kind}"))
        return None
    return FoundFile(path, rel, st.st_size, st.st_mtime_ns)
