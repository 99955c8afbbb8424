"""What every figure module shares: Matplotlib without a display, the time axis' label, heat
maps with a labelled colour bar, a legend below the axes and saving a figure.

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


def heat_map(ax, matrix, quantity: str, **imshow):
    """Draw ``matrix`` on ``ax`` as an image (row ``i`` at the top, integer ticks, at most about
    six per axis so that long sides such as ``T = 513`` stay readable) with a colour bar labelled
    ``quantity``, the quantity the colours stand for (with its units where it has any).
    ``imshow`` goes to :meth:`matplotlib.axes.Axes.imshow` (``cmap``, ``vmin``, ``vmax``, …).

    Returns:
        The colour bar (:class:`matplotlib.colorbar.Colorbar`).
    """
    from matplotlib.ticker import MaxNLocator

    if not quantity:
        raise ValueError("a heat map's colour bar needs the name of its quantity")
    image = ax.imshow(matrix, **imshow)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    bar = ax.figure.colorbar(image, ax=ax, shrink=0.85)
    bar.set_label(quantity)
    return bar


def figure_legend(fig, axes, **legend):
    """One legend for ``fig``, below its axes (so that it covers no data): the labelled artists
    of ``axes``, each label once, in order. ``legend`` goes to
    :meth:`matplotlib.figure.Figure.legend` (``ncol``, ``fontsize``, …). The figure needs the
    constrained layout. Returns the legend."""
    entries = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    return fig.legend(list(entries.values()), list(entries), loc="outside lower center", **legend)
