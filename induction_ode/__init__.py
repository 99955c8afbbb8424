"""induction_ode: the emergence of an induction head as a 19-dimensional ODE.

Importing the package enables JAX's float64 mode: the core runs in double precision.
"""

import jax

jax.config.update("jax_enable_x64", True)

from .clamp import Clamp  # noqa: E402
from .crosscheck import CrossCheck, crosscheck  # noqa: E402
from .loss import (  # noqa: E402
    PATTERN_CLAMPS,
    attention_patterns,
    population_loss,
    population_loss_direct,
)
from .ode import Emergence, Trajectory, emergence_time, simulate, vector_field  # noqa: E402
from .subspace import KEY_PARAMS, PARAM_NAMES, Weights, embed, project  # noqa: E402
from .sweep import SweepResult, sweep  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "PARAM_NAMES",
    "KEY_PARAMS",
    "PATTERN_CLAMPS",
    "Clamp",
    "CrossCheck",
    "SweepResult",
    "crosscheck",
    "sweep",
    "Emergence",
    "Trajectory",
    "Weights",
    "attention_patterns",
    "embed",
    "emergence_time",
    "population_loss",
    "population_loss_direct",
    "project",
    "simulate",
    "vector_field",
]
