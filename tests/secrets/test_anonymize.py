"""Anonymization: e-mails, home-folder user names and IP addresses become keyed
placeholders, the same for the same input, and different under another project's salt."""

from __future__ import annotations

import json
import re

from tracesql.secrets.anonymize import anonymize

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TAG = r"\[(?:EMAIL|USER|IP):[0-9a-f]{8}\]"


def test_each_kind_becomes_a_keyed_placeholder():
    text = (
        "alice.liddell@corp.example.com ran /Users/alice/src/app from 10.20.30.40 and 2001:db8::8a2e:370:7334"
    )
    out = anonymize(text, KEY)
    for private in ("alice", "liddell", "corp.example", "10.20.30.40", "2001:db8"):
        assert private not in out
    assert re.fullmatch(rf"{TAG} ran /Users/{TAG}/src/app from {TAG} and {TAG}", out), out


def test_home_folders_on_every_system_and_in_json():
    for text in (
        "/home/bob/.bashrc",
        "C:\\Users\\carol\\Desktop",
        "C:/Users/carol/x",
        "~/.claude/projects/-Users-dave-src-app/s.jsonl",
    ):
        out = anonymize(text, KEY)
        assert not re.search(r"bob|carol|dave", out), out
        assert re.search(r"\[USER:[0-9a-f]{8}\]", out)
    escaped = json.dumps({"cwd": "C:\\Users\\carol\\proj"})
    assert "carol" not in anonymize(escaped, KEY)
    assert json.loads(anonymize(escaped, KEY))["cwd"].startswith("C:\\Users\\[USER:")


def test_the_same_input_gets_the_same_placeholder_and_another_salt_another():
    first = anonymize("mail bob@example.org, then bob@example.org again; /home/bob", KEY)
    tags = re.findall(TAG, first)
    assert tags[0] == tags[1] != tags[2]  # same e-mail twice; the user name is another kind
    assert anonymize("bob@example.org", KEY) == tags[0]
    assert anonymize("bob@example.org", OTHER_KEY) != tags[0]


def test_what_is_not_personal_is_left_alone():
    for text in (
        "git@github.com:acme/app.git",
        "Co-Authored-By: Claude <noreply@anthropic.com>",
        "icon@2x.png and logo@3x.svg",
        "listen on 127.0.0.1:8080 or 0.0.0.0, loopback ::1",
        "version 1.2.3.4.5 and 256.1.1.1",
        "/Users/Shared/cache and /home/",
        "std::vector<int> and a::b",
        "user@localhost",
    ):
        assert anonymize(text, KEY) == text


def test_anonymizing_twice_changes_nothing_more():
    once = anonymize("bob@example.org /Users/bob/x 10.0.0.7", KEY)
    assert anonymize(once, KEY) == once
