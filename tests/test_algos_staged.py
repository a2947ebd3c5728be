"""The staged rollout step (thrust_algos.device_rollout, issue 14 item 2) and the env's
``step_into`` hook: on the CPU the staged path fills the rollout buffer bit for bit as SB3's
per-step path (``PPO._collect_stepwise``) does, the time-limit bootstrap included."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnvWrapper
from torch_threads import one_torch_thread as one_torch_thread

import thrust_algos
from thrust_algos import device_rollout
from thrust_envs.sb3 import make_vec_env

BUFFER_FIELDS = (
    "observations",
    "actions",
    "rewards",
    "episode_starts",
    "values_tensor",
    "log_probs",
    "advantages",
    "returns_tensor",
)


class PassThrough(VecEnvWrapper):
    """A wrapper that changes nothing but hides ``step_into``: the model takes SB3's loop."""

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        return self.venv.step_wait()


def make_model(env_id: str, wrap: bool, lean: bool, n_envs: int = 6, n_steps: int = 16):
    env = make_vec_env(env_id, n_envs, seed=3, max_episode_steps=7)
    return thrust_algos.PPO(
        "MlpPolicy",
        PassThrough(env) if wrap else env,
        n_steps=n_steps,
        batch_size=n_steps * n_envs,
        n_epochs=1,
        seed=3,
        device="cpu",
        fused=False,
        lean=lean,
    )


def buffer_arrays(model) -> dict[str, np.ndarray]:
    buffer = model.rollout_buffer
    return {name: getattr(buffer, name).numpy().copy() for name in BUFFER_FIELDS}


class Snapshots(BaseCallback):
    """Copies the rollout buffer at the end of every rollout (after GAE)."""

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[dict[str, np.ndarray]] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.rollouts.append(buffer_arrays(self.model))


def run(env_id: str, wrap: bool, lean: bool, total: int, callback: BaseCallback):
    """A model built and trained at once (torch's global generator is the models' shared one)."""
    model = make_model(env_id, wrap, lean)
    model.learn(total, callback=callback)
    return model


@pytest.mark.parametrize("lean", [True, False])
@pytest.mark.parametrize("env_id", ["Thrust/CartPole-v1", "Thrust/Pendulum-v1"])
def test_staged_buffer_equals_stepwise_bit_for_bit(env_id: str, lean: bool) -> None:
    first, second = Snapshots(), Snapshots()
    staged = run(env_id, False, lean, 192, first)
    assert staged.rollout_path == "stepwise (staged): fused=False"
    stepwise = run(env_id, True, lean, 192, second)
    assert stepwise.rollout_path.startswith("stepwise: ")
    assert len(first.rollouts) == len(second.rollouts) == 2
    for mine, theirs in zip(first.rollouts, second.rollouts, strict=True):
        for name in BUFFER_FIELDS:
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)
    np.testing.assert_array_equal(staged._last_obs, stepwise._last_obs)
    np.testing.assert_array_equal(staged._last_episode_starts, stepwise._last_episode_starts)
    # The time limit (7 steps) truncated episodes, so the bootstrap was compared too.
    assert first.rollouts[0]["episode_starts"][1:].any()
    if env_id == "Thrust/CartPole-v1":
        assert (first.rollouts[0]["rewards"] > 1.0).any()
    assert [e["l"] for e in staged.ep_info_buffer] == [e["l"] for e in stepwise.ep_info_buffer]
    assert staged.num_timesteps == stepwise.num_timesteps == 192


class StopAt(BaseCallback):
    """Stops the rollout at step ``stop`` and records what the locals said."""

    def __init__(self, stop: int) -> None:
        super().__init__()
        self.stop = stop
        self.seen: list[tuple[np.ndarray, np.ndarray, int]] = []

    def _on_step(self) -> bool:
        locals_ = self.locals
        self.seen.append(
            (locals_["rewards"].copy(), np.asarray(locals_["dones"]).copy(), len(locals_["infos"]))
        )
        return len(self.seen) < self.stop


def test_staged_callback_sees_sb3_locals_and_stops() -> None:
    first, second = StopAt(9), StopAt(9)
    staged = run("Thrust/CartPole-v1", False, True, 960, first)
    stepwise = run("Thrust/CartPole-v1", True, True, 960, second)
    assert staged.num_timesteps == stepwise.num_timesteps == 9 * 6
    for (r1, d1, n1), (r2, d2, n2) in zip(first.seen, second.seen, strict=True):
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        assert n1 == n2 == 6


