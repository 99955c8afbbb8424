"""Figures: the length axis labels and the scaling figure with lengths that formed no head."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from induction_ode.plots import _length_axis, scaling_figure  # noqa: E402


def test_length_axis_skips_crowded_labels():
    """Neighbouring lengths (289, 301, 305 on a 5…513 axis) would print on top of each other:
    only labels at least 8% of the log-range apart are kept, the largest always."""
    seq = [5, 9, 17, 33, 65, 129, 257, 289, 301, 305, 309, 513]
    fig, ax = plt.subplots()
    ax.set_xscale("log")
    _length_axis(ax, seq)
    ticks = np.asarray(ax.xaxis.get_major_locator()())
    plt.close(fig)
    assert ticks[-1] == 513 and 5 in ticks
    gaps = np.diff(np.log10(ticks))
    assert gaps.min() >= 0.08 * np.log10(513 / 5) - 1e-12
    assert len(ticks) < len(seq)


def test_scaling_figure_marks_lengths_without_a_head(tmp_path):
    rows = [
        dict(n_pairs=n, seq_len=2 * n + 1, t_star=t, t_max=20.0 * (2 * n + 1) ** 2, emerged=t is not None)
        for n, t in ((2, 21.0), (4, 69.0), (8, 211.0), (16, None))
    ]
    record = dict(lengths=rows, fit=dict(p=2.0, p_err=0.1, c=1.0, used=[0, 1, 2]))
    path = scaling_figure(record, tmp_path / "scaling.png")
    assert path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
