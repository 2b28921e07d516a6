"""Generated test vectors: a credential of every kind, the contexts agents leak them in,
and the benign look-alikes and placeholders that must come through untouched.

Values are made from a seeded random generator in the shapes gitleaks, detect-secrets and
trufflehog document (prefix, charset, length); none is a real credential.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
B64 = ALNUM + "+/"


def _pick(rng: random.Random, chars: str, n: int) -> str:
    return "".join(rng.choice(chars) for _ in range(n))


def _pem(rng: random.Random, label: str, lines: int = 6) -> str:
    body = "\n".join(_pick(rng, B64, 64) for _ in range(lines))
    return f"-----BEGIN {label}-----\n{body}\n{_pick(rng, B64, 20)}==\n-----END {label}-----"


def _jwt(rng: random.Random) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = {"sub": str(rng.randrange(10**9)), "name": "Jane Doe", "iat": 1516239022}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{_pick(rng, URLSAFE, 43)}"


def credentials(seed: int = 0) -> dict[str, str]:
    """One made-up credential per kind, keyed by the placeholder type it must get."""
    rng = random.Random(seed)
    return {
        "aws_access_key_id": "AKIA" + _pick(rng, string.ascii_uppercase + "234567", 16),
        "aws_secret_access_key": _pick(rng, B64, 40),
        "github_token": "ghp_" + _pick(rng, ALNUM, 36),
        "github_token_fine_grained": "github_pat_" + _pick(rng, ALNUM, 22) + "_" + _pick(rng, ALNUM, 59),
        "openai_api_key": "sk-proj-" + _pick(rng, URLSAFE, 74) + "T3BlbkFJ" + _pick(rng, URLSAFE, 74),
        "openai_api_key_legacy": "sk-" + _pick(rng, ALNUM, 20) + "T3BlbkFJ" + _pick(rng, ALNUM, 20),
        "anthropic_api_key": "sk-ant-api03-" + _pick(rng, URLSAFE, 93) + "AA",
        "nvidia_api_key": "nvapi-" + _pick(rng, URLSAFE, 64),
        "huggingface_token": "hf_" + _pick(rng, string.ascii_letters, 34),
        "google_api_key": "AIza" + _pick(rng, URLSAFE, 35),
        "slack_token": f"xoxb-{rng.randrange(10**12):012d}-{rng.randrange(10**12):012d}-{_pick(rng, ALNUM, 24)}",
        "stripe_key": "sk_live_" + _pick(rng, ALNUM, 24),
        "jwt": _jwt(rng),
        "private_key": _pem(rng, "OPENSSH PRIVATE KEY"),
        "private_key_rsa": _pem(rng, "RSA PRIVATE KEY"),
        "url_password": "p4ss-" + _pick(rng, ALNUM, 12),
        "password": "Tr0ub4dor&" + _pick(rng, ALNUM, 6),
        "secret": _pick(rng, ALNUM, 32),
        "token": _pick(rng, ALNUM, 28),
        "api_key": _pick(rng, ALNUM, 40),
        "bearer_token": _pick(rng, URLSAFE, 40),
    }


def kind_of(name: str) -> str:
    """The placeholder type of a credentials() entry."""
    return {
        "github_token_fine_grained": "github_token",
        "openai_api_key_legacy": "openai_api_key",
        "private_key_rsa": "private_key",
    }.get(name, name)


def leaks(name: str, value: str) -> list[str]:
    """Texts an agent trace carries this credential in: env dumps, shell commands, config
    files, JSON, prose. Each holds `value` once."""
    if name == "aws_secret_access_key":
        return [
            f"aws_secret_access_key = {value}\n",
            f'{{"Credentials": {{"AccessKeyId": "ASIA...", "SecretAccessKey": "{value}"}}}}',
            f"export AWS_SECRET_ACCESS_KEY={value}",
            f"$ aws configure set aws_secret_access_key {value}",
        ]
    if name == "url_password":
        return [
            f"origin\thttps://alice:{value}@github.com/acme/app.git (fetch)",
            f"DATABASE_URL=postgres://app:{value}@db.internal:5432/prod",
            f"mongodb+srv://admin:{value}@cluster0.mongodb.net/?retryWrites=true",
        ]
    if name in ("password", "secret", "token", "api_key"):
        upper = {
            "password": "DB_PASSWORD",
            "secret": "CLIENT_SECRET",
            "token": "SESSION_TOKEN",
            "api_key": "SERVICE_API_KEY",
        }[name]
        lower = {
            "password": "password",
            "secret": "client_secret",
            "token": "auth_token",
            "api_key": "apiKey",
        }[name]
        return [
            f"{upper}={value}\nPATH=/usr/bin",
            f"export {upper}='{value}' && ./deploy.sh",
            f'{{"{lower}": "{value}", "user": "svc"}}',
            f"{lower}: {value}\nhost: example.org",
            f'$ history | grep {upper}\n  512  {upper}="{value}" npm start',
        ]
    if name == "bearer_token":
        return [
            f'curl -H "Authorization: Bearer {value}" https://api.example.com/v1/me',
            f"Authorization: token {value}",
        ]
    if name.startswith("private_key"):
        return [
            f"$ cat ~/.ssh/id_rsa\n{value}\n$ ls",
            f"key file:\n{value}",
            f"$ head -4 key.pem\n{value[:200]}",
        ]
    env = {
        "aws_access_key_id": "AWS_ACCESS_KEY_ID",
        "github_token": "GITHUB_TOKEN",
        "github_token_fine_grained": "GH_TOKEN",
        "openai_api_key": "OPENAI_API_KEY",
        "openai_api_key_legacy": "OPENAI_KEY",
        "anthropic_api_key": "ANTHROPIC_API_KEY",
        "nvidia_api_key": "NVIDIA_API_KEY",
        "huggingface_token": "HF_TOKEN",
        "google_api_key": "GOOGLE_API_KEY",
        "slack_token": "SLACK_BOT_TOKEN",
        "stripe_key": "STRIPE_SECRET_KEY",
        "jwt": "ID_TOKEN",
    }[name]
    return [
        f"{env}={value}",
        f"Here is my key: {value} - can you check why the request fails?",
        f'client = Client(api_key="{value}")',
        f"https://x-access-token:{value}@github.com/acme/app.git" if name == "github_token" else f"({value})",
        f"`{value}`.",
    ]


def look_alikes(seed: int = 0) -> list[str]:
    """Text that only looks random, prose about credentials, and obvious placeholders."""
    rng = random.Random(seed)
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + rng.randbytes(30_000)).decode()
    sha1 = hashlib.sha1(rng.randbytes(8)).hexdigest()
    sha256 = hashlib.sha256(rng.randbytes(8)).hexdigest()
    return [
        f"commit {sha1}\nAuthor: A <a@example.com>",
        f"Merge {sha1[:7]} into main; see {sha1}",
        f"session {uuid.UUID(int=rng.getrandbits(128), version=4)} and tool_use_id toolu_01{_pick(rng, ALNUM, 22)}",
        f'"integrity": "sha512-{base64.b64encode(rng.randbytes(64)).decode()}"',
        f"docker pull app@sha256:{sha256}",
        f'{{"type": "image", "source": {{"type": "base64", "media_type": "image/png", "data": "{png}"}}}}',
        f'"signature": "{base64.b64encode(rng.randbytes(300)).decode()}"',
        "/Users/alice/src/secret-santa/src/token_counter.py:12: def count_tokens(text):",
        "Use a strong password: at least 12 characters, and never reuse it.",
        "Reset your password from the settings page; the token expires after an hour.",
        "The secret is to cache the access token until it expires.",
        "task-management, ask-for-help, risk-assessment, desk-booking",
        "Set OPENAI_API_KEY=sk-... in your shell, or pass --api-key xxx",
        "export ANTHROPIC_API_KEY=<your key>",
        "API_KEY=your_key_here",
        'api_key = "YOUR_API_KEY"',
        "TELEGRAM_BOT_TOKEN=123456:ABC-DEF\u2026",
        "TELEGRAM_BOT_TOKEN=123456:ABC-DEF...      # From @BotFather",
        "DISCORD_BOT_TOKEN=MTIz...",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "OPENAI_API_KEY=sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "password: str = None",
        "api_key: Optional[str] = None,",
        'api_key = os.environ["OPENAI_API_KEY"]',
        "const apiKey = await getApiKeyForModel(model);",
        "token = get_token()",
        "self.secret = secret",
        "password=${DB_PASSWORD}",
        "Authorization: Bearer $GITHUB_TOKEN",
        'curl -H "Authorization: Bearer ${TOKEN}" https://api.example.com',
        "postgres://user:password@localhost:5432/db",
        "https://user:${PASS}@example.com/",
        '"input_tokens": 1839, "max_tokens": 4096, "cache_read_input_tokens": 33381',
        '"password": True,  # Mask input',
        "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
        "Keys start with -----BEGIN OPENSSH PRIVATE KEY----- and end with -----END OPENSSH PRIVATE KEY-----.",
        "(sk-, sk-ant-, ghp_, github_pat_, xox*, AKIA, AIza, private keys) were found by a regex scan.",
        "This is the secret password: Trismegistus",
        "pip install scikit-learn sk-video; ask-ant-colony",
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "bypass = 'abc123def'",
    ]
