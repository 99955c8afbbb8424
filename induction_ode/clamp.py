"""Clamps (Singh et al. 2024): hold parts of the circuit fixed while the rest trains.

Two kinds, combinable in one :class:`Clamp`:

- *values*: named pseudo-parameters are held at fixed values;
- *patterns*: attention patterns are replaced in the forward pass (``previous_token``,
  ``match``, ``copy``; see :func:`induction_ode.population_loss`).

A clamp acts from time ``t_on`` (default 0) to the end of the integration. Before ``t_on``
the system is the unclamped one.

Compiled programs take a clamp as data (:class:`ClampData`), so that the clamps of one
:func:`layout` share one program: the layout, not the clamp, is part of a program's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .loss import PATTERN_CLAMPS, check_patterns
from .subspace import N_PARAMS, PARAM_NAMES, param_index
from .validation import check


@dataclass(frozen=True)
class Clamp:
    """A clamp: ``values`` as ``((name, value), …)``, ``patterns`` names, from time ``t_on``."""

    values: tuple[tuple[str, float], ...] = ()
    patterns: tuple[str, ...] = ()
    t_on: float = 0.0

    def __post_init__(self):
        for name, value in self.values:
            param_index(name)
            if not np.isfinite(value):
                raise ValueError(f"clamp value for {name} must be finite, got {value}")
        check_patterns(self.patterns)
        check("t_on", self.t_on)

    @classmethod
    def make(cls, values: Mapping[str, float] | None = None, patterns=(), t_on: float = 0.0) -> Clamp:
        """Build a clamp from a ``{name: value}`` mapping and pattern names."""
        vals = tuple((str(k), float(v)) for k, v in (values or {}).items())
        pats = (patterns,) if isinstance(patterns, str) else tuple(patterns)
        return cls(vals, pats, float(t_on))

    @classmethod
    def parse(cls, spec: str, t_on: float = 0.0) -> Clamp:
        """Parse ``"match+copy"``, ``"alpha3=0+previous_token"`` or ``"none"`` (no clamp).

        Parts are joined by ``+``; each is a pattern name or ``name=value``.
        """
        values, patterns = {}, []
        for part in (p.strip() for p in spec.split("+")):
            if part in ("", "none"):
                continue
            if "=" in part:
                name, _, value = part.partition("=")
                try:
                    values[name.strip()] = float(value)
                except ValueError:
                    raise ValueError(f"clamp value in {part!r} is not a number") from None
            else:
                patterns.append(part)
        return cls.make(values, patterns, t_on)

    @property
    def empty(self) -> bool:
        """Whether the clamp holds nothing (the unclamped system)."""
        return not self.values and not self.patterns

    def value_mask(self) -> np.ndarray:
        """``(19,)`` bool: which pseudo-parameters are held."""
        mask = np.zeros(N_PARAMS, bool)
        for name, _ in self.values:
            mask[param_index(name)] = True
        return mask

    def value_vector(self) -> np.ndarray:
        """``(19,)`` the held values (0 where not held)."""
        vec = np.zeros(N_PARAMS)
        for name, value in self.values:
            vec[param_index(name)] = value
        return vec

    def data(self, dtype, strengths: bool | None = None) -> ClampData:
        """This clamp as arrays of ``dtype``. ``strengths``: whether to carry the pattern
        strengths (default: where the clamp names a pattern; ``True`` gives zeros otherwise)."""
        carry = bool(self.patterns) if strengths is None else strengths
        return ClampData(
            held=self.value_mask().astype(dtype),
            values=self.value_vector().astype(dtype),
            strengths=np.array([p in self.patterns for p in PATTERN_CLAMPS], dtype) if carry else None,
            t_on=np.asarray(self.t_on, dtype),
        )

    def label(self) -> str:
        """A short human-readable name, e.g. ``"match+copy"`` or ``"alpha3=0"``."""
        parts = list(self.patterns) + [f"{k}={v:g}" for k, v in self.values]
        text = "+".join(parts) or "none"
        return text if self.t_on == 0 or self.empty else f"{text} (t>={self.t_on:g})"


class ClampData(NamedTuple):
    """A clamp as arrays: the form in which compiled programs take it (a pytree of arrays).

    Attributes:
        held: ``(19,)`` 1 where a value clamp holds the pseudo-parameter, else 0.
        values: ``(19,)`` the held values (0 elsewhere).
        strengths: ``(3,)`` pattern strengths in ``PATTERN_CLAMPS`` order, or ``None``: no
            pattern clamp (the closed form then skips the patterns).
        t_on: ``()`` the time the clamp switches on.
    """

    held: np.ndarray
    values: np.ndarray
    strengths: np.ndarray | None
    t_on: np.ndarray


def layout(clamp: Clamp | None) -> str | None:
    """What a program needs to know of a clamp: ``None`` (unclamped), ``"values"`` (values
    only) or ``"patterns"`` (patterns, and maybe values)."""
    if clamp is None or clamp.empty:
        return None
    return "patterns" if clamp.patterns else "values"


def lane_data(clamp: Clamp | None, dtype) -> ClampData:
    """The clamp of one lane of a compiled program: every field an array (zeros for
    ``None``), whatever its layout; the program reads what its layout uses."""
    return (clamp or Clamp()).data(dtype, strengths=True)


def free_mask(free) -> np.ndarray:
    """``(19,)`` bool mask from a collection of pseudo-parameter names (``None``: all free)."""
    if free is None:
        return np.ones(N_PARAMS, bool)
    names = (free,) if isinstance(free, str) else tuple(free)
    if not names:
        raise ValueError(f"free must name at least one pseudo-parameter of {', '.join(PARAM_NAMES)}")
    mask = np.zeros(N_PARAMS, bool)
    for name in names:
        mask[param_index(name)] = True
    return mask
