"""The detector finds every kind the issue lists, in every context, and leaves look-alikes
and placeholders alone."""

from __future__ import annotations

import json

import duckdb
import pytest

from tests.secrets.vectors import credentials, kind_of, leaks, look_alikes
from tracesql.secrets import PATTERN, PREFILTER, find_secrets, redact
from tracesql.secrets.detector import candidate_spans
from tracesql.sqltext import string_literal

CREDENTIALS = credentials()
CASES = [(name, text) for name, value in CREDENTIALS.items() for text in leaks(name, value)]


def secret_fragments(name: str) -> list[str]:
    """Parts of a planted value that must not survive (each line of a key block)."""
    value = CREDENTIALS[name]
    if name.startswith("private_key"):
        return [line for line in value.splitlines()[1:-1] if len(line) >= 16]
    return [value]


@pytest.mark.parametrize(("name", "text"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_every_kind_is_found_and_replaced_by_its_typed_placeholder(name: str, text: str):
    redacted = redact(text)
    for fragment in secret_fragments(name):
        assert fragment[:60] not in redacted
    assert f"[REDACTED:{kind_of(name)}]" in redacted
    assert [f.kind for f in find_secrets(text)] == [kind_of(name)]


@pytest.mark.parametrize(("name", "text"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_also_inside_json_encoded_text(name: str, text: str):
    """Tool-call arguments and block data are JSON text: newlines are `\\n`, quotes `\\"`."""
    encoded = json.dumps({"command": text, "cwd": "/tmp"})
    redacted = redact(encoded)
    for fragment in secret_fragments(name):
        assert fragment[:60] not in redacted
    assert json.loads(redacted)["cwd"] == "/tmp"  # still JSON


@pytest.mark.parametrize("text", look_alikes(), ids=lambda t: t[:40])
def test_look_alikes_and_placeholders_are_untouched(text: str):
    assert find_secrets(text) == []
    assert redact(text) == text
    assert redact(json.dumps(text)) == json.dumps(text)


def test_the_rest_of_the_text_is_kept_and_offsets_are_characters():
    token = CREDENTIALS["github_token"]
    text = f"héllo → GITHUB_TOKEN={token} and ünïcode after"
    (finding,) = find_secrets(text)
    assert text[finding.start : finding.end] == token == finding.value
    assert redact(text) == "héllo → GITHUB_TOKEN=[REDACTED:github_token] and ünïcode after"


def test_adjacent_secrets_are_each_found():
    a, b = CREDENTIALS["github_token"], CREDENTIALS["stripe_key"]
    assert redact(f"{a},{b} {a}") == "[REDACTED:github_token],[REDACTED:stripe_key] [REDACTED:github_token]"


def test_redaction_is_idempotent():
    for _name, text in CASES:
        once = redact(text)
        assert redact(once) == once


def test_a_rejected_candidate_does_not_hide_a_secret_inside_it():
    token = CREDENTIALS["github_token"]
    text = f"token = get_token({token})"  # the assignment is code, the argument a token
    assert redact(text) == "token = get_token([REDACTED:github_token])"


def test_the_prefilter_catches_every_finding_in_python_and_in_duckdb():
    """PREFILTER (the rules without their boundary conditions) is what scans many texts
    at once; every text with a finding must match it, in both RE2s."""
    texts = [text for _name, text in CASES]
    assert all(candidate_spans(t.encode()) for t in texts)
    con = duckdb.connect()
    matched = con.execute(
        f"SELECT list_bool_and(list_transform(?, lambda t: regexp_matches(t, {string_literal(PREFILTER)})))",
        [texts],
    ).fetchone()
    assert matched == (True,)
    # the full pattern is valid RE2 for DuckDB too
    assert con.execute(f"SELECT regexp_matches('x', {string_literal(PATTERN)})").fetchone() == (False,)


def image_block(payload: str) -> str:
    return json.dumps(
        {"source": {"data": payload, "media_type": "image/png", "type": "base64"}, "type": "image"}
    )


def test_base64_image_payloads_are_stepped_over_and_what_follows_is_scanned():
    """A chance key shape inside pixels is not a credential; text after the image is scanned."""
    aws = CREDENTIALS["aws_access_key_id"]
    payload = "iVBORw0KGgo" + "A" * 2000 + "+" + aws + "/" + "B" * 2000
    assert find_secrets(f"+{aws}/") != []  # the shape alone is found...
    assert find_secrets(image_block(payload)) == []  # ...not inside an image
    after = image_block(payload) + f" then GITHUB_TOKEN={CREDENTIALS['github_token']}"
    assert [f.kind for f in find_secrets(after)] == ["github_token"]
    data_url = f'<img src="data:image/png;base64,{payload}"> key {CREDENTIALS["stripe_key"]}'
    assert [f.kind for f in find_secrets(data_url)] == ["stripe_key"]


def test_data_that_does_not_say_it_is_an_image_is_scanned():
    aws = CREDENTIALS["aws_access_key_id"]
    payload = "A" * 2000 + "+" + aws + "/" + "B" * 10
    for text in (
        json.dumps({"data": payload, "type": "blob"}),  # not declared an image
        image_block("A" * 100 + "+" + aws + "/"),  # under 1 KB: scanned
        json.dumps({"source": {"data": payload, "media_type": "text/plain", "type": "base64"}}),
    ):
        assert [f.kind for f in find_secrets(text)] == ["aws_access_key_id"], text[-80:]
