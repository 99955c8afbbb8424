"""What every figure module shares: Matplotlib without a display, the time axis' label and
saving a figure.

The figure modules of each model family (:mod:`induction_ode.plots`,
:mod:`induction_ode.ngram.plots`, :mod:`induction_ode.standard.plots`) import these; nothing
here imports a family.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TIME_LABEL = "gradient-flow time t"


def save(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (150 dpi, tight bounding box) and close it; returns ``path``."""
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path
