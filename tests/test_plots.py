"""Figures: the length axis labels, the scaling figure with lengths that formed no head, every
heat map's labelled colour bar, and the attention animation (``simulate --animate`` writes it
in test_cli.py)."""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

import induction_ode  # noqa: E402
from induction_ode.figures import heat_map  # noqa: E402
from induction_ode.plots import _length_axis, attention_animation, scaling_figure, trajectory_figures  # noqa: E402
from induction_ode.standard.plots import structure_figure  # noqa: E402


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


def test_scaling_figure_marks_lengths_without_a_head(tmp_path, saved_figures):
    """N = 16 formed no head: it is drawn at (T, t_max) as a lower bound on the log-log axes and
    at the top edge of the t*/T² axes, and is in neither the fit nor the t* points."""
    rows = [
        dict(n_pairs=n, seq_len=2 * n + 1, t_star=t, t_max=20.0 * (2 * n + 1) ** 2, emerged=t is not None)
        for n, t in ((2, 21.0), (4, 69.0), (8, 211.0), (16, None))
    ]
    record = dict(lengths=rows, fit=dict(p=2.0, p_err=0.1, c=1.0, used=[0, 1, 2]))
    path = scaling_figure(record, tmp_path / "scaling.png")
    assert path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = saved_figures
    left, right = fig.axes[:2]
    marks = [line for line in left.lines if line.get_label() == "no head before $t_{max}$"]
    assert len(marks) == 1 and marks[0].get_marker() == "^"
    np.testing.assert_array_equal(marks[0].get_xydata(), [[33.0, 20.0 * 33**2]])
    (points,) = [line for line in left.lines if line.get_marker() == "o"]
    assert np.isnan(points.get_ydata()[-1]) and np.all(np.isfinite(points.get_ydata()[:3]))
    (top,) = [line for line in right.lines if line.get_marker() == "^"]
    np.testing.assert_array_equal(top.get_xdata(), [33.0])


# --- heat maps ---------------------------------------------------------------------------------


def unlabelled_heat_maps(fig) -> list[str]:
    """The titles of the axes in ``fig`` that hold a heat map (an image or a mesh) without a
    colour bar, or whose colour bar has no label."""
    maps = {ax: [*ax.images, *(c for c in ax.collections if isinstance(c, QuadMesh))] for ax in fig.axes}
    bars = {m.colorbar.ax for found in maps.values() for m in found if m.colorbar is not None}
    missing = []
    for ax, found in maps.items():
        for mappable in found if ax not in bars else ():  # a colour bar draws itself as a mesh
            bar = mappable.colorbar
            if bar is None or not (bar.ax.get_ylabel() or bar.ax.get_xlabel()):
                missing.append(ax.get_title())
    return missing


@pytest.fixture
def saved_figures(monkeypatch):
    """Every Matplotlib figure saved during the test, in order (the figure modules close them)."""
    figures = []
    original = Figure.savefig

    def spy(fig, *args, **kwargs):
        figures.append(fig)
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return figures


def test_the_check_finds_a_heat_map_without_a_labelled_colour_bar():
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3)
    ax1.imshow(np.eye(3))
    ax1.set_title("bare")
    ax2.pcolormesh(np.eye(3))
    ax2.set_title("mesh")
    fig.colorbar(ax3.imshow(np.eye(3)), ax=ax3)
    ax3.set_title("unlabelled bar")
    assert unlabelled_heat_maps(fig) == ["bare", "mesh", "unlabelled bar"]
    ax4 = fig.add_subplot(2, 2, 4)
    heat_map(ax4, np.eye(3), "a quantity")
    assert unlabelled_heat_maps(fig) == ["bare", "mesh", "unlabelled bar"]
    plt.close(fig)


def test_heat_maps_are_drawn_only_by_the_shared_helper():
    """Every heat map gets its labelled colour bar from :func:`induction_ode.figures.heat_map`:
    no other module of the package calls ``imshow``, ``pcolormesh`` or ``matshow``."""
    package = Path(induction_ode.__file__).parent
    callers = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "figures.py" and re.search(r"\.(imshow|pcolormesh|matshow)\(", path.read_text())
    ]
    assert callers == []


def simulate_record(n_pairs: int, moments: int = 4) -> dict:
    """A synthetic simulate record at ``N = n_pairs`` (uniform causal layer 1, uniform layer 2)."""
    size = 2 * n_pairs + 1
    ts = np.linspace(0.0, 10.0, 21)
    layer1 = np.tril(np.ones((size, size)), -1)
    layer1[0, 0] = 1.0
    layer1 /= layer1.sum(axis=1, keepdims=True)
    attention = [
        dict(t=float(t), k=n_pairs // 2, layer1=layer1, layer2=np.full(size, 1.0 / size))
        for t in np.linspace(2.5, 10.0, moments)
    ]
    return dict(
        kind="simulate",
        config=dict(n_pairs=n_pairs),
        ts=ts,
        thetas=np.outer(ts, np.linspace(-0.1, 0.1, 19)),
        losses=0.5 * np.exp(-ts / 5),
        t_star=5.0,
        attention=attention,
    )


def test_attention_heat_maps_have_labelled_colour_bars(tmp_path, saved_figures):
    paths = trajectory_figures(simulate_record(3), tmp_path)
    assert [p.name for p in paths] == ["loss.png", "parameters.png", "attention.png"]
    heat_maps = [ax for fig in saved_figures for ax in fig.axes if ax.images]
    assert len(heat_maps) == 4
    for fig in saved_figures:
        assert unlabelled_heat_maps(fig) == []
    assert heat_maps[0].images[0].colorbar.ax.get_ylabel() == "layer-1 attention weight"


def test_structure_heat_maps_have_labelled_colour_bars(tmp_path, saved_figures):
    rng = np.random.default_rng(0)
    shapes = dict(pos_qk=(9, 9), tok_qk=(8, 8), match=(4, 4), copy=(4, 4))
    structure = {
        when: {
            name: dict(matrix=rng.normal(size=shape), score=0.5, head=0, predicted="diagonal")
            for name, shape in shapes.items()
        }
        for when in ("initial", "trained")
    }
    structure_figure(dict(structure=structure), tmp_path / "structure.png")
    (fig,) = saved_figures
    assert sum(bool(ax.images) for ax in fig.axes) == 8
    assert unlabelled_heat_maps(fig) == []


# --- the animation -----------------------------------------------------------------------------


def gif_frames(path: Path) -> int:
    """The number of frames of the GIF at ``path`` (asserting that it is one)."""
    assert path.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    with Image.open(path) as image:
        return image.n_frames


def test_attention_animation_has_one_frame_per_chosen_time(tmp_path):
    record = simulate_record(3)
    size = 7
    calls = []

    def patterns(theta):
        calls.append(theta)
        weight = min(len(calls) / 10, 1.0)
        return np.tril(np.ones((size, size))) / size, (1 - weight) / size + weight * np.eye(size)[3]

    path = attention_animation(record, patterns, 1, tmp_path / "attention.gif", frames=10)
    thetas = np.asarray(record["thetas"])
    frames = thetas[[0, 2, 4, 7, 9, 11, 13, 16, 18, 20]]  # evenly spaced over the 21 times, ends included
    assert np.array_equal(calls[-10:], frames)
    assert gif_frames(path) == 10
