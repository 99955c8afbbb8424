"""Validation of the named options of the model (mask, code, query, loss, precision)."""

from __future__ import annotations

import jax.numpy as jnp

PRECISIONS = {"float64": jnp.float64, "float32": jnp.float32}
"""The dtypes the solvers and trainers run in, by name."""


def check_option(kind: str, value, allowed: tuple[str, ...]):
    """Return ``value`` if it is one of ``allowed``; else ``ValueError("unknown {kind} …")``."""
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; allowed: {', '.join(allowed)}")
    return value


def check_precision(precision: str):
    """The JAX dtype of ``"float64"`` or ``"float32"``; ``ValueError`` otherwise."""
    return PRECISIONS[check_option("precision", precision, tuple(PRECISIONS))]
