"""Ctrl-C (SIGINT) during a sweep: finished lengths stay on disk, no temporary file is left,
the command that continues the run is printed, and the exit code is 130."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time


def test_sigint_keeps_finished_lengths_and_prints_the_resume_command(tmp_path):
    """The same sweep as tests/test_cli.py's kill test (its compiled program is in the cache):
    the signal arrives once two lengths are on disk, while N = 24 runs (~7 s)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    options = ["--solver", "tsit5", "--rtol", "1e-7", "--out", str(tmp_path)]
    args = [sys.executable, "-m", "induction_ode", "sweep", "--n-pairs", "1,2,24", *options]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    path = tmp_path / "results.json"
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if path.exists() and len(json.loads(path.read_text())["lengths"]) >= 2:
                proc.send_signal(signal.SIGINT)
                interrupted = time.time()
                break
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, stderr
    assert [r["n_pairs"] for r in json.loads(path.read_text())["lengths"]] == [1, 2]
    assert not list(tmp_path.glob("*.tmp"))
    line = stderr.strip().splitlines()[-1]
    said, command = line.split("; continue with: ")
    assert said == "Interrupted: finished work is kept"
    # the same sweep with --resume (tests/test_cli.py's kill test shows that --resume continues it)
    given = ["--n-pairs", "1,2,24", "--rtol", "1e-07", "--solver", "tsit5", "--out", str(tmp_path)]
    assert shlex.split(command) == ["induction-ode", "sweep", *given, "--resume"]
    assert time.time() - interrupted < 10, "Ctrl-C waited for the length under way"
