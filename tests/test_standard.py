"""Standard transformers (issue 12): task, model, clamps, metrics, structure, and small trained checks.

The trained checks here use a small model (N = 3, D = 32, 4 heads, learned positions, 600
Adam steps) that trains in seconds; the same checks at Singh et al.'s size are in
``tests/test_standard_slow.py`` (marked ``slow``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from induction_ode.standard.clamps import StandardClamp, ablation
from induction_ode.standard.metrics import ablation_table, induction_strength, previous_token_score
from induction_ode.standard.model import (
    ModelConfig,
    cross_entropy,
    init_params,
    loss_and_accuracy,
    match_row,
    previous_token_pattern,
    rope,
)
from induction_ode.standard.model import forward as _forward
from induction_ode.standard.task import Task, sample, singh_preset
from induction_ode.standard.training import TrainConfig, held_out_batch, train
from induction_ode.standard.weights import block_masks, structure, structure_score

TASK = Task(n_pairs=3)
MODEL = ModelConfig(d_model=32, heads=4, positions="learned")
CFG = TrainConfig(steps=600, lr=3e-3, batch=32, eval_every=50)


forward = jax.jit(_forward, static_argnums=1)  # one compilation instead of many eager ops


@pytest.fixture(scope="module")
def trained():
    return train(TASK, MODEL, CFG)


def batch_of(task=TASK, n=64, seed=1, heldout=False):
    return sample(task, jax.random.PRNGKey(seed), n, heldout=heldout)


def test_task_layout_and_held_out_items():
    b = batch_of(n=256)
    n = TASK.n_pairs
    rows = np.arange(256)
    np.testing.assert_array_equal(np.asarray(b.items[:, n]), np.asarray(b.items[rows, b.k]))
    np.testing.assert_array_equal(np.asarray(b.target), np.asarray(b.labels[rows, b.k]))
    for ids in (np.asarray(b.labels), np.asarray(b.item_ids[:, :n])):
        assert all(len(set(r)) == n for r in ids)  # distinct within a sequence
    assert np.asarray(b.item_ids).max() < TASK.n_items
    h = batch_of(n=256, heldout=True)
    assert np.asarray(h.item_ids).min() >= TASK.n_items
    assert set(np.asarray(b.k)) == set(range(n)) and b.items.dtype == jnp.float32
    p = singh_preset()
    assert (p.n_pairs, p.n_labels, p.n_items, p.item_dim) == (2, 5, 50, 512)
    with pytest.raises(ValueError, match="n_labels"):
        Task(n_pairs=3, n_labels=2)


@pytest.mark.parametrize("positions", ["rope", "learned"])
def test_initial_model_is_causal_and_starts_at_ln_L(positions):
    task = Task(n_pairs=3, n_labels=5)  # the shapes of the copy test below: one compilation
    cfg = ModelConfig(d_model=16, heads=2, positions=positions)
    params = init_params(jax.random.PRNGKey(0), cfg, task)
    b = batch_of(task)
    out = forward(params, cfg, ablation(2), b)
    T = TASK.seq_len
    learned = np.asarray(out.learned)
    assert learned.shape == (64, 2, 2, T, T)
    np.testing.assert_allclose(learned.sum(-1), 1.0, atol=1e-5)
    assert np.all(learned[..., ~np.tril(np.ones((T, T), bool))] == 0.0)
    loss = jnp.mean(cross_entropy(out.logits, b.target))  # zero unembedding
    np.testing.assert_allclose(float(loss), np.log(task.n_labels), rtol=1e-6)


def test_rope_scores_depend_only_on_relative_position():
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal(8), rng.standard_normal(8)
    xq = rope(jnp.asarray(np.tile(q, (1, 6, 1)), jnp.float32), 1e4)[0]
    xk = rope(jnp.asarray(np.tile(k, (1, 6, 1)), jnp.float32), 1e4)[0]
    s = np.asarray(xq @ xk.T)
    for lag in range(-2, 3):
        d = np.diagonal(s, offset=lag)
        np.testing.assert_allclose(d, d[0], rtol=1e-4, atol=1e-4)


def test_clamp_parse_and_labels():
    c = StandardClamp.parse("previous_token@0.1+match=0.8+copy")
    assert c.previous_token == (0, 1) and c.match == "all" and c.match_strength == 0.8 and c.copy == "all"
    assert c.label() == "previous_token@0.1+match=0.8+copy" and c.patterns() == (
        "previous_token",
        "match",
        "copy",
    )
    a = StandardClamp.parse("ablate=L2H3+ablate=l1", from_step=5)
    assert a.ablate == ((2, 3), (1, "all")) and a.label() == "ablate=L2H3+ablate=L1 (step>=5)"
    assert StandardClamp.parse("none").empty and StandardClamp.parse("none").label() == "none"
    assert StandardClamp.parse("none", from_step=5).label() == "none"  # holds nothing at any step
    arrays = a.arrays(4)
    np.testing.assert_array_equal(np.asarray(arrays.ablate), [[1, 1, 1, 1], [0, 0, 0, 1]])
    assert not np.asarray(arrays.at_step(4).ablate).any() and np.asarray(arrays.at_step(5).ablate).sum() == 5
    for bad, message in [
        ("induction", "unknown clamp"),
        ("ablate=L3H0", "ablate=L2H3"),
        ("copy=0.5", "only match"),
        ("match=x", "not a number"),
        ("match=1.5", "strength"),
        ("match@a", "integers"),
        ("match+match@1", "twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            StandardClamp.parse(bad)
    with pytest.raises(ValueError, match="out of range"):
        StandardClamp.parse("match@4").arrays(4)


def test_metrics_on_ideal_patterns():
    T, n = 9, 4
    prev = jnp.broadcast_to(previous_token_pattern(T), (5, 2, T, T))
    np.testing.assert_allclose(np.asarray(previous_token_score(prev)), 1.0)
    k = jnp.array([0, 1, 2, 3, 1])
    for s in (1.0, 0.8, 0.25):
        rows = jax.vmap(lambda kk, s=s: match_row(T, kk, s))(k)
        np.testing.assert_allclose(np.asarray(rows.sum(-1)), 1.0, rtol=1e-6)
        pat = jnp.zeros((5, 1, T, T)).at[:, 0, T - 1].set(rows)
        np.testing.assert_allclose(np.asarray(induction_strength(pat, k)), s - (1 - s) / (n - 1), rtol=1e-5)
    uniform = jnp.full((5, 1, T, T), 1.0 / T)
    np.testing.assert_allclose(np.asarray(induction_strength(uniform, k)), 0.0, atol=1e-7)


def test_clamped_patterns_are_exact_and_unclamped_heads_learn():
    """Layer-1 head 0 and layer-2 head 1 clamped for 40 steps of training."""
    cfg = TrainConfig(steps=40, lr=3e-3, batch=32, eval_every=50)
    spec = StandardClamp.parse("previous_token@0+match@1")
    run = train(TASK, MODEL, cfg, spec)
    p, p0 = run.params, run.params0
    b = held_out_batch(TASK, cfg)
    out = forward(p, MODEL, spec.arrays(4), b)
    T = TASK.seq_len
    used, learned = np.asarray(out.used), np.asarray(out.learned)
    assert np.all(used[:, 0, 0] == np.asarray(previous_token_pattern(T)))
    rows = np.asarray(jax.vmap(lambda k: match_row(T, k, 1.0))(b.k))
    assert np.all(used[:, 1, 1, T - 1] == rows)
    assert np.all(used[:, 1, 1, : T - 1] == learned[:, 1, 1, : T - 1])  # other rows are not clamped
    assert np.all(used[:, 0, 1:] == learned[:, 0, 1:]) and np.all(
        used[:, 1, [0, 2, 3]] == learned[:, 1, [0, 2, 3]]
    )
    assert np.abs(learned[:, 0, 0] - used[:, 0, 0]).max() > 0.1  # the clamp really replaced something
    # The clamped patterns cut the gradient of their own QK weights, and only of those.
    grads = jax.jit(jax.grad(lambda q: loss_and_accuracy(q, MODEL, spec.arrays(4), b)[0]))(p)
    for layer, head in ((0, 0), (1, 1)):
        for name in ("wq", "wk"):
            assert np.all(np.asarray(getattr(grads.layers[layer], name)[head]) == 0.0)
            np.testing.assert_array_equal(
                getattr(p.layers[layer], name)[head], getattr(p0.layers[layer], name)[head]
            )
        assert np.abs(np.asarray(grads.layers[layer].wv[head])).max() > 0  # values still learn
    for layer, head in ((0, 1), (0, 3), (1, 0), (1, 2)):
        assert np.abs(np.asarray(grads.layers[layer].wq[head])).max() > 0
        assert np.abs(np.asarray(p.layers[layer].wq[head] - p0.layers[layer].wq[head])).max() > 0


def test_clamp_from_step_leaves_the_start_unclamped():
    cfg = TrainConfig(steps=40, lr=3e-3, batch=32, eval_every=50)
    late = train(TASK, MODEL, cfg, StandardClamp.parse("previous_token@0", from_step=20))
    moved = late.params.layers[0].wq[0] - late.params0.layers[0].wq[0]
    assert np.abs(np.asarray(moved)).max() > 0  # head 0 learned during steps 0-19


def test_copy_clamp_reads_the_pre_softmax_scores():
    """Singh et al.'s copy: logits = layer-2 scores to the labels in context, −∞ elsewhere."""
    task = Task(n_pairs=3, n_labels=5)
    cfg = ModelConfig(d_model=16, heads=2, positions="rope")
    params = init_params(jax.random.PRNGKey(3), cfg, task)
    b = batch_of(task)
    ours = forward(params, cfg, StandardClamp.parse("copy@1").arrays(2), b)
    scores = np.asarray(ours.scores2[:, 1, 1 : 2 * 3 : 2])  # (B, N) scores of head 1 to the labels
    expected = np.full((64, 5), -1e9)
    np.put_along_axis(expected, np.asarray(b.labels), scores, axis=1)
    got = np.asarray(cross_entropy(ours.logits, b.target))
    want = np.asarray(cross_entropy(jnp.asarray(expected, jnp.float32), b.target))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    both = forward(params, cfg, StandardClamp.parse("match+copy").arrays(2), b)
    np.testing.assert_allclose(np.asarray(cross_entropy(both.logits, b.target)), 0.0, atol=1e-6)


