"""The reduced closed form (α3, β2, γ3 only) against the general one, and its hook.

Each comparison is one compiled program per code and mask that evaluates every query mode
(and a cross-entropy variant) at a padded size ``n_pad = 64`` with ``N`` as data, so that
one compilation serves every length; ``N = 64`` is the unpadded case.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from induction_ode import KEY_PARAMS, LAYER1_MASKS, POSITIONS, QUERIES, Clamp, Model
from induction_ode.forms import label_weights
from induction_ode.loss import pair_losses, query_weights
from induction_ode.reduced import ReducedModel, key_weights, program_model, reduced_forward, reduced_loss
from induction_ode.subspace import KEY_INDEX
from induction_ode.summaries import sinusoidal_layer1

N_PAD = 64
LENGTHS = (2, 3, 7, 64)
# Two float64 evaluations of the same sums in different orders: 1e-12 relative to the
# larger of 1 and the largest entry leaves ~1e4 ulps for roundoff.
RTOL = 1e-12
KEY = list(KEY_INDEX)
FROZEN = [i for i in range(19) if i not in KEY_INDEX]
CE_VARIANTS = {("paired", "strict"): [("uniform", "ce")], ("sinusoidal", "inclusive"): [("last", "ce")]}


def key_thetas(rng, scales=(1.0, 50.0, 50.0, 1e3)):
    """``(len(scales), 19)``: α3, β2, γ3 uniform in ``[−scale, scale]``, the others 0."""
    thetas = np.zeros((len(scales), 19))
    for row, scale in zip(thetas, scales):
        row[KEY] = rng.uniform(-scale, scale, 3)
    return jnp.asarray(thetas)


def comparison(positions, mask, reduce):
    """``f(θ, N)`` → ``{(query, loss): (L, ∇L (19,))}``, compiled once: the general closed
    form, or (``reduce``) the model the programs get for ``free=KEY_PARAMS``."""
    variants = [(q, "mse") for q in QUERIES] + CE_VARIANTS.get((positions, mask), [])
    models = {}
    for query, loss in variants:
        model = Model(positions=positions, layer1_mask=mask, query=query, loss=loss)
        models[query, loss] = program_model(model.replace(free=KEY_PARAMS)) if reduce else model
        assert isinstance(models[query, loss], ReducedModel) == reduce

    def evaluate(theta, n_pairs):
        return {v: jax.value_and_grad(m.loss_of)(theta, n_pairs, N_PAD) for v, m in models.items()}

    return jax.jit(evaluate).lower(jnp.zeros(19), 2).compile()


def assert_close(reduced, general):
    scale = max(1.0, float(jnp.max(jnp.abs(general))))
    np.testing.assert_allclose(reduced, general, rtol=0, atol=RTOL * scale)


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("mask", LAYER1_MASKS)
def test_reduced_equals_general(positions, mask, rng):
    """Loss and gradient in α3, β2, γ3 at |θ| up to 50 and 10³. The reduced form reads only
    those three, so its gradient in the other 16 is exactly 0; the general form's is not (the
    ODE freezes them and never reads it)."""
    general = comparison(positions, mask, reduce=False)
    reduced = comparison(positions, mask, reduce=True)
    for theta in key_thetas(rng):
        for n in LENGTHS:
            expected, got = general(theta, n), reduced(theta, n)
            for variant, (loss_g, grad_g) in expected.items():
                loss_r, grad_r = got[variant]
                grad_g, grad_r = np.asarray(grad_g), np.asarray(grad_r)
                assert np.isfinite(loss_r) and np.all(np.isfinite(grad_r)), (variant, n, theta)
                assert_close(loss_r, loss_g)
                assert_close(grad_r[KEY], grad_g[KEY])
                assert np.all(grad_r[FROZEN] == 0.0)
                assert np.any(grad_g[FROZEN] != 0.0)


@pytest.mark.parametrize("mask", LAYER1_MASKS)
def test_paired_label_weights_match_the_dense_form(mask, rng):
    """The O(T) summary's head statistics (label weight, largest other weight: the latter from
    the monotone later scores, for either sign of β2) against the O(T²) reduced forward."""
    reduced = program_model(Model(layer1_mask=mask, free=KEY_PARAMS))
    summary = jax.jit(reduced.label_weights, static_argnums=2)
    network = reduced.network()
    dense = jax.jit(lambda theta, n: label_weights(reduced_forward(theta, n, N_PAD, **network), N_PAD))
    real = slice(N_PAD - 7, None)
    for theta in key_thetas(rng, (3.0, 50.0, 1e3)):
        for sign in (1.0, -1.0):
            theta = theta.at[KEY[1]].multiply(sign)
            for got, expected in zip(summary(theta, 7, N_PAD), dense(theta, 7)):
                assert_close(got[real], expected[real])


@pytest.mark.parametrize("mask", LAYER1_MASKS)
def test_sinusoidal_summary_matches_the_dense_form(mask, rng):
    """The sinusoidal summary's head statistics (the runner-up from the triangle's extremes)
    against the O(T²) reduced forward, and its gradient in forward mode (as the solver's
    Jacobian differentiates it) against reverse mode, N = 7 padded to 16."""
    reduced = program_model(Model(positions="sinusoidal", layer1_mask=mask, free=KEY_PARAMS))
    n_pad, real = 16, slice(16 - 7, None)
    summary = jax.jit(reduced.label_weights, static_argnums=2)
    network = reduced.network()
    dense = jax.jit(lambda theta, n: label_weights(reduced_forward(theta, n, n_pad, **network), n_pad))

    def loss(key):
        return reduced.loss_of(jnp.zeros(19).at[np.array(KEY)].set(key), 7, n_pad)

    forward, reverse = jax.jit(jax.jacfwd(loss)), jax.jit(jax.grad(loss))
    for theta in key_thetas(rng, (3.0, 50.0, 1e3)):
        for sign in (1.0, -1.0):
            theta = theta.at[KEY[1]].multiply(sign)
            for got, expected in zip(summary(theta, 7, n_pad), dense(theta, 7)):
                # The dense form takes sin ω(s − 2k) from the rank-2 form: at |α3|, |β2| ~ 10³ a
                # score moves by |α3 β2| ε ~ 1e-10 (the loss test above holds both to 1e-12).
                np.testing.assert_allclose(got[real], expected[real], rtol=0, atol=1e-10)
            key = theta[np.array(KEY)]
            assert_close(forward(key), reverse(key))


def test_program_model_picks_the_reduced_form_only_where_it_is_exact():
    key3 = Model(free=KEY_PARAMS)
    assert isinstance(program_model(key3), ReducedModel)
    theta0 = np.zeros(19)
    theta0[KEY] = [0.1, -0.2, 0.3]
    assert isinstance(program_model(key3, theta0), ReducedModel)
    theta0[0] = 1e-3
    others = (
        (key3, theta0),
        (Model(), None),
        (Model(free=("alpha3", "beta2")), None),
        (key3.replace(clamp=Clamp.make({"alpha3": 0.7})), None),
    )
    for model, start in others:
        static = program_model(model, start)
        assert type(static) is Model and static.free is None
    assert program_model(key3) != key3.replace(free=None)  # distinct compiled programs


@pytest.mark.parametrize("mask", LAYER1_MASKS)
def test_sinusoidal_padded_pairs_do_not_leak(mask):
    """Regression (the padded sweep's ``solved = False`` after t*, results §10): a padded
    pair's "item" lies before position 0, and its layer-1 terms were no weights but up to
    ``e^{2|α3|}``. Masked in the loss, they still made the gradient NaN at |α3| = 60 and the
    Hessian in float32 (the solver's Jacobian) NaN at |α3| = 30. ``N = 2`` padded to 8;
    the padded values themselves are checked against the general form above."""
    model = program_model(Model(positions="sinusoidal", layer1_mask=mask, free=KEY_PARAMS))

    def loss(key):
        return model.loss_of(jnp.zeros(19, key.dtype).at[np.array(KEY)].set(key), 2, 8)

    def derivatives(large):
        on_item, _ = key_weights(
            jnp.zeros(19).at[np.array(KEY)].set(large), 2, 8, positions="sinusoidal", strict=mask == "strict"
        )
        return on_item, jax.grad(loss)(large), jax.hessian(loss)((large / 2).astype(jnp.float32))

    compiled = jax.jit(derivatives).lower(jnp.zeros(3)).compile()
    for sign in (1.0, -1.0):
        on_item, grad, hessian = compiled(jnp.array([sign * 60.0, -sign * 60.0, 1.0]))
        assert 0.0 <= float(jnp.min(on_item)) and float(jnp.max(on_item)) <= 1.0 + 1e-12
        assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hessian)), (sign, grad, hessian)


def uniform_sinusoidal_losses(n, n_pad, mask):
    """``(summary, dense)``: the reduced sinusoidal loss (uniform query) of θ ``(19,)`` at ``N =
    n`` padded to ``n_pad``, by the package's ``O(T²)``-term summary and by the dense reduced
    forward (the reference)."""
    network = dict(layer1_mask=mask, positions="sinusoidal")

    def summary(theta):
        return reduced_loss(theta, n, n_pad, query="uniform", **network)

    def dense(theta):
        per = pair_losses(reduced_forward(theta, n, n_pad, **network), n)
        return jnp.sum(per * query_weights(n, n_pad, "uniform", theta.dtype))

    return summary, dense


def test_sinusoidal_summary_spans_groups_of_many_blocks():
    """N = 150 padded to 160: each group of pairs holds more rows than one block (a row read
    past its table was clamped back onto earlier positions). Against the O(T²) forward."""
    theta = jnp.zeros(19).at[np.array(KEY)].set(jnp.array([-3.0, 4.0, 1.2]))
    summary, dense = uniform_sinusoidal_losses(150, 160, "strict")
    assert_close(summary(theta), dense(theta))


def test_sinusoidal_triangle_at_large_alpha3():
    """|α3| = 3000, beyond any one shift that would split ``e^{α3σ_d − L_s}`` into a factor per
    gap and a factor per key (``e^{±α3/2}`` overflows past |α3| ≈ 1418): the triangle's
    block-relative factors stay finite. Against the O(T²) forward, N = 20 padded to 24 and
    N = 24; every exponent carries a rounding of about |α3| ε ≈ 7e-13, which β2 (≤ 280)
    amplifies, hence 1e-9 relative to the larger of 1 and the largest entry."""

    def both(theta, n):
        summary, dense = uniform_sinusoidal_losses(n, 24, "strict")
        return jax.value_and_grad(summary)(theta), jax.value_and_grad(dense)(theta)

    compiled = jax.jit(both)
    for a3, b2 in ((3000.0, 5.0), (-3000.0, 5.0), (3000.0, -200.0), (-3000.0, 280.0)):
        theta = jnp.zeros(19).at[np.array(KEY)].set(jnp.array([a3, b2, 0.7]))
        for n in (20, 24):
            (loss, grad), (loss_ref, grad_ref) = compiled(theta, n)
            assert np.all(np.isfinite(grad)), (a3, b2, n, grad)
            for got, want in ((loss, loss_ref), (grad[np.array(KEY)], grad_ref[np.array(KEY)])):
                scale = max(1.0, float(jnp.max(jnp.abs(want))))
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize("mask", LAYER1_MASKS)
def test_sinusoidal_hessian_matches_the_dense_form(mask, rng):
    """The Hessian in α3, β2, γ3 (the solver's Jacobian) through the triangle's second-order
    sums (one pass, not JAX's derivative of the first-order pass) against JAX's Hessian of the
    O(T²) reduced forward, N = 7 and 16 padded to 16, |θ| up to 400 (past the |β2| at which
    the shift reads the triangle's extremes). A score moves by about |α3 β2| ε between the two
    forms (≈ 3e-11 at 400), hence 1e-10 relative to the larger of 1 and the largest entry."""

    def both(key, n):
        summary, dense = uniform_sinusoidal_losses(n, 16, mask)

        def of_key(loss):
            return jax.hessian(lambda k: loss(jnp.zeros(19).at[np.array(KEY)].set(k)))(key)

        return of_key(summary), of_key(dense)

    compiled = jax.jit(both)
    for scale in (3.0, 50.0, 400.0):
        for sign in (1.0, -1.0):
            key = jnp.asarray(rng.uniform(-scale, scale, 3)).at[1].set(sign * scale * rng.uniform(0.8, 1.0))
            for n in (7, 16):
                got, want = compiled(key, n)
                scale_h = max(1.0, float(jnp.max(jnp.abs(want))))
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * scale_h, err_msg=f"{key} {n}")


@pytest.mark.parametrize("mask", LAYER1_MASKS)
def test_sinusoidal_layer1_derivatives(mask):
    """The layer-1 log-normalisers and their first two derivatives in α3 (written as prefix
    log-sum-exps of the next moment) against JAX's own derivatives of ``cumlogsumexp``,
    N = 13 padded to 16, |α3| ≤ 50; measured agreement 1e-13, asserted 1e-12 relative."""
    strict = mask == "strict"
    n_real = 2 * 13 + 1  # positions 0 … 2N; those past 2N are unused

    def reference(a3):
        d = jnp.arange(2 * 16 + 1)
        sigma = jnp.sin(jnp.pi / 27 * d)
        read = d >= (1 if strict else 0)
        return jnp.where(read, lax.cumlogsumexp(jnp.where(read, a3 * sigma, -jnp.inf)), 0.0)

    def ours(a3):
        return sinusoidal_layer1(a3, 13, 16, strict)[1]

    for order in (lambda f: f, jax.jacfwd, jax.jacrev, lambda f: jax.jacfwd(jax.jacrev(f))):
        got_of, want_of = jax.jit(order(ours)), jax.jit(order(reference))
        for a3 in (-50.0, -3.0, 0.0, 2.0, 50.0):
            got, want = got_of(jnp.float64(a3))[:n_real], want_of(jnp.float64(a3))[:n_real]
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * max(1.0, np.max(np.abs(want))))
