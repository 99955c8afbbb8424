"""Shared fixtures. Importing induction_ode enables float64 for every test.

The suite spends most of its time compiling, so it turns on JAX's persistent compilation
cache in a directory outside the clone (``$INDUCTION_ODE_TEST_CACHE``, default
``~/.cache/induction_ode/jax``): a second run on the same machine loads the programs instead
of compiling them. Set ``INDUCTION_ODE_TEST_CACHE=`` (empty) to run cold.
"""

import os
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import induction_ode  # noqa: F401  (enables x64)

_cache = os.environ.get("INDUCTION_ODE_TEST_CACHE", str(Path.home() / ".cache" / "induction_ode" / "jax"))
if _cache:
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _cache)  # for the tests' subprocesses
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture
def rng():
    return np.random.default_rng(20251101)


def random_theta(rng, scale, size=19):
    """θ with i.i.d. uniform entries in [-scale, scale]."""
    return rng.uniform(-scale, scale, size=size)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """After each test module, drop the compiled programs that the package and JAX keep alive.

    One process that holds every program of the suite at once (hundreds of XLA CPU
    executables) crashed in XLA while loading one more. Releasing them per module keeps the
    process small; the persistent cache makes a later recompilation a disk read.
    """
    yield
    for name, module in list(sys.modules.items()):
        if name == "induction_ode" or name.startswith("induction_ode."):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                    value.cache_clear()
    jax.clear_caches()
