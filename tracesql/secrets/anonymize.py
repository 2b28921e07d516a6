"""Opt-in anonymization for datasets meant to be published.

    anonymize("mail alice@corp.com from /Users/alice/src at 10.1.2.3", key)
      -> 'mail [EMAIL:5d41c0ab] from /Users/[USER:0c9b77e1]/src at [IP:73aa01fe]'

E-mail addresses, the user name in home-folder paths (`/Users/alice/`, `/home/bob/`,
`C:\\Users\\carol\\`, also JSON-escaped, and Claude Code's project folder names such as
`-Users-alice-src-app`), and IPv4/IPv6 addresses become keyed placeholders: an HMAC with
the project's salt, so the same input gives the same placeholder across a dataset and
its splits, and nobody without the salt can test a guess. Left alone: loopback and
unspecified addresses, `git@host` remotes, no-reply senders, and `name@2x.png` files.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

import re2

from tracesql.secrets import payloads
from tracesql.secrets.keys import keyed_tag

__all__ = ["PATTERN", "PREFILTER", "anonymize", "anonymize_bytes"]

_HEX4 = r"[0-9A-Fa-f]{1,4}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_SEP = r"(?:\\\\|\\|/)"  # a Windows path separator, JSON-escaped or not, or a slash
_EMAIL = r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
_HOME = (
    r"(?:/Users/|/home/|[A-Za-z]:" + _SEP + r"(?:Users|Documents and Settings)" + _SEP + r")"
    r"(?P<user>[^/\\\s\"'<>:|*?`]+)"
)
_FOLDER = r"-(?:Users|home)-(?P<folder_user>[A-Za-z0-9_.]+)-"  # Claude Code's -Users-alice-src-app
_IPV4 = r"(?P<ipv4>" + _OCTET + r"(?:\." + _OCTET + r"){3})"
_IPV6 = (
    r"(?P<ipv6>(?:"
    + _HEX4
    + r":){7}"
    + _HEX4
    + r"|(?:"
    + _HEX4
    + r":){1,6}:(?:"
    + _HEX4
    + r"(?::"
    + _HEX4
    + r"){0,5})?)"
)
PATTERN = "|".join(
    (
        _EMAIL,
        _HOME,
        r"(?:^|[/\\\s\"'=])" + _FOLDER,
        r"(?:^|[^0-9A-Za-z.])" + _IPV4 + r"(?:$|[^0-9.]|\.$|\.[^0-9])",
        r"(?:^|[^0-9A-Za-z:])" + _IPV6 + r"(?:$|[^0-9A-Za-z:])",
    )
)
# The same without boundary conditions or groups, to scan many texts joined (columns.py).
PREFILTER = re.sub(r"\(\?P<\w+>", "(?:", "|".join((_EMAIL, _HOME, _FOLDER, _IPV4, _IPV6)))
_COMPILED = re2.compile(f"(?P<image>{payloads.MARKER})|{PATTERN}")
_PREFILTER = re2.compile(f"({payloads.MARKER})|{PREFILTER}")
_IMAGE = _COMPILED.groupindex["image"]
_GROUPS = {name: _COMPILED.groupindex[name] for name in ("email", "user", "folder_user", "ipv4", "ipv6")}
_TAGS = {"email": "email", "user": "user", "folder_user": "user", "ipv4": "ip", "ipv6": "ip"}
_GENERIC_USERS = frozenset({"shared", "public", "default", "all users", "default user", "guest", "[user"})
_FILE_SUFFIXES = frozenset(
    [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "ico",
        "js",
        "mjs",
        "cjs",
        "ts",
        "tsx",
        "jsx",
        "py",
        "json",
        "css",
        "html",
        "md",
        "txt",
    ]
)
_ROBOT_SENDERS = ("noreply@", "no-reply@", "git@")


def _keep(kind: str, value: str) -> bool:
    """Whether a match is left as it is (not personal, or already a placeholder)."""
    if kind == "email":
        lowered = value.lower()
        return lowered.startswith(_ROBOT_SENDERS) or lowered.rsplit(".", 1)[-1] in _FILE_SUFFIXES
    if kind in ("user", "folder_user"):
        return value.lower() in _GENERIC_USERS or value.startswith("[")
    if kind == "ipv6" and (not any(c.isdigit() for c in value) or max(map(len, value.split(":"))) < 3):
        return True  # `a::b`, `dead::beef`: C++ names, not addresses
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return True
    return address.is_loopback or address.is_unspecified or str(address) == "255.255.255.255"


def anonymize(text: str, key: bytes) -> str:
    """`text` with e-mails, home-folder user names and IP addresses as keyed placeholders."""
    if not text:
        return text
    data = text.encode("utf-8", "surrogatepass")
    out = anonymize_bytes(data, key)
    return text if out is data else out.decode("utf-8", "surrogatepass")


def anonymize_bytes(data: bytes, key: bytes) -> bytes:
    """UTF-8 `data` anonymized (the same object back when nothing changes)."""
    parts: list[bytes] = []
    pos = done = 0
    while True:
        m = _COMPILED.search(data, pos)
        if m is None:
            break
        if m.start(_IMAGE) >= 0:
            pos = payloads.payload_end(data, *m.span()) or m.end()
            continue
        kind = next(k for k, g in _GROUPS.items() if m.start(g) >= 0)
        start, end = m.span(_GROUPS[kind])
        value = data[start:end].decode("utf-8", "surrogatepass")
        pos = end
        if _keep(kind, value):
            continue
        parts.append(data[done:start])
        parts.append(f"[{keyed_tag(value, key, _TAGS[kind])}]".encode())
        done = end
    if not parts:
        return data
    parts.append(data[done:])
    return b"".join(parts)


def spans(data: bytes | memoryview, end_of: Callable[[int], int] | None = None) -> list[tuple[int, int]]:
    """Where PREFILTER matches in `data` (many texts joined): a superset of what changes."""
    return payloads.prefilter_spans(_PREFILTER, data, end_of)
