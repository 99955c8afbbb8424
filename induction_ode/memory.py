"""How much memory an emergence or trajectory run needs, checked before anything is compiled.

The estimate (:func:`run_bytes`) is the closed form's working set at the padded length, times
the passes the solver differentiates it in, plus the solver's dense-output buffer, times the
lengths solved together. It is compared with the memory available (:func:`available_bytes`):
the accelerator's, or the host's on a CPU; ``$INDUCTION_ODE_MEMORY`` (bytes) overrides it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Model

DENSE_SQUARE_ARRAYS = 24
"""``T × T`` arrays the dense closed form keeps alive in one evaluation of the vector field."""
REDUCED_LINEAR_ARRAYS = 64
"""Length-``T`` arrays the reduced closed form keeps alive in one evaluation."""
BUFFER_FLOATS_PER_STEP = {"bdf": 6 * 19, "tsit5": 8 * 19, "kvaerno5": 8 * 19}
"""Floats the dense output stores per step of the step budget (BDF: 6 history rows of θ;
diffrax: θ and its 7 stages)."""


def closed_form_floats(model: Model, n_pad: int) -> int:
    """Floats the closed form in use keeps alive for one evaluation of the vector field at
    the padded size ``n_pad`` (``T = 2 n_pad + 1``): ``O(T)`` for the reduced form
    (:class:`~induction_ode.reduced.ReducedModel`), ``O(T²)`` plus the ``(N×T)·(T×T)``
    product's operands for the dense form. The one place that knows the forms' sizes."""
    from .reduced import ReducedModel

    t = 2 * n_pad + 1
    if isinstance(model, ReducedModel):
        return REDUCED_LINEAR_ARRAYS * t
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
        except ValueError:
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


def check_memory(model: Model, n_pairs: int, solver: str, max_steps, precision: str, *, theta0=None, batch=1):
    """``ValueError`` in one line if a run at the largest length ``n_pairs`` needs more memory
    than is available: the need, what is available and the largest ``N`` that fits.

    ``model`` and ``theta0`` pick the closed form (:func:`~induction_ode.reduced.program_model`),
    ``solver`` is the requested one (``"auto"`` resolves per ``N``), ``max_steps`` the step
    budget (``None``: the default of each ``N``) and ``batch`` the lengths solved at once.
    """
    import numpy as np

    from .ode import check_precision, resolve_solver, step_budget
    from .reduced import program_model

    itemsize = np.dtype(check_precision(precision)).itemsize
    static = program_model(model, theta0)

    def need(n):
        chosen = resolve_solver(solver, n)
        return run_bytes(static, n, chosen, step_budget(max_steps, n, chosen), itemsize, batch)

    have, source = available_bytes()
    wanted = need(n_pairs)
    if wanted <= have:
        return
    low, high = 0, n_pairs  # need(low) fits (or low = 0), need(high) does not
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if need(mid) <= have else (low, mid)
    fits = f"the largest N that fits is {low}" if low else "no N fits"
    raise ValueError(
        f"N = {n_pairs} needs about {size_text(wanted)} of memory and {size_text(have)} is available "
        f"({source}); {fits}"
    )
