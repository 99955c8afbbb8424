"""How much memory a run needs, checked before anything is allocated or compiled.

The ODE's estimate (:func:`run_bytes`) is the closed form's working set at the padded length,
times the passes the solver differentiates it in, plus the solver's dense-output buffer, times
the lengths solved together. The training runs' estimates (:func:`crosscheck_bytes`,
:func:`standard_bytes`, :func:`ngram_bytes`) count their largest arrays. Each is compared with
the memory available (:func:`available_bytes`): the accelerator's, or the host's on a CPU;
``$INDUCTION_ODE_MEMORY`` (bytes) overrides it. Estimates are rough (within a few times);
they exist to turn a crash deep in XLA's allocator into one line that says what fits.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Model

# Measured with ``python benchmarks/memory_buffers.py`` (XLA's temporary buffers of one length's
# emergence program, float64, CPU of the development machine): BDF, dense form, 10.5 / 33.0 /
# 108.2 MB at N = 16 / 48 / 96, i.e. 7.5 MB + 339 floats per T²; Tsit5, dense form, 80.5 /
# 92.5 / 365 MB, almost all its dense output; BDF, reduced form, 8.18 MB at N = 64 and 256.
DENSE_SQUARE_ARRAYS = 16
"""``T × T`` arrays the dense closed form keeps alive per pass of one evaluation of the vector
field (339 floats per ``T²`` over the gradient's 2 passes and the Jacobian's 19)."""
STRUCTURED_SUM_ARRAYS = 200
"""Length-``T`` arrays the paired code's uniform-query MSE (:mod:`induction_ode.paired_mse`)
keeps alive per pass, its blocked running sums included (11.3 / 23.7 MB at N = 64 / 256: 4,040
floats per unit of ``T`` over the 21 passes)."""
STRUCTURED_PAIR_ARRAYS = 20
"""Length-``T`` arrays per pair computed that the structured forward
(:func:`~induction_ode.structured.paired_forward`) keeps alive per pass (last query: 9.45 MB
at N = 256 against 8.18 at 64; uniform CE: 13.0 / 28.9 MB at N = 32 / 64, 322 floats per pair
and unit of ``T`` over the 21 passes)."""
REDUCED_LINEAR_ARRAYS = 8
"""Length-``T`` arrays the reduced closed form keeps alive per pass (its buffers grew 12 bytes
per unit of ``T`` from N = 64 to 256; rounded up)."""
BUFFER_FLOATS_PER_STEP = {"bdf": 6 * 19, "tsit5": 32 * 19, "kvaerno5": 32 * 19}
"""Floats the dense output keeps per step of the step budget: BDF's 6 history rows of θ;
diffrax's Tsit5 32 rows (its stages, the continued solve; kvaerno5 taken as the same)."""


def closed_form_floats(model: Model, n_pad: int) -> int:
    """Floats the closed form in use keeps alive for one evaluation of the vector field at
    the padded size ``n_pad`` (``T = 2 n_pad + 1``): ``O(T)`` for the reduced form
    (:class:`~induction_ode.reduced.ReducedModel`) and for the structured form's uniform-query
    MSE, ``O(T)`` per pair computed for its forward, ``O(T²)`` plus the ``(N×T)·(T×T)``
    product's operands for the dense form. The one place that knows the forms' sizes."""
    from .forms import resolve_form
    from .reduced import ReducedModel

    t = 2 * n_pad + 1
    if isinstance(model, ReducedModel):
        return REDUCED_LINEAR_ARRAYS * t
    if resolve_form(model.form, model.positions, n_pad) == "structured":
        patterns = model.clamp is not None and bool(model.clamp.patterns)
        if model.loss == "mse" and model.query == "uniform" and not patterns:
            return STRUCTURED_SUM_ARRAYS * t
        return STRUCTURED_PAIR_ARRAYS * (1 if model.query == "last" else n_pad) * t
    return DENSE_SQUARE_ARRAYS * t * t + 3 * n_pad * t


