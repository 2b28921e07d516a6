"""Token prices and the other usage settings: the bundled, dated price table (prices.yml),
what profiles.yml's `usage:` section overrides or adds, and the time zone of day
boundaries. The usage SQL (compile/macros/usage.sql) gets them through two Jinja globals,
`usage_prices()` and `usage_timezone()`.
"""

from __future__ import annotations

import contextlib
import os
from functools import cache
from pathlib import Path
from typing import Any

from tracesql.errors import ConfigError
from tracesql.project.settings import (
    Price,
    PriceTable,
    UsageSettings,
    check_timezone,
    load_yaml_mapping,
    validate,
)

BUNDLED = Path(__file__).with_name("prices.yml")
PRICE_COLUMNS = ("input", "output", "cache_write", "cache_read")


@cache
def bundled_prices() -> PriceTable:
    """The price table tracesql ships (validated; a broken file is a ConfigError naming it)."""
    data = load_yaml_mapping(BUNDLED, BUNDLED.read_text(encoding="utf-8"), ConfigError, "must be a mapping")
    table: PriceTable = validate(PriceTable, data, BUNDLED)
    return table


def price_rows(settings: UsageSettings | None) -> list[dict[str, Any]]:
    """Every price as a row for SQL: the bundled ones, then profiles.yml's, which win for
    the models they name (`priority` 1 over 0), whatever their dates."""
    table = bundled_prices()
    rows = _rows(table.prices, 0, f"tracesql {table.as_of}")
    if settings is not None:
        rows += _rows(settings.prices, 1, "profiles.yml")
    return rows


def _rows(prices: dict[str, Price | list[Price]], priority: int, source: str) -> list[dict[str, Any]]:
    rows = []
    for model, value in prices.items():
        for price in value if isinstance(value, list) else [value]:
            row: dict[str, Any] = {"model": model, "valid_from": price.valid_from}
            long = price.long_context
            for column in PRICE_COLUMNS:
                row[column] = getattr(price, column)
                row[f"long_context_{column}"] = getattr(long, column) if long else None
            row["long_context_above"] = long.above if long else None
            row["priority"] = priority
            row["source"] = source
            rows.append(row)
    return rows


def local_timezone() -> str:
    """This machine's IANA time zone: $TZ, else what /etc/localtime links to, else
    /etc/timezone, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    target = os.path.realpath("/etc/localtime")
    if "/zoneinfo/" in target:
        candidates.append(target.split("/zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for name in candidates:
        if name:
            try:
                return check_timezone(name)
            except ValueError:
                continue
    return "UTC"


def usage_jinja_globals(settings: UsageSettings | None, timezone: str | None = None) -> dict[str, Any]:
    """`usage_prices()` and `usage_timezone()` for the usage macros; `timezone` (a
    command's --timezone) wins over profiles.yml's, which wins over the machine's."""
    zone = timezone or (settings.timezone if settings else None) or local_timezone()

    def usage_prices() -> list[dict[str, Any]]:
        """The price table (bundled, then profiles.yml's), one row per model and date."""
        return price_rows(settings)

    def usage_timezone() -> str:
        """The time zone that decides which day (month, block) a response falls on."""
        return zone

    return {"usage_prices": usage_prices, "usage_timezone": usage_timezone}