def test_structure_score():
    T = 9
    predicted, valid = block_masks("pos_qk", (T, T))
    perfect = 3.0 * np.eye(T, k=-1)
    score = structure_score(perfect, predicted, valid)
    t = np.arange(1, T)  # row t has t + 1 causal entries; centring leaves t/(t+1) of c on the subdiagonal
    np.testing.assert_allclose(score, np.sum((t / (t + 1)) ** 2) / np.sum(t / (t + 1)), rtol=1e-12)
    assert score > 0.75
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((T, T))
    shifted = noise + rng.standard_normal((T, 1))  # a constant per row changes no softmax
    np.testing.assert_allclose(
        structure_score(noise, predicted, valid), structure_score(shifted, predicted, valid), rtol=1e-12
    )
    random_scores = [structure_score(rng.standard_normal((T, T)), predicted, valid) for _ in range(200)]
    assert 0.1 < np.mean(random_scores) < 0.4  # about 2/T


def test_rope_model_has_no_positional_block():
    cfg = ModelConfig(d_model=16, heads=2)
    params = init_params(jax.random.PRNGKey(0), cfg, TASK)
    st = structure(params, cfg, TASK, previous_token=np.array([0.2, 0.4]), induction=np.array([0.1, 0.0]))
    assert st["pos_qk"] is None
    assert st["tok_qk"]["head"] == 1 and st["match"]["head"] == 0
    assert np.asarray(st["tok_qk"]["matrix"]).shape == (16 + TASK.n_labels,) * 2
    assert np.isnan(st["copy"]["score"])  # the unembedding starts at zero


