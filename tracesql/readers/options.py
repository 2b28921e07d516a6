"""The options of one read that are not about which files to select: how far to follow
folders, and the resource limits that keep a damaged or hostile file from costing more
than itself.

Defaults (README, "Resource limits"):

- `max_line_bytes` 64 MiB: a JSONL line (or a whole JSON document) longer than this is
  skipped with a diagnostic, without being held in memory. Real sessions with several
  pasted screenshots stay far below it (an API request is at most 32 MB).
- `max_diagnostics` 100 per file: the first 100 are listed, then one that counts the rest.
- `off_path_warning` 0.05: a warning when more than this share of a file's message
  records end off the conversation the row holds (abandoned branches, lost links).
- `follow_symlinks` false: a folder symlink is followed only when it stays inside the
  folder being read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tracesql.errors import ReaderError

DEFAULT_MAX_LINE_BYTES = 64 << 20
DEFAULT_MAX_DIAGNOSTICS = 100
DEFAULT_OFF_PATH_WARNING = 0.05
MIN_LINE_BYTES = 1024


@dataclass(frozen=True)
class ReadOptions:
    recursive: bool = True
    follow_symlinks: bool = False
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_diagnostics: int = DEFAULT_MAX_DIAGNOSTICS
    off_path_warning: float = DEFAULT_OFF_PATH_WARNING

    def rows_key(self) -> tuple[Any, ...]:
        """The options that can change the rows a file gives (part of a cached read's key)."""
        return (self.max_line_bytes, self.off_path_warning)


def read_options(
    *,
    recursive: bool | None = None,
    follow_symlinks: bool | None = None,
    max_line_bytes: int | None = None,
    max_diagnostics: int | None = None,
    off_path_warning: float | None = None,
) -> ReadOptions:
    """ReadOptions from SQL arguments (NULL means the default); a bad value is a ReaderError."""
    if max_line_bytes is not None and max_line_bytes < MIN_LINE_BYTES:
        raise ReaderError(f"max_line_bytes must be at least {MIN_LINE_BYTES} (got {max_line_bytes})")
    if max_diagnostics is not None and max_diagnostics < 0:
        raise ReaderError(f"max_diagnostics must be >= 0 (got {max_diagnostics})")
    if off_path_warning is not None and not (math.isfinite(off_path_warning) and 0 <= off_path_warning <= 1):
        raise ReaderError(f"off_path_warning must be a share between 0 and 1 (got {off_path_warning})")
    return ReadOptions(
        recursive=True if recursive is None else bool(recursive),
        follow_symlinks=bool(follow_symlinks),
        max_line_bytes=DEFAULT_MAX_LINE_BYTES if max_line_bytes is None else int(max_line_bytes),
        max_diagnostics=DEFAULT_MAX_DIAGNOSTICS if max_diagnostics is None else int(max_diagnostics),
        off_path_warning=DEFAULT_OFF_PATH_WARNING if off_path_warning is None else float(off_path_warning),
    )


@dataclass(frozen=True)
class ScanOptions:
    source_kind: str
    path: str | None = None
    file_pattern: str | None = None
    recursive: bool = True
    max_traces: int | None = None
    shuffle: bool = False
    seed: int = 0
    partition_index: int | None = None
    partition_count: int | None = None
    strict: bool = False
    read: ReadOptions = field(default_factory=ReadOptions)
