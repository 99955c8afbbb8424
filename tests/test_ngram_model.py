"""The n-gram task and the reduced model: the sampler, the forward pass against a direct,
loop-based evaluation of NGRAM.md, and exact identities."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from induction_ode.ngram.model import (
    Architecture,
    ReducedParams,
    feature_weights,
    init_params,
    prepare,
    reduced_forward,
    reduced_logits,
    reduced_loss,
    sequence_losses,
)
from induction_ode.ngram.sampler import NGramTask, sample, sample_chains, transition_counts


def direct(W, C, a, tokens, target, arch):
    """NGRAM.md's forward pass, row by row, in plain Python: returns (ŷ, ce loss, reference-code loss)."""
    S, H, L = arch.vocab_size, arch.heads, len(tokens)
    X = np.zeros((L + 1, S))
    X[np.arange(L), tokens] = 1.0
    offsets = [[(k + 1 + (h if arch.window == "shifted" else 0)) for k in range(arch.m)] for h in range(H)]
    v = np.zeros((H, L + 1, S))
    for h in range(H):
        for i in range(L + 1):
            allowed = [k for k in range(arch.m) if i - offsets[h][k] >= 0]
            u = np.zeros(S)
            if allowed:
                z = sum(math.exp(W[k, h]) for k in allowed)
                for k in allowed:
                    u += math.exp(W[k, h]) / z * X[i - offsets[h][k]]
            v[h, i] = u / (math.sqrt(sum(u**2)) + 1e-7)
    subsets = [s for r in range(arch.degree + 1) for s in itertools.combinations(range(H + 1), r)]
    live = [0 not in s for s in subsets]
    total = sum(C[i] ** 2 for i, s in enumerate(subsets) if live[i])
    phi = np.zeros(L)
    for j in range(L):
        kappa = [max(0.0, float(v[h, L] @ v[h, j])) for h in range(H)]
        for i, s in enumerate(subsets):
            if live[i]:
                phi[j] += C[i] ** 2 / total * math.prod(kappa[c - 1] for c in s)
    weights = np.exp(a * phi - max(a * phi))
    weights /= weights.sum()
    y_hat = weights @ X[:L]
    ce = -math.log(y_hat[target])
    ref = -y_hat[target] + math.log(sum(math.exp(p) for p in y_hat))
    return y_hat, ce, ref


ARCHS = [
    Architecture(vocab_size=3, heads=3, window="shared", width=4, degree=2),
    Architecture(vocab_size=3, heads=3, window="shifted", degree=3),
    Architecture(vocab_size=2, heads=2, window="shared", degree=1),
    Architecture(vocab_size=4, heads=2, window="shifted", degree=2),
]


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"S{a.vocab_size}H{a.heads}{a.window}M{a.m}D{a.degree}")
def test_forward_matches_direct_evaluation(arch, rng):
    """ŷ and both losses against the loop-based evaluation (random parameters), to 1e-12."""
    n_sub = len(arch.subsets())
    for trial in range(3):
        length = [7, 12, 20][trial]
        tokens = rng.integers(0, arch.vocab_size, length)
        target = int(tokens[rng.integers(0, length)])  # reachable, so the CE loss is finite
        W = rng.normal(0, 2, (arch.m, arch.heads))
        C = rng.normal(0, 1, n_sub)
        a = rng.uniform(-3, 6)
        y_ref, ce_ref, ref_ref = direct(W, C, a, tokens, target, arch)
        params = ReducedParams(jnp.asarray(W), jnp.asarray(C), jnp.asarray(a))
        y_hat = np.asarray(reduced_forward(params, jnp.asarray(tokens), arch))
        np.testing.assert_allclose(y_hat, y_ref, rtol=0, atol=1e-12)
        prep = prepare(jnp.asarray(tokens)[None], jnp.asarray([target]), arch)
        logits = jax.jit(reduced_logits, static_argnums=2)(params, prep, arch)
        assert float(sequence_losses(logits, prep, "ce")[0]) == pytest.approx(ce_ref, rel=1e-12, abs=1e-12)
        ref_loss = float(sequence_losses(logits, prep, "reference-code")[0])
        assert ref_loss == pytest.approx(ref_ref, rel=1e-12, abs=1e-12)


def test_feature_weights_identities(rng):
    arch = Architecture(heads=3, degree=2)
    live = arch.live()
    assert arch.subset_labels()[:3] == ["∅", "x", "h0"] and live.sum() == 7 and (~live).sum() == 4
    C = jnp.asarray(rng.normal(size=live.size))
    c = np.asarray(feature_weights(C, arch))
    assert np.all(c[~live] == 0.0)  # dead subsets: exactly zero weight
    assert c[live].sum() == pytest.approx(1.0, abs=1e-15) and np.all(c >= 0)
    # c is invariant under C → λC and under sign flips (it sees only C²)
    np.testing.assert_allclose(np.asarray(feature_weights(-3.7 * C, arch)), c, rtol=1e-14, atol=0)
    c0 = np.asarray(feature_weights(init_params(arch).C, arch))
    np.testing.assert_allclose(c0[live], 1 / 7, rtol=1e-15)