@pytest.mark.parametrize("double_buffer", [False, True])
def test_staged_stop_leaves_the_model_where_sb3s_loop_does(double_buffer: bool) -> None:
    """A callback stopping the rollout leaves ``_last_obs`` and ``_last_episode_starts`` at
    the stopping step's input, as SB3's loop does, and learn(reset_num_timesteps=False) goes
    on from there as on SB3's loop. Double-buffered, the halves draw their actions apart
    (other draws than SB3's loop): the model stands at the buffer's row of that step."""
    outcomes = []
    for wrap in (False, True):
        # Each model built and trained at once: torch's global generator is their shared one.
        model = make_model("Thrust/CartPole-v1", wrap, True)
        model.double_buffer = double_buffer and not wrap
        stop = StopAt(8)  # at step 7, after the time limit (7 steps) ended every episode
        model.learn(960, callback=stop)
        stopped = (np.array(model._last_obs), np.array(model._last_episode_starts))
        if double_buffer:  # the input of step 7: its observations, the dones of step 6
            np.testing.assert_array_equal(stopped[0], model.rollout_buffer.observations[7])
            np.testing.assert_array_equal(stopped[1], stop.seen[6][1])
            assert stopped[1].all()
            return
        snapshots = Snapshots()
        model.learn(96, callback=snapshots, reset_num_timesteps=False)
        outcomes.append((stopped, snapshots.rollouts[0]))
    (staged, staged_next), (stepwise, stepwise_next) = outcomes
    for mine, theirs in zip(staged, stepwise, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for name in BUFFER_FIELDS:
        np.testing.assert_array_equal(staged_next[name], stepwise_next[name], err_msg=name)


def test_step_into_writes_what_step_returns() -> None:
    into, plain = (make_vec_env("Thrust/CartPole-v1", 5, seed=1, max_episode_steps=4) for _ in "ab")
    into.reset(), plain.reset()
    obs = np.zeros((5, 4), np.float32)
    rewards, dones, time_limit = np.zeros(5, np.float32), np.zeros(5, bool), np.zeros(5, bool)
    final_obs = np.zeros((5, 4), np.float32)
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(12):
        actions = rng.integers(0, 2, 5)
        infos = into.step_into(actions, obs, rewards, dones, final_obs, time_limit)
        obs_ref, rewards_ref, dones_ref, infos_ref = plain.step(actions)
        np.testing.assert_array_equal(obs, obs_ref)
        np.testing.assert_array_equal(rewards, rewards_ref)
        np.testing.assert_array_equal(dones, dones_ref)
        assert [i.keys() for i in infos] == [i.keys() for i in infos_ref]
        for row in np.flatnonzero(dones_ref):
            ended += 1
            np.testing.assert_array_equal(final_obs[row], infos_ref[row]["terminal_observation"])
        np.testing.assert_array_equal(
            time_limit, [i.get("TimeLimit.truncated", False) for i in infos_ref]
        )
    assert ended > 0 and time_limit.dtype == np.bool_


@pytest.mark.parametrize(
    "name, array",
    [
        ("obs_out", np.zeros((5, 3), np.float32)),
        ("obs_out", np.zeros((5, 4), np.float64)),
        ("rew_out", np.zeros(4, np.float32)),
        ("done_out", np.zeros(5, np.int8)),
        ("final_obs_out", np.zeros((5, 4), np.float32)[:, :3]),
        ("time_limit_out", [False] * 5),
    ],
)
def test_step_into_rejects_bad_buffers_before_stepping(name: str, array) -> None:
    env = make_vec_env("Thrust/CartPole-v1", 5, seed=1)
    env.reset()
    outs = {
        "obs_out": np.zeros((5, 4), np.float32),
        "rew_out": np.zeros(5, np.float32),
        "done_out": np.zeros(5, bool),
        "final_obs_out": np.zeros((5, 4), np.float32),
        "time_limit_out": np.zeros(5, bool),
    }
    outs[name] = array
    state = env.get_state()
    with pytest.raises(ValueError, match=name):
        env.step_into(np.zeros(5, np.int64), **outs)
    np.testing.assert_array_equal(env.get_state(), state)


def test_staged_path_not_taken_through_wrappers() -> None:
    """A wrapper forwards attribute reads; the hook is looked up on its class, so SB3's loop
    runs (VecNormalize must see every step)."""
    model = make_model("Thrust/CartPole-v1", True, True)
    model.learn(96)
    assert model.rollout_path == (
        "stepwise: fused=False; not staged: the env is a PassThrough, which has no step_into"
    )


@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA (pinned staging buffers)")
def test_staged_on_cuda_matches_cpu_observations() -> None:
    model = thrust_algos.PPO(
        "MlpPolicy",
        make_vec_env("Thrust/CartPole-v1", 64, seed=0, max_episode_steps=9),
        n_steps=32,
        batch_size=2048,
        n_epochs=1,
        seed=0,
        device="cuda",
    )
    model.learn(2048)
    assert model.rollout_path.startswith("stepwise (staged)")
    buffer = model.rollout_buffer
    assert th.isfinite(buffer.returns_tensor).all()
    # The last staged observation is the env's: the async uploads completed in order.
    np.testing.assert_array_equal(model._last_obs, model.env._batch.obs)


def test_step_into_rows_in_two_parts_equals_one_step() -> None:
    """Stepping rows 0:2 and 2:5 (on two threads) gives what one step of all five gives."""
    from concurrent.futures import ThreadPoolExecutor

    split, whole = (make_vec_env("Thrust/Acrobot-v1", 5, seed=2, max_episode_steps=3) for _ in "ab")
    split.reset(), whole.reset()
    outs = [np.zeros((5, 6), np.float32), np.zeros(5, np.float32), np.zeros(5, bool)]
    finals, limits = np.zeros((5, 6), np.float32), np.zeros(5, bool)
    rng = np.random.default_rng(1)
    truncations = 0
    with ThreadPoolExecutor(1) as worker:
        for _ in range(8):
            actions = rng.integers(0, 3, 5)
            parts = [slice(0, 2), slice(2, 5)]
            futures = [
                worker.submit(
                    split.step_into,
                    actions[rows],
                    *(out[rows] for out in outs),
                    finals[rows],
                    limits[rows],
                    rows=rows,
                )
                for rows in parts
            ]
            infos = [info for future in futures for info in future.result()]
            obs, rewards, dones, infos_ref = whole.step(actions)
            truncations += int(limits.sum())
            for mine, theirs in zip(outs, (obs, rewards, dones), strict=True):
                np.testing.assert_array_equal(mine, theirs)
            for row in np.flatnonzero(dones):
                np.testing.assert_array_equal(infos[row]["terminal_observation"], finals[row])
                np.testing.assert_array_equal(finals[row], infos_ref[row]["terminal_observation"])
                assert infos[row]["episode"]["l"] == infos_ref[row]["episode"]["l"]
    np.testing.assert_array_equal(split.get_state(), whole.get_state())
    assert truncations > 0


@pytest.mark.parametrize("rows", [slice(0, 0), slice(0, 5, 2), slice(4, 2), [0, 1]])
def test_step_into_rejects_bad_rows(rows) -> None:
    env = make_vec_env("Thrust/CartPole-v1", 5, seed=1)
    env.reset()
    with pytest.raises(ValueError, match="rows"):
        env.step_into(
            np.zeros(2, np.int64),
            np.zeros((2, 4), np.float32),
            np.zeros(2, np.float32),
            np.zeros(2, bool),
            rows=rows,
        )


def test_step_into_rows_names_the_bad_action_in_the_whole_batch() -> None:
    env = make_vec_env("Thrust/CartPole-v1", 5, seed=1)
    env.reset()
    state = env.get_state()
    with pytest.raises(Exception, match="environment 4"):
        env.step_into(
            np.array([0, 7]),
            np.zeros((2, 4), np.float32),
            np.zeros(2, np.float32),
            np.zeros(2, bool),
            rows=slice(3, 5),
        )
    np.testing.assert_array_equal(env.get_state(), state)


def run_double_buffered(env_id: str, seed: int) -> tuple[thrust_algos.PPO, Snapshots]:
    snapshots = Snapshots()
    model = thrust_algos.PPO(
        "MlpPolicy",
        make_vec_env(env_id, 6, seed=seed, max_episode_steps=7),
        n_steps=16,
        batch_size=96,
        n_epochs=1,
        seed=seed,
        device="cpu",
        double_buffer=True,
    )
    model.learn(192, callback=snapshots)
    return model, snapshots


@pytest.mark.parametrize("env_id", ["Thrust/CartPole-v1", "Thrust/Pendulum-v1"])
def test_double_buffer_is_deterministic_for_a_seed(env_id: str) -> None:
    """Same seed, same rollouts (the halves step on a worker thread). Not equal to
    double_buffer=False: actions are drawn per half from torch's generator."""
    first, one = run_double_buffered(env_id, 4)
    second, two = run_double_buffered(env_id, 4)
    _, other = run_double_buffered(env_id, 5)
    assert first.rollout_path == "stepwise (staged, double-buffered): double_buffer=True"
    for mine, theirs in zip(one.rollouts, two.rollouts, strict=True):
        for name in BUFFER_FIELDS:
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)
    assert not np.array_equal(one.rollouts[1]["actions"], other.rollouts[1]["actions"])
    # The buffer is a real trajectory: each next observation is the env's after the actions.
    np.testing.assert_array_equal(first._last_obs, first.env._batch.obs)
    assert first.num_timesteps == 192
    assert [e["l"] for e in first.ep_info_buffer] == [e["l"] for e in second.ep_info_buffer]
    assert one.rollouts[0]["episode_starts"][1:].any()


