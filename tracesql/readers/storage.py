"""Where reads keep their files: private folders (0700: they hold the traces' text).

- With a project: `<target>/readers/` holds the spill folder of each open connection
  (`spill/scan-<pid>-*`) and the parse cache (`parse-cache/`, see cache.py).
- Without one (`tracesql.connect()`): the spill folders go under the user's cache folder
  (`$XDG_CACHE_HOME/tracesql/readers`, by default `~/.cache/tracesql/readers`); there is
  no parse cache.
- `tracesql usage` keeps its usage cache in `$XDG_CACHE_HOME/tracesql/usage/` (usage_scan.py).

A spill folder is removed when its connection closes; one left by a process that died
(killed, crashed) is removed when the next connection opens in the same place.
"""

from __future__ import annotations

import os
import shutil

SPILL_PREFIX = "scan-"


def readers_folder(target_dir: str | None) -> str:
    if target_dir:
        return os.path.join(target_dir, "readers")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "tracesql", "readers")


def usage_cache_folder() -> str:
    """Where `tracesql usage` keeps what it read: the user's cache folder (no project)."""
    return os.path.join(os.path.dirname(readers_folder(None)), "usage")


def private_folder(path: str) -> str:
    """`path`, created if needed, readable by its owner only."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def remove_stale_spills(parent: str) -> int:
    """Remove the spill folders under `parent` whose process is gone; returns how many."""
    removed = 0
    try:
        names = os.listdir(parent)
    except OSError:
        return 0
    for name in names:
        if not name.startswith(SPILL_PREFIX):
            continue
        pid = name[len(SPILL_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
