"""The authors' saved training runs (GitHub ``gszfwsb/Unveiling-Induction-Heads``,
``RPE/results_paper/NGram/*.npz``), read into this library's conventions (NGRAM.md).

Their arrays differ from our :class:`~induction_ode.ngram.dynamics.Trajectory` in three ways:
- the subsets are named by bit strings over the components (token, head 0 … head H−1), ``"0110"``
  being head 0 + head 1, and only the live ones (token bit 0) are saved, in binary order;
- ``train_loss_list[k]`` is the mean training loss at the parameters after ``k`` steps divided
  by the number of training sequences (their script divides a batch mean by the sample size);
- everything but ``a`` is float32.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .model import Architecture, feature_weights


class SavedRun(NamedTuple):
    """A saved run in our conventions; ``R`` recorded steps ``0, 1, …``.

    Attributes:
        losses: ``(R − 1,)`` the mean training loss after ``k = 0 … R − 2`` steps.
        a: ``(R,)`` the layer-2 scale after ``k = 0 … R − 1`` steps.
        C: ``(R, n_subsets)`` in the order of ``Architecture.subsets()``, dead subsets 0.
        c: ``(R, n_subsets)`` the feature weights ``c_S`` of ``C``.
    """

    losses: np.ndarray
    a: np.ndarray
    C: np.ndarray
    c: np.ndarray


def subset_index(bits: str, arch: Architecture) -> int:
    """Our index (in ``arch.subsets()``) of the subset the authors name by ``bits``, a bit string
    over (token, head 0 … head H−1); e.g. ``"0110"`` → the index of ``(1, 2)`` = ``h0+h1``."""
    if len(bits) != arch.heads + 1 or set(bits) - {"0", "1"}:
        raise ValueError(f"expected {arch.heads + 1} bits over (token, h0 … h{arch.heads - 1}), got {bits!r}")
    members = tuple(i for i, bit in enumerate(bits) if bit == "1")
    subsets = arch.subsets()
    if members not in subsets:
        raise ValueError(f"{bits!r} names a subset of more than D = {arch.degree} components")
    return subsets.index(members)


def remap_subsets(values, bits, arch: Architecture) -> np.ndarray:
    """``values (…, len(bits))`` in the authors' subset order → ``(…, n_subsets)`` in ours (0 where
    they saved nothing, i.e. on the dead subsets)."""
    values = np.asarray(values, float)
    out = np.zeros((*values.shape[:-1], len(arch.subsets())))
    out[..., [subset_index(b, arch) for b in bits]] = values
    return out


def load_saved_run(path, arch: Architecture, n_train: int) -> SavedRun:
    """Read an authors' ``.npz`` (with ``C_list``, ``a_list``, ``train_loss_list``, ``alphas``);
    ``n_train`` is their number of training sequences (9,000 for the ``n10000`` files)."""
    with np.load(path) as data:
        C = remap_subsets(data["C_list"], [str(b) for b in data["alphas"]], arch)
        return SavedRun(
            np.asarray(data["train_loss_list"], float) * n_train,
            np.asarray(data["a_list"], float),
            C,
            np.asarray(feature_weights(C, arch)),
        )
