"""A league's faults (issue 20 items 3, 4, 7, 9; issue 19 items 2, 4, 5, 10): killed before its
first generation is recorded it resumes with ``resume RUN`` alone; its workers die with it; a
dead worker is one line; bad or contradictory options are refused before anything is written;
TensorBoard is optional; tournaments take game parameters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from thrust_population import League  # noqa: E402
from thrust_population.cli import main  # noqa: E402
from thrust_population.league.config import ENV_KWARGS_META  # noqa: E402
from thrust_population.rundir import leftovers  # noqa: E402
from thrust_population.store import Store  # noqa: E402

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
from test_population_cli import snapshot  # noqa: E402
from test_population_league import (  # noqa: E402
    ENV_KWARGS,
    PONG,
    TRAIN,
    assert_same,
    signature,
    tiny_config,
)

PATH = os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])
ENV = {**os.environ, "PYTHONPATH": PATH, "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_args(out: Path, **changes: str) -> list[str]:
    args = [*TRAIN, "--out", str(out)]
    for option, value in {"--generations": "1", **changes}.items():
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    return args


# A train command that kills itself with SIGKILL at a chosen point of the league's creation.
KILL_AT = r"""
import os, signal, sys
import torch
torch.set_num_threads(1)
import thrust_population.population as population_module
import thrust_population.store as store_module

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

point = sys.argv[1]
if point == "metadata":  # the first metadata written after the run's creation
    store_module.Store.set_meta = die
elif point == "snapshot":  # the first initial snapshot
    population_module.Population.add_model = die
elif point == "artifact":  # an artifact's temporary file written, not yet renamed
    population_module.file_sha256 = die
elif point in ("training", "evaluation"):
    # training: learner 1 of generation 1 (learner 0's snapshot frozen); evaluation: after two
    # of generation 1's evaluation matches are played, none recorded
    import thrust_population.league.loop as loop_module

    owner, name, survive = {
        "training": (loop_module.League, "_fit", 1),
        "evaluation": (population_module.Population, "play", 2),
    }[point]
    original, calls = getattr(owner, name), []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) > survive:
            die()
        return original(*args, **kwargs)

    setattr(owner, name, dying)
from thrust_population.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def one_generation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An uninterrupted league of 2 learners, 1 generation (seed 5), for comparison."""
    torch.set_num_threads(1)
    directory = tmp_path_factory.mktemp("league") / "ref"
    with League.create(directory, PONG, tiny_config(), seed=5) as league:
        league.run(1, workers=1)
        return signature(league)


@pytest.mark.parametrize("point", ["metadata", "snapshot", "artifact", "training", "evaluation"])
def test_a_league_killed_during_its_creation_resumes_with_resume_alone(
    one_generation, tmp_path, capsys, point
):
    """Killed with SIGKILL during its creation (metadata, an initial snapshot, an artifact's
    write) or its first generation (mid-training, mid-evaluation), ``resume RUN`` alone ends as
    the uninterrupted league, with no orphan files."""
    out = tmp_path / "run"
    process = subprocess.run(
        [sys.executable, "-c", KILL_AT, point, *train_args(out, **{"--workers": "1"})],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert Store.exists(out)  # the run was created (with its whole configuration)
    frozen = {"training": ["L0-g1"], "evaluation": ["L0-g1", "L1-g1"]}.get(point)
    if frozen is not None:  # the kill landed inside generation 1, where it says
        with League.open(out, readonly=True) as league:
            assert league.generation == 0
            assert [n for n in league.store.member_names() if n.endswith("-g1")] == frozen
            assert league.store.n_matches() == 0
    if point == "artifact":
        (orphan,) = leftovers(out)
        assert orphan.parent.name == "artifacts" and orphan.name.startswith(".L0-g0.zip.")
        assert main(["verify", str(out)]) == 1
        assert f"leftover of a killed writer: {orphan}" in capsys.readouterr().out
    assert main(["resume", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert leftovers(out) == []
    assert main(["verify", str(out)]) == 0
    with League.open(out, readonly=True) as league:
        assert league.generation == 1
        assert_same(signature(league), one_generation)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def _children(pid: int) -> list[int]:
    """The live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            alive.append(pid)
    return alive


def _workers_started(process: subprocess.Popen[str], run: Path) -> list[int]:
    """Wait until ``process`` has started its two pool workers; their pids (and the resource
    tracker's)."""
    deadline = time.monotonic() + 300
    while True:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the workers never started"
        if (run / "league-staging").is_dir():
            children = _children(process.pid)
            workers = [
                pid
                for pid in children
                if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
            ]
            if len(workers) == 2:
                return children
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_die_with_their_parent_and_a_dead_worker_is_one_line(tmp_path):
    """``train --workers 2``: a worker killed with SIGKILL ends the command with one line (exit
    1, the run resumable); ``resume --workers 2`` killed with SIGKILL takes its workers with it
    within seconds (they would otherwise train on for minutes)."""
    out = tmp_path / "run"
    long = str(256 * 2000)  # minutes of training: the workers cannot finish on their own
    args = train_args(out, **{"--workers": "2", "--steps-per-generation": long})
    code = "import sys; from thrust_population.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        children = _workers_started(process, out)
        worker = next(p for p in children if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text())
        os.kill(worker, signal.SIGKILL)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("thrust-population: error: a worker process training L")
    assert f"resume {out}" in last

    resume = ["resume", str(out), "--workers", "2", "--no-progress"]
    process = subprocess.Popen(
        [sys.executable, "-c", code, *resume],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        children = _workers_started(process, out)
        time.sleep(1.0)  # the workers are past their initializer, training
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(children) == [], "workers outlived their parent"
    finally:
        process.kill()
        for pid in _alive(children):
            os.kill(pid, signal.SIGKILL)


# -- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"--steps-per-generation": "300"}, "not a whole number of rollouts of 256 steps"),
        ({"--env-kwargs": '{"max_steps": 100000000000000000000}'}, "64-bit integer"),
        ({"--ray-address": "127.0.0.1:6379"}, "--ray-address is given without --backend ray"),
        ({"--exploiter-reset": "0.7"}, "no exploiters"),
        ({"--backend": "ray"}, "--workers applies to the local backend"),
        ({"--algo-kwargs": '{"device": "tpu"}'}, "cannot build"),
    ],
)
def test_train_refuses_bad_options_before_writing(tmp_path, capsys, changes, match):
    assert main(train_args(tmp_path / "run", **changes)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], captured.err
    assert list(tmp_path.iterdir()) == []


