"""`tracesql debug`: does each configured LLM model alias answer?

    checks = check_aliases(profile.llm, probe=False)    # one AliasCheck per model alias

For each alias it says whether the provider is reachable, whether the key is accepted and
whether the model is known: "yes", "no" or "not verified". Listing the provider's models
(`GET /models`, one request per provider) proves the server answers; it does not prove a
key (many providers list models to anyone) nor a model everywhere (a gateway may list a
subset), so a listing alone leaves those "not verified" unless it refuses the key or lists
the model. `probe=True` settles them with a 1-token completion per alias. An alias whose
key variable is unset gets no request at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tracesql.llm.config import LLMConfig, ProviderConfig

YES, NO, UNKNOWN = "yes", "no", "not verified"
TIMEOUT = 10.0  # seconds per request


@dataclass
class AliasCheck:
    alias: str
    provider: str
    model: str
    reachable: str = UNKNOWN
    authenticated: str = UNKNOWN
    model_known: str = UNKNOWN
    note: str = ""

    def row(self) -> tuple[str, ...]:
        return (
            self.alias,
            f"{self.provider}/{self.model}",
            self.reachable,
            self.authenticated,
            self.model_known,
            self.note,
        )

    @property
    def failed(self) -> bool:
        return NO in (self.reachable, self.authenticated, self.model_known)


COLUMNS = ["alias", "model", "reachable", "authenticated", "model known", "note"]


@dataclass
class _Listing:
    status: int | None  # None: no answer
    models: set[str]
    error: str = ""


def check_aliases(llm: LLMConfig, *, probe: bool = False, timeout: float = TIMEOUT) -> list[AliasCheck]:
    """One check per model alias of the profile (the provider's model list fetched once)."""
    listings: dict[str, _Listing] = {}
    checks = []
    for alias, model in sorted(llm.models.items()):
        provider = llm.providers[model.provider]
        check = AliasCheck(alias, model.provider, model.model)
        checks.append(check)
        key = _key(provider)
        if key is None:
            check.note = f"{provider.api_key_env} is not set: nothing was sent"
            continue
        if model.provider not in listings:
            listings[model.provider] = _list_models(provider, key, timeout)
        _judge_listing(check, listings[model.provider])
        if probe and check.reachable != NO:
            _probe(check, provider, key, timeout)
    return checks


def _key(provider: ProviderConfig) -> str | None:
    """The key to send ("none" when the provider needs none), or None when its variable is unset."""
    if not provider.api_key_env:
        return "none"
    value = (os.environ.get(provider.api_key_env) or "").strip()
    return value or None


def _client(provider: ProviderConfig, key: str, timeout: float) -> Any:
    import openai

    return openai.OpenAI(
        base_url=provider.base_url,
        api_key=key,
        max_retries=0,
        timeout=timeout,
        default_headers=provider.extra_headers or None,
    )


def _list_models(provider: ProviderConfig, key: str, timeout: float) -> _Listing:
    import openai

    try:
        page = _client(provider, key, timeout).models.list()
        return _Listing(200, {m.id for m in page.data})
    except openai.APIStatusError as exc:
        return _Listing(exc.status_code, set(), _message(exc))
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        return _Listing(None, set(), f"{type(exc).__name__}: {exc}")
    except openai.OpenAIError as exc:  # an answer that is not a model list
        return _Listing(200, set(), f"the model list could not be read ({exc})")


def _judge_listing(check: AliasCheck, listing: _Listing) -> None:
    if listing.status is None:
        check.reachable, check.note = NO, f"no answer from the provider: {listing.error}"
        return
    check.reachable = YES
    if listing.status in (401, 403):
        check.authenticated, check.note = NO, f"the key was refused ({listing.status}: {listing.error})"
    elif listing.status != 200:
        check.note = f"GET /models answered {listing.status}; --probe sends a 1-token completion"
    elif check.model in listing.models:
        check.model_known = YES
        check.note = "listed; --probe checks the key"
    else:
        count = len(listing.models)
        check.note = f"not among the {count} listed model{'s' * (count != 1)}; --probe settles it"


def _probe(check: AliasCheck, provider: ProviderConfig, key: str, timeout: float) -> None:
    """A 1-token completion: its answer settles the key and the model."""
    import openai

    try:
        _client(provider, key, timeout).chat.completions.create(
            model=check.model, messages=[{"role": "user", "content": "ping"}], max_tokens=1
        )
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        check.reachable, check.authenticated = YES, NO
        check.note = f"probe: the key was refused ({exc.status_code}: {_message(exc)})"
    except openai.NotFoundError as exc:
        check.reachable, check.authenticated, check.model_known = YES, YES, NO
        check.note = f"probe: the model is unknown ({_message(exc)})"
    except openai.APIStatusError as exc:
        check.reachable = YES
        check.note = f"probe: {exc.status_code} {_message(exc)}"
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        check.reachable, check.note = NO, f"probe: no answer ({type(exc).__name__})"
    else:
        check.reachable = check.authenticated = check.model_known = YES
        check.note = "probe: a 1-token completion answered"


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:200]
    return str(getattr(exc, "message", exc))[:200]
