"""Validation of the named options of the model (mask, code, query, loss)."""

from __future__ import annotations


def check_option(kind: str, value, allowed: tuple[str, ...]):
    """Return ``value`` if it is one of ``allowed``; else ``ValueError("unknown {kind} …")``."""
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; allowed: {', '.join(allowed)}")
    return value
