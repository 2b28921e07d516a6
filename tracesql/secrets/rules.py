"""The credential rules: one anchored pattern per kind, and what a placeholder looks like.

Learned from gitleaks' rule files, detect-secrets' keyword plugin and trufflehog's
detectors (prefixes, lengths, their test vectors), without their entropy and keyword
scanning: every pattern here starts at a literal anchor (a vendor prefix, `-----BEGIN`,
`://`, `Bearer`, or a secret-looking name followed by `=` or `:`), so text that only
looks random (git SHAs, UUIDs, content hashes, base64 images) is never a candidate.

A rule's `value` group is what gets replaced (for assignments, URL passwords and
Authorization headers: the value, not the name); a rule without one replaces the whole
match. Matches whose value is a placeholder (`sk-...`, `xxx`, `<your key>`,
`your_key_here`, `${TOKEN}`, `123456:ABC-DEF...`) are not findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    kind: str  # the placeholder's type: [REDACTED:<kind>]
    pattern: str  # RE2 syntax; the group named `v` is the secret (what gets replaced)


# RE2 has no lookaround: a token's boundaries are matched (a character or the text's
# edge) and left outside the `v` group. `core()` drops them (see PREFILTER).
_START = r"(?:^|[^A-Za-z0-9_])"
_END = r"(?:$|[^A-Za-z0-9_-])"
_BEFORE = r"(?P<before>^|(?s:.))"  # the character before a secret word (`bypass` is no name)

# Vendor tokens: a fixed prefix, a charset and a length. Listed before the context rules,
# so an assignment whose value is one of these reports the vendor's kind.
TOKEN_RULES: tuple[Rule, ...] = (
    Rule(
        "private_key",
        # The whole block, BEGIN to END; a block cut short (`head id_rsa`): its lines of
        # base64 (and `Proc-Type: ...` headers), up to the first other line. Literal `\\n`
        # escapes (JSON text) count as line breaks.
        r"(?P<v>-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----(?P<body>"
        r"(?s:.*?)-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"|(?:(?:\r?\n|(?:\\r)?\\n)(?:[A-Za-z-]+: [^\r\n\\]*|[A-Za-z0-9+/=]*))+))",
    ),
    Rule(
        "aws_access_key_id",
        _START + r"(?P<v>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})(?:$|[^A-Za-z0-9])",
    ),
    Rule(
        "aws_secret_access_key",
        r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?\s*(?:=>|[:=]|\s)\s*[\"']?"
        r"(?P<v>[A-Za-z0-9/+]{40})(?:$|[^A-Za-z0-9/+])",
    ),
    Rule(
        "github_token",
        _START + r"(?P<v>gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})" + _END,
    ),
    Rule("anthropic_api_key", _START + r"(?P<v>sk-ant-[a-z]{2,8}[0-9]{2}-[A-Za-z0-9_-]{32,})" + _END),
    Rule("openrouter_api_key", _START + r"(?P<v>sk-or-v1-[a-f0-9]{64})" + _END),
    Rule(
        "openai_api_key",
        # project, service-account and admin keys; legacy keys (48 alphanumerics, or the
        # T3BlbkFJ marker); other `sk-` keys of 32+ alphanumerics (DeepSeek and the like).
        # Dash-free except after the typed prefixes, so slugs like `sk-learn-...` never match.
        _START
        + r"(?P<v>sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"
        r"|[A-Za-z0-9]{32,}))" + _END,
    ),
    Rule("nvidia_api_key", _START + r"(?P<v>nvapi-[A-Za-z0-9_-]{40,})" + _END),
    Rule("huggingface_token", _START + r"(?P<v>(?:hf_|api_org_)[A-Za-z0-9]{34})(?:$|[^A-Za-z0-9_])"),
    Rule("google_api_key", _START + r"(?P<v>AIza[0-9A-Za-z_-]{35})" + _END),
    Rule(
        "slack_token",
        _START + r"(?P<v>xox[abposer]-(?:[0-9]+-)?[0-9A-Za-z-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{20,})" + _END,
    ),
    Rule(
        "slack_webhook",
        r"(?P<v>hooks\.slack\.com/(?:services|workflows)/T[A-Z0-9]+/[A-Z0-9]+/[A-Za-z0-9]{16,})",
    ),
    Rule("stripe_key", _START + r"(?P<v>(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,})" + _END),
    Rule(
        "jwt",
        _START + r"(?P<v>eyJ[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})" + _END,
    ),
)

# Secrets known by their context: the value of a secret-looking name, a URL's password,
# an Authorization header. The name is kept; only the value is replaced.
_NAME = r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?key|private[_-]?key|credentials?)"
_QUOTE = r"\\?[\"']"
CONTEXT_RULES: tuple[Rule, ...] = (
    Rule(
        "url_password",
        # scheme://user:PASSWORD@host (git remotes with tokens, database URLs)
        r"://[^\s/:@\"'<>\\]*:(?P<v>[^\s/@\"'<>\\]+)@[A-Za-z0-9\[]",
    ),
    Rule(
        "bearer_token",
        "(?i:" + _START + r"bearer\s+|authorization[\"']?\s*[:=]\s*[\"']?(?:token|basic)\s+)"
        r"(?P<v>[A-Za-z0-9._~+/-]{12,}=*)(?:$|[^A-Za-z0-9._~+/=-])",
    ),
    Rule(
        "assignment",
        # NAME=value, NAME: value, "name": "value", name = 'value', export NAME=value,
        # where NAME ends in a secret word (DB_PASSWORD, client_secret, GITHUB_TOKEN,
        # OPENAI_API_KEY, secretKey...). The kind comes from the name (see assignment_kind).
        _BEFORE + r"(?P<name>(?i:" + _NAME + r"(?:[_-]?key)?))" + _QUOTE + r"?\s*(?:=>|:=|[:=])\s*"
        r"(?:" + _QUOTE + r"(?P<quoted>[^\s\"'\\]{3,})" + _QUOTE + r"|(?P<v>[^\s\"'`\\]{3,}))",
    ),
)

RULES: tuple[Rule, ...] = TOKEN_RULES + CONTEXT_RULES


def core(pattern: str) -> str:
    """A rule's pattern without its boundary conditions: it matches wherever the rule
    does, and also where the text's edges were (many texts scanned as one, joined)."""
    return _EDGE.sub("", pattern.replace(_BEFORE, ""))