def test_resume_refuses_contradictory_backend_options(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*train_args(out), "--no-tensorboard"]) == 0
    capsys.readouterr()
    before = snapshot(out)
    assert main(["resume", str(out), "--generations", "2", "--ray-address", "auto"]) == 2
    assert "--ray-address" in capsys.readouterr().err
    assert snapshot(out) == before


def test_tensorboard_is_optional_and_resume_can_turn_it_off(tmp_path, capsys, monkeypatch):
    """Without tensorboard installed (simulated: not importable, SB3's SummaryWriter absent)
    the default train works and says once that logging is off; resume --no-tensorboard stops
    the logs of a run trained with them."""
    from stable_baselines3.common import logger

    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "tensorboard", None)
        patch.setattr(logger, "SummaryWriter", None)
        out = tmp_path / "without"
        assert main(train_args(out)) == 0
        text = capsys.readouterr().out
        assert text.count("TensorBoard logging is off: tensorboard is not installed") == 1
        assert not (out / "tensorboard").exists()

    out = tmp_path / "with"
    assert main(train_args(out)) == 0  # tensorboard is installed here: logs by default
    assert "TensorBoard" not in capsys.readouterr().out
    logs = snapshot(out / "tensorboard")
    assert logs
    assert main(["resume", str(out), "--generations", "2", "--no-tensorboard"]) == 0
    assert snapshot(out / "tensorboard") == logs
    with League.open(out, readonly=True) as league:
        assert league.generation == 2 and league.config.tensorboard is False
    with pytest.raises(ValueError, match="cannot change"):
        League.open(out).reconfigure(learners=3)


def test_tournament_game_parameters_and_a_foreign_policy(tmp_path, capsys):
    """``tournament --env-kwargs`` is recorded and used by later commands; a CartPole policy
    against a Pong run is refused and writes nothing."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    import thrust_export

    out = tmp_path / "run"
    base = ["tournament", "--env", PONG, "--games", "16", "--games-per-match", "8"]
    base += ["--n-envs", "8", "--no-progress", "--out", str(out)]
    kwargs = json.dumps(ENV_KWARGS)
    assert main([*base, "--players", "random,tracker", "--env-kwargs", kwargs]) == 0
    with Store.open(out, readonly=True) as store:
        assert store.meta(ENV_KWARGS_META) == ENV_KWARGS
        assert all(m.steps <= ENV_KWARGS["max_steps"] for m in store.matches())
    assert main(["play", str(out), "random", "tracker", "--games", "8", "--n-envs", "8"]) == 0
    with Store.open(out, readonly=True) as store:
        assert store.matches(last=1)[0].steps <= ENV_KWARGS["max_steps"]
    capsys.readouterr()
    Store.open(out).close()  # a writer's close checkpoints the WAL the readers left
    before = snapshot(out)
    assert main([*base, "--players", "random,tracker", "--env-kwargs", "{}"]) == 2
    assert "game parameters" in capsys.readouterr().err

    cartpole = tmp_path / "cartpole.npz"
    thrust_export.export_numpy(PPO("MlpPolicy", gym.make("CartPole-v1"), seed=0), cartpole)
    for games in ("16", "32"):
        args = [*base, "--players", f"random,tracker,cp={cartpole}"]
        args[args.index("--games") + 1] = games
        assert main(args) == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert snapshot(out) == before
    fresh = [*base[:-1], str(tmp_path / "new"), "--players", f"random,cp={cartpole}"]
    assert main(fresh) == 2
    assert not (tmp_path / "new").exists()


def test_a_killed_ray_worker_is_one_line_and_the_run_resumes(tmp_path, capsys):
    """A Ray task's worker killed with SIGKILL while it trains (a real local Ray instance, an
    algorithm whose ``learn`` kills its process): ``train --backend ray`` ends with one line,
    exit 1, naming the task and ``resume``; the run holds generation 0, as a resume needs."""
    ray = pytest.importorskip("ray")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        args = train_args(out, **{"--algo": "population_helpers:DyingPPO"})
        del args[args.index("--workers") : args.index("--workers") + 2]  # local backend only
        assert main([*args, "--backend", "ray"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert "the Ray task L0-g1 failed" in err and f"resume {out}" in err, err
        with League.open(out, readonly=True) as league:
            assert league.generation == 0
            assert league.store.member_names()[-2:] == ["L0-g0", "L1-g0"]
    finally:
        ray.shutdown()
