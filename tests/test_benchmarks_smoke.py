"""Every benchmark, launched the one way (``python benchmarks/<name>.py ...``), with every flag
on tiny sizes, so that none can rot (issue 14 item 7, issue 16 part 3). ``benchmarks/ppo.py``
is smoke-tested by its own tests.

Each case asserts what the script checks and prints (bit-equality to SB3, its tables, the
header every report opens with, the absent-CUDA notice), never a speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch as th

REPO_ROOT = Path(__file__).resolve().parents[1]
NO_CUDA = not th.cuda.is_available()

# (script and arguments, lines its output must hold); together they use every flag.
CASES = {
    "gae": (["gae.py", "--quick", "--device", "cuda"], ["### GAE on the CPU", "GAE on the GPU"]),
    "gpu_check": (
        ["gpu_check.py", "--quick", "--device", "cpu"],
        [
            "### GAE on cpu",
            "bit-equal to SB3's",
            "| thrust_algos.PPO | Thrust/CartPole-v1",
            "Device envs (thrust_envs.cuda)",
        ]
        + (["CUDA was absent"] if NO_CUDA else []),
    ),
    "solve_counts": (
        [
            "solve_counts.py",
            "--quick",
            "--settings",
            "Q",
            "--seeds",
            "1",
            "--total-timesteps",
            "1024",
        ],
        ["| setting | hyperparameters | solved |", "| Q | n_envs=8"],
    ),
    "drop_in": (
        ["drop_in.py", "--quick", "--timesteps", "256", "--rounds", "1"],
        ["| thrust_algos.PPO |", "| stable_baselines3.PPO (--stock) |"],
    ),
    "envs": (
        ["envs.py", "--quick", "--sizes", "16", "--rounds", "1"],
        ["Thrust/CartPole env-steps/s", "| 16 |", "Other classic-control envs"],
    ),
    "multiagent": (
        ["multiagent.py", "--quick", "--sizes", "4", "--games", "pong", "--rounds", "1"],
        ["Multi-agent games", "| Pong-v0 |"],
    ),
    "export": (
        [
            "export.py",
            "--quick",
            "--repeats",
            "1",
            "--single-calls",
            "5",
            "--batch-calls",
            "1",
            "--timesteps",
            "64",
            "--seed",
            "1",
            "--threads",
            "1",
        ],
        ["| NumpyPolicy.predict |", "| ONNX .onnx |"],
    ),
    "vecenv_revisions-path": (
        [
            "vecenv_revisions.py",
            "--quick",
            "--against-path",
            ".",
            "--sizes",
            "4",
            "--cases",
            "single,vs_opponent",
        ],
        ["| single | 4 |", "| vs_opponent | 4 |", "this / other"],
    ),
    "vecenv_revisions-rev": (
        [
            "vecenv_revisions.py",
            "--quick",
            "--against",
            "HEAD",
            "--sizes",
            "2",
            "--cases",
            "single",
            "--rounds",
            "1",
            "--seconds",
            "0.1",
        ],
        ["| single | 2 |", "other revision: HEAD"],
    ),
    "vecenv_revisions-first-step": (
        [
            "vecenv_revisions.py",
            "--quick",
            "--against-path",
            ".",
            "--first-step",
            "Thrust/CartPole-v1",
        ],
        ["| Thrust/CartPole-v1 |", "this first step s", "empty numba caches"],
    ),
    "population-games": (
        [
            "population.py",
            "--quick",
            "--env",
            "Toy/LongDuel-v0",
            "--factory",
            "population_helpers:vs_opponent",
            "--players",
            "level:2,level:3",
            "--games",
            "4",
            "--n-envs",
            "4",
            "--repeats",
            "1",
            "--threads",
            "1",
            "--skip-ratings",
        ],
        ["Population"],
    ),
    "population-ratings": (
        [
            "population.py",
            "--quick",
            "--skip-games",
            "--snapshots",
            "--members",
            "4",
            "--matches",
            "40",
            "--games-per-match",
            "2",
        ],
        ["Population"],
    ),
    "web": (["web.py", "--quick"], ["forward in the page", "page size, gzipped"]),
}

#: benchmarks that need a browser: skipped without one (as the web export's browser tests)
NEEDS_CHROMIUM = {"web"}


@pytest.mark.parametrize("case", list(CASES))
def test_benchmark_runs(case: str) -> None:
    if case in NEEDS_CHROMIUM:
        chromium = os.environ.get("THRUST_CHROMIUM", "/usr/bin/chromium")
        if not Path(chromium).exists():
            pytest.skip(f"no chromium at {chromium}: `sudo apt-get install -y chromium`")
        pytest.importorskip("playwright.sync_api", reason="playwright: pip install -e '.[dev]'")
    arguments, expected = CASES[case]
    pythonpath = [str(REPO_ROOT), str(REPO_ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, pythonpath))}
    script, *flags = arguments
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *flags],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert out.startswith("# "), "every report opens with common.header"
    assert f"command: python benchmarks/{script} {' '.join(flags)}" in out
    for line in expected:
        assert line in out, f"{line!r} missing from:\n{out[-3000:]}"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["gpu_check.py", "--only", "probe,bogus"], "--only takes tables of"),
        (["gpu_check.py", "--only", ","], "--only takes tables of"),
        (["gpu_check.py", "--deadline", "-1"], "--deadline takes a positive number"),
        (["solve_counts.py", "--settings", "Z"], "--settings: of"),
        (["solve_counts.py", "--seeds", "0"], "must be at least 1"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args: list[str], words: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, f"benchmarks/{args[0]}", *args[1:]],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert words in result.stderr.strip().splitlines()[-1]
    assert result.stdout == ""  # refused before any table


def test_gpu_check_only_runs_the_tables_named() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--quick", "--device", "cpu", "--only", "gae"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout.split("### Tables run", 1)[1]
    assert "| gae |" in table and "| ppo |" not in table and "| probe |" not in table


def test_gpu_check_starts_no_table_past_its_deadline() -> None:
    """gpu_check.sh's timeout less a margin: tables not started by then are listed as skipped,
    the summary still prints and the status says not every figure was measured."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--quick", "--device", "cpu",
         "--only", "probe,gae", "--deadline", "1e-9"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]
    before, table = result.stdout.split("### Tables run", 1)
    assert "| probe | 0.0 | skipped: past --deadline |" in table
    assert "| gae | 0.0 | skipped: past --deadline |" in table
    assert "### GAE" not in before


