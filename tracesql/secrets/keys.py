"""The project's secret salt, and the keyed hashes made with it.

    key = project_key(Path("target"))        # target/secrets.salt, created 0600 on first use
    fingerprint("hunter2", key)              # 'c1f0a9d23b7e': names a value in an audit
    keyed_tag("alice@example.com", key, "email")  # 'EMAIL:5d41c0ab': same input, same tag

An HMAC with a per-project random salt, so a short password cannot be recovered from
its fingerprint by hashing guesses (without the salt file), while the same value always
gets the same fingerprint or placeholder within a project (a dataset and its splits).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from tracesql.errors import ConfigError

SALT_FILE = "secrets.salt"
_SALT_BYTES = 32


def project_key(target_dir: Path) -> bytes:
    """The salt in `target_dir/secrets.salt`, created (mode 0600, never replaced) if missing."""
    path = Path(target_dir) / SALT_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(_SALT_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(salt + "\n")
    return bytes.fromhex(salt)


def _read(path: Path) -> bytes:
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ConfigError(
            "not a tracesql salt (64 hex digits expected); delete it to make a new one "
            "(fingerprints and anonymized placeholders will then change)",
            path=str(path),
        )
    return key


def fingerprint(value: str, key: bytes) -> str:
    """A short keyed hash of `value` (12 hex digits): equal values, equal fingerprints."""
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:12]


def keyed_tag(value: str, key: bytes, kind: str) -> str:
    """`KIND:xxxxxxxx`, keyed by the value and its kind (an e-mail and a user name that are
    the same text still get different tags)."""
    digest = hmac.new(key, f"{kind}\0{value}".encode("utf-8", "surrogatepass"), hashlib.sha256)
    return f"{kind.upper()}:{digest.hexdigest()[:8]}"
