"""Reduced dynamics (free=) and clamps: the hooks issue 6 builds on."""

import jax.numpy as jnp
import numpy as np
import pytest

from induction_ode import PARAM_NAMES, Clamp, Model, attention_patterns, population_loss, simulate

TS = np.linspace(0.0, 60.0, 7)


def test_all_free_equals_full_run():
    full = simulate(2, 60.0, ts=TS)
    reduced = simulate(2, 60.0, ts=TS, model=Model(free=PARAM_NAMES))
    np.testing.assert_array_equal(reduced.thetas, full.thetas)


def test_value_clamp_holds_exactly_and_frozen_stay_put():
    model = Model(clamp=Clamp.make({"alpha3": 0.7}), free=("alpha3", "beta2", "gamma3"))
    traj = simulate(2, 60.0, ts=TS, model=model)
    assert np.all(traj.thetas[:, PARAM_NAMES.index("alpha3")] == 0.7)
    frozen = [i for i, n in enumerate(PARAM_NAMES) if n not in ("alpha3", "beta2", "gamma3")]
    assert np.all(traj.thetas[:, frozen] == 0.0)
    assert np.any(traj.thetas[-1, PARAM_NAMES.index("gamma3")] != 0.0)


def test_match_clamp_puts_all_weight_on_the_label(rng):
    theta = jnp.asarray(rng.uniform(-3, 3, 19))
    for k in range(4):
        _, layer2 = attention_patterns(theta, 4, k, patterns=("match",))
        np.testing.assert_array_equal(np.asarray(layer2), np.eye(9)[2 * k + 1])


def test_match_and_copy_remove_the_plateau():
    """With the label retrieved exactly and copied exactly, ŷ = y_k: the loss is 0 at once,
    far below the emergence threshold ½ L(0) = ¼ of the unclamped run (no plateau at all)."""
    traj = simulate(2, 60.0, ts=TS, model=Model(clamp=Clamp.make(patterns=("match", "copy"))))
    assert np.max(traj.losses) < 1e-12
    assert float(population_loss(jnp.zeros(19), 2, patterns=("match", "copy"))) == 0.0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Clamp.make({"alpha9": 1.0}), "unknown pseudo-parameter"),
        (lambda: Clamp.make(patterns=("induction",)), "unknown clamp"),
        (lambda: Clamp.make(patterns=("match",), t_on=-1.0), "t_on"),
        (lambda: Model(free=("gamma7",)), "unknown pseudo-parameter"),
    ],
)
def test_bad_clamps(make, message):
    with pytest.raises(ValueError, match=message):
        make()
