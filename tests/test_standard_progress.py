"""Musat et al.'s progress measures (induction_ode.standard.progress) on hand-built weights, where
each answer is known by construction, and their emergence steps."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from induction_ode.standard.model import Layer, ModelConfig, Params, init_params, squared_error
from induction_ode.standard.progress import (
    emergence_order,
    emergence_step,
    position_inputs,
    progress_measures,
)
from induction_ode.standard.task import Task
from induction_ode.standard.weights import weight_blocks

D, H, T = 12, 2, 5  # d_h = 6
DH = D // H
CFG = ModelConfig(d_model=D, heads=H, positions="learned", layer_norm=False)


def select(rows, cols):
    """``(D, d_h)``: coordinate ``rows[a]`` → ``cols[a]``."""
    m = np.zeros((D, DH))
    m[rows, cols] = 1.0
    return m


def hand_built(gains=(1.0, 1.0, 1.0)):
    """Layer 1: head 0 a perfect previous-token head, head 1 a self-attending one; head 0's OV
    keeps coordinates 0–5, head 1 copies nothing. Layer 2: head 0 matches on coordinates 0–5 and
    copies labels (coordinates 6–8) onto their own logits; head 1's key reads coordinates 6–11
    (no match) and its OV sends label l to logit l+1 (mod 3)."""
    first, last = select(range(6), range(6)), select(range(6, 12), range(6))
    shift = select(range(4), range(1, 5))  # p_{i-1} W_K = e_i
    cyclic = np.zeros((DH, D))
    cyclic[range(3), [6 + (a + 1) % 3 for a in range(3)]] = 1.0
    g1, g2, g3 = gains
    as_layer = lambda ws, gain: Layer(
        *(jnp.asarray(w, jnp.float32) for w in ws), jnp.full(D, gain), jnp.zeros(D)
    )
    layer1 = as_layer(([first, first], [shift, first], [first, first], [first.T, np.zeros((DH, D))]), g1)
    layer2 = as_layer(([first, first], [first, last], [last, last], [last.T, cyclic]), g2)
    unembed = np.zeros((D, 3))
    unembed[range(6, 9), range(3)] = 1.0
    return Params(
        item_w=jnp.eye(D),
        item_b=jnp.zeros(D),
        label_emb=jnp.eye(D)[6:9],
        pos=jnp.eye(T, D),
        layers=(layer1, layer2),
        ln_gain=jnp.full(D, g3),
        ln_bias=jnp.zeros(D),
        unembed=jnp.asarray(unembed, jnp.float32),
    )


ITEMS = jnp.eye(D)[:3]  # three orthonormal item classes, embedded as themselves


def test_measures_known_by_construction():
    p = progress_measures(hand_built(), CFG, ITEMS, T)
    s = 1 / math.sqrt(DH)
    np.testing.assert_allclose(p.alpha3, [(T - 1) * s, 0.0], atol=1e-6)  # T−1 pairs of score 1/√d_h
    np.testing.assert_allclose(p.beta2, [[3 * s, 0.0], [0.0, 0.0]], atol=1e-6)  # 3 items, |t_i|² = 1
    np.testing.assert_allclose(p.gamma3, [3.0, 0.0], atol=1e-6)  # tr I_3, and a cycle's trace


def test_layer_norm_gains_fold_into_the_measures():
    g1, g2, g3 = 2.0, 3.0, 5.0
    plain = progress_measures(hand_built(), CFG, ITEMS, T)
    cfg = ModelConfig(d_model=D, heads=H, positions="learned", layer_norm=True)
    scaled = progress_measures(hand_built((g1, g2, g3)), cfg, ITEMS, T)
    np.testing.assert_allclose(scaled.alpha3, g1**2 * plain.alpha3, rtol=1e-6)  # W_Q¹ and W_K¹
    np.testing.assert_allclose(scaled.beta2, g1 * g2**2 * plain.beta2, rtol=1e-6)  # W_V¹, W_Q², W_K²
    np.testing.assert_allclose(scaled.gamma3, g2 * g3 * plain.gamma3, rtol=1e-6)  # W_V², final gain


def test_measures_agree_with_the_weight_blocks():
    task = Task(n_pairs=3)
    cfg = ModelConfig(d_model=16, heads=2, positions="learned")
    params = init_params(jax.random.PRNGKey(4), cfg, task)
    params = params._replace(unembed=jax.random.normal(jax.random.PRNGKey(5), params.unembed.shape))
    p = progress_measures(params, cfg, task.class_vectors()[: task.n_items], task.seq_len)
    blocks = weight_blocks(params, cfg, task, previous_token=np.ones(2))
    sub = [np.trace(m, offset=-1) for m in blocks["pos_qk"]]  # Σ_i score(i, i−1)
    np.testing.assert_allclose(p.alpha3, sub, rtol=1e-4)
    np.testing.assert_allclose(p.gamma3, [np.trace(m) for m in blocks["copy"]], rtol=1e-4)


def test_rope_alpha_is_the_rotated_score_on_the_mean_tokens():
    """Under RoPE, α̃3 = Σ_t Re(z_q(t) conj(z_k(t−1)) e^{iω}) / √d_h over the rotated pairs."""
    task = Task(n_pairs=3)
    cfg = ModelConfig(d_model=16, heads=2, positions="rope", layer_norm=False)
    params = init_params(jax.random.PRNGKey(7), cfg, task)
    items = task.class_vectors()[: task.n_items]
    p = np.asarray(position_inputs(params, cfg, items, task.seq_len), float)
    np.testing.assert_allclose(p[1], np.mean(np.asarray(params.label_emb), axis=0), rtol=1e-6)
    dh, half = cfg.head_dim, cfg.head_dim // 2
    omega = cfg.rope_base ** (-np.arange(half) * 2.0 / dh)
    want = []
    for h in range(cfg.heads):
        q = p @ np.asarray(params.layers[0].wq[h], float)
        k = p @ np.asarray(params.layers[0].wk[h], float)
        zq, zk = q[:, :half] + 1j * q[:, half:], k[:, :half] + 1j * k[:, half:]
        want.append(np.sum(np.real(zq[1:] * np.conj(zk[:-1]) * np.exp(1j * omega))) / math.sqrt(dh))
    got = progress_measures(params, cfg, items, task.seq_len).alpha3
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_emergence_step_and_order():
    steps = [0, 10, 20, 30, 40]
    values = [1.0, 1.0, 2.0, 3.0, 5.0]  # progress 0, 0, 0.25, 0.5, 1 against step 40
    assert emergence_step(steps, values, 40, 0.5) == pytest.approx(30.0)
    assert emergence_step(steps, values, 40, 0.1) == pytest.approx(14.0)
    assert emergence_step(steps, values, 20, 0.5) == pytest.approx(15.0)  # x(20) − x(0) = 1
    falling = [0.0, -1.0, -2.0, -2.0, -2.0]  # progress counts towards the reference, either sign
    assert emergence_step(steps, falling, 40, 0.5) == pytest.approx(10.0)
    assert np.isnan(emergence_step(steps, [1.0] * 5, 40, 0.5))
    assert emergence_order(dict(alpha3=30.0, beta2=20.0, gamma3=5.0)) == "gamma3 < beta2 < alpha3"
    assert emergence_order(dict(alpha3=float("nan"), beta2=20.0, gamma3=25.0)) == "beta2 < gamma3 < alpha3?"


def test_squared_error_is_half_at_zero_logits():
    logits = jnp.zeros((3, 4))
    np.testing.assert_allclose(squared_error(logits, jnp.asarray([0, 2, 3])), 0.5)
    np.testing.assert_allclose(squared_error(jnp.eye(4)[:2] * 3, jnp.asarray([0, 1])), 2.0)
