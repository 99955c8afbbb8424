"""Shared fixtures. Importing induction_ode enables float64 for every test.

The suite spends most of its time compiling, so it turns on JAX's persistent compilation
cache in a directory outside the clone (``$INDUCTION_ODE_TEST_CACHE``, default
``~/.cache/induction_ode/jax``): a second run on the same machine loads the programs instead
of compiling them. Set ``INDUCTION_ODE_TEST_CACHE=`` (empty) to run cold.

The suite runs in parallel (pytest-xdist, ``-n auto`` in ``pyproject.toml``): one worker per
CPU core, at most :data:`MAX_WORKERS`, since compilation is single-threaded and a worker holds
a JAX runtime (~0.5 GB). ``-n 0`` runs it in one process.

Compilation, not execution, is what the suite spends its time on: a test integrates for
milliseconds a program that took tens of seconds to compile, so the tests share lengths and
models where they can, and the suite compiles with :data:`TEST_XLA_FLAGS`: XLA CPU's elemental
emitters instead of its fusion emitters, and no LLVM optimisation. That compiles the emergence
programs 2.5–3x faster (measured: tsit5 at N = 4 14.4 → 6.3 s of CPU, bdf 36.5 → 13.4 s) and the
whole cold suite about 1.8x faster, with the same steps and t* equal to ~1e-15 relative (measured at N = 2
and 4). Execution is slower, which only the few
tests that train a network for long notice. (Optimisation level 0 *with* the fusion emitters
miscompiles: the tsit5 emergence program at N = 2 and 4 under the sinusoidal code then takes
32,768 steps where 84 suffice.) Set ``INDUCTION_ODE_TEST_XLA_FLAGS=`` (empty) to compile with
XLA's defaults; flags already in ``XLA_FLAGS`` win.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TEST_XLA_FLAGS = "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0"
_flags = os.environ.get("INDUCTION_ODE_TEST_XLA_FLAGS", TEST_XLA_FLAGS)
if _flags not in os.environ.get("XLA_FLAGS", ""):  # before JAX starts its CPU client
    os.environ["XLA_FLAGS"] = f"{_flags} {os.environ.get('XLA_FLAGS', '')}".strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import induction_ode  # noqa: E402, F401  (enables x64)

_cache = os.environ.get("INDUCTION_ODE_TEST_CACHE", str(Path.home() / ".cache" / "induction_ode" / "jax"))
if _cache:
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _cache)  # for the tests' subprocesses
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core the process may use, at most :data:`MAX_WORKERS`."""
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


def virtual_devices_env(count: int) -> dict:
    """The environment of a subprocess whose JAX sees ``count`` CPU devices (and this suite's
    XLA flags)."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={count}"
    return dict(os.environ, XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu")


# The suite's time is compilation: one jitted program per (N, model) of the closed form's and
# the explicit network's loss and gradient serves every test of a module that asks for it.
value_and_grad = jax.jit(
    jax.value_and_grad(induction_ode.population_loss), static_argnums=1, static_argnames="model"
)
direct_value_and_grad = jax.jit(
    jax.value_and_grad(induction_ode.population_loss_direct), static_argnums=1, static_argnames="model"
)


@pytest.fixture
def rng():
    return np.random.default_rng(20251101)


def random_theta(rng, scale, size=19):
    """θ with i.i.d. uniform entries in [-scale, scale]."""
    return rng.uniform(-scale, scale, size=size)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """After each test module, drop the compiled programs that the package and JAX keep alive.

    One process that holds every program of the suite at once (hundreds of XLA CPU
    executables) crashed in XLA while loading one more. Releasing them per module keeps the
    process small; the persistent cache makes a later recompilation a disk read.
    """
    yield
    for name, module in list(sys.modules.items()):
        if name == "induction_ode" or name.startswith("induction_ode."):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                    value.cache_clear()
    jax.clear_caches()


def interrupt_when_kept(command, path, field, count, *, wait_s, finish_s):
    """Run ``python -m induction_ode COMMAND`` and send it SIGINT once the JSON file ``path``
    lists ``count`` entries under ``field``; wait ``finish_s`` for it to end. Hard timeouts:
    ``wait_s`` for the parts to appear; the process group is killed in any case.

    Returns ``(returncode, stderr, interrupted)``: ``interrupted`` is the ``time.time()`` of the
    signal, ``None`` when the parts never appeared.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = [sys.executable, "-m", "induction_ode", *command]
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    interrupted = None
    try:
        deadline = time.time() + wait_s
        while time.time() < deadline and proc.poll() is None:
            if path.exists() and len(json.loads(path.read_text())[field]) >= count:
                proc.send_signal(signal.SIGINT)
                interrupted = time.time()
                break
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=finish_s)
    finally:
        if proc.poll() is None:  # the command and anything it started
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode, stderr, interrupted

