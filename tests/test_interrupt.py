"""Ctrl-C (SIGINT) during a sweep: finished lengths stay on disk, no temporary file is left,
the command that continues the run is printed, and the exit code is 130."""

import json
import shlex
import time

from conftest import interrupt_when_kept


def test_sigint_keeps_finished_lengths_and_prints_the_resume_command(tmp_path):
    """The same sweep as tests/test_cli.py's kill test (its compiled program is in the cache):
    the signal arrives once two lengths are on disk, while N = 24 runs (~7 s)."""
    options = ["--solver", "tsit5", "--rtol", "1e-7", "--out", str(tmp_path)]
    path = tmp_path / "results.json"
    command = ["sweep", "--n-pairs", "1,2,24", *options]
    code, stderr, interrupted = interrupt_when_kept(command, path, "lengths", 2, wait_s=300, finish_s=120)
    assert interrupted is not None, "two lengths never reached the disk"
    assert code == 130, stderr
    assert [r["n_pairs"] for r in json.loads(path.read_text())["lengths"]] == [1, 2]
    assert not list(tmp_path.glob("*.tmp"))
    line = stderr.strip().splitlines()[-1]
    said, command = line.split("; continue with: ")
    assert said == "Interrupted: finished work is kept"
    # the same sweep with --resume (tests/test_cli.py's kill test shows that --resume continues it)
    given = ["--n-pairs", "1,2,24", "--rtol", "1e-07", "--solver", "tsit5", "--out", str(tmp_path)]
    assert shlex.split(command) == ["induction-ode", "sweep", *given, "--resume"]
    assert time.time() - interrupted < 10, "Ctrl-C waited for the length under way"
