"""Shared fixtures. Importing induction_ode enables float64 for every test."""

import numpy as np
import pytest

import induction_ode  # noqa: F401  (enables x64)


@pytest.fixture
def rng():
    return np.random.default_rng(20251101)


def random_theta(rng, scale, size=19):
    """θ with i.i.d. uniform entries in [-scale, scale]."""
    return rng.uniform(-scale, scale, size=size)
