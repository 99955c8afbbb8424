"""The allowed range of every numeric option: one table for the command line and the library.

A value outside its range is reported in one line that names the option, the value and the
range, before any compilation: ``ValueError`` from the library, ``Error: …`` and exit code 2
from the command line (which names options as ``--flag``). Nothing here imports JAX.
"""

from __future__ import annotations

import math
import operator
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """A closed or open interval of finite numbers, or of integers when ``integer``."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def text(self) -> str:
        """The range in words, e.g. ``"an integer >= 1"``, ``"a finite number in (0, 1)"``."""
        kind = "an integer" if self.integer else "a finite number"
        if math.isinf(self.high):
            return f"{kind} {'>' if self.low_open else '>='} {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{kind} in {left}{self.low:g}, {self.high:g}{right}"

    def admits(self, value) -> bool:
        """Whether the number ``value`` lies in the range (NaN and ±inf never do)."""
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


COUNT = Range(1, integer=True)
INDEX = Range(0, integer=True)
POSITIVE = Range(0, low_open=True)
TOLERANCE = Range(0, 1, low_open=True, high_open=True)
RTOL_MIN = 100 * sys.float_info.epsilon
"""The smallest relative tolerance, ``100 ε`` of float64 (2.2e-14): below it no step control can
meet the tolerance in float64 and the solve only spends its step budget (SciPy's ``solve_ivp``
raises a smaller ``rtol`` to this value)."""
FRACTION = Range(0, 1)

RULES: dict[str, Range] = {
    # the ODE (sweep, simulate, clamp, crosscheck; emergence_time, simulate, sweep, …)
    "n_pairs": COUNT,
    "n_min": COUNT,
    "n_max": COUNT,
    "num": Range(1, 1000, integer=True),
    "fit_last": Range(2, integer=True),
    "rtol": Range(RTOL_MIN, 1, high_open=True),
    "atol": TOLERANCE,
    "t_max": POSITIVE,
    "t_on": Range(0),
    "max_steps": COUNT,
    "group_size": COUNT,
    "num_processes": COUNT,
    "process_id": INDEX,
    "peer_timeout": COUNT,
    "chunks": COUNT,
    "n_points": Range(2, integer=True),
    "frames": Range(2, integer=True),
    "d": Range(2, integer=True),
    "batch": COUNT,
    "eval_batch": COUNT,
    "steps": COUNT,
    "lr": POSITIVE,
    "seed": INDEX,
    "record_every": COUNT,
    # the standard transformer (standard; induction_ode.standard)
    "heads": COUNT,
    "d_model": COUNT,
    "labels": COUNT,
    "seeds": COUNT,
    "eval_every": COUNT,
    "clamp_from": INDEX,
    "match_strength": FRACTION,
    # the ladder (ladder; induction_ode.ladder)
    "budget": POSITIVE,
    "records": COUNT,
    "standard_batch": COUNT,
    "standard_budget": COUNT,
    "width": Range(2, integer=True),
    # the n-gram model (ngram; induction_ode.ngram): its steps may be 0 (full model only)
    "ngram.steps": INDEX,
    "vocab_size": Range(2, integer=True),
    "order": Range(2, integer=True),
    "length": Range(2, integer=True),
    "alpha": POSITIVE,
    "degree": COUNT,
    "n_train": COUNT,
    "draws": Range(2, integer=True),
    "full_steps": INDEX,
    "full_lr": POSITIVE,
}
"""Option name (``"family.name"`` where a family's option differs) → its :class:`Range`."""


def rule(name: str, family: str | None = None) -> Range:
    """The range of option ``name`` (``family``'s own rule first, e.g. ``"ngram.steps"``)."""
    return RULES.get(f"{family}.{name}") or RULES[name]


def check(name: str, value, *, family: str | None = None, flag: bool = False):
    """``value`` if it is in the range of option ``name``; else ``ValueError`` in one line.

    Args:
        name: the option's name in the library (``"rtol"``, ``"n_pairs"``).
        value: a number (an integer where the range is of integers; ``bool`` is refused).
        family: ``"ngram"`` for the n-gram model's own rules.
        flag: name the option as the command line does (``--n-pairs``) in the message.

    Returns:
        ``value`` (an ``int`` for an integer range, else a ``float``).
    """
    r = rule(name, family)
    label = "--" + name.replace("_", "-") if flag else name
    bad = ValueError(f"{label} must be {r.text()}, got {value!r}")
    if isinstance(value, bool) or isinstance(value, str):
        raise bad
    try:
        number = operator.index(value) if r.integer else float(value)
    except (TypeError, ValueError, OverflowError):
        raise bad from None
    if not r.admits(number):
        raise bad
    return number


def check_values(family: str | None = None, flag: bool = False, **values) -> None:
    """:func:`check` each ``name=value`` (``None`` values are defaults, skipped)."""
    for name, value in values.items():
        if value is not None:
            check(name, value, family=family, flag=flag)
