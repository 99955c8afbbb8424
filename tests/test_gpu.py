"""Accelerator path: runs only where JAX sees a GPU (CI has none; `benchmarks/` runs it)."""

import jax
import numpy as np
import pytest

from induction_ode import sweep

GPUS = [d for d in jax.devices() if d.platform == "gpu"]


@pytest.mark.skipif(not GPUS, reason="no GPU visible to JAX")
def test_gpu_sweep_runs_on_the_gpu_and_matches_cpu():
    """Same programs on both backends; float64 on each, so they agree far inside the 1e-3 that
    the precision test allows float32."""
    lengths = [4, 8, 16]
    gpu = sweep(lengths, devices=GPUS[:1])
    cpu = sweep(lengths, devices=jax.devices("cpu")[:1])
    assert "cuda" in gpu.devices[0].lower() or "gpu" in gpu.devices[0].lower()
    assert "cpu" in cpu.devices[0].lower()
    np.testing.assert_allclose(gpu.t_star, cpu.t_star, rtol=1e-3)
