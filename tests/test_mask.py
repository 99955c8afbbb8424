"""The network's options (MODEL.md): closed form against the explicit network under both
masks, both positional codes and both query modes, and emergence times against independent
computations.

The reference t* values and their tolerance are in ``references.py``.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import direct_value_and_grad, random_theta, value_and_grad
from references import INCLUSIVE_19, PAIRED_3, PAIRED_19, STRICT_3, assert_t_star

from induction_ode import (
    KEY_PARAMS,
    LAYER1_MASKS,
    POSITIONS,
    QUERIES,
    Model,
    attention_patterns,
    is_induction_head,
    population_loss,
    sweep,
)
from induction_ode import sweeps as sweeps_module
from induction_ode.subspace import embed
from induction_ode.task import canonical_batch
from induction_ode.transformer import batch_losses


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("layer1_mask", LAYER1_MASKS)
@pytest.mark.parametrize("n_pairs", [2, 5])  # N = 5: the programs of the α1 ≪ 0 test below
def test_closed_form_equals_explicit_network(layer1_mask, positions, query, n_pairs, rng):
    """Two float64 evaluations of the same sum in different orders (the closed form and the
    explicit network at d = 2N and the code's positional width on the canonical sequences):
    1e-10 relative in the loss and 1e-10 absolute in the O(1) gradient, as the issue asks."""
    model = Model(layer1_mask=layer1_mask, positions=positions, query=query)
    for _ in range(2):
        theta = jnp.asarray(random_theta(rng, 5.0))
        v_fast, g_fast = value_and_grad(theta, n_pairs, model=model)
        v_direct, g_direct = direct_value_and_grad(theta, n_pairs, model=model)
        assert float(v_fast) == pytest.approx(float(v_direct), rel=1e-10)
        np.testing.assert_allclose(g_fast, g_direct, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "option", [dict(layer1_mask="inclusive"), dict(positions="sinusoidal"), dict(query="last")]
)
def test_each_option_reaches_the_loss(option, rng):
    theta = jnp.asarray(random_theta(rng, 2.0))
    default = float(population_loss(theta, 3))
    assert abs(float(population_loss(theta, 3, model=Model(**option))) - default) > 1e-3


@pytest.mark.parametrize("positions", POSITIONS)
def test_strict_row_excludes_itself(positions, rng):
    theta = jnp.asarray(random_theta(rng, 2.0))
    layer1, _ = attention_patterns(theta, 3, 1, model=Model(positions=positions))
    layer1 = np.asarray(layer1)
    np.testing.assert_allclose(layer1.sum(axis=1), 1.0, atol=1e-14)
    assert layer1[0, 0] == 1.0  # position 0 has no earlier key: it attends to itself
    np.testing.assert_array_equal(np.diag(layer1)[1:], 0.0)  # nobody else sees itself
    np.testing.assert_array_equal(np.triu(layer1, k=1), 0.0)  # causal


def test_explicit_network_strict_rows_by_hand():
    """With only α1 nonzero, layer-1 scores are α1·[s = t] on token blocks: under the strict
    mask no row sees itself, so α1 cannot move the context rows (they stay uniform over s < t)."""
    theta = jnp.zeros(19).at[0].set(3.0).at[18].set(1.0)
    n = 2
    batch = canonical_batch(n, positions="sinusoidal")
    strict = batch_losses(embed(theta, 4), batch, layer1_mask="strict")
    inclusive = batch_losses(embed(theta, 4), batch, layer1_mask="inclusive")
    assert not np.allclose(strict, inclusive)
    model = Model(positions="sinusoidal")
    np.testing.assert_allclose(jnp.mean(strict), population_loss(theta, n, model=model), rtol=1e-12)
    # The rows themselves, at N = 3 (the program of test_strict_row_excludes_itself): every
    # context row t ≥ 1 is uniform over s < t; the query's row, whose item appears at 2k, is not.
    layer1, _ = attention_patterns(theta, 3, 1, model=model)
    layer1 = np.asarray(layer1)
    for t in range(1, 6):
        np.testing.assert_allclose(layer1[t, :t], 1.0 / t, rtol=1e-14)
    assert layer1[6, 2] == pytest.approx(np.exp(3.0) * layer1[6, 0], rel=1e-12)  # α1 = 3: e³


def test_alpha1_very_negative_does_not_cancel():
    """The O(T²) query-key overlaps leave the query's own item out by prefix and suffix sums; a
    rank-one correction of one shared row (the old form) cancelled when α1 << 0."""
    theta = np.zeros(19)
    theta[[0, 1, 2, 6, 18]] = [-40.0, 3.0, -2.0, 5.0, 1.0]
    for mask in LAYER1_MASKS:
        for positions in POSITIONS:
            model = Model(layer1_mask=mask, positions=positions)
            fast = value_and_grad(jnp.asarray(theta), 5, model=model)
            direct = direct_value_and_grad(jnp.asarray(theta), 5, model=model)
            assert float(fast[0]) == pytest.approx(float(direct[0]), rel=1e-12)
            np.testing.assert_allclose(fast[1], direct[1], rtol=0, atol=1e-10)


@pytest.fixture(scope="module")
def paired_sweeps():
    """N = 2 and 4 by tsit5 (which compiles in half the time of bdf; bdf is checked against the
    same references in test_ode.py): all free, and α3, β2, γ3 alone (the reduced closed form,
    induction_ode.reduced). Two compiled programs."""
    return sweep([2, 4], solver="tsit5"), sweep([2, 4], solver="tsit5", model=Model(free=KEY_PARAMS))


def test_paired_t_star(paired_sweeps):
    full, key3 = paired_sweeps
    assert_t_star(full.results, PAIRED_19)
    assert_t_star(key3.results, PAIRED_3)


def test_emergence_through_the_hook_equals_the_general_path(paired_sweeps, monkeypatch):
    """α3, β2, γ3 alone through the reduced closed form (the hook) and through the general one
    with the free mask as data (whose program is the all-free sweep's: no new compilation)."""
    hooked = paired_sweeps[1]
    monkeypatch.setattr(sweeps_module, "program_model", lambda m, theta0=None: m.replace(free=None))
    general = sweep([2, 4], solver="tsit5", model=Model(free=KEY_PARAMS))
    assert general.n_compilations == 0
    for h, g in zip(hooked.results, general.results):
        assert h.emerged and g.emerged
        assert h.t_star == pytest.approx(g.t_star, rel=1e-7)
        for name in KEY_PARAMS:
            assert h.half_times[name] == pytest.approx(g.half_times[name], rel=1e-7)
            assert h.paper_times[name] == pytest.approx(g.paper_times[name], rel=1e-7, nan_ok=True)
        assert h.label_contrast == pytest.approx(g.label_contrast, rel=1e-7)


def test_sinusoidal_references():
    """The old code's references, each model in one program, with tsit5 (which compiles in half
    the time of bdf): α3, β2, γ3 alone through the reduced closed form (induction_ode.reduced),
    and the inclusive mask. The strict mask with all free (N = 4 and 16) is checked on both
    solvers in test_ode.py::test_implicit_solvers_agree_with_tsit5, which compiles those
    programs anyway."""
    runs = (
        ("strict", KEY_PARAMS, [4, 8, 16], "tsit5", STRICT_3),
        ("inclusive", None, [2, 4], "tsit5", INCLUSIVE_19),
    )
    for mask, free, lengths, solver, ref in runs:
        model = Model(positions="sinusoidal", layer1_mask=mask, free=free)
        result = sweep(lengths, solver=solver, model=model)
        assert_t_star(result.results, ref)
        if free is not None:
            assert all(is_induction_head(e) for e in result.results)  # α3, β2, γ3 alone form the head


def test_bad_options():
    for option, value in (("layer1_mask", "causal"), ("positions", "rope"), ("query", "first")):
        with pytest.raises(ValueError, match=f"unknown {option}"):
            Model(**{option: value})
