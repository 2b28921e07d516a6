"""Secrets never leave the machine: finding credentials, redacting and anonymizing text.

redact(text)            credentials -> [REDACTED:<kind>]
find_secrets(text)      what redact() replaces, with kinds and offsets
anonymize(text, key)    e-mails, home-folder user names, IP addresses -> keyed placeholders
fingerprint(value, key) a short keyed hash of a value, for audits (never the value)
"""

from tracesql.secrets.detector import PATTERN, PREFILTER, Finding, find_secrets, placeholder, redact

__all__ = ["PATTERN", "PREFILTER", "Finding", "find_secrets", "placeholder", "redact"]
