"""Members that are policies: exported thrust_export ``.npz`` files, SB3 ``.zip`` models and frozen
SB3 snapshots with lineage, in the library and on the command line."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from population_helpers import vs_opponent
from stable_baselines3 import PPO

import thrust_export
from thrust_population.cli import main
from thrust_population.population import Population, file_sha256
from thrust_population.store import Store, StoreCorrupt, StoreError

FACTORY = "population_helpers:vs_opponent"


class ToySpaces(gym.Env):
    """Only the toy duel's spaces (the models here are built, never trained)."""

    observation_space = spaces.Box(0.0, 1.0, (4,), np.float32)
    action_space = spaces.Discrete(5)

    def reset(self, *, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


def fixed_action_model(action: int) -> PPO:
    """An untrained PPO whose deterministic action is always ``action``."""
    model = PPO("MlpPolicy", ToySpaces(), n_steps=64, batch_size=64, seed=0, device="cpu")
    with th.no_grad():
        model.policy.action_net.weight.zero_()
        model.policy.action_net.bias.copy_(
            th.tensor([0.0] * 5).index_fill_(0, th.tensor(action), 5)
        )
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    previous = th.get_num_threads()
    th.set_num_threads(1)
    directory = tmp_path_factory.mktemp("models")
    strong, weak = fixed_action_model(4), fixed_action_model(1)
    paths = {"strong.zip": directory / "strong.zip", "weak.npz": directory / "weak.npz"}
    strong.save(paths["strong.zip"])
    thrust_export.export_numpy(weak, paths["weak.npz"])
    yield paths
    th.set_num_threads(previous)


def test_policy_files_become_frozen_members(files, tmp_path):
    pop = Population.create(tmp_path / "run", "Toy/Duel-v0", env_factory=vs_opponent)
    pop.add_bot("level:0")
    weak = pop.add_file(files["weak.npz"])
    strong = pop.add_file(files["strong.zip"], "champion")
    assert (weak.name, weak.kind, weak.artifact) == ("weak", "numpy", "artifacts/weak.npz")
    assert (strong.name, strong.kind, strong.artifact) == (
        "champion",
        "sb3",
        "artifacts/champion.zip",
    )
    for member in (weak, strong):
        copy = pop.store.artifact_path(member)
        assert copy.read_bytes() == files[f"{member.spec.rsplit('/', 1)[-1]}"].read_bytes()
        assert len(member.info["sha256"]) == 64
    obs = np.zeros((3, 4), dtype=np.float32)
    assert pop.policy("weak")(obs).tolist() == [1, 1, 1]
    assert pop.policy("champion")(obs).tolist() == [4, 4, 4]
    pop.run_tournament(600, games_per_match=50)
    ladder = [row.name for row in pop.ladder().rows]
    assert ladder == ["champion", "weak", "level:0"]
    pop.close()


def test_sb3_members_play_through_a_numpy_forward(files, tmp_path, monkeypatch):
    """An SB3 member plays as a thrust_export NumpyPolicy with the model's actions; a model
    thrust_export cannot translate plays through SB3's predict."""
    import thrust_population.players as players

    pop = Population.create(tmp_path / "run", "Toy/Duel-v0", env_factory=vs_opponent)
    model = fixed_action_model(2)
    with th.no_grad():  # actions that depend on the observation
        model.policy.action_net.weight.normal_(0, 3, generator=th.Generator().manual_seed(0))
    pop.add_model(model, "learner")
    policy = pop.policy("learner")
    assert isinstance(pop._models["learner"], thrust_export.NumpyPolicy)
    obs = np.random.default_rng(0).uniform(0, 1, (500, 4)).astype(np.float32)
    expected = model.predict(obs, deterministic=True)[0]
    assert len(set(expected.tolist())) > 1
    np.testing.assert_array_equal(policy(obs), expected)

    def unsupported(model):
        raise NotImplementedError("not this one")

    class Mismatch:
        passed = False

    monkeypatch.setattr(thrust_export, "check_parity", lambda *args, **kwargs: Mismatch())
    assert players.fast_policy(model) is model  # a translation that disagrees is not used
    monkeypatch.setattr(thrust_export, "to_numpy_policy", unsupported)
    assert players.fast_policy(model) is model
    pop.close()


def test_snapshots_with_lineage_replay_in_another_process(files, tmp_path):
    pop = Population.create(
        tmp_path / "run", "Toy/Duel-v0", env_factory=vs_opponent, env_factory_path=FACTORY
    )
    pop.add_bot("level:2")
    root = pop.add_model(fixed_action_model(1), "learner-g0")
    child = pop.add_model(fixed_action_model(3), "learner-g1", parent="learner-g0")
    assert (root.generation, child.generation, child.parent) == (0, 1, "learner-g0")
    assert child.info["class"] == "stable_baselines3.ppo.ppo:PPO"
    assert (pop.store.directory / "artifacts" / "learner-g1.zip").is_file()
    pop.run_tournament(300, games_per_match=50)
    recorded = pop.store.matches()
    pop.close()
    again = Population.open(tmp_path / "run")  # the factory comes from the run's metadata
    for row in recorded:
        assert again.replay(row.id).outcomes == row.outcomes
    again.close()


def test_altered_or_missing_artifacts_are_refused(files, tmp_path):
    pop = Population.create(tmp_path / "run", "Toy/Duel-v0", env_factory=vs_opponent)
    pop.add_bot("level:2")
    member = pop.add_file(files["weak.npz"])
    path = pop.store.artifact_path(member)
    pop.close()
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    pop = Population.open(tmp_path / "run", env_factory=vs_opponent)
    with pytest.raises(StoreCorrupt, match="modified"):
        pop.play("weak", "level:2", 10)
    path.unlink()
    with pytest.raises(StoreCorrupt, match="missing"):
        pop.play("weak", "level:2", 10)
    pop.close()


def test_a_bad_policy_file_adds_nothing(tmp_path):
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not an artifact")
    pop = Population.create(tmp_path / "run", "Toy/Duel-v0", env_factory=vs_opponent)
    with pytest.raises(ValueError):
        pop.add_file(bogus)
    assert pop.store.member_names() == []
    assert list(pop.store.artifacts.iterdir()) == []
    pop.close()


def test_cli_tournament_with_exported_and_sb3_players(files, tmp_path, capsys):
    out = tmp_path / "run"
    players = f"level:0,level:2,{files['weak.npz']},best={files['strong.zip']}"
    args = [
        "tournament",
        "--env",
        "Toy/Duel-v0",
        "--factory",
        FACTORY,
        "--players",
        players,
        "--games",
        "600",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(args) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in table[2:6]] == ["best", "level:2", "weak", "level:0"]
    assert main(["show", str(out), "best"]) == 0
    shown = capsys.readouterr().out
    assert "kind        sb3" in shown and "artifacts/best.zip" in shown and "sha256" in shown
    with Store.open(out) as store:
        assert sorted(p.name for p in store.artifacts.iterdir()) == ["best.zip", "weak.npz"]
    # resuming with the same files is fine; a changed file under a frozen name is refused
    assert main([*args[:-1], "--games", "650", "--no-progress"]) == 0
    changed = tmp_path / "weak.npz"
    thrust_export.export_numpy(fixed_action_model(3), changed)
    again = [a.replace(str(files["weak.npz"]), str(changed)) for a in args]
    assert main(again) == 2
    assert "is already numpy" in capsys.readouterr().err
    # a damaged policy file is a one-line error, and the new run is not created
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"garbage")
    args[args.index(players)] = f"level:0,{bogus}"
    args[args.index(str(out))] = str(tmp_path / "other")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bogus.npz" in err
    assert not (tmp_path / "other").exists()


def test_a_writer_that_loses_the_name_leaves_the_winners_artifact(files, tmp_path):
    other = tmp_path / "other.npz"  # the loser's file: same name and suffix, other weights
    thrust_export.export_numpy(fixed_action_model(2), other)
    first = Population.create(tmp_path / "run", "Toy/Duel-v0", env_factory=vs_opponent)
    second = Population.open(tmp_path / "run")  # a second writer (another process in real life)
    check = second._load_artifact

    def winner_commits_meanwhile(kind, path, info):  # the race: the other writer is faster
        first.add_file(files["weak.npz"], "x")
        return check(kind, path, info)

    second._load_artifact = winner_commits_meanwhile
    try:
        with pytest.raises(StoreError, match="already exists"):
            second.add_file(other, "x")
        member = first.store.member("x")
        path = first.store.artifact_path(member)
        assert member.kind == "numpy" and path.is_file()
        assert file_sha256(path) == member.info["sha256"] == file_sha256(files["weak.npz"])
        assert sorted(p.name for p in path.parent.iterdir()) == ["x.npz"]  # no staging left
        assert first.store.verify() == []
    finally:
        first.close()
        second.close()
