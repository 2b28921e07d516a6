"""The audit, `secret_findings()`: findings per trace, message and field, with keyed
fingerprints, and the counts pinned on real corpora (docs/secrets-audit.md), so a rule
that starts matching hashes, ids or placeholders fails here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from tests.readers.parity import CORPUS, needs_corpus
from tests.secrets.planted import sessions, write_corpus
from tests.secrets.vectors import credentials, kind_of
from tracesql.connection import ConnectionOptions, open_connection
from tracesql.readers.schema import TRACE_SCHEMA
from tracesql.secrets.keys import fingerprint, project_key
from tracesql.sqltext import string_literal

REPO = Path(__file__).resolve().parents[2]
C = credentials()


def row_with_secrets() -> dict:
    return {
        "trace_key": "t1",
        "cwd": "/home/u/app",
        "source_meta": json.dumps({"env": {"GITHUB_TOKEN": C["github_token"]}}),
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": f"my key is {C['openai_api_key']}", "data": None}],
            },
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "running it", "data": None}],
                "reasoning_content": f"the user pasted {C['stripe_key']}",
                "tool_calls": [
                    {
                        "function": {
                            "name": "Bash",
                            "arguments": json.dumps({"command": f"export HF_TOKEN={C['huggingface_token']}"}),
                        }
                    }
                ],
            },
            {
                "role": "tool",
                "content": [
                    {
                        "type": "tool_result",
                        "text": None,
                        "data": json.dumps({"output": f"AWS_ACCESS_KEY_ID={C['aws_access_key_id']}"}),
                    }
                ],
            },
        ],
    }


def test_findings_name_the_trace_message_field_and_kind_and_never_the_value(tmp_path: Path):
    with open_connection(options=ConnectionOptions(target_dir=str(tmp_path))) as con:
        con.register("planted", pa.Table.from_pylist([row_with_secrets()], schema=TRACE_SCHEMA))
        findings = con.execute("SELECT * FROM secret_findings('planted')").fetchall()
    key = project_key(tmp_path)  # the salt the connection made in its target folder
    assert findings == [
        ("t1", None, "source_meta", "github_token", fingerprint(C["github_token"], key)),
        ("t1", 1, "text", "openai_api_key", fingerprint(C["openai_api_key"], key)),
        ("t1", 2, "reasoning", "stripe_key", fingerprint(C["stripe_key"], key)),
        ("t1", 2, "tool_arguments", "huggingface_token", fingerprint(C["huggingface_token"], key)),
        ("t1", 3, "data", "aws_access_key_id", fingerprint(C["aws_access_key_id"], key)),
    ]
    assert not any(value in repr(findings) for value in C.values())


def corpus_findings(path: Path, target: Path) -> tuple[int, Counter]:
    with open_connection(options=ConnectionOptions(target_dir=str(target))) as con:
        con.execute(f"CREATE TABLE t AS SELECT * FROM traces({string_literal(str(path))})")
        rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
        found = con.execute("SELECT kind, count(*) FROM secret_findings('t') GROUP BY ALL").fetchall()
    return rows, Counter(dict(found))


@needs_corpus
def test_the_shared_corpus_holds_no_credential(tmp_path: Path):
    """docs/secrets-audit.md: every candidate the rules meet in ../shared/corpus is a
    placeholder, code or prose; none is a credential."""
    rows, kinds = corpus_findings(CORPUS, tmp_path)
    assert rows > 80
    assert kinds == Counter()


@pytest.mark.parametrize("folder", ["examples/traces", "tests/fixtures"])
def test_the_bundled_traces_hold_no_credential(folder: str, tmp_path: Path):
    rows, kinds = corpus_findings(REPO / folder, tmp_path)
    assert rows > 0
    assert kinds == Counter()


def test_the_planted_corpus_counts_per_kind(tmp_path: Path):
    """Every kind, four places a session (user, assistant, tool arguments, tool result), three
    formats: 12 findings a kind; 24 for the kinds planted twice (classic and fine-grained
    GitHub tokens, project and legacy OpenAI keys, OpenSSH and RSA private keys)."""
    write_corpus(tmp_path / "planted")
    rows, kinds = corpus_findings(tmp_path / "planted", tmp_path / "target")
    assert rows == 3 * len(sessions())
    twice = {"github_token", "openai_api_key", "private_key"}
    assert kinds == Counter({kind_of(name): 24 if kind_of(name) in twice else 12 for name in credentials()})
