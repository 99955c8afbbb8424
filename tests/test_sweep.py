"""Sweeps: shared compilation across lengths, agreement with single runs, and sharding."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import virtual_devices_env
from references import PAIRED_3, assert_t_star

from induction_ode import KEY_PARAMS, Model, emergence_time
from induction_ode import ode as ode_module
from induction_ode.sweeps import bucket_size, sweep

LENGTHS = list(range(2, 18))  # sixteen; α3, β2, γ3 alone never emerge at N = 1
# A length run inside a padded batch takes other adaptive steps than alone (roundoff
# differs), so t* agrees to the solver's tolerance, not to the last bit: rtol = 1e-8
# gives ~1e-9 relative here; 1e-6 leaves room.
SWEEP_VS_SINGLE_RTOL = 1e-6
# The tests of batching and sharding run α3, β2, γ3 alone: the same sweep machinery (padding,
# buckets, lanes, shards) on the reduced closed form, whose programs compile ~3x faster.
KEY3 = Model(free=KEY_PARAMS)


def test_sixteen_lengths_compile_once(monkeypatch):
    traces = []
    original = ode_module.emergence_core

    def counting(*args, **kwargs):
        traces.append(kwargs["n_pad"])
        return original(*args, **kwargs)

    monkeypatch.setattr(ode_module, "emergence_core", counting)
    ode_module.compiled_emergence.cache_clear()
    result = sweep(LENGTHS, t_max=4000.0, rtol=1e-6, atol=1e-8, solver="tsit5", model=KEY3)  # fastest
    assert traces == [17]
    assert result.n_compilations == 1
    assert list(result.n_pairs) == LENGTHS
    assert np.all(np.diff(result.t_star) > 0)  # the harder the task, the later
    ode_module.compiled_emergence.cache_clear()


def test_sweep_matches_single_runs_and_buckets():
    lengths = [2, 3]
    padded = sweep(lengths, model=KEY3)
    bucketed = sweep(lengths, batching="bucketed", model=KEY3)
    assert bucketed.n_compilations <= len({bucket_size(n) for n in lengths})
    for a, b in zip(padded.results, bucketed.results):
        assert a.t_star == pytest.approx(b.t_star, rel=SWEEP_VS_SINGLE_RTOL)
        for k, v in b.half_times.items():
            assert a.half_times[k] == pytest.approx(v, rel=SWEEP_VS_SINGLE_RTOL)
    # N = 2 is its own bucket, so the single run reuses that program.
    single = emergence_time(2, model=KEY3)
    assert padded.results[0].t_star == pytest.approx(single.t_star, rel=SWEEP_VS_SINGLE_RTOL)
    assert bucketed.results[0].t_star == single.t_star


def test_bdf_lanes_equal_single_runs():
    """The BDF solver batches natively under vmap (custom_vmap): lanes keep their own step and
    Jacobian schedule, so a lane equals its single run up to roundoff of batched arithmetic.
    N = 3 and 4 share the bucket n_pad = 4, the size of the single run of N = 4."""
    swept = sweep([3, 4], batching="bucketed", solver="bdf", model=KEY3)
    single = emergence_time(4, solver="bdf", model=KEY3)
    lane = swept.results[1]
    assert lane.t_star == pytest.approx(single.t_star, rel=1e-10)
    np.testing.assert_allclose(lane.theta_end, single.theta_end, rtol=1e-10, atol=1e-12)
    assert (lane.steps, lane.gradient_evals, lane.jacobian_evals) == (
        single.steps,
        single.gradient_evals,
        single.jacobian_evals,
    )


def test_streaming_groups_report_each_length():
    seen = []
    result = sweep([2, 4, 3], group_size=1, on_result=lambda e: seen.append(e.n_pairs), model=KEY3)
    assert seen == [2, 4, 3]
    assert result.n_compilations <= 1


def test_lanes_with_and_without_a_head():
    """A diffrax batch where one lane's event fires and another's does not: diffrax then
    root-finds on every lane, the silent one with a stand-in that is 0 at the bracket's upper
    end, which optimistix's sign detection rejected ("The root is not contained in [lower,
    upper]"), aborting the batch. With α3, β2, γ3 alone, N = 1 never emerges (its label and
    item keys tie, so L only tends to ½ L(0)); N = 2 does, at MODEL.md's reference t*."""
    result = sweep([1, 2], t_max=100.0, solver="tsit5", model=KEY3)
    assert [r.emerged for r in result.results] == [False, True]
    assert all(r.solved for r in result.results)
    assert np.isnan(result.t_star[0])
    assert_t_star(result.results, PAIRED_3)


@pytest.mark.parametrize("bad", [[], [0, 2], [2, "x"]])
def test_bad_lengths(bad):
    with pytest.raises(ValueError):
        sweep(bad)


SHARDED = """
import json, sys
import jax
import induction_ode
from induction_ode import KEY_PARAMS, Model
from induction_ode.sweeps import sweep
lengths, model = [2, 3, 4, 5, 6], Model(free=KEY_PARAMS)
one = sweep(lengths, devices=jax.devices()[:1], rtol=1e-8, solver="bdf", model=model)
four = sweep(lengths, devices=jax.devices(), rtol=1e-8, solver="bdf", model=model)
print(json.dumps(dict(n_devices=len(jax.devices()), one=one.t_star.tolist(), four=four.t_star.tolist(),
                      used=list(four.devices))))
"""


def test_sharded_sweep_equals_single_device():
    """The default solver (bdf, the custom_vmap path) on α3, β2, γ3 alone; tsit5 lanes go
    through the same shard_map, and the integrator-level sharding test is in test_bdf.py."""
    env = virtual_devices_env(4)
    out = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["n_devices"] == 4
    assert len(data["used"]) == 4
    # Each length is integrated by the same program on its own slice: identical arithmetic.
    np.testing.assert_allclose(data["four"], data["one"], rtol=1e-10)