def test_dead_subsets_get_no_gradient_and_no_weight(rng):
    arch = Architecture(heads=3, degree=3, loss="ce")
    task = NGramTask(length=30)
    smp = sample(jax.random.key(1), task, 64)
    prep = prepare(smp.inputs, smp.targets, arch)
    params = init_params(arch)
    params = params._replace(C=jnp.asarray(rng.normal(size=params.C.shape)))
    grad = jax.grad(reduced_loss)(params, prep, arch)
    dead = ~arch.live()
    assert np.all(np.asarray(grad.C)[dead] == 0.0)
    assert np.all(np.abs(np.asarray(grad.C)[~dead]) > 0)  # the live ones do move
    # changing a dead C_S changes nothing at all
    bumped = params._replace(C=params.C.at[np.flatnonzero(dead)].add(5.0))
    assert float(reduced_loss(bumped, prep, arch)) == float(reduced_loss(params, prep, arch))


def test_reference_code_loss_at_uniform_prediction():
    """ŷ uniform ⇒ reference-code loss = log S exactly (a = 0 makes layer 2 uniform over keys)."""
    arch = Architecture(vocab_size=3, loss="reference-code")
    tokens = jnp.asarray([[0, 1, 2, 0, 1, 2]])
    prep = prepare(tokens, jnp.asarray([1]), arch)
    params = init_params(arch)._replace(a=jnp.asarray(0.0))
    assert float(reduced_loss(params, prep, arch)) == pytest.approx(math.log(3), abs=1e-14)


def test_unreachable_targets_are_left_out_of_ce():
    arch = Architecture(vocab_size=3, loss="ce")
    tokens = jnp.asarray([[0, 1, 0, 1, 0, 1], [0, 1, 2, 0, 1, 2]])
    prep = prepare(tokens, jnp.asarray([2, 2]), arch)  # the first target never occurs
    params = init_params(arch)
    losses = np.asarray(sequence_losses(reduced_logits(params, prep, arch), prep, "ce"))
    assert np.isinf(losses[0]) and np.isfinite(losses[1])
    assert float(reduced_loss(params, prep, arch)) == pytest.approx(losses[1], rel=1e-15)


def test_sampler_follows_the_kernels():
    """Empirical transition frequencies along long chains match π (binomial z-scores)."""
    task = NGramTask(vocab_size=3, order=3, length=6000, alpha=1.0)
    smp = sample(jax.random.key(3), task, 6)
    counts = np.asarray(transition_counts(smp.tokens, task))  # (B, 9, 3)
    # the vectorised counts agree with a plain loop (context = Σ_k x_{i−k} S^(k−1))
    x = np.asarray(smp.tokens[0])
    loop = np.zeros((9, 3), int)
    for i in range(2, x.size):
        loop[x[i - 1] + 3 * x[i - 2], x[i]] += 1
    np.testing.assert_array_equal(counts[0], loop)
    visits = counts.sum(-1, keepdims=True)
    pi = np.asarray(smp.kernels)
    ok = visits[..., 0] >= 100
    assert ok.sum() >= 40
    freq = counts / np.maximum(visits, 1)
    z = (freq - pi) / np.sqrt(np.maximum(pi * (1 - pi), 1e-12) / np.maximum(visits, 1))
    assert np.max(np.abs(z[ok])) < 5.0
    chi2 = np.sum(z[ok] ** 2)  # ≈ (S−1) per row under the null
    dof = 2 * ok.sum()
    assert abs(chi2 - dof) < 5 * np.sqrt(2 * dof)


def test_sampler_start_is_uniform_and_keys_matter():
    task = NGramTask(vocab_size=4, order=3, length=5, alpha=0.1)
    smp = sample(jax.random.key(0), task, 5000)
    first = np.bincount(np.asarray(smp.tokens[:, :2]).ravel(), minlength=4) / 10000
    np.testing.assert_allclose(first, 0.25, atol=0.022)  # 5σ of a binomial mean at n = 10000
    again = sample(jax.random.key(0), task, 5000)
    other = sample(jax.random.key(1), task, 5000)
    assert np.array_equal(np.asarray(smp.tokens), np.asarray(again.tokens))
    assert not np.array_equal(np.asarray(smp.tokens), np.asarray(other.tokens))
    # a one-hot kernel makes the chain deterministic given its start
    det = jnp.zeros((1, 16, 4)).at[0, :, 2].set(1.0)
    chain = np.asarray(sample_chains(jax.random.key(5), task, det))
    assert np.all(chain[0, 2:] == 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(vocab_size=1), "vocabulary size"),
        (dict(order=1), "order n"),
        (dict(order=3, length=3), "L must be > n"),
        (dict(alpha=0.0), "alpha"),
    ],
)
def test_task_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NGramTask(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(heads=3, degree=4), "degree D"),
        (dict(heads=3, degree=0), "degree D"),
        (dict(window="sliding"), "unknown window"),
        (dict(loss="mse"), "unknown loss"),
        (dict(window="shifted", heads=3, width=4), "M = H"),
    ],
)
def test_architecture_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Architecture(**kwargs)
