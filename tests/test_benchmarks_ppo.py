"""benchmarks/ppo.py: every flag runs, on tiny budgets (the tables' figures are not checked)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "ppo.py"
HAS_JAX = all(importlib.util.find_spec(m) is not None for m in ("jax", "gymnax", "flax", "optax"))
HAS_ENVPOOL = importlib.util.find_spec("envpool") is not None


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900
    )


def test_solve_table_breakdown_grad_step_and_gpu_flags() -> None:
    sides = "--sides=stock,thrust,thrust fused=False"
    done = run(
        "--settings",
        "thrust",
        "--seeds",
        "1",
        "--total-timesteps",
        "1024",
        sides,
        "--gpu",
        "--gpu-envs",
        "8",
        "--gpu-updates",
        "1",
    )
    assert done.returncode == 0, done.stderr
    assert "| 0 | thrust fused=False |" in done.stdout and "### Summary" in done.stdout
    assert "End-to-end PPO on the GPU" in done.stdout
    done = run(
        "--breakdown",
        "--breakdown-steps",
        "1024",
        "--repeats",
        "1",
        "--settings",
        "thrust",
        "--sides",
        "thrust,thrust fused=False",
        "--grad-step",
    )
    assert done.returncode == 0, done.stderr
    assert "Where the time goes" in done.stdout and "One minibatch gradient step" in done.stdout


def test_throughput_flags() -> None:
    done = run(
        "--throughput",
        "--throughput-steps",
        "256",
        "--grid",
        "4x16",
        "--throughput-envs",
        "CartPole-v1,Pendulum-v1",
        "--sides",
        "stock,thrust,thrust fused=False",
    )
    assert done.returncode == 0, done.stderr
    assert "| CartPole-v1 | 4 x 16 | thrust |" in done.stdout
    assert "| Pendulum-v1 | 4 x 16 | thrust fused=False |" in done.stdout
    assert "| Pendulum-v1 | 4 x 16 | stock |" not in done.stdout


@pytest.mark.slow
def test_compile_flag_and_purejaxrl_side() -> None:
    done = run("--compile")
    assert done.returncode == 0, done.stderr
    assert "| warm (cached) |" in done.stdout
    assert "| Thrust/Pendulum-v1 | CartPole's and Acrobot's (a new Box env) |" in done.stdout
    done = run(
        "--throughput",
        "--throughput-steps",
        "256",
        "--grid",
        "4x16",
        "--throughput-envs",
        "CartPole-v1",
        "--sides",
        "purejaxrl",
    )
    assert done.returncode == 0, done.stderr
    if HAS_JAX:
        assert "| CartPole-v1 | 4 x 16 | purejaxrl |" in done.stdout
    else:
        assert "PureJaxRL side skipped" in done.stdout


def test_cleanrl_envpool_side_in_every_table() -> None:
    """The CleanRL + EnvPool side runs in the solve, breakdown and throughput tables (the dev
    extras install envpool on Linux; elsewhere the side is skipped with a message)."""
    side = "--sides=cleanrl envpool"
    solve = run("--settings", "thrust", "--seeds", "1", "--total-timesteps", "2048", side)
    breakdown = run(
        "--breakdown", "--breakdown-steps", "1024", "--repeats", "1", "--settings", "thrust",
        "--sides=cleanrl envpool,purejaxrl",
    )  # fmt: skip
    throughput = run(
        "--throughput", "--throughput-steps", "256", "--grid", "4x16", "--throughput-envs",
        "CartPole-v1,Pendulum-v1", side,
    )  # fmt: skip
    for done in (solve, breakdown, throughput):
        assert done.returncode == 0, done.stderr
    if not HAS_ENVPOOL:
        assert "CleanRL + EnvPool side skipped" in solve.stdout
        return
    assert "| 0 | cleanrl envpool | no (last eval" in solve.stdout
    assert "| thrust | cleanrl envpool | 0/1 |" in solve.stdout
    assert "| thrust (1,024 steps) | cleanrl envpool |" in breakdown.stdout
    notes = ("leaves out purejaxrl", "PureJaxRL side skipped")  # with jax installed, or not
    assert any(note in breakdown.stdout for note in notes)
    assert "| CartPole-v1 | 4 x 16 | cleanrl envpool |" in throughput.stdout
    assert "| Pendulum-v1 | 4 x 16 | cleanrl envpool |" not in throughput.stdout  # Discrete only


@pytest.mark.parametrize(
    "args", [["--grid", "4by128", "--throughput"], ["--settings", "nope"], ["--sides", "nope"]]
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    done = run(*args)
    assert done.returncode == 2 and "error" in done.stderr and not done.stdout.count("|")


def test_solve_time_excludes_each_evaluation_once(monkeypatch) -> None:
    """The solve clock: training time only; the evaluations that did not solve are taken out,
    and the clock stops where the solving one began (its time is not taken out twice)."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import ppo as bench
    finally:
        sys.path.remove(str(SCRIPT.parent))
    clock = [100.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    means = iter([10.0, 500.0])

    def evaluation(*args, **kwargs):
        clock[0] += 3.0  # every evaluation takes 3 s of the fake clock
        return next(means), 0.0

    monkeypatch.setattr(bench, "evaluate_policy", evaluation)

    class Model:
        def __init__(self) -> None:
            self.num_timesteps = 0

        def learn(self, total, callback):
            callback.model = self
            for _ in range(3):
                clock[0] += 1.0  # 1 s of training between evaluations
                self.num_timesteps += bench.EVAL_EVERY
                callback.num_timesteps = self.num_timesteps
                if not callback._on_step():
                    return

    monkeypatch.setattr(bench, "make_model", lambda *args, **kwargs: Model())
    monkeypatch.setattr(bench, "sb3_make_vec_env", lambda *args, **kwargs: None)
    run = bench.time_to_solve("thrust", {"n_envs": 1}, 0, 10 * bench.EVAL_EVERY)
    assert run.solved and run.steps == 2 * bench.EVAL_EVERY
    assert run.seconds == pytest.approx(2.0)  # two seconds of training, no evaluation


def test_cleanrl_solve_time_counts_its_updates_only(monkeypatch) -> None:
    """The CleanRL side's solve clock: the updates' time only, evaluated after each update that
    passes a multiple of EVAL_EVERY steps, stopping at the first that solves."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import ppo as bench
    finally:
        sys.path.remove(str(SCRIPT.parent))
    clock = [100.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    means = iter([10.0, 500.0])
    evaluated_at: list[int] = []

    class Agent:
        def __init__(self, config, seed) -> None:
            self.num_timesteps = 0

        def update(self) -> tuple[float, float]:
            clock[0] += 1.0  # 1 s per update of EVAL_EVERY / 2 steps
            self.num_timesteps += bench.EVAL_EVERY // 2
            return 0.5, 0.5

        def close(self) -> None:
            pass

    def evaluation(agent, *args, **kwargs):
        clock[0] += 3.0
        evaluated_at.append(agent.num_timesteps)
        return next(means), 0.0

    class Module:
        CleanRLPPO = Agent

        @staticmethod
        def config_from_setting(setting, total):
            return None

    monkeypatch.setattr(bench, "cleanrl_envpool", lambda: Module)
    monkeypatch.setattr(bench, "evaluate_policy", evaluation)
    monkeypatch.setattr(bench, "make_eval_env", lambda seed: None)
    run = bench.time_to_solve("cleanrl envpool", {}, 0, 10 * bench.EVAL_EVERY)
    half = bench.EVAL_EVERY // 2
    assert evaluated_at == [2 * half, 4 * half]
    assert run.solved and run.steps == 4 * half
    assert run.seconds == pytest.approx(4.0)  # four updates of 1 s, no evaluation
