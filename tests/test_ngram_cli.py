"""``induction-ode ngram`` and ``induction-ode plot ngram.json`` end to end, and the full model."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from printed import WIDTH, assert_fits, assert_shows, cell
from typer.testing import CliRunner

from induction_ode.cli import app
from induction_ode.ngram.full import full_forward, full_loss, init_full_params
from induction_ode.ngram.model import Architecture, prepare

runner = CliRunner(env=WIDTH)  # every command prints for an 80-column terminal

TINY = ["--n-train", "200", "-L", "20", "--steps", "25", "--draws", "100", "--full-steps", "10"]


def assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ngram_command_writes_record_and_figures(tmp_path):
    result = runner.invoke(app, ["ngram", "--preset", "reference-code", *TINY, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "S* selected" in result.output and "criterion: S* predicted" in result.output
    record = json.loads((tmp_path / "ngram.json").read_text())
    assert_fits(result.output)
    assert_shows(
        cell(result.output, "t2: concentration half-time", "reduced model"),
        record["phases"]["t_concentration"],
    )
    assert record["kind"] == "ngram"
    cfg = record["config"]
    assert cfg["arch"]["window"] == "shifted" and cfg["arch"]["loss"] == "reference-code"
    assert cfg["steps"] == 25 and cfg["n_train"] == 200 and cfg["task"]["length"] == 20
    assert {"induction_ode", "jax", "device"} <= set(record["environment"])
    traj = record["trajectory"]
    assert traj["steps"][:3] == [0, 1, 2] and traj["steps"][-1] == 25
    assert len(traj["ts"]) == len(traj["losses"]) == len(traj["a"]) == len(traj["c"])
    assert len(record["subsets"]) == 11 and sum(record["live"]) == 7
    c_end = record["final"]["c"]
    assert sum(c_end) == pytest.approx(1.0, abs=1e-12)
    assert all(c == 0.0 for c, live in zip(c_end, record["live"]) if not live)
    assert {"selection_time", "selected_label", "selected_offsets", "a_fit", "t_concentration"} <= set(
        record["phases"]
    )
    assert len(record["criterion"]["value"]) == len(record["criterion"]["subsets"]) == 16
    assert record["full"]["trajectory"]["steps"][-1] == 10
    names = ["ngram_selection.png", "ngram_attention.png", "ngram_growth.png", "ngram_phases.png"]
    for name in [*names, "ngram_full.png"]:
        assert_png(tmp_path / name)
    for name in names:
        (tmp_path / name).unlink()
    again = runner.invoke(app, ["plot", str(tmp_path / "ngram.json")])
    assert again.exit_code == 0, again.output
    for name in names:
        assert_png(tmp_path / name)


@pytest.mark.parametrize(
    "args, message",
    [
        (["-S", "1"], "--vocab-size"),
        (["-n", "1"], "--order"),
        (["-L", "3"], "L must be > n"),
        (["-D", "4"], "degree D"),
        (["-D", "0"], "--degree"),
        (["--window", "sliding"], "unknown window"),
        (["--loss", "mse"], "unknown loss"),
        (["--preset", "paper"], "unknown preset"),
        (["--steps", "0"], "steps"),
        (["--lr", "0"], "--lr"),
        (["--alpha", "-1"], "alpha"),
        (["--flow", "--full-steps", "5"], "--flow"),
        (["--device", "tpu"], "--device"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path):
    result = runner.invoke(app, ["ngram", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0


def direct_full(p, tokens, arch):
    """NGRAM.md's full model, row by row in plain Python: ŷ."""
    S, H, L = arch.vocab_size, arch.heads, len(tokens)
    X = np.zeros((L + 1, S))
    X[np.arange(L), tokens] = 1.0
    W, Q, K, Ov, g, b = (np.asarray(x) for x in (p.W, p.Q, p.K, p.O, p.gamma, p.beta))
    offs = arch.offsets()
    v = np.zeros((H, L + 1, S))
    for h in range(H):
        for i in range(L + 1):
            cand = [(0, 1e-6)] + [(offs[k, h], W[k, h]) for k in range(arch.m) if i - offs[k, h] >= 0]
            scores = [X[i] @ Q[h] @ K[h].T @ X[i - m] + w for m, w in cand]
            e = np.exp(np.array(scores) - max(scores))
            e /= e.sum()
            u = sum(e[t] * X[i - m] for t, (m, _) in enumerate(cand)) @ Ov[h]
            centred = u - u.mean()
            v[h, i] = centred / math.sqrt((centred**2).mean() + 1e-5) * g + b
    live = arch.live()
    C = np.asarray(p.C)
    total = sum(C[i] ** 2 for i in range(C.size) if live[i])
    phi = np.zeros(L)
    for j in range(L):
        kappa = [max(0.0, v[h, L] @ v[h, j]) for h in range(H)]
        for i, subset in enumerate(arch.subsets()):
            if live[i]:
                phi[j] += C[i] ** 2 / total * math.prod(kappa[c - 1] for c in subset)
    z = float(p.a) * phi
    w = np.exp(z - z.max())
    return (w / w.sum()) @ X[:L]


@pytest.mark.parametrize("window", ["shared", "shifted"])
def test_full_model_matches_direct_evaluation(window, rng):
    arch = Architecture(vocab_size=3, heads=3, window=window, degree=2)
    params = init_full_params(arch)
    params = jax.tree.map(lambda x: x + jnp.asarray(rng.normal(0, 0.5, x.shape)), params)
    for length in (6, 15):
        tokens = rng.integers(0, 3, length)
        y_hat = np.asarray(full_forward(params, jnp.asarray(tokens), arch))
        np.testing.assert_allclose(y_hat, direct_full(params, tokens, arch), rtol=0, atol=1e-12)


def test_full_model_dead_subsets_and_gradients(rng):
    arch = Architecture(vocab_size=3, heads=3, window="shifted", degree=2, loss="ce")
    tokens = jnp.asarray(rng.integers(0, 3, (16, 24)))
    prep = prepare(tokens[:, :-1], tokens[:, -1], arch, own=True)
    grad = jax.grad(full_loss)(init_full_params(arch), prep, arch)
    assert np.all(np.asarray(grad.C)[~arch.live()] == 0.0)
    for name in ("W", "Q", "K", "O", "gamma", "beta", "C", "a"):
        assert np.all(np.isfinite(np.asarray(getattr(grad, name)))) and np.any(getattr(grad, name) != 0)