def test_trained_small_model_has_heads(trained):
    assert trained.accuracy[-1] > 0.8
    assert trained.induction[-1].max() > 0.5
    assert trained.previous_token[-1].max() > 0.5
    assert trained.loss[0] == pytest.approx(np.log(3), rel=1e-5)


def test_ablating_every_layer2_head_gives_chance(trained):
    table = ablation_table(trained.params, MODEL, held_out_batch(TASK, CFG))
    assert table["full"] > 0.8
    assert abs(table["no_layer2"] - 1 / 3) < 0.07  # 512 sequences: standard error 0.021
    assert len(table["layer2"]["only"]) == 4 and max(table["layer2"]["only"]) > 0.5


def test_rope_model_learns_and_match_copy_removes_the_plateau():
    """The default positions (RoPE) at the small size: the heads form, the loss halves at step
    212 (measured) of 600, and with match+copy clamped at step 0 (the slow test's check at
    Singh et al.'s size, test_standard_slow.py)."""
    rope = ModelConfig(d_model=32, heads=4)
    assert rope.positions == "rope"
    run = train(TASK, rope, CFG)
    assert run.steps[-1] == CFG.steps and run.accuracy[-1] > 0.8
    assert run.induction[-1].max() > 0.5 and run.previous_token[-1].max() > 0.5
    ref = run.phase_step()
    assert 100 < ref < 400
    both = train(TASK, rope, CFG, "match+copy").phase_step(run.loss[0])
    assert both < 0.2 * ref


def test_structure_of_the_small_trained_model(trained):
    """Fast version of the 3× check: at T = 7 a random block already scores about 0.3, so
    3× is out of reach here; the full check (T = 9, 8 heads) is in test_standard_slow.py."""
    kw = dict(previous_token=trained.previous_token[-1], induction=trained.induction[-1])
    after = structure(trained.params, MODEL, TASK, **kw)
    before = structure(trained.params0, MODEL, TASK, **kw)
    assert after["pos_qk"]["head"] == before["pos_qk"]["head"]
    assert after["pos_qk"]["score"] >= 1.5 * before["pos_qk"]["score"]
    assert after["match"]["score"] >= 2.0 * before["match"]["score"]
    # Copying: each label's row of the 3×3 copy block peaks on its own column. Row-centred, a
    # perfect copy (d on the diagonal, −d/2 off it) scores 2/3 at most; measured 0.661. A
    # random block scores 1/3 on average, > 0.6 with probability 5%, and > 0.6 with its
    # diagonal as every row's maximum 0.5% (20,000 Gaussian blocks).
    copy = after["copy"]
    assert 0.6 < copy["score"] <= 2 / 3 + 1e-12
    np.testing.assert_array_equal(np.argmax(np.asarray(copy["matrix"]), axis=1), [0, 1, 2])


def test_public_api_names_are_the_functions():
    import induction_ode.standard as std

    assert callable(std.train) and callable(std.structure) and callable(std.clamp_study)
    assert std.train is train and std.structure is structure
    assert set(std.__all__) <= set(dir(std))
