"""induction_ode: the emergence of an induction head as a 19-dimensional ODE.

The public API is re-exported here and loaded on first use, so that the command line's
``--help`` does not wait for JAX. Loading any part that uses JAX enables JAX's float64 mode:
the core runs in double precision.
"""

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "PARAM_NAMES": "subspace",
    "KEY_PARAMS": "subspace",
    "Weights": "subspace",
    "embed": "subspace",
    "project": "subspace",
    "PATTERN_CLAMPS": "loss",
    "LAYER1_MASKS": "transformer",
    "Model": "model",
    "DenseModel": "model",
    "StructuredModel": "model",
    "POSITIONS": "positions",
    "QUERIES": "positions",
    "attention_patterns": "model",
    "population_loss": "model",
    "population_loss_direct": "model",
    "Emergence": "ode",
    "Trajectory": "ode",
    "emergence_time": "ode",
    "simulate": "ode",
    "vector_field": "ode",
    "SweepResult": "sweeps",
    "sweep": "sweeps",
    "Distributed": "distributed",
    "Clamp": "clamp",
    "CLAMP_SETS": "mechanism",
    "ClampExperiment": "mechanism",
    "clamp_experiment": "mechanism",
    "is_induction_head": "mechanism",
    "minimal_free_set": "mechanism",
    "removal_study": "mechanism",
    "CrossCheck": "crosschecks",
    "crosscheck": "crosschecks",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
