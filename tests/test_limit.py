"""The limit equation of the 3-parameter paired flow (induction_ode.limit).

Its closed-form solution against an integration of its field, and its field against the
reduced closed form's gradient at large N (one compiled program, N as data).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from induction_ode.limit import (
    TAU_C,
    field,
    gamma_time,
    limit_times,
    row_mean,
    sinusoidal_field,
    sinusoidal_limit_times,
    tau_of_beta,
)
from induction_ode.reduced import reduced_loss
from induction_ode.subspace import KEY_INDEX

N_PAD = 8192


def integrate_in_beta(b_end, h=1e-3):
    """RK4 of ``(τ, a)`` against ``b`` (``dτ/db = 1/ḃ``, ``da/db = ȧ/ḃ``) from 0 to ``b_end``."""

    def rhs(b, y):
        da, db = field(y[1], b)
        return np.array([1 / db, da / db])

    y, b = np.zeros(2), 0.0
    for _ in range(round(b_end / h)):
        k1 = rhs(b, y)
        k2 = rhs(b + h / 2, y + h / 2 * k1)
        k3 = rhs(b + h / 2, y + h / 2 * k2)
        k4 = rhs(b + h, y + h * k3)
        y, b = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), b + h
    return y


@pytest.mark.parametrize("b_end", [0.5, 1.0, 12.0])
def test_closed_form_solves_the_limit_equation(b_end):
    tau, a = integrate_in_beta(b_end)
    assert a == pytest.approx(b_end**2 / 2, rel=1e-9)
    assert tau == pytest.approx(tau_of_beta(b_end), rel=1e-9)


def test_limit_times():
    lim = limit_times()
    assert lim["t_star"] == pytest.approx(math.sqrt(math.pi / 2)) and TAU_C == lim["t_star"]
    assert lim["alpha3"] == pytest.approx(0.855624, abs=1e-6)
    assert lim["beta2"] == pytest.approx(0.479925, abs=1e-6)
    assert lim["gamma3"] == pytest.approx(math.log(2))
    assert gamma_time(10**9) / 10**9 == pytest.approx(math.log(2), rel=1e-8)


@pytest.fixture(scope="module")
def flow():
    """``(query, θ, N)`` → ``dθ/dt`` of the reduced paired flow (strict), compiled once per query."""
    programs = {
        q: jax.jit(
            lambda th, n, q=q: (
                -jax.grad(reduced_loss)(th, n, N_PAD, layer1_mask="strict", positions="paired", query=q)
            )
        )
        for q in ("last", "uniform")
    }
    return lambda q, th, n: np.asarray(programs[q](th, n))


def key_theta(a, b, g):
    return jnp.zeros(19).at[jnp.array(KEY_INDEX)].set(jnp.array([a, b, g]))


@pytest.mark.parametrize("a,b", [(0.0, 0.3), (1.0, 0.5), (2.0, 1.5)])
def test_last_query_converges_to_the_limit_field(flow, a, b):
    # dθ/dt = field / T² up to O(e^a/T) (and O(b/T) from the second order in the deviations).
    n = N_PAD
    t = 2 * n + 1
    da, db = flow("last", key_theta(a, b, 1.0), n)[list(KEY_INDEX[:2])] * t**2
    fa, fb = field(a, b)
    np.testing.assert_allclose([da, db], [fa, fb], rtol=2e-3)


@pytest.mark.parametrize("a", [0.0, 1.0])
def test_uniform_query_converges_with_a_log(flow, a):
    # E_k[σ_k] = e^a ln T / T (1 + O((1 + a)/ln T)): the relative error falls as N grows, and
    # at T = 16385 (ln T = 9.7) it is within 15 %.
    errors = []
    for n in (64, 512, N_PAD):
        t = 2 * n + 1
        db = flow("uniform", key_theta(a, 0.0, 1.0), n)[KEY_INDEX[1]]
        errors.append(abs(db * t**2 / math.log(t) / math.exp(a) - 1))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.15


@pytest.mark.parametrize("n", [2, 64, N_PAD])
def test_gamma_rate_at_zero(flow, n):
    # At θ = 0 the layer-2 weights are exactly uniform: dg/dt = 1/T − g (T+2)/T².
    t = 2 * n + 1
    for q in ("last", "uniform"):
        dg = flow(q, key_theta(0.0, 0.0, 0.3), n)[KEY_INDEX[2]]
        assert dg == pytest.approx(1 / t - 0.3 * (t + 2) / t**2, rel=1e-12)


def test_row_mean():
    assert row_mean(0.0) == pytest.approx((1.0, 2 / math.pi), rel=1e-14)
    # m(a) = I0(a) + L0(a) (modified Bessel and Struve functions): values of SciPy 1.17.
    assert row_mean(-3.0)[0] == pytest.approx(0.23210685411131277, rel=1e-12)


def test_sinusoidal_limit_times():
    # SciPy's solve_ivp (rtol 1e-12) on the same field, a 200-node quadrature: 0.49174106, 1.15523472.
    lim = sinusoidal_limit_times(step=1e-3)
    assert lim["beta2"] == pytest.approx(0.49174106, abs=1e-7)
    assert lim["alpha3"] == pytest.approx(1.15523472, abs=5e-7)


def test_sinusoidal_last_query_converges_to_its_limit_field():
    # dθ/dt = sinusoidal_field / T² up to O(1/T): within 3 % at T = 513 (0.4 % at T = 2049).
    n = 256
    t = 2 * n + 1
    grad = jax.jit(
        lambda th: (
            -jax.grad(reduced_loss)(th, n, n, layer1_mask="strict", positions="sinusoidal", query="last")
        )
    )
    for a, b in [(0.0, 0.3), (-1.0, 1.0), (-3.0, 3.0)]:
        d = np.asarray(grad(key_theta(a, b, 1.0)))[list(KEY_INDEX[:2])] * t**2
        np.testing.assert_allclose(d, sinusoidal_field(a, b), rtol=3e-2)
