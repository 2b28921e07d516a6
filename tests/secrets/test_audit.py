"""The audit: findings per trace, message and field, with keyed fingerprints, and the
counts pinned on real corpora (docs/secrets-audit.md), so a rule that starts matching
hashes, ids or placeholders fails here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.readers.parity import CORPUS, needs_corpus
from tests.secrets.vectors import credentials
from tracesql.connection import open_connection
from tracesql.secrets.audit import AuditFinding, trace_findings
from tracesql.secrets.keys import fingerprint
from tracesql.sqltext import string_literal

REPO = Path(__file__).resolve().parents[2]
KEY = b"k" * 32
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


def test_findings_name_the_trace_message_field_and_kind_and_never_the_value():
    findings = trace_findings(row_with_secrets(), KEY)
    assert findings == [
        AuditFinding("t1", None, "source_meta", "github_token", fingerprint(C["github_token"], KEY)),
        AuditFinding("t1", 1, "text", "openai_api_key", fingerprint(C["openai_api_key"], KEY)),
        AuditFinding("t1", 2, "reasoning", "stripe_key", fingerprint(C["stripe_key"], KEY)),
        AuditFinding(
            "t1", 2, "tool_arguments", "huggingface_token", fingerprint(C["huggingface_token"], KEY)
        ),
        AuditFinding("t1", 3, "data", "aws_access_key_id", fingerprint(C["aws_access_key_id"], KEY)),
    ]
    assert not any(value in repr(findings) for value in C.values())


def corpus_findings(path: Path) -> tuple[int, Counter]:
    with open_connection() as con:
        rows = con.sql(f"SELECT * FROM traces({string_literal(str(path))})").to_arrow_table().to_pylist()
    return len(rows), Counter(f.kind for row in rows for f in trace_findings(row, KEY))


@needs_corpus
def test_the_shared_corpus_holds_no_credential():
    """docs/secrets-audit.md: every candidate the rules meet in ../shared/corpus is a
    placeholder, code or prose; none is a credential."""
    rows, kinds = corpus_findings(CORPUS)
    assert rows > 80
    assert kinds == Counter()


@pytest.mark.parametrize("folder", ["examples/traces", "tests/fixtures"])
def test_the_bundled_traces_hold_no_credential(folder: str):
    rows, kinds = corpus_findings(REPO / folder)
    assert rows > 0
    assert kinds == Counter()