def run_bytes(model: Model, n_pad: int, solver: str, max_steps: int, itemsize: int, batch: int = 1) -> int:
    """Bytes a compiled run of ``batch`` lengths padded to ``n_pad`` needs.

    Args:
        model: the static model of the program (:func:`~induction_ode.reduced.program_model`).
        solver: the resolved solver (``"bdf"``, ``"tsit5"`` or ``"kvaerno5"``).
        max_steps: its step budget (the dense output holds that many steps).
        itemsize: bytes per float (8 for float64, 4 for float32).
        batch: lengths solved at once on one device.
    """
    passes = 2  # the vector field is a reverse-mode gradient: its forward values are kept
    if solver != "tsit5":  # implicit solvers also take a forward-mode Jacobian, one tangent per read
        passes += len(model.reads) if model.reads is not None else 19
    per_length = closed_form_floats(model, n_pad) * passes + BUFFER_FLOATS_PER_STEP[solver] * max_steps
    return per_length * itemsize * batch


def available_bytes() -> tuple[int, str]:
    """The memory a run may use and where that number comes from: ``$INDUCTION_ODE_MEMORY``
    (bytes), else the free memory of JAX's default accelerator, else the host's available
    memory (``MemAvailable`` of ``/proc/meminfo``, or all physical memory)."""
    override = os.environ.get("INDUCTION_ODE_MEMORY")
    if override:
        try:
            return int(float(override)), "$INDUCTION_ODE_MEMORY"
        except (ValueError, OverflowError):
            raise ValueError(f"$INDUCTION_ODE_MEMORY must be a number of bytes, got {override!r}") from None
    import jax

    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0)), f"free on the {device.device_kind}"
    try:
        with open("/proc/meminfo") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
        return kib * 1024, "the host's available memory"
    except (OSError, StopIteration):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "the host's memory"


def size_text(n_bytes: float) -> str:
    """``n_bytes`` in binary units, e.g. ``"3.2 GiB"``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    step = 0
    while n_bytes >= 1024 and step < len(units) - 1:
        n_bytes, step = n_bytes / 1024, step + 1
    return f"{n_bytes:.3g} {units[step]}"


def check_fits(need: Callable[[int], int], size: int, name: str) -> None:
    """``ValueError`` in one line if ``need(size)`` bytes exceed :func:`available_bytes`: the
    need, what is available and the largest ``name`` that fits (``need`` grows with the size)."""
    have, source = available_bytes()
    wanted = need(size)
    if wanted <= have:
        return
    low, high = 0, size  # need(low) fits (or low = 0), need(high) does not
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if need(mid) <= have else (low, mid)
    fits = f"the largest {name} that fits is {low}" if low else f"no {name} fits; lower the other sizes"
    raise ValueError(
        f"{name} = {size} needs about {size_text(wanted)} of memory and {size_text(have)} is available "
        f"({source}); {fits}"
    )


TRAINING_ARRAYS = 16
"""Arrays of a training step's activations kept per sequence (forward values, gradients)."""


def crosscheck_bytes(n_pairs: int, d: int, batch: int, eval_batch: int) -> int:
    """Bytes of :func:`~induction_ode.crosscheck`'s full-weight training (float64): each
    sequence's ``T × d`` tokens and ``T × T`` attention, for the batch and the held-out batch."""
    t = 2 * n_pairs + 1
    return 8 * TRAINING_ARRAYS * (batch + eval_batch) * t * (d + t)


def standard_bytes(n_pairs: int, d_model: int, heads: int, batch: int, seeds: int, eval_batch: int) -> int:
    """Bytes of a standard transformer's training (float32, ``seeds`` trained together): two
    layers' ``T × D`` activations and ``H × T × T`` attention per sequence, and the weights
    with Adam's two moments."""
    t = 2 * n_pairs + 1
    activations = TRAINING_ARRAYS * (batch + eval_batch) * 2 * t * (d_model + heads * t)
    weights = 3 * 10 * d_model * d_model
    return 4 * seeds * (activations + weights)


def ngram_bytes(vocab_size: int, order: int, length: int, heads: int, n_train: int, draws: int) -> int:
    """Bytes of an n-gram run (float64): each training sequence's kernel (``S^n`` numbers) and
    its one-hot tokens and head features, and the criterion's chunks of 500 kernels."""
    kernel = vocab_size**order
    per_sequence = kernel + TRAINING_ARRAYS * length * (vocab_size + heads)
    return 8 * (n_train * per_sequence + min(draws, 500) * kernel * 4)
