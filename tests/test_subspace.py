"""The 19-dimensional subspace: basis, embedding, projection, metric and the bridge to the network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import random_theta

from induction_ode import PARAM_NAMES, Model, embed, population_loss, project, vector_field
from induction_ode.positions import width
from induction_ode.subspace import Weights, basis, param_norms, weight_shapes
from induction_ode.task import canonical_batch, gram_schmidt, sample_batch
from induction_ode.transformer import batch_losses


def test_param_names_order():
    assert len(PARAM_NAMES) == 19
    assert PARAM_NAMES[:3] == ("alpha1", "alpha2", "alpha3")
    assert PARAM_NAMES[3] == "beta1" and PARAM_NAMES[14] == "beta12"
    assert PARAM_NAMES[15:] == ("gamma1", "gamma2", "gamma3", "gamma4")


@pytest.mark.parametrize("d, p", [(2, 2), (7, 2), (12, 2), (4, 8)])
def test_basis_is_orthogonal_with_stated_norms(d, p):
    b = basis(d, p)
    flat = np.concatenate([np.asarray(m).reshape(19, -1) for m in b], axis=1)
    gram = flat @ flat.T
    np.testing.assert_array_equal(gram, np.diag(param_norms(d, p)))


@pytest.mark.parametrize("d, p", [(4, 2), (9, 10)])
def test_embed_project_round_trip(d, p, rng):
    theta = jnp.asarray(random_theta(rng, 3.0))
    back, rest = project(embed(theta, d, p))
    np.testing.assert_allclose(back, theta, rtol=0, atol=1e-14)
    assert all(float(jnp.max(jnp.abs(r))) < 1e-14 for r in rest)
    # A generic W: the remainder is orthogonal to the subspace and projection is idempotent.
    w = Weights(*(jnp.asarray(rng.normal(size=s)) for s in weight_shapes(d, p)))
    theta_w, rest_w = project(w)
    again, rest_again = project(embed(theta_w, d, p))
    np.testing.assert_allclose(again, theta_w, atol=1e-13)
    theta_rest, _ = project(rest_w)
    np.testing.assert_allclose(theta_rest, 0.0, atol=1e-13)


def test_sampler_is_orthonormal_and_k_uniform():
    batch = sample_batch(jax.random.PRNGKey(0), 4000, 3, 8)
    vocab = np.asarray(batch.vocab)
    gram = np.einsum("bvd,bwd->bvw", vocab, vocab)
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(6), gram.shape), atol=1e-12)
    np.testing.assert_allclose(batch.tokens[:, -1], batch.tokens[np.arange(4000), 2 * batch.k], atol=0)
    counts = np.bincount(np.asarray(batch.k), minlength=3)
    # Each count is Binomial(4000, 1/3): sd ~ 30; 5 sd bounds.
    assert np.all(np.abs(counts - 4000 / 3) < 150)
    signed = sample_batch(jax.random.PRNGKey(1), 50, 3, 8, tokens="signed_perm")
    g = np.einsum("bvd,bwd->bvw", signed.vocab, signed.vocab)
    np.testing.assert_array_equal(g, np.broadcast_to(np.eye(6), g.shape))


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_gram_schmidt_is_the_qr_with_a_positive_diagonal(dtype, rng):
    """The Haar tokens' sampler (no LAPACK call) gives LAPACK's Q with R's diagonal made real
    and positive, to rounding, also at the ladder's widths and for a nearly singular matrix."""
    for n in (1, 5, 16):
        g = rng.normal(size=(20, n, n)) + (1j * rng.normal(size=(20, n, n)) if dtype == np.complex128 else 0)
        g[0, :, -1] = g[0, :, 0] + 1e-6 * g[0, :, -1]  # condition number ~1e6
        q, r = np.linalg.qr(g)
        diag = np.diagonal(r, axis1=-2, axis2=-1)
        expected = q * (diag / np.abs(diag))[:, None, :]
        got = np.asarray(gram_schmidt(jnp.asarray(g)))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        gram = np.einsum("bij,bik->bjk", got.conj(), got)
        np.testing.assert_allclose(gram, np.broadcast_to(np.eye(n), g.shape), rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    "tokens, positions", [("haar", "paired"), ("signed_perm", "paired"), ("haar", "sinusoidal")]
)
def test_closed_form_equals_monte_carlo(tokens, positions, rng):
    """Random orthonormal tokens, a random symmetry of the positional code (phase or unitary),
    random k at width d > 2N: the sample mean of the explicit network's loss equals the closed
    form within 4 standard errors."""
    n, d, samples = 3, 10, 40000
    theta = jnp.asarray(random_theta(rng, 1.5))
    batch = sample_batch(jax.random.PRNGKey(7), samples, n, d, tokens=tokens, positions=positions)
    per = np.asarray(batch_losses(embed(theta, d, width(positions, n)), batch))
    mean, se = per.mean(), per.std(ddof=1) / np.sqrt(samples)
    assert se > 0
    assert abs(mean - float(population_loss(theta, n, model=Model(positions=positions)))) < 4 * se


def test_monte_carlo_detects_a_wrong_formula(rng):
    """The same check rejects nearby wrong answers: the loss of a perturbed θ (γ3 off by 0.5,
    a loss change of 0.014 against 4 standard errors of 0.0019 here) and the other code's."""
    n, d, samples = 3, 10, 40000
    theta = jnp.asarray(random_theta(rng, 1.5))
    batch = sample_batch(jax.random.PRNGKey(7), samples, n, d)
    per = np.asarray(batch_losses(embed(theta, d, width("paired", n)), batch))
    bound = 4 * per.std(ddof=1) / np.sqrt(samples)
    assert abs(per.mean() - float(population_loss(theta.at[17].add(0.5), n))) > bound
    assert abs(per.mean() - float(population_loss(theta, n, model=Model(positions="sinusoidal")))) > bound


@pytest.mark.parametrize("positions", ["paired", "sinusoidal"])
@pytest.mark.parametrize("n, d", [(2, 4), (3, 9)])
def test_weights_metric_is_projected_network_gradient(n, d, positions, rng):
    """``("weights", d)`` equals ``−(1/n_i)⟨∇_W L, B_i⟩`` with ∇_W from the explicit network
    (``n_i = P`` on positional blocks: 2, or 2N + 2 for the paired code)."""
    theta = jnp.asarray(random_theta(rng, 2.0))
    batch = canonical_batch(n, vocab_size=d, positions=positions)
    p = width(positions, n)

    def full_loss(w):
        return jnp.mean(batch_losses(w, batch))

    grad_w = jax.grad(full_loss)(embed(theta, d, p))
    b = basis(d, p)
    inner = sum(jnp.tensordot(bm, gm, axes=gm.ndim) for bm, gm in zip(b, grad_w))
    expected = -inner / param_norms(d, p)
    field = vector_field(theta, n, model=Model(positions=positions, metric=("weights", d)))
    np.testing.assert_allclose(field, expected, atol=1e-12)
    model = Model(positions=positions)
    gradient = jax.grad(population_loss)(theta, n, model=model)
    np.testing.assert_allclose(vector_field(theta, n, model=model), -gradient, atol=0)
