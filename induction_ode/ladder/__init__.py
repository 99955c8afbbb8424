"""The ladder (issue 34): from the 19-parameter ODE to a standard transformer, one change per
rung, each rung's emergence step measured against the context length and its progress
measures' order.

It composes the package's families (the ODE, the full-weight disentangled network of
:mod:`induction_ode.transformer`, the standard transformer of :mod:`induction_ode.standard`);
nothing but the command line imports it. The public API is loaded on first use; see
docs/results.md §12 and docs/library.md.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "Rung": "rungs",
    "RUNGS": "rungs",
    "BEFORE": "rungs",
    "QUICK": "rungs",
    "select_rungs": "rungs",
    "ladder": "run",
    "passed_twice": "run",
    "exponent": "summary",
    "summarise_rung": "summary",
    "compare": "summary",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