_EDGE = re.compile(r"\(\?:[$^]\|\[\^[^\]]*\]\)")  # (?:^|[^...]) and (?:$|[^...])

# The rules without their boundary conditions or groups: where many texts are scanned as
# one (joined), every text holding a finding overlaps a match of this.
PREFILTER = "|".join(re.sub(r"\(\?P<\w+>", "(?:", core(rule.pattern)) for rule in RULES)


def assignment_kind(name: str) -> str:
    """password, secret, token or api_key, from the secret word that ends the name."""
    lowered = name.lower()
    if lowered.startswith(("pass", "pwd")):
        return "password"
    if lowered.startswith("secret"):
        return "secret"
    if lowered.startswith("token"):
        return "token"
    return "api_key"


# --- placeholders -------------------------------------------------------------------

_PLACEHOLDER = re.compile(
    r"(?i)\.\.\.|\u2026|x{4,}|\*{3,}|#{4,}|0{8,}|<|>|\{\{|\$\{|%\(|your[_-]?|example|placeholder|"
    r"changeme|change[_-]me|dummy|redacted|replace[_-]?me|insert[_-]|todo|fixme|sample|"
    r"1234567890|abcdefgh|abc123|test[_-]?(?:key|token|secret|password)|fake[_-]?"
)
_REFERENCE = re.compile(r"[$%{\[(<]|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_DOTTED = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)+[,;]?$")
_NOT_SECRETS = frozenset(
    [
        "true",
        "false",
        "null",
        "none",
        "nil",
        "undefined",
        "nan",
        "str",
        "string",
        "int",
        "bool",
        "boolean",
        "bytes",
        "number",
        "any",
        "object",
        "optional",
        "required",
        "env",
        "environ",
        "secret",
        "secrets",
        "password",
        "passwd",
        "token",
        "tokens",
        "key",
        "apikey",
        "api_key",
        "value",
        "default",
        "empty",
        "hidden",
        "masked",
        "unset",
        "omitted",
    ]
)
_TRAILING = ",;)]}>.:"


def is_placeholder(value: str) -> bool:
    """Whether a matched value is an obvious stand-in rather than a credential."""
    return bool(_PLACEHOLDER.search(value)) or len(set(value)) <= 3


def assignment_value_is_secret(value: str, name: str, quoted: bool) -> bool:
    """Whether the value of NAME=value is a credential, not code, a reference or a stand-in.

    Quoted values and values of UPPER_CASE names (env dumps, .env files, shell history)
    count when they are not placeholders or references. An unquoted value of a lowercase
    name (code: `token = get_token()`, `password: str`, `api_key=api_key`) must also hold
    a digit and not be a dotted identifier or a plain word.
    """
    if len(value) < 3 or value.lower() in _NOT_SECRETS or value.isdigit():
        return False
    if is_placeholder(value) or _REFERENCE.match(value):
        return False
    if quoted or name.isupper():
        return True
    # code: `token = get_token()`, `password: str`, `api_key=api_key`, `key: config.api_key`
    return (
        len(value) >= 6
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and "(" not in value
        and not _DOTTED.match(value)
    )


def context_value_is_secret(value: str) -> bool:
    """Whether a URL password or an Authorization header's value is a credential."""
    return value.lower() not in _NOT_SECRETS and not is_placeholder(value) and not _REFERENCE.match(value)


def trim_value(value: str) -> str:
    """An unquoted value without the punctuation that closes the code around it."""
    return value.rstrip(_TRAILING)


PEM_BODY = re.compile(r"[A-Za-z0-9+/]{40}")
