"""Sweeps on JAX's multi-controller runtime (``jax.distributed``): one Python process per host
(or per GPU), all running the same program over one global mesh of devices.

- :class:`Distributed` says how the processes find each other: auto-detected (SLURM, Open MPI,
  a TPU pod slice) or an explicit coordinator, process count and rank.
- :func:`start` calls ``jax.distributed.initialize`` once, before anything touches a device.
- :func:`schedule` orders the lengths of one compiled program by their expected cost
  (:func:`expected_cost`) and deals them over the mesh's positions, so that the lengths of
  one call, which wait for the slowest of them, cost alike and each position's share of a
  call costs about the same.
- :func:`global_batch` builds a call's global arrays from the host data every process holds;
  :func:`gather` brings the results back to every process (each must take part).
- :func:`agree` hands process 0's answer (the lengths a resumed run still needs) to all.
- :func:`supervise` runs a command line in a child process and turns the runtime's fatal abort
  (a peer that never joined, or stopped answering) into one line of error.

Devices are addressed by their position in the mesh, never by id: ids are not contiguous
across processes.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from .memory import closed_form_floats
from .validation import check

SUPERVISED = "INDUCTION_ODE_SUPERVISED"
"""Set in the environment of the child that :func:`supervise` starts (it must not start another)."""


@dataclass(frozen=True)
class Distributed:
    """How the processes of a multi-process run find each other.

    Attributes:
        coordinator: ``"HOST:PORT"`` of process 0's coordination service, or ``None`` to let
            ``jax.distributed.initialize`` detect the cluster (SLURM, Open MPI, TPU pod slices).
        num_processes: the number of processes (with ``coordinator``).
        process_id: this process's rank, ``0 … num_processes − 1`` (with ``coordinator``).
        peer_timeout: seconds to wait for every peer to join, and without a heartbeat from a
            peer before the run is abandoned (the runtime's ``initialization_timeout`` and
            ``heartbeat_timeout_seconds``).
    """

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    peer_timeout: int = 60

    def __post_init__(self):
        check("peer_timeout", self.peer_timeout)
        explicit = (self.coordinator, self.num_processes, self.process_id)
        if any(v is None for v in explicit) and any(v is not None for v in explicit):
            raise ValueError(
                "the coordinator, the number of processes and the process id go together: "
                "give all three or none"
            )
        if self.coordinator is None:
            return
        host, _, port = self.coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"coordinator must be HOST:PORT, got {self.coordinator!r}")
        check("num_processes", self.num_processes)
        check("process_id", self.process_id)
        if self.process_id >= self.num_processes:
            count, rank = self.num_processes, self.process_id
            raise ValueError(f"the process id must be < the number of processes, {count}; got {rank}")


def start(options: Distributed) -> None:
    """Join the multi-process run ``options`` describes (``jax.distributed.initialize``),
    unless this process already has. Must come before anything touches a device.

    A peer that does not join within ``options.peer_timeout`` seconds aborts the process (the
    runtime's own fatal error; :func:`supervise` turns it into one line). A cluster that
    cannot be detected, or JAX already started, is a ``RuntimeError`` in one line.
    """
    import jax

    if jax.distributed.is_initialized():
        return
    timeout = options.peer_timeout
    try:
        jax.distributed.initialize(
            options.coordinator,
            options.num_processes,
            options.process_id,
            initialization_timeout=timeout,
            heartbeat_timeout_seconds=timeout,
            shutdown_timeout_seconds=timeout,
        )
    except (RuntimeError, ValueError) as err:
        first = (str(err).strip() or type(err).__name__).splitlines()[0]
        raise RuntimeError(f"jax.distributed could not start: {first}") from None


def expected_steps(solver: str, n_pairs: int) -> float:
    """Relative step count of one solve at ``N`` (``T = 2N + 1``): ``log2 T`` for ``bdf`` and
    ``kvaerno5`` (bdf: 219 steps at T = 5 to 1,056 at T = 1,025, about 110 per doubling of T;
    kvaerno5's are nearly constant), ``T²`` for ``tsit5`` (about ``0.6 T²``)."""
    seq_len = 2 * n_pairs + 1
    return float(seq_len) ** 2 if solver == "tsit5" else math.log2(seq_len)


def expected_cost(model, solver: str, n_pairs: int, n_pad: int) -> float:
    """Relative cost of one length's solve in a program padded to ``n_pad``: the closed form's
    working set per evaluation (:func:`~induction_ode.memory.closed_form_floats`: ``O(T²)``
    for the dense form, ``O(T)`` for the structured and reduced ones, at ``T = 2 n_pad + 1``)
    times :func:`expected_steps`. ``model`` is the program's static model."""
    return closed_form_floats(model, n_pad) * expected_steps(solver, n_pairs)


def schedule(costs: Sequence[float], size: int, positions: int) -> list[list[int]]:
    """The calls of one compiled program: lists of ``size`` indices into ``costs``.

    A call waits for its slowest lane, so lengths that cost alike should share calls: where a
    call holds several lanes, the lengths are sorted by cost, cheapest first (ties in index
    order), and cut into calls of ``size``; within a call they are dealt over the mesh's
    ``positions`` in a snake order (0, 1, …, P−1, P−1, …, 0, …), so position ``p`` holds
    lanes ``p·size/P … (p+1)·size/P − 1`` and each position's share costs about the same.
    Calls of one lane keep the index order (there is nothing to balance). A short last call
    repeats its cheapest length (its result is read once). ``size`` must be a multiple of
    ``positions``.
    """
    order = sorted(range(len(costs)), key=lambda i: costs[i]) if size > 1 else list(range(len(costs)))
    per = size // positions
    calls = []
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        chunk += [chunk[0]] * (size - len(chunk))
        lanes: list[list[int]] = [[] for _ in range(positions)]
        for k, index in enumerate(chunk):
            turn, step = divmod(k, positions)
            lanes[step if turn % 2 == 0 else positions - 1 - step].append(index)
        calls.append([i for lane in lanes for i in lane[:per]])
    return calls


def global_batch(hosts: Sequence, shardings: Sequence) -> tuple:
    """Global arrays of the host arrays ``hosts`` (pytrees, the same on every process) laid out
    as ``shardings`` (a compiled program's input shardings, of the same structure): each
    process fills only the shards of its own devices."""
    import jax

    def place(host, sharding):
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(place, tuple(hosts), tuple(shardings))


def gather(tree):
    """The pytree of global arrays ``tree`` as NumPy arrays on every process (an all-gather
    over processes: every process must call it, or the others wait for ever)."""
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def agree(value):
    """Process 0's NumPy array ``value`` on every process (the others pass an array of the
    same shape and dtype). Every process must call it."""
    import numpy as np
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.broadcast_one_to_all(value))


FATAL = re.compile(r"^F\d{4} ")
"""The start of the runtime's fatal log line (glog's ``F`` level), after which the child aborts."""


def supervise(argv: Sequence[str], timeout_s: int) -> int:
    """Run ``python -m induction_ode ARGV`` as a child and return its exit code.

    Its output passes through, except JAX's fatal abort: when a peer does not join or stops
    answering, the runtime logs a fatal error and a stack trace and kills the child. That is
    replaced by one line, ``Error: …``, naming the runtime's status, and exit code 1 (a child
    killed by a signal without it: one line naming the signal). The runtime's error log is
    off in the child (``TF_CPP_MIN_LOG_LEVEL=3``) unless the environment sets it. Ctrl-C
    reaches the child (same process group), which keeps its finished work and says so; this
    process waits for it.
    """
    # The runtime's own error log (a few lines per failure) stays quiet unless asked for.
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", **os.environ, SUPERVISED: "1"}
    args = [sys.executable, "-m", "induction_ode", *argv]
    # A handler, not SIG_IGN: an ignored signal stays ignored in the child, a handler does not.
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        child = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True, errors="replace")
        status = None
        for line in child.stderr:
            if status is None and FATAL.match(line):
                status = (re.search(r"absl::Status: (.*)", line) or re.search(r"\] (.*)", line)).group(1)
            if status is None:
                sys.stderr.write(line)
                sys.stderr.flush()
        code = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    if status is not None:
        print(
            f"Error: jax.distributed: {status.strip().rstrip(':')}: a peer did not join, or stopped "
            f"answering (peer timeout {timeout_s} s; TF_CPP_MIN_LOG_LEVEL=0 shows the runtime's log)",
            file=sys.stderr,
        )
        return 1
    if code < 0:
        print(f"Error: the run was killed by signal {-code} ({signal.Signals(-code).name})", file=sys.stderr)
        return 1
    return code
