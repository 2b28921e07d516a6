"""Redacting Arrow columns: strings scanned in their buffers, nested types rebuilt, nothing
else touched."""

from __future__ import annotations

import pyarrow as pa

from tests.secrets.vectors import credentials, look_alikes
from tracesql.secrets import redact
from tracesql.secrets.columns import redact_array, redact_arrow

TOKEN = credentials()["github_token"]
KEY = credentials()["stripe_key"]


def test_each_string_is_redacted_as_redact_would_and_nulls_stay():
    texts = ["plain", None, f"GITHUB_TOKEN={TOKEN}", *look_alikes(), f"{KEY} end", ""]
    out = redact_array(pa.array(texts))
    assert out.to_pylist() == [None if t is None else redact(t) for t in texts]


def test_a_secret_at_a_value_edge_is_found_whatever_its_neighbours():
    """Values sit back to back in the buffer: a token at the start of a value follows the
    previous value's last character, with no separator in between."""
    texts = ["endsWithWord", f"{TOKEN}", "x", f"{KEY}", "startsWithWord"]
    assert redact_array(pa.array(texts)).to_pylist() == [
        "endsWithWord",
        "[REDACTED:github_token]",
        "x",
        "[REDACTED:stripe_key]",
        "startsWithWord",
    ]


def test_a_clean_array_comes_back_as_it_was():
    array = pa.array(look_alikes())
    assert redact_array(array) is array


def test_sliced_and_large_string_arrays():
    array = pa.array(["a", f"t {TOKEN}", "b", f"k {KEY}"], pa.large_string())
    sliced = array.slice(1, 2)
    assert redact_array(sliced).to_pylist() == ["t [REDACTED:github_token]", "b"]
    assert redact_array(array.slice(2)).to_pylist() == ["b", "k [REDACTED:stripe_key]"]


def test_nested_columns_keep_their_shape():
    message_type = pa.struct(
        [
            ("role", pa.string()),
            ("content", pa.list_(pa.struct([("type", pa.string()), ("text", pa.string())]))),
            ("count", pa.int32()),
        ]
    )
    messages = [
        [{"role": "user", "content": [{"type": "text", "text": f"use {TOKEN}"}], "count": 1}],
        None,
        [{"role": "assistant", "content": None, "count": 2}, None],
        [{"role": "tool", "content": [{"type": "text", "text": "fine"}, None], "count": 3}],
    ]
    array = pa.array(messages, pa.list_(message_type))
    out = redact_arrow(array)
    assert out.type == array.type
    expected = [
        [{"role": "user", "content": [{"type": "text", "text": "use [REDACTED:github_token]"}], "count": 1}],
        None,
        [{"role": "assistant", "content": None, "count": 2}, None],
        [{"role": "tool", "content": [{"type": "text", "text": "fine"}, None], "count": 3}],
    ]
    assert out.to_pylist() == expected
    assert redact_arrow(array.slice(1)).to_pylist() == expected[1:]
    chunked = pa.chunked_array([array.slice(0, 2), array.slice(2)])
    assert redact_arrow(chunked).to_pylist() == expected


def test_maps_and_other_types():
    array = pa.array([[("k", f"v {KEY}")], []], pa.map_(pa.string(), pa.string()))
    assert redact_arrow(array).to_pylist() == [[("k", "v [REDACTED:stripe_key]")], []]
    numbers = pa.array([1, 2, 3])
    assert redact_arrow(numbers) is numbers


def test_an_image_payload_left_open_at_a_value_end_does_not_hide_the_next_value():
    """Values are scanned joined: stepping over a payload stops at its own value's end."""
    unterminated = '{"source":{"media_type":"image/png","type":"base64","data":"' + "A" * 5000
    texts = [unterminated, f"GITHUB_TOKEN={TOKEN}", 'and then " a quote']
    assert redact_array(pa.array(texts)).to_pylist() == [
        unterminated,
        "GITHUB_TOKEN=[REDACTED:github_token]",
        'and then " a quote',
    ]
