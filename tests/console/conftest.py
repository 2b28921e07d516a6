"""Helpers for console tests: a terminal of a given width (rich's own environment
variables), and the visible lines of what was drawn on it."""

from __future__ import annotations

import re

import pytest

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch):
    """terminal(width): make rich see an interactive terminal of `width` columns."""

    def make(width: int) -> None:
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        monkeypatch.setenv("TTY_INTERACTIVE", "1")
        monkeypatch.setenv("COLUMNS", str(width))
        monkeypatch.delenv("CI", raising=False)
        monkeypatch.delenv("NO_COLOR", raising=False)
        monkeypatch.delenv("FORCE_COLOR", raising=False)

    return make


@pytest.fixture
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TTY_COMPATIBLE", "TTY_INTERACTIVE", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def visible_lines(text: str) -> list[str]:
    """What each drawn line shows: escape sequences removed, split at newlines and at the
    carriage returns a redraw starts with."""
    return [line for line in re.split(r"[\r\n]", ESCAPE.sub("", text)) if line]