def test_double_buffer_rejects_non_bools() -> None:
    with pytest.raises(TypeError, match="double_buffer"):
        thrust_algos.PPO("MlpPolicy", make_vec_env("Thrust/CartPole-v1", 2), double_buffer=1)


class ReplayedOnCpu(device_rollout.GraphedAct):
    """A GraphedAct's replay contract (a static input batch copied into, static outputs
    overwritten) without a CUDA graph, so that the CPU runs the graphed rollout's logic."""

    captured: ClassVar[list[tuple]] = []

    def __init__(self, lean, example_obs: th.Tensor) -> None:
        self.lean = lean
        self.key = device_rollout.act_key(example_obs)
        self.static_obs = example_obs.clone()
        with th.no_grad(), th.random.fork_rng():  # the outputs' shapes, no draw taken
            self.outputs = tuple(t.clone() for t in lean.act(self.static_obs))
        self.graph = self
        ReplayedOnCpu.captured.append(self.key[0])

    def replay(self) -> None:
        for static, new in zip(self.outputs, self.lean.act(self.static_obs), strict=True):
            static.copy_(new)


def test_double_buffered_halves_of_an_odd_env_count_each_replay_their_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """5 envs in halves of 2 and 3 rows: each half replays a graph of its own shape (one graph
    of the first half's shape refused the second half's batch on CUDA), and the rollouts are
    the eager ones."""

    def run() -> Snapshots:
        snapshots = Snapshots()
        model = thrust_algos.PPO(
            "MlpPolicy",
            make_vec_env("Thrust/CartPole-v1", 5, seed=2, max_episode_steps=7),
            n_steps=8,
            batch_size=40,
            n_epochs=1,
            seed=2,
            device="cpu",
            double_buffer=True,
        )
        model.learn(80, callback=snapshots)
        return snapshots

    eager = run()
    monkeypatch.setattr(device_rollout, "graphs_possible", lambda model, obs: True)
    monkeypatch.setattr(device_rollout, "GraphedAct", ReplayedOnCpu)
    ReplayedOnCpu.captured = []
    replayed = run()
    assert ReplayedOnCpu.captured == [(2, 4), (3, 4)]  # once each, kept across rollouts
    assert len(replayed.rollouts) == len(eager.rollouts) == 2
    for mine, theirs in zip(replayed.rollouts, eager.rollouts, strict=True):
        for name in BUFFER_FIELDS:
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)


def test_a_subclass_overriding_sb3_steps_is_not_bypassed() -> None:
    """A user's subclass that shapes rewards in step_wait: the staged step (step_into) would
    skip it, so the model takes SB3's loop, which calls it, and says why."""
    from thrust_algos.device_rollout import bypassed_overrides
    from thrust_envs.sb3 import ThrustVecEnv

    class Shaped(ThrustVecEnv):
        def step_wait(self):
            obs, rewards, dones, infos = super().step_wait()
            return obs, rewards * 0 - 5.0, dones, infos

    env = make_vec_env("Thrust/CartPole-v1", 2, seed=0)
    env.__class__ = Shaped
    model = thrust_algos.PPO("MlpPolicy", env, n_steps=8, batch_size=16, n_epochs=1, seed=0)
    model.learn(16)
    assert "not staged: the env's class Shaped overrides step_wait of ThrustVecEnv" in (
        model.rollout_path
    ), model.rollout_path
    assert bool((th.as_tensor(model.rollout_buffer.rewards) == -5.0).all())
    assert bypassed_overrides(make_vec_env("Thrust/CartPole-v1", 2), "step_into") is None
