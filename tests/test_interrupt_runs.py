"""Ctrl-C (SIGINT) during ``induction-ode ngram`` and ``standard``: the finished parts stay on
disk (``ngram.parts.json``, ``standard.parts.json``), no temporary file is left, the command
that continues the run is printed, the exit code is 130, and ``--resume`` computes only the
missing parts (refusing a directory of another configuration)."""

import json
import shlex
import time

from conftest import interrupt_when_kept
from typer.testing import CliRunner

from induction_ode.cli import app
from induction_ode.ngram import experiment
from induction_ode.standard import training

runner = CliRunner()

NGRAM = [
    "ngram",
    "--preset",
    "reference-code",
    "--n-train",
    "200",
    "-L",
    "20",
    "--steps",
    "25",
    "--draws",
    "100",
]
"""test_ngram_cli.py's tiny run (its compiled programs are in the cache), with --full-steps added."""


def test_sigint_keeps_the_finished_parts_of_an_ngram_run(tmp_path):
    """The signal arrives once the reduced model and the criterion are on disk, while the full
    model (20,000 steps: about a minute) compiles or trains."""
    path = tmp_path / "ngram.parts.json"
    command = [*NGRAM, "--full-steps", "20000", "--out", str(tmp_path)]
    code, stderr, interrupted = interrupt_when_kept(command, path, "parts", 2, wait_s=120, finish_s=60)
    assert interrupted is not None, "the reduced model and the criterion never reached the disk"
    assert code == 130, stderr
    assert time.time() - interrupted < 10, "Ctrl-C waited for the full model"
    kept = json.loads(path.read_text())
    assert kept["kind"] == "ngram-parts" and list(kept["parts"]) == ["reduced", "criterion"]
    assert kept["config"]["full_steps"] == 20000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ngram.parts.json"]  # no .tmp, no record
    said, command = stderr.strip().splitlines()[-1].split("; continue with: ")
    assert said == "Interrupted: finished work is kept"
    assert shlex.split(command) == [
        "induction-ode",
        *NGRAM[:3],
        *["--steps", "25", "--length", "20", "--n-train", "200", "--draws", "100"],
        *["--full-steps", "20000", "--out", str(tmp_path), "--resume"],
    ]


def interrupt_when(monkeypatch, module, name, stop):
    """Make ``module.name`` raise KeyboardInterrupt (as Ctrl-C would) when ``stop(*args)``."""
    real = getattr(module, name)

    def guarded(*args, **kwargs):
        if stop(*args):
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, guarded)


def without_times(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("wall_time", "environment")}


def test_ngram_resume_reuses_the_kept_parts_and_refuses_another_configuration(tmp_path, monkeypatch):
    tiny = [*NGRAM, "--full-steps", "10", "--out", str(tmp_path)]
    with monkeypatch.context() as patch:
        interrupt_when(patch, experiment, "train_full", lambda *args: True)
        result = runner.invoke(app, tiny)
    assert result.exit_code == 130, result.output
    assert "Interrupted: finished work is kept; continue with: induction-ode ngram" in result.output
    assert result.output.strip().endswith("--resume")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ngram.parts.json"]

    other = runner.invoke(app, [*tiny, "--steps", "26", "--resume"])
    assert other.exit_code == 2, other.output
    assert other.output.strip().splitlines() == [
        f"Error: --resume: {tmp_path / 'ngram.parts.json'} was written with another configuration "
        "(steps=25 there, 26 here)"
    ]

    with monkeypatch.context() as patch:  # the kept parts are not computed again
        interrupt_when(patch, experiment, "_train_reduced", lambda *args: True)
        interrupt_when(patch, experiment, "chi2_mutual_information", lambda *args: True)
        resumed = runner.invoke(app, [*tiny, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming: reduced, criterion kept in" in resumed.output
    assert not (tmp_path / "ngram.parts.json").exists()
    fresh = runner.invoke(app, [*tiny[:-1], str(tmp_path / "fresh")])
    assert fresh.exit_code == 0, fresh.output
    record, again = (json.loads((d / "ngram.json").read_text()) for d in (tmp_path, tmp_path / "fresh"))
    assert record["full"]["trajectory"]["steps"][-1] == 10
    assert without_times(record) == without_times(again)


STANDARD = [
    "standard",
    "--n-pairs",
    "2",
    "--heads",
    "2",
    "--d-model",
    "16",
    "--steps",
    "40",
    "--eval-every",
    "20",
]
"""test_standard_cli.py's tiny run."""


def test_standard_resume_reuses_the_finished_clamps(tmp_path, monkeypatch):
    """Ctrl-C while match+copy trains keeps the unclamped part (its seeds, with the analysis of
    its models); --resume trains match+copy only, and refuses another --seeds."""
    tiny = [*STANDARD, "--positions", "learned", "--clamps", "none,match+copy", "--seeds", "2", "--seed", "3"]
    tiny += ["--no-ode", "--out", str(tmp_path)]
    labels = lambda *args: args[3].label()  # noqa: E731 (train_seeds(task, model, cfg, clamp, …))
    with monkeypatch.context() as patch:
        interrupt_when(patch, training, "train_seeds", lambda *args: labels(*args) != "none")
        result = runner.invoke(app, tiny)
    assert result.exit_code == 130, result.output
    assert result.output.strip().endswith("--no-ode --out " + str(tmp_path) + " --resume")
    kept = json.loads((tmp_path / "standard.parts.json").read_text())
    assert list(kept["parts"]) == ["none"] and [r["seed"] for r in kept["parts"]["none"]["runs"]] == [3, 4]
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "standard.json").exists()

    other = runner.invoke(app, [*tiny, "--seeds", "3", "--resume"])
    assert (
        other.exit_code == 2 and "another configuration (seeds=[3, 4] there, [3, 4, 5] here)" in other.output
    )

    with monkeypatch.context() as patch:
        interrupt_when(patch, training, "train_seeds", lambda *args: labels(*args) == "none")
        resumed = runner.invoke(app, [*tiny, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming: none kept in" in resumed.output
    record = json.loads((tmp_path / "standard.json").read_text())
    assert record["runs"][:2] == kept["parts"]["none"]["runs"]
    assert [(r["label"], r["seed"]) for r in record["runs"]] == [
        (c, s) for c in ("none", "match+copy") for s in (3, 4)
    ]
    assert record["ablations"] == kept["parts"]["none"]["analysis"]["ablations"]
    assert record["table"][1]["final_accuracy"]["mean"] == 1.0
    assert not (tmp_path / "standard.parts.json").exists()
