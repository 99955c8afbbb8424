"""Exact identities of the closed-form population loss, under both positional codes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import direct_value_and_grad, random_theta, value_and_grad

from induction_ode import PARAM_NAMES, POSITIONS, Model, population_loss, population_loss_direct
from induction_ode.forms import padded_loss

# Two float64 evaluations of the same sum in different orders: agreement to 1e-12 relative
# leaves ~1e4 ulps of room for roundoff in O(T^2) sums with T <= 129.
FAST_VS_DIRECT_RTOL = 1e-12


def ce_model(positions, n_pairs):
    """Cross-entropy over a vocabulary of ``3N`` tokens (more than the ``2N`` the task uses)."""
    return Model(positions=positions, loss="ce", vocab_size=3 * n_pairs)


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("n_pairs", [1, 3, 8, 32])
def test_zero_init_loss_is_half(n_pairs, positions):
    model = Model(positions=positions)
    assert float(population_loss(jnp.zeros(19), n_pairs, model=model)) == pytest.approx(0.5, abs=1e-15)


@pytest.mark.parametrize("vocab", [None, 40])
def test_zero_init_ce_is_log_vocab(vocab):
    n = 5
    expected = np.log(2 * n if vocab is None else vocab)
    model = Model(loss="ce", vocab_size=vocab)
    assert float(population_loss(jnp.zeros(19), n, model=model)) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("n_pairs", [1, 3, 7, 16])
@pytest.mark.parametrize("scale", [1.0, 50.0])
def test_fast_equals_direct(n_pairs, scale, positions, rng):
    model = Model(positions=positions)
    for _ in range(2):
        theta = jnp.asarray(random_theta(rng, scale))
        fast = population_loss(theta, n_pairs, model=model)
        direct = population_loss_direct(theta, n_pairs, model=model)
        assert float(fast) == pytest.approx(float(direct), rel=FAST_VS_DIRECT_RTOL)


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("n_pairs", [1, 3])
def test_fast_equals_direct_ce_and_gradient(n_pairs, positions, rng):
    theta = jnp.asarray(random_theta(rng, 3.0))
    for model in (ce_model(positions, n_pairs), Model(positions=positions)):
        v_fast, g_fast = value_and_grad(theta, n_pairs, model=model)
        v_direct, g_direct = direct_value_and_grad(theta, n_pairs, model=model)
        assert float(v_fast) == pytest.approx(float(v_direct), rel=FAST_VS_DIRECT_RTOL)
        np.testing.assert_allclose(g_fast, g_direct, rtol=0, atol=1e-10)


@pytest.mark.parametrize("query", ["uniform", "last"])
@pytest.mark.parametrize("positions", POSITIONS)
def test_padding_is_exact(positions, query, rng):
    """A length padded to ``n_pad = 4`` gives the loss and gradient of the unpadded closed form
    (N = 3: one extra pair; N = 1, the edge: three): the padding is masked out exactly."""
    theta = jnp.asarray(random_theta(rng, 5.0))
    model = Model(positions=positions, query=query)
    padded = functools.partial(padded_loss, positions=positions, query=query, layer1_mask="strict")
    padded = jax.jit(jax.value_and_grad(padded), static_argnums=2)
    for n in [1, 3]:
        ref, ref_grad = value_and_grad(theta, n, model=model)
        value, grad = padded(theta, jnp.asarray(n), 4)
        np.testing.assert_allclose(value, ref, rtol=1e-14)
        np.testing.assert_allclose(grad, ref_grad, atol=1e-13)


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("n_pairs", [1, 3])
def test_gradient_at_zero(n_pairs, positions):
    """At θ = 0 every attention is uniform and the readout is 0, so only the readout
    weights that see the target's label get a gradient: γ2, γ3, γ4 (γ1 reads the query
    item, which is orthogonal to the target). The direct oracle confirms the values."""
    model = Model(positions=positions)
    g = np.asarray(value_and_grad(jnp.zeros(19), n_pairs, model=model)[1])
    nonzero = {PARAM_NAMES[i] for i in np.flatnonzero(np.abs(g) > 1e-14)}
    assert nonzero == {"gamma2", "gamma3", "gamma4"}
    assert np.all(g[16:] < 0)
    g_direct = direct_value_and_grad(jnp.zeros(19), n_pairs, model=model)[1]
    np.testing.assert_allclose(g, g_direct, atol=1e-14)


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("n_pairs", [3, 16])
def test_stable_at_large_theta(n_pairs, positions, rng):
    for _ in range(5):
        theta = jnp.asarray(random_theta(rng, 1e3))
        for model in (Model(positions=positions), ce_model(positions, n_pairs)):
            val, grad = value_and_grad(theta, n_pairs, model=model)
            assert np.isfinite(val) and np.all(np.isfinite(grad))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(theta=np.zeros(19), n_pairs=0), "n_pairs"),
        (dict(theta=np.zeros(19), n_pairs=2.5), "n_pairs"),
        (dict(theta=np.zeros(19), n_pairs="4"), "n_pairs"),
        (dict(theta=np.zeros(18), n_pairs=3), "shape"),
        (dict(theta=np.full(19, np.nan), n_pairs=3), "finite"),
        (dict(theta=np.full(19, np.inf), n_pairs=3), "finite"),
        (dict(theta=np.zeros(19), n_pairs=3, model="paired"), "Model"),
        (dict(theta=np.zeros(19), n_pairs=3, model=Model(loss="ce", vocab_size=5)), "vocab_size"),
        (dict(theta=np.zeros(19), n_pairs=3, patterns=("nope",)), "unknown clamp"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        population_loss(**kwargs)
