"""Run a test script in a fresh process (one thread), for SIGKILL-and-resume tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_script(script: Path, *args: str | Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def run_torchrun(script: Path, *args: str | Path, nproc: int = 2, timeout: int = 180):
    """``python -m torch.distributed.run --standalone --nproc_per_node=nproc script args`` on
    one thread per process, the repository importable; in its own process group, so a hang is
    killed whole and fails the test with the tail of both outputs."""
    import signal

    import pytest

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={nproc}", str(script), *map(str, args),
    ]  # fmt: skip
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"torchrun did not finish in {timeout} s: {stdout[-2000:]} {stderr[-4000:]}")
    return subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)
