"""The load command runs against a real server and fails when its threshold is not met."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_load_runs_against_a_local_server_and_fails_below_an_impossible_p95(model_env):
    command = [sys.executable, "-m", "benchmarks.load", "--workers", "1", "--users", "2"]
    command += ["--seconds", "1", "--max-requests", "50", "--max-p95-ms", "0"]
    env = os.environ | {"ML_MODEL_DIR": str(model_env.model_dir)}
    result = subprocess.run(
        command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "| workers | users | requests | req/s | p50 ms | p95 ms | p99 ms | errors |" in lines
    [row] = [line for line in lines if line.startswith("| 1 | 2 |")]
    requests, errors = int(row.split("|")[3]), int(row.split("|")[8])
    assert requests >= 50 and errors == 0, row
    assert lines[-1].startswith("load: FAILED: p95 "), lines
    assert lines[-1].endswith("ms is not under 0.0 ms (2 users, 1 workers)"), lines
