"""The project salt: made once, private, reused; fingerprints are keyed and short."""

from __future__ import annotations

import stat

import pytest

from tracesql.errors import ConfigError
from tracesql.secrets.keys import SALT_FILE, fingerprint, keyed_tag, project_key


def test_the_salt_is_made_once_with_mode_0600_and_reused(tmp_path):
    target = tmp_path / "target"
    key = project_key(target)
    path = target / SALT_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert project_key(target) == key
    assert project_key(tmp_path / "other") != key


def test_a_damaged_salt_file_is_an_error_naming_it(tmp_path):
    (tmp_path / SALT_FILE).write_text("not hex\n")
    with pytest.raises(ConfigError) as caught:
        project_key(tmp_path)
    assert SALT_FILE in str(caught.value)


def test_fingerprints_depend_on_value_and_key_and_hide_the_value():
    key, other = b"a" * 32, b"b" * 32
    assert fingerprint("hunter2", key) == fingerprint("hunter2", key)
    assert fingerprint("hunter2", key) != fingerprint("hunter3", key)
    assert fingerprint("hunter2", key) != fingerprint("hunter2", other)
    assert len(fingerprint("hunter2", key)) == 12
    assert keyed_tag("bob", key, "user").startswith("USER:")
    assert keyed_tag("bob", key, "user") != keyed_tag("bob", key, "email")[len("EMAIL") :]
