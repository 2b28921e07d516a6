"""The parse cache and the readers' private folders: an unchanged file is never parsed
twice; anything that changes its rows (the file rewritten in place, a sidecar, the reader
version, an option) parses it again; entries are written atomically and pruned; spill
folders of dead processes are removed."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.readers.conftest import write_session
from tracesql.readers.cache import STALE_SECONDS, ParseCache
from tracesql.readers.claude_code.reader import ClaudeCodeReader
from tracesql.readers.options import read_options
from tracesql.readers.scan import ScanOptions
from tracesql.readers.sql import ScanStore


def scan(store: ScanStore, folder: Path, **options):
    result = store.scan(ScanOptions("claude_code", path=str(folder), read=read_options(**options)))
    return result, pq.read_table(result.files).to_pylist()


@pytest.fixture
def store(tmp_path):
    s = ScanStore(target_dir=str(tmp_path / "target"))
    yield s
    s.close()


def test_an_unchanged_file_is_parsed_once(tmp_path, store):
    for name in ("a", "b"):
        write_session(tmp_path / "c" / f"{name}.jsonl", name)
    first, rows = scan(store, tmp_path / "c")
    assert (first.parsed, first.cached) == (2, 0)
    other = ScanStore(target_dir=str(tmp_path / "target"))  # a later run: a new connection
    try:
        second, again = scan(other, tmp_path / "c")
    finally:
        other.close()
    assert (second.parsed, second.cached) == (0, 2)
    assert again == rows


def test_a_file_rewritten_in_place_with_the_same_size_and_mtime_is_parsed_again(tmp_path, store):
    path = write_session(tmp_path / "c" / "s.jsonl", "s")
    before = os.stat(path)
    scan(store, tmp_path / "c")
    new = path.read_text().replace("answer 1", "ANSWER 1")
    replacement = tmp_path / "c" / "s.tmp"
    replacement.write_text(new)
    os.replace(replacement, path)  # same size, new inode and ctime
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the writer kept the mtime
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_mtime_ns == before.st_mtime_ns
    result, rows = scan(store, tmp_path / "c")
    assert result.parsed == 1
    assert [m["content"][0]["text"] for m in rows[0]["messages"]][1] == "ANSWER 1"


def test_reader_version_options_and_sidecars_are_part_of_the_key(tmp_path, store, monkeypatch):
    folder = tmp_path / "c"
    write_session(folder / "agent-x1.jsonl", "x1")
    sidecar = folder / "agent-x1.meta.json"
    sidecar.write_text('{"agentType": "explorer"}')
    assert scan(store, folder)[0].parsed == 1
    assert scan(store, folder, max_line_bytes=1 << 20)[0].parsed == 1  # an option that changes rows
    monkeypatch.setattr(ClaudeCodeReader, "version", ClaudeCodeReader.version + 1)
    assert scan(store, folder)[0].parsed == 1  # a new reader version
    assert scan(store, folder, max_diagnostics=7)[0].parsed == 0  # one that does not
    sidecar.write_text('{"agentType": "reviewer"}')
    result, rows = scan(store, folder)
    assert result.parsed == 1 and json.loads(rows[0]["source_meta"])["agent_type"] == "reviewer"


def test_diagnostics_come_back_with_cached_rows(tmp_path, store):
    write_session(tmp_path / "c" / "live.jsonl", "live", extra=b'{"type":"user","sess')
    first, _ = scan(store, tmp_path / "c")
    other = ScanStore(target_dir=str(tmp_path / "target"))
    try:
        second, _ = scan(other, tmp_path / "c")
    finally:
        other.close()
    assert second.cached == 1
    assert [(d.line, d.reason) for d in second.diagnostics] == [(d.line, d.reason) for d in first.diagnostics]
    assert "truncated last line" in second.diagnostics[0].reason


def test_a_damaged_entry_is_parsed_again_and_rewritten(tmp_path, store):
    write_session(tmp_path / "c" / "s.jsonl", "s")
    scan(store, tmp_path / "c")
    (entry,) = Path(store.cache_dir).glob("*/*.parquet")
    entry.write_bytes(
        b"half of a parquet file"
    )  # as a crash mid-write would leave it, were writes not atomic
    other = ScanStore(target_dir=str(tmp_path / "target"))
    try:
        assert scan(other, tmp_path / "c")[0].parsed == 1
        assert pq.read_table(entry).num_rows == 1
    finally:
        other.close()


def test_concurrent_runs_share_the_cache(tmp_path):
    for n in range(6):
        write_session(tmp_path / "c" / f"s{n}.jsonl", f"s{n}")
    results = []

    def run() -> None:
        s = ScanStore(target_dir=str(tmp_path / "target"))
        try:
            results.append(scan(s, tmp_path / "c")[1])
        finally:
            s.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and results[0] == results[1] == results[2]
    assert len(list(Path(tmp_path / "target/readers/parse-cache").glob("*/*.parquet"))) == 6


def test_stale_entries_and_crash_leftovers_are_pruned(tmp_path, store):
    write_session(tmp_path / "c" / "s.jsonl", "s")
    scan(store, tmp_path / "c")
    cache = ParseCache(store.cache_dir)
    (entry,) = Path(store.cache_dir).glob("*/*.parquet")
    leftover = entry.parent / ".abc.tmp"
    leftover.write_bytes(b"x")
    assert cache.prune(now=time.time() + 2 * 3600) == 1  # the crash's temporary file
    assert entry.exists()
    assert cache.prune(now=time.time() + STALE_SECONDS + 60) == 1  # unused for 30 days
    assert not entry.exists()


def test_reader_folders_are_private_and_dead_processes_spill_is_removed(tmp_path, monkeypatch):
    target = tmp_path / "target"
    dead = target / "readers" / "spill" / "scan-999999999-abc"
    dead.mkdir(parents=True)
    (dead / "part-00000.parquet").write_bytes(b"x")
    alive = target / "readers" / "spill" / f"scan-{os.getpid()}-other"
    alive.mkdir()
    s = ScanStore(target_dir=str(target))
    try:
        spill, cache = Path(s.dir), Path(s.parse_cache_dir() or "")  # made at the first read
        assert not dead.exists() and alive.exists()
        for folder in (target / "readers" / "spill", spill, cache):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        assert Path(s.dir).parent == target / "readers" / "spill"
    finally:
        s.close()
    assert not Path(s.dir).exists()
    # without a project: the user's cache folder, no parse cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    plain = ScanStore()
    try:
        assert Path(plain.dir).parent == tmp_path / "cache" / "tracesql" / "readers" / "spill"
        assert plain.cache_dir is None
        assert stat.S_IMODE(Path(plain.dir).parent.stat().st_mode) == 0o700
    finally:
        plain.close()


def test_a_killed_process_leaves_its_spill_for_the_next_start(tmp_path):
    """The spill folder of a process that died without closing is removed by the next one."""
    import subprocess
    import sys

    target = tmp_path / "target"
    script = (
        "import os, sys\n"
        "from tracesql.readers.sql import ScanStore\n"
        f"s = ScanStore(target_dir={str(target)!r})\n"
        "print(s.dir, flush=True)\n"
        "os._exit(0)  # no clean-up: as a killed process\n"
    )
    left = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(left).exists()
    s = ScanStore(target_dir=str(target))
    try:
        assert s.dir and not Path(left).exists()
    finally:
        s.close()


def test_traces_cached_reads_follow_the_format_readers_versions(tmp_path, store, monkeypatch):
    write_session(tmp_path / "c" / "s.jsonl", "s")
    first = store.scan(ScanOptions("auto", path=str(tmp_path / "c")))
    assert first.parsed == 1
    other = ScanStore(target_dir=str(tmp_path / "target"))  # a later run
    try:
        assert other.scan(ScanOptions("auto", path=str(tmp_path / "c"))).parsed == 0
        monkeypatch.setattr(ClaudeCodeReader, "version", ClaudeCodeReader.version + 1)
        assert other.scan(ScanOptions("auto", path=str(tmp_path / "c"))).parsed == 1
    finally:
        other.close()


@pytest.mark.parametrize("in_workers", [False, True])
def test_cached_and_new_files_keep_file_order_and_cached_rows_are_not_rewritten(
    tmp_path, store, monkeypatch, in_workers
):
    """A read where some files are cached: the cached ones are linked as they are (the
    part is the entry itself: same inode), the others parsed (in worker processes too),
    and the rows come in the same order as a read without any cache."""
    from tracesql.readers import parallel

    if in_workers:
        monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
        monkeypatch.setenv("TRACESQL_WORKERS", "2")
    for name in ("a", "c", "e"):
        write_session(tmp_path / "c" / f"{name}.jsonl", name)
    scan(store, tmp_path / "c")
    for name in ("b", "d", "f", "g"):
        write_session(tmp_path / "c" / f"{name}.jsonl", name, turns=3)
    later = ScanStore(target_dir=str(tmp_path / "target"))
    fresh = ScanStore(target_dir=str(tmp_path / "other-target"))
    try:
        result, rows = scan(later, tmp_path / "c")
        _, expected = scan(fresh, tmp_path / "c")
        entries = {os.stat(p).st_ino for p in Path(later.cache_dir).glob("*/*.parquet")}
        linked = [p for p in result.files if os.stat(p).st_ino in entries]
    finally:
        later.close()
        fresh.close()
    assert (result.parsed, result.cached) == (4, 3)
    assert [Path(r["source_path"]).stem for r in rows] == list("abcdefg")
    assert rows == expected
    assert len(linked) == 3  # a, c, e: their entries, not copies of their rows


def test_an_entry_of_an_older_row_shape_is_parsed_again(tmp_path, store):
    """An entry whose Arrow schema is not today's (written before a schema change that kept
    the reader's version) is not linked into a read: the file is parsed again."""
    write_session(tmp_path / "c" / "s.jsonl", "s")
    _, rows = scan(store, tmp_path / "c")
    (entry,) = Path(store.cache_dir).glob("*/*.parquet")
    table = pq.read_table(entry)
    pq.write_table(table.drop_columns(["usage"]).replace_schema_metadata(table.schema.metadata), entry)
    other = ScanStore(target_dir=str(tmp_path / "target"))
    try:
        result, again = scan(other, tmp_path / "c")
    finally:
        other.close()
    assert (result.parsed, result.cached) == (1, 0)
    assert again == rows


