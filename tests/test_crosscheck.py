"""The full-weight network stays in the subspace and follows the ODE; the check can fail."""

import json

import numpy as np
import pytest

from induction_ode import crosscheck
from induction_ode.transformer import train

N, D = 3, 8
# Off-subspace noise falls like 1/sqrt(batch): at lr = 1 (lr = 2 diverges) we measured a
# maximum fraction of 0.088 at batch 1024, 0.042 at 4096, 0.032 at 8192, 0.020 at 16384 and
# 0.0135 at 32768; the trajectory error stays near 0.015 and t* full/ODE near 1.003 at every
# batch from 4096 up. The default suite runs batch 4096 with a 1.9x margin on the fraction;
# the slow test runs 32768 (1.5x margin under 2e-2).
LR, STEPS = 1.0, 900
BATCHES = {"default": (4096, 8e-2), "slow": (32768, 2e-2)}


@pytest.fixture(scope="module", params=["default", pytest.param("slow", marks=pytest.mark.slow)])
def check(request):
    batch, bound = BATCHES[request.param]
    return crosscheck(N, D, batch=batch, steps=STEPS, lr=LR, seed=0), bound


def test_full_model_follows_the_ode(check):
    check, bound = check
    assert np.isfinite(check.t_star_full), "the full model did not learn the induction head"
    assert check.ts[-1] > 1.5 * check.t_star_ode  # the check runs past emergence
    assert check.max_off_subspace_fraction < bound
    assert check.max_trajectory_rel_error < 5e-2
    assert abs(check.t_star_ratio - 1) < 0.05
    record = json.loads(json.dumps(check.to_json()))
    for key in ("max_off_subspace_fraction", "max_trajectory_rel_error", "t_star_ode", "t_star_full"):
        assert isinstance(record[key], float)


def _off_after(steps, batch, **kw):
    run = train(N, D, steps=steps, lr=LR, batch=batch, record_every=steps, tokens="signed_perm", **kw)
    return float(run.off_subspace[-1])


def test_off_subspace_noise_falls_like_inverse_sqrt_batch():
    batches = np.array([512, 2048, 8192])
    off = np.array([_off_after(100, b) for b in batches])
    slope = np.polyfit(np.log(batches), np.log(off), 1)[0]
    assert -0.7 < slope < -0.3, (off, slope)


@pytest.fixture(scope="module")
def isotropic():
    """The off-subspace fraction after 200 steps at batch 4096 with the symmetric sampler."""
    return _off_after(200, 4096)


@pytest.mark.parametrize("control", [dict(phase="fixed"), dict(tokens="fixed")])
def test_symmetry_breaking_controls_leave_the_subspace(control, isotropic):
    """A fixed phase breaks SO(2), a fixed token frame breaks O(d): the weights leave."""
    broken = train(N, D, steps=200, lr=LR, batch=4096, record_every=200, **control).off_subspace[-1]
    assert float(broken) > 10 * isotropic


def test_gaussian_tokens_keep_the_symmetry(isotropic):
    """Non-orthonormal but i.i.d. Gaussian tokens are still O(d)-invariant in distribution, so
    the symmetry argument still confines the weights: the fraction stays near the isotropic one
    (measured 1.3x at 200 steps, 1.7x at 600), far from the 10x of a real symmetry break."""
    gaussian = float(
        train(N, D, steps=200, lr=LR, batch=4096, record_every=200, tokens="gaussian").off_subspace[-1]
    )
    assert gaussian < 3 * isotropic