def test_gpu_check_a_failing_row_leaves_the_table_its_other_rows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A configuration that raises in a device table prints its traceback and a FAILED row;
    the rows after it still run, and main reports the table FAILED."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(REPO_ROOT / "benchmarks"))
    gpu_check.FAILED_ROWS.clear()
    ran = []
    for label in ("a", "b", "c"):
        with gpu_check.one_row(label):
            if label == "b":
                raise RuntimeError("capture failed")
            ran.append(label)
    out = capsys.readouterr().out
    assert ran == ["a", "c"] and gpu_check.FAILED_ROWS == ["b"]
    assert "RuntimeError: capture failed" in out and "| b | FAILED (traceback above) |" in out
    assert gpu_check.ratio(3.0, 2.0) == "1.50x" and gpu_check.ratio(3.0, None) == "-"
    gpu_check.FAILED_ROWS.clear()


def test_gpu_check_refuses_cuda_without_a_device() -> None:
    if not NO_CUDA:
        pytest.skip("a CUDA device is present")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--device", "cuda"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "no CUDA device" in result.stderr


def test_gpu_check_device_tables_under_the_simulator() -> None:
    """The device-env tables (issue 18) run before a GPU session spends device time on them:
    under numba's CUDA simulator on CPU tensors, tiny sizes, PPO's rollout on the device."""
    pytest.importorskip("numba.cuda", reason="the gpu extra (numba-cuda) is not installed")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--quick", "--device", "cpu"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "### PPO end to end with the env on the device" in out
    for layout, steps in [("batch 65,536", 4), ("4 minibatches", 16)]:  # 256 samples a rollout
        for cuda_graphs in (True, False):  # CartPole, the rollout path "device"
            # off CUDA nothing is graphed: the act eager, the env's kernels launched
            row = (
                f"| 8 | {layout} | {steps} | {cuda_graphs} | eager | kernels: not on CUDA | "
                "device |"
            )
            assert row in out, out[-3000:]
    assert (
        "| 8 | 4 minibatches, linear lr | 16 | True | eager | kernels: not on CUDA | device |"
        in out
    ), out[-3000:]
    for part in ("device env: its two kernels launched (validate, step)", "rollout step"):
        assert f"| 8 | {part}" in out, out[-3000:]  # the device step's costs, part by part
    assert "| 8 (16) | device, self-play | device |" in out, out[-3000:]  # Pong on the device
    assert "| 8 (16) | CPU, self-play | fused |" in out, out[-3000:]  # a CPU model: fused
    assert "| 8 (8) | device, vs a device policy | device |" in out, out[-3000:]


def _cuda_only_tests() -> set[str]:
    """``file::name`` of every test skipped where CUDA is absent (``skipif(not
    ....cuda.is_available(), ...)``), read from the test files' source."""
    import ast

    found = set()
    for path in sorted((REPO_ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if not (isinstance(decorator, ast.Call) and decorator.args):
                    continue
                condition = ast.unparse(decorator.args[0])
                if ast.unparse(decorator.func).endswith("mark.skipif") and (
                    condition.startswith("not ") and condition.endswith("cuda.is_available()")
                ):
                    found.add(f"tests/{path.name}::{node.name}")
    return found


def test_gpu_check_sh_runs_every_cuda_only_test() -> None:
    """A lent GPU is the only place these tests run: the device check's script must name each
    one, and only tests that exist (a stale name fails pytest and the call)."""
    script = (REPO_ROOT / "benchmarks" / "gpu_check.sh").read_text()
    named = {word for word in script.split() if word.startswith("tests/") and "::" in word}
    cuda_only = _cuda_only_tests()
    assert "tests/test_algos_graphed_update.py::test_cuda_graph_update_equals_the_eager_loop" in (
        cuda_only
    )  # the reader finds them
    assert cuda_only - named == set(), "gpu_check.sh does not run these CUDA-only tests"
    assert named - cuda_only == set(), "gpu_check.sh names tests that are not CUDA-only tests"