def test_a_linked_entry_stays_readable_when_the_cache_replaces_it(tmp_path, store):
    """A concurrent run may replace or prune an entry while this read still holds it: the
    read's part is a hard link, so its rows stay."""
    write_session(tmp_path / "c" / "s.jsonl", "s")
    _, rows = scan(store, tmp_path / "c")
    other = ScanStore(target_dir=str(tmp_path / "target"))
    try:
        result = other.scan(ScanOptions("claude_code", path=str(tmp_path / "c")))
        for entry in Path(other.cache_dir).glob("*/*.parquet"):
            entry.unlink()
        assert result.cached == 1
        assert pq.read_table(result.files).to_pylist() == rows
    finally:
        other.close()


def test_a_trace_limit_takes_its_rows_from_cached_and_parsed_files(tmp_path, store):
    """Under max_traces a cached file's rows are read and cut (not linked whole)."""
    for name in ("a", "b"):
        write_session(tmp_path / "c" / f"{name}.jsonl", name)
    scan(store, tmp_path / "c")
    write_session(tmp_path / "c" / "c.jsonl", "c")
    other = ScanStore(target_dir=str(tmp_path / "target"))
    try:
        for limit in (1, 2, 3):
            opts = ScanOptions("claude_code", path=str(tmp_path / "c"), max_traces=limit)
            result = other.scan(opts)
            rows = pq.read_table(result.files).to_pylist()
            assert [Path(r["source_path"]).stem for r in rows] == list("abc")[:limit]
    finally:
        other.close()
