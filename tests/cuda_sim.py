"""Running a check script under numba's CUDA simulator: numba reads NUMBA_ENABLE_CUDASIM when it
is imported, so the simulated checks (tests/cuda_sim_*.py) run in a subprocess of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_under_simulator(script: str, *args: str, timeout: int = 600) -> list[str]:
    """Run ``tests/<script>`` with NUMBA_ENABLE_CUDASIM=1 and the repository on the path;
    assert that it succeeded and return its printed lines (one per check)."""
    environ = {**os.environ, "PYTHONPATH": str(HERE.parent), "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def expect(error: type, words: str, call) -> str:
    """Assert that ``call()`` raises ``error`` with ``words`` in its message; return the
    message."""
    try:
        call()
    except error as caught:
        assert words in str(caught), (words, str(caught))
        return str(caught)
    raise AssertionError(f"expected {error.__name__} ({words})")
