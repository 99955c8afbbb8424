"""Emergence across many context lengths in one compiled, vmapped and sharded program.

Batching. Lengths with different ``T`` share compiled code by left-padding every sequence
to a common size (see :mod:`induction_ode.loss`): the query stays at the last index and pad
positions are masked out, so a padded length gives the same result as an unpadded one.

- ``"padded"`` (default): every length is padded to the largest ``N``. One compilation for
  the whole sweep, whatever the number of lengths. Small lengths pay the largest length's
  per-step cost, which is cheap next to a compilation on CPU.
- ``"bucketed"``: lengths are grouped by ``n_pad`` = the next power of two ≥ ``N``; one
  compilation per bucket, less wasted arithmetic per step. Worth it when the largest ``T``
  is expensive (thousands of tokens on an accelerator).

Devices. Each call shards the batch of lengths over a 1-D mesh ``("lengths",)`` of all
devices (or those passed in) with ``jax.sharding``; each device integrates its own slice of
lengths under ``jax.shard_map``, with no collective inside the integration loop
(:func:`~induction_ode.ode.sharded_program`). One device is the same code with a mesh of size 1.

Processes. With ``distributed`` (:class:`~induction_ode.distributed.Distributed`) the sweep
runs on JAX's multi-controller runtime: every process calls :func:`sweep` with the same
arguments, the mesh spans the devices of all of them, the lengths of a program are ordered by
expected cost and dealt over the mesh (:func:`~induction_ode.distributed.schedule`), and every
process receives every result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import numpy as np
from jax.sharding import Mesh

from .clamp import lane_data, layout
from .distributed import Distributed, expected_cost, gather, global_batch, schedule, start
from .model import Model
from .ode import (
    Emergence,
    check_memory,
    check_model,
    check_precision,
    compiled_emergence,
    default_t_max,
    initial_theta,
    resolve_solver,
    step_budget,
    to_emergence,
)
from .reduced import program_model
from .subspace import KEY_PARAMS, N_PARAMS
from .task import check_n_pairs
from .validation import check, check_values

BATCHINGS = ("padded", "bucketed")


@dataclass(frozen=True)
class SweepResult:
    """Emergence over context lengths.

    Attributes:
        results: one :class:`~induction_ode.ode.Emergence` per length, in input order.
        batching: ``"padded"`` or ``"bucketed"``.
        n_compilations: programs compiled by this sweep (0 when all were cached).
        wall_time: seconds for the whole sweep, compilation included.
        compile_time: seconds spent in tracing and compilation.
        devices: the devices of the mesh, as strings.
    """

    results: tuple[Emergence, ...]
    batching: str
    n_compilations: int
    wall_time: float
    compile_time: float
    devices: tuple[str, ...]

    @property
    def n_pairs(self) -> np.ndarray:
        return np.array([r.n_pairs for r in self.results])

    @property
    def seq_len(self) -> np.ndarray:
        """``T = 2N + 1`` in tokens."""
        return 2 * self.n_pairs + 1

    @property
    def t_star(self) -> np.ndarray:
        return np.array([r.t_star for r in self.results])

    @property
    def half_times(self) -> np.ndarray:
        """``(L, 3)`` half-times in ``KEY_PARAMS`` order."""
        return np.array([[r.half_times[k] for k in KEY_PARAMS] for r in self.results])


def bucket_size(n_pairs: int) -> int:
    """The bucket of a length under ``"bucketed"`` batching: next power of two ≥ ``N``."""
    return 1 << (int(n_pairs) - 1).bit_length()


def check_lengths(n_pairs_list) -> list[int]:
    lengths = [check_n_pairs(n) for n in n_pairs_list]
    if not lengths:
        raise ValueError("n_pairs_list must name at least one context length")
    return lengths


def call_inputs(theta, lengths, free, clamp, t_maxes, rtol, atol) -> tuple:
    """The host arrays of one call of a compiled sweep program: ``θ(0)`` and the ``(19,)``
    free mask broadcast to ``(size, 19)``, ``N`` ``(size,)`` int32, the clamp (a
    :class:`~induction_ode.clamp.Clamp` or ``None``) as :func:`~induction_ode.clamp.lane_data`
    with each field broadcast to a leading ``size`` axis, ``t_max`` ``(size,)``, ``rtol`` and
    ``atol`` ``()``, all in the precision of ``theta`` but ``N``."""
    dtype, size = np.asarray(theta).dtype, len(lengths)
    return (
        np.broadcast_to(np.asarray(theta), (size, N_PARAMS)),
        np.asarray(lengths, np.int32),
        np.broadcast_to(np.asarray(free, dtype), (size, N_PARAMS)),
        jax.tree.map(lambda a: np.broadcast_to(a, (size, *a.shape)), lane_data(clamp, dtype)),
        np.asarray(t_maxes, dtype),
        np.asarray(rtol, dtype),
        np.asarray(atol, dtype),
    )


def sweep(
    n_pairs_list: Sequence[int],
    t_max: float | Sequence[float] | None = None,
    *,
    model: Model | None = None,
    theta0=None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    precision: str = "float64",
    solver: str = "auto",
    max_steps: int | None = None,
    batching: str = "padded",
    group_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    on_result: Callable[[Emergence], None] | None = None,
    distributed: Distributed | None = None,
) -> SweepResult:
    """Emergence (:func:`~induction_ode.emergence_time`) for many context lengths at once.

    Args:
        n_pairs_list: the ``N`` of each length.
        t_max: one time limit for all, one per length, or ``None`` for
            :func:`~induction_ode.ode.default_t_max` of each.
        batching: ``"padded"`` or ``"bucketed"`` (see the module doc).
        group_size: lengths per compiled call (rounded up to a multiple of the device
            count; default: all the lengths of a bucket in one call). Smaller groups report
            results sooner through ``on_result``; the compiled program is the same.
        devices: the mesh's devices (default: all devices of the default backend, those of
            every process under ``distributed``).
        on_result: called with each length's :class:`Emergence` as soon as its group ends
            (on every process); where a group holds several lengths, groups come cheapest
            first (:func:`~induction_ode.distributed.schedule`).
        distributed: join a multi-process run first (:func:`~induction_ode.distributed.start`);
            every process must call :func:`sweep` with the same arguments.
        Other arguments as in :func:`~induction_ode.emergence_time`.

    Returns:
        A :class:`SweepResult`, in the order of ``n_pairs_list``.
    """
    if distributed is not None:
        start(distributed)  # before anything touches a device
    lengths = check_lengths(n_pairs_list)
    check_values(rtol=rtol, atol=atol, max_steps=max_steps, group_size=group_size)
    if batching not in BATCHINGS:
        raise ValueError(f"unknown batching {batching!r}; allowed: {', '.join(BATCHINGS)}")
    dtype = check_precision(precision)
    if t_max is None:
        t_maxes = [default_t_max(n) for n in lengths]
    elif np.ndim(t_max) == 0:
        t_maxes = [check("t_max", t_max)] * len(lengths)
    else:
        t_maxes = [check("t_max", t) for t in t_max]
        if len(t_maxes) != len(lengths):
            raise ValueError(f"t_max has {len(t_maxes)} entries for {len(lengths)} lengths")
    model = check_model(model, max(lengths))
    solver = resolve_solver(solver, max(lengths))
    max_steps = step_budget(max_steps, max(lengths), solver)
    theta = initial_theta(theta0, dtype)
    devices = list(devices) if devices is not None else jax.devices()
    mesh = Mesh(np.array(devices), ("lengths",))
    n_dev = len(devices)
    per_device = -(-min(len(lengths), group_size or len(lengths)) // n_dev)
    check_memory(model, max(lengths), solver, max_steps, precision, theta0=theta0, batch=per_device)

    if batching == "padded":
        buckets = {max(lengths): list(range(len(lengths)))}
    else:
        buckets = {}
        for i, n in enumerate(lengths):
            buckets.setdefault(bucket_size(n), []).append(i)

    began = time.perf_counter()
    compile_time, n_compiled = 0.0, 0
    results: dict[int, Emergence] = {}
    for n_pad, members in sorted(buckets.items()):
        size = -(-(len(members) if group_size is None else group_size) // n_dev) * n_dev
        misses = compiled_emergence.cache_info().misses
        t0 = time.perf_counter()
        static = program_model(model, theta0)  # the reduced closed form where it is exact
        shape = (n_pad, max_steps, mesh, size, precision, layout(model.clamp))
        compiled = compiled_emergence(static, solver, *shape)
        if compiled_emergence.cache_info().misses > misses:
            n_compiled += 1
            compile_time += time.perf_counter() - t0
        costs = [expected_cost(static, solver, lengths[i], n_pad) for i in members]
        for call in schedule(costs, size, n_dev):
            group = [members[j] for j in call]
            n, limit = [lengths[i] for i in group], [t_maxes[i] for i in group]
            hosts = call_inputs(theta, n, model.free_vector(dtype), model.clamp, limit, rtol, atol)
            out = gather(compiled(*global_batch(hosts, compiled.input_shardings[0])))
            for j, i in enumerate(group):
                if i in results:  # a repeat that fills the call
                    continue
                results[i] = to_emergence(lengths[i], t_maxes[i], solver, {k: v[j] for k, v in out.items()})
                if on_result is not None:
                    on_result(results[i])
    wall = time.perf_counter() - began
    return SweepResult(
        tuple(results[i] for i in range(len(lengths))),
        batching,
        n_compiled,
        wall,
        compile_time,
        tuple(str(d) for d in devices),
    )
