"""Run by tests/test_algos_device_env.py in a subprocess with NUMBA_ENABLE_CUDASIM=1: the SB3
view of the device envs (thrust_envs.sb3.device) against the CPU SB3 views, and
thrust_algos.PPO's device rollout against its CPU rollouts, on CPU tensors with the kernels in
numba's CUDA simulator (exact, so everything is compared bit for bit).

Prints one line per check; the test counts them."""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"
sys.setswitchinterval(1e-4)  # see cuda_sim_checks.py

from cuda_sim import expect  # noqa: E402
from device_views import views_by_id_agree  # noqa: E402
from host_reads import HostReads  # noqa: E402
from sb3_views import first_observations_after_set_options  # noqa: E402

import thrust_envs  # noqa: E402, F401
from thrust_algos import PPO, GpuRolloutBuffer  # noqa: E402
from thrust_envs.core.batch import InvalidAction  # noqa: E402
from thrust_envs.core.game_views import GameError  # noqa: E402
from thrust_envs.cuda import make_vec  # noqa: E402
from thrust_envs.registration import game_lookup  # noqa: E402
from thrust_envs.sb3 import SharedGameVecEnv, VsOpponentVecEnv, make_vec_env  # noqa: E402
from thrust_envs.sb3.device import DeviceSB3VecEnv, DeviceVsOpponentVecEnv  # noqa: E402

N = 8
LIMIT = 12  # a short time limit: truncations (and their bootstrap) every few steps
# Short Pong games: some end by a point, some by the step limit.
GAME_KWARGS = {"Thrust/Pong-v0": {"points_to_win": 1, "max_steps": 25}, "Thrust/Snake-v0": {}}


def opponent_numpy(obs: np.ndarray) -> np.ndarray:
    """A deterministic opponent (comparisons only: the same on both sides to the bit)."""
    return (obs[:, 0] > obs[:, 1]).astype(np.int64)


def opponent_torch(obs: torch.Tensor) -> torch.Tensor:
    return (obs[:, 0] > obs[:, 1]).to(torch.int64)


def device_vs_opponent(env_id: str, n: int, seed: int, seat="alternate") -> DeviceVsOpponentVecEnv:
    game = make_vec(env_id, n, device="cpu", validate="sync", **GAME_KWARGS[env_id])
    return DeviceVsOpponentVecEnv(game, opponent_torch, seat=seat, seed=seed)


def cpu_vs_opponent(env_id: str, n: int, seed: int, seat="alternate") -> VsOpponentVecEnv:
    definition = game_lookup(env_id)
    return VsOpponentVecEnv(definition, opponent_numpy, n, seat=seat, seed=seed,
                            **GAME_KWARGS[env_id])  # fmt: skip


def device_view(env_id: str, n: int, seed: int) -> DeviceSB3VecEnv:
    if env_id in GAME_KWARGS:
        return make_vec(env_id, n, device="cpu", validate="sync",
                        **GAME_KWARGS[env_id]).as_sb3_vec_env(seed)  # fmt: skip
    return make_vec(env_id, n, device="cpu", autoreset_mode="SameStep",
                    max_episode_steps=LIMIT, validate="sync").as_sb3_vec_env(seed)  # fmt: skip


def cpu_view(env_id: str, n: int, seed: int):
    if env_id in GAME_KWARGS:
        return SharedGameVecEnv(game_lookup(env_id), n, seed=seed, **GAME_KWARGS[env_id])
    return make_vec_env(env_id, n, seed=seed, max_episode_steps=LIMIT, render_mode=None)


def same_infos(mine: list[dict], theirs: list[dict], where: str) -> int:
    """Equal infos but the wall-clock ``episode["t"]``; returns how many episodes ended."""
    assert len(mine) == len(theirs), where
    ended = 0
    for a, b in zip(mine, theirs, strict=True):
        assert a.keys() == b.keys(), (where, a.keys(), b.keys())
        assert (a.get("seat"), a.get("opponent")) == (b.get("seat"), b.get("opponent")), where
        assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"], where
        if "episode" in a:
            ended += 1
            assert np.array_equal(a["terminal_observation"], b["terminal_observation"]), where
            assert a["terminal_observation"].dtype == b["terminal_observation"].dtype, where
            assert (a["episode"]["r"], a["episode"]["l"]) == (
                b["episode"]["r"], b["episode"]["l"]), where  # fmt: skip
            assert type(a["episode"]["l"]) is type(b["episode"]["l"]) is int, where
    return ended


def view_matches_cpu_view(env_id: str, n: int, steps: int, views=None, kind="SB3") -> None:
    device_of, cpu_of = views or (device_view, cpu_view)
    device, cpu = device_of(env_id, n, 5), cpu_of(env_id, n, 5)
    assert device.observation_space == cpu.observation_space, env_id
    assert device.action_space == cpu.action_space, env_id
    obs, cpu_obs = device.reset(), cpu.reset()
    assert np.array_equal(obs, cpu_obs) and obs.dtype == cpu_obs.dtype, env_id
    rng = np.random.default_rng(0)
    ended, truncated = 0, 0
    for step in range(steps):
        space = cpu.action_space
        if hasattr(space, "n"):
            actions = rng.integers(0, space.n, cpu.num_envs)
        else:
            actions = rng.uniform(-3, 3, (cpu.num_envs, *space.shape)).astype(np.float32)
        out, cpu_out = device.step(actions), cpu.step(actions)
        where = f"{env_id} step {step}"
        for name, mine, theirs in zip(("obs", "rewards", "dones"), out[:3], cpu_out[:3],
                                      strict=False):  # fmt: skip
            assert np.array_equal(mine, theirs), (where, name)
            assert mine.dtype == theirs.dtype, (where, name, mine.dtype, theirs.dtype)
        ended += same_infos(out[3], cpu_out[3], where)
        truncated += sum(info["TimeLimit.truncated"] for info in cpu_out[3])
    assert ended > n, (env_id, ended)
    assert device.get_attr("render_mode") == [device.render_mode] * device.num_envs, env_id
    name = device.definition.params_type._fields[0]
    assert device.get_attr(name, 0) == cpu.get_attr(name, 0), name
    device.close()
    print(f"{kind} view of device {env_id}: {steps} steps equal to the CPU view "
          f"({ended} episodes, {truncated} truncated)")  # fmt: skip


class Recorder(BaseCallback):
    """Per step: the dones and the finished episodes' infos, read as callbacks read them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple] = []

    def _on_step(self) -> bool:
        dones = np.asarray(torch.as_tensor(self.locals["dones"]))
        infos = self.locals["infos"]
        ended = [(i, infos[i]["episode"]["r"], infos[i]["TimeLimit.truncated"])
                 for i in np.flatnonzero(dones)]  # fmt: skip
        self.seen.append((dones.copy(), ended))
        return True


def ppo_matches_cpu_rollout(env_id: str, n: int, views=None, **kwargs) -> None:
    """PPO on the device view and on the CPU view, same seed: the same rollout buffer (the CPU
    side: the staged step or SB3's loop, both SB3's draws), the same callbacks' view, the same
    episodes logged and the same weights after the update."""
    results = []
    for make in views or (device_view, cpu_view):
        model = PPO("MlpPolicy", make(env_id, n, 2), n_steps=16, batch_size=32, n_epochs=2,
                    seed=3, device="cpu", fused=False, **kwargs)  # fmt: skip
        recorder = Recorder()
        model.learn(2 * 16 * model.n_envs, callback=recorder)
        buffer = model.rollout_buffer
        tensors = [buffer.observations, buffer.actions, buffer.rewards, buffer.episode_starts,
                   buffer.values_tensor, buffer.log_probs, buffer.advantages,
                   buffer.returns_tensor]  # fmt: skip
        episodes = [(e["r"], e["l"]) for e in model.ep_info_buffer]
        weights = torch.nn.utils.parameters_to_vector(model.policy.parameters()).detach()
        results.append((model.rollout_path, tensors, recorder.seen, episodes, weights))
    (path, tensors, seen, episodes, weights), (cpu_path, *cpu_rest) = results
    assert path == "device", path
    assert cpu_path.startswith("stepwise"), cpu_path
    for k, (mine, theirs) in enumerate(zip(tensors, cpu_rest[0], strict=True)):
        assert torch.equal(mine, theirs), (env_id, "buffer tensor", k)
    assert len(seen) == len(cpu_rest[1])
    for (dones, ended), (cpu_dones, cpu_ended) in zip(seen, cpu_rest[1], strict=True):
        assert np.array_equal(dones, cpu_dones) and ended == cpu_ended, env_id
    assert episodes == cpu_rest[2] and len(episodes) > 0, (env_id, len(episodes))
    assert torch.equal(weights, cpu_rest[3]), env_id
    kind = " vs an opponent" if views else ""
    print(f"PPO on device {env_id}{kind}: rollouts, callbacks, {len(episodes)} logged episodes and "
          f"weights equal to the CPU path ({cpu_path.split(':')[0]})")  # fmt: skip


class StopAt(BaseCallback):
    """Stops training at step ``stop`` of the first rollout."""

    def __init__(self, stop: int) -> None:
        super().__init__()
        self.stop = stop

    def _on_step(self) -> bool:
        return self.n_calls < self.stop


def ppo_stop_leaves_the_model_as_the_cpu_path() -> None:
    """A callback stopping training mid-rollout leaves the model's last observations and
    episode starts at the stopping step's input, as the CPU path (SB3's) does, so that
    learn(reset_num_timesteps=False) goes on with the same rollout."""
    results = []
    for make in (device_view, cpu_view):
        model = PPO("MlpPolicy", make("Thrust/CartPole-v1", 4, 2), n_steps=16, batch_size=32,
                    n_epochs=1, seed=3, device="cpu", fused=False)  # fmt: skip
        model.learn(64, callback=StopAt(LIMIT + 1))  # at the step after the time limit
        stopped = (np.array(model._last_obs), np.array(model._last_episode_starts))
        model.learn(64, reset_num_timesteps=False)
        results.append((model.rollout_path, stopped, model.rollout_buffer.observations.clone()))
    (path, stopped, obs), (cpu_path, cpu_stopped, cpu_obs) = results
    assert path == "device" and cpu_path.startswith("stepwise"), (path, cpu_path)
    assert stopped[1].any(), "no episode started at the stopping step: nothing compared"
    for mine, theirs in zip(stopped, cpu_stopped, strict=True):
        assert np.array_equal(mine, theirs), (mine, theirs)
    assert torch.equal(obs, cpu_obs)
    print("device rollout stopped by a callback: the model stands where the CPU path leaves it")


class OtherBuffer(GpuRolloutBuffer):
    """A buffer the device rollout does not take: SB3's loop through the view's numpy way."""


def ppo_falls_back_with_reason() -> None:
    """Off the device path (another buffer class) PPO steps the view through SB3's numpy
    way, which must then equal the CPU view's (host copies, not the env's own tensors)."""
    results = []
    for make in (device_view, cpu_view):
        model = PPO("MlpPolicy", make("Thrust/CartPole-v1", 4, 0), n_steps=8, batch_size=16,
                    n_epochs=1, seed=0, device="cpu", rollout_buffer_class=OtherBuffer,
                    fused=False)  # fmt: skip
        model.learn(32)
        results.append((model.rollout_path, model.rollout_buffer.observations.clone(),
                        model.rollout_buffer.rewards.clone()))  # fmt: skip
    (path, obs, rewards), (cpu_path, cpu_obs, cpu_rewards) = results
    assert path.startswith("stepwise: not on the device: the rollout buffer is a OtherBuffer"), path
    assert torch.equal(obs, cpu_obs) and torch.equal(rewards, cpu_rewards)
    # A NaN Box action is refused by the env, lazily: the rollout raises before training.
    pendulum = make_vec("Thrust/Pendulum-v1", 2, device="cpu", autoreset_mode="SameStep")
    model = PPO("MlpPolicy", pendulum, n_steps=1, batch_size=2, seed=0, device="cpu")
    with torch.no_grad():
        model.policy.log_std.fill_(float("nan"))
    before = model.policy.action_net.weight.clone()
    # One step a rollout: the refused step is its last, which only the rollout's end checks.
    expect(Exception, "not finite", lambda: model.learn(2))
    assert torch.equal(model.policy.action_net.weight, before), "trained on a refused rollout"
    env = make_vec("Thrust/CartPole-v1", 4, device="cpu", autoreset_mode="SameStep")
    model = PPO("MlpPolicy", env, n_steps=8, batch_size=16, seed=0, device="cpu")
    assert isinstance(model.env, DeviceSB3VecEnv), type(model.env)  # wrapped by PPO itself
    try:
        PPO("MlpPolicy", make_vec("Thrust/CartPole-v1", 4, device="cpu"), device="cpu")
    except ValueError as error:
        assert "autoreset_mode='SameStep'" in str(error), error
    else:
        raise AssertionError("a NextStep device env was accepted")
    print("PPO wraps a device env itself, refuses a NextStep one, falls back with the reason "
          "and raises a refused step's error before training")  # fmt: skip


def rollout_reads_per_rollout_not_per_step() -> None:
    """The device rollout reads device data on the host once a rollout (the env's lazy status,
    the finished episodes' count), never once a step: a rollout of 4 steps and one of 12 issue
    the same host reads (torch's dispatched operations, :mod:`host_reads`). Default (lazy)
    validation, time limits on (the terminal values' forward every step)."""
    reads_by_steps = []
    for n_steps in (4, 12):
        env = make_vec("Thrust/CartPole-v1", 4, device="cpu", autoreset_mode="SameStep",
                       max_episode_steps=LIMIT)  # fmt: skip
        model = PPO("MlpPolicy", env, n_steps=n_steps, batch_size=16, seed=0, device="cpu",
                    fused=False)  # fmt: skip
        model.learn(n_steps * 4)  # one rollout and update first
        assert model.rollout_path == "device", model.rollout_path
        _, callback = model._setup_learn(10**9, callback=None, reset_num_timesteps=False)
        callback.on_training_start(locals(), globals())
        with HostReads() as reads:
            model.collect_rollouts(model.env, callback, model.rollout_buffer, n_steps)
        reads_by_steps.append(reads.ops)
    assert reads_by_steps[0] == reads_by_steps[1], reads_by_steps
    assert reads_by_steps[0], "no read at all: the episodes' count must be one"
    print(f"device rollout: the same {len(reads_by_steps[0])} host reads for 4 steps as for 12 "
          f"({', '.join(reads_by_steps[0])})")  # fmt: skip


def view_contract() -> None:
    """SB3's VecEnv contract where the view differs from a plain wrapper: the CPU view's
    errors, its built-in wrappers, its reset options."""
    import gymnasium as gym

    view = device_view("Thrust/CartPole-v1", 3, 0)
    assert view.env_is_wrapped(gym.wrappers.TimeLimit) == [True] * 3  # a time limit is built in
    view.reset()
    expect(Exception, "step_wait() called without step_async()", view.step_wait)
    view.set_options([{"low": -0.01}, {"low": -0.02}, {"low": -0.01}])
    expect(Exception, "reset options must be the same for every environment", view.reset)
    view.set_options({"low": -0.01, "high": 0.01})
    assert np.abs(view.reset()).max() <= 0.01
    # set_options are the next reset's only (DummyVecEnv's way), as on the CPU view
    for either in (device_view("Thrust/CartPole-v1", 4, 0), cpu_view("Thrust/CartPole-v1", 4, 0)):
        first, later = first_observations_after_set_options(either)
        assert np.abs(first).max() <= 0.001 and len(later) > 20
        assert np.abs(later).max() > 0.01, type(either).__name__
    expect(ValueError, "reset_mask is not an SB3 reset option",
           lambda: view.set_options({"reset_mask": np.array([True, False, True])}))  # fmt: skip
    # Actions are checked, and copied, by step_async, as the CPU view does.
    expect(
        InvalidAction,
        "must be integers, got dtype torch.float64",
        lambda: view.step_async(np.zeros(3)),
    )
    expect(InvalidAction, "must be integers, got dtype object",
           lambda: view.step_async([0, None, 1]))  # fmt: skip
    expect(InvalidAction, "expected actions of shape (3,)",
           lambda: view.step_async(np.zeros(4, dtype=np.int64)))  # fmt: skip
    expect(RuntimeError, "step_wait() called without step_async()", view.step_wait)  # refused
    first, twin = device_view("Thrust/CartPole-v1", 3, 0), device_view("Thrust/CartPole-v1", 3, 0)
    first.reset()
    twin.reset()
    actions = np.zeros(3, dtype=np.int64)
    first.step_async(actions)
    actions[:] = 1  # changed after step_async: the step keeps the actions it was given
    twin.step_async(np.zeros(3, dtype=np.int64))
    assert np.array_equal(first.step_wait()[0], twin.step_wait()[0])
    view.close()
    view.close()
    expect(Exception, "step_async() called after close()", lambda: view.step_async(np.zeros(3)))
    fresh = device_view("Thrust/CartPole-v1", 3, 0)
    expect(RuntimeError, "call reset() before stepping",
           lambda: fresh.step_async(np.zeros(3, dtype=np.int64)))  # fmt: skip
    game = device_view("Thrust/Pong-v0", 2, 0)
    expect(GameError, "call reset() before stepping",
           lambda: game.step_async(np.zeros(4, dtype=np.int64)))  # fmt: skip
    game.set_options({"low": -0.1})
    expect(ValueError, "a game has no reset options", game.reset)
    print("the device view keeps the CPU view's contract (errors, wrappers, reset options)")


def rows_as_the_cpu_view() -> None:
    """get_attr, env_method and set_attr of the single-agent device view as the CPU view's."""
    device, cpu = device_view("Thrust/CartPole-v1", 3, 4), cpu_view("Thrust/CartPole-v1", 3, 4)
    for name in ("spec", "max_episode_steps", "metadata", "observation_space", "action_space",
                 "params", "gravity", "render_mode"):  # fmt: skip
        assert device.get_attr(name) == cpu.get_attr(name), name
    device.reset()
    cpu.reset()
    for name in ("get_state", "render"):
        for mine, theirs in zip(device.env_method(name, indices=[0, 2]),
                                cpu.env_method(name, indices=[0, 2]), strict=True):  # fmt: skip
            assert np.array_equal(mine, theirs), name
    for venv in (device, cpu):
        venv.set_attr("gravity", 25.0)  # in force from the next step on both
    actions = np.ones(3, dtype=np.int64)
    for step in range(2 * LIMIT):
        device.step_async(actions)
        cpu.step_async(actions)
        assert np.array_equal(device.step_wait()[0], cpu.step_wait()[0]), step
    expect(AttributeError, "set_state writes a CPU view's state",
           lambda: device.env_method("set_state", np.zeros(4)))  # fmt: skip
    expect(AttributeError, "have no attribute 'nope'", lambda: device.get_attr("nope"))
    refused = [expect(Exception, "gravity", lambda v=venv: v.set_attr("gravity", "heavy"))
               for venv in (device, cpu)]  # fmt: skip
    assert refused[0] == refused[1], refused  # checked as the CPU view checks it
    assert device.get_attr("gravity") == [25.0] * 3  # a refused value changed nothing
    print("the device view's rows as the CPU view's: get_attr, env_method, set_attr")


def factory_view(env_id: str, n: int, seed: int):
    """``thrust_envs.sb3.make_vec_env(..., device=...)``, as SB3 scripts call it (the device
    env's own ``validate`` option given inside ``env_kwargs``)."""
    if env_id in GAME_KWARGS:
        return make_vec_env(env_id, n, seed=seed, device="cpu", validate="sync",
                            **GAME_KWARGS[env_id])  # fmt: skip
    return make_vec_env(env_id, n, seed=seed, device="cpu", max_episode_steps=LIMIT,
                        env_kwargs={"validate": "sync"})  # fmt: skip


def make_vec_env_options_on_a_device() -> None:
    """make_vec_env's arguments mean on a device what they mean on the CPU; those the device
    view cannot serve are refused before anything is built."""
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor

    env_id = "Thrust/CartPole-v1"
    plain = make_vec_env(env_id, 2, device="cpu", env_kwargs={"gravity": 12.0})
    assert type(plain) is DeviceSB3VecEnv
    assert plain.get_attr("max_episode_steps") == [500, 500]  # None: the registration's limit
    assert plain.get_attr("gravity") == [12.0, 12.0]
    # the IDs gym.make takes, resolved once (versionless, a module: prefix), games too
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert make_vec("Thrust/Pong", 2, device="cpu").label == "Thrust/Pong-v0"
        versionless = make_vec("Thrust/CartPole", 2, device="cpu", autoreset_mode="SameStep")
    assert [str(w.message).count("Using the latest versioned") for w in caught] == [1, 1]
    assert versionless.as_sb3_vec_env(0).spec.id == "Thrust/CartPole-v1"
    assert make_vec("thrust_envs:Thrust/Snake-v0", 2, device="cpu").label == "Thrust/Snake-v0"
    # the spec gym.make gives (parameters, time limit, render mode), as the CPU view's
    timed = {"gravity": 12.0, "max_episode_steps": 7}
    spec = make_vec_env(env_id, 2, device="cpu", env_kwargs=timed).get_attr("spec")[0]
    assert spec == make_vec_env(env_id, 2, env_kwargs=timed).get_attr("spec")[0]
    assert (spec.max_episode_steps, spec.kwargs["gravity"]) == (7, 12.0)
    # A registration's parameters are the device env's too, as gym.make's.
    gym.register("Thrust/HeavyCartPole-v0", entry_point="thrust_envs.env_classes:CartPoleEnv",
                 vector_entry_point="thrust_envs.env_classes:CartPoleVectorEnv",
                 max_episode_steps=50, kwargs={"gravity": 20.0})  # fmt: skip
    heavy = make_vec_env("Thrust/HeavyCartPole-v0", 2, device="cpu")
    assert heavy.get_attr("gravity") == make_vec_env("Thrust/HeavyCartPole-v0", 2).get_attr(
        "gravity") == [20.0, 20.0]  # fmt: skip
    assert heavy.max_episode_steps == 50
    assert make_vec("Thrust/HeavyCartPole-v0", 2, device="cpu").params.gravity == 20.0
    # Frames for SB3's get_images (VecVideoRecorder), the CPU view's, from one host copy;
    # "rgb_array" by default, as SB3's make_vec_env makes its envs.
    assert make_vec_env(env_id, 2, device="cpu").render_mode == "rgb_array"
    unrendered = make_vec_env(env_id, 2, device="cpu", env_kwargs={"render_mode": None})
    assert unrendered.render_mode is None
    assert make_vec_env(env_id, 2, device="cpu", render_mode=None).render_mode is None
    frames = make_vec_env(env_id, 3, seed=2, device="cpu", render_mode="rgb_array")
    cpu_frames = make_vec_env(env_id, 3, seed=2, render_mode="rgb_array")
    assert frames.render_mode == "rgb_array" and frames.get_attr("render_mode") == ["rgb_array"] * 3
    expect(RuntimeError, "call reset() before render()", frames.get_images)
    frames.reset()
    cpu_frames.reset()
    for mine, theirs in zip(frames.get_images(), cpu_frames.get_images(), strict=True):
        assert mine.shape == theirs.shape and np.array_equal(mine, theirs)
    assert np.array_equal(frames.render(mode="rgb_array"), cpu_frames.render(mode="rgb_array"))
    assert make_vec_env(env_id, 2, device="cpu", render_mode=None).get_images() == [None, None]
    refusals = (
        (lambda: make_vec_env(env_id, 2, device="cpu", wrapper_class=Monitor),
         "device='cpu' builds the device VecEnv"),
        (lambda: make_vec_env(env_id, 2, device="cpu", num_threads=2), "num_threads sets"),
        (lambda: make_vec_env(env_id, 2, device="cpu", autoreset_mode="NextStep"),
         "autoreset_mode is not an option of make_vec_env"),
        (lambda: make_vec_env(env_id, 2, device="cpu", render_mode="human"),
         "render_mode must be None or 'rgb_array'"),
        (lambda: make_vec_env(env_id, 2, device="cpu", max_episode_steps=0),
         "max_episode_steps must be a positive int"),
        (lambda: make_vec_env(env_id, 2, device="cpu", gravity="heavy"), "gravity"),
        (lambda: make_vec_env(env_id, 2, device="cuda"), "under NUMBA_ENABLE_CUDASIM=1"),
        (lambda: make_vec_env("Thrust/Pong-v0", 2, device="cpu", render_mode="rgb_array"),
         "not options of the multi-agent VecEnv"),
        (lambda: make_vec("Thrust/Pong-v0", 2, device="cpu").as_sb3_vec_env(
            render_mode="rgb_array"), "render_mode is not an option of the multi-agent"),
        (lambda: make_vec_env("Thrust/Nope-v0", 2, device="cpu"), "unknown environment"),
    )  # fmt: skip
    for call, words in refusals:
        expect(Exception, words, call)
    print("make_vec_env(device=...) means what it means on the CPU: time limit, parameters, "
          "registration, frames, refusals")  # fmt: skip


def vs_opponent_reset_starts_over() -> None:
    """A reset starts every game over, its seats included: after episodes that moved the
    seats on, seed(5) and reset() give, step for step, what a fresh CPU view seeded 5 gives."""
    used = device_vs_opponent("Thrust/Pong-v0", 4, 5)
    used.reset()
    rng = np.random.default_rng(1)
    for _ in range(37):
        used.step(rng.integers(0, 3, 4))
    assert used.seats.tolist() != [0, 1, 0, 1], used.seats  # moved on
    used.seed(5)
    fresh = cpu_vs_opponent("Thrust/Pong-v0", 4, 5)
    assert np.array_equal(used.reset(), fresh.reset())
    assert used.seats.tolist() == fresh.seats.tolist() == [0, 1, 0, 1]
    for step in range(60):
        actions = rng.integers(0, 3, 4)
        for mine, theirs in zip(used.step(actions)[:3], fresh.step(actions)[:3], strict=True):
            assert np.array_equal(mine, theirs), step
    print("the device vs-opponent view's reset starts the seats over, as the CPU view's")


def huge_float64_actions_clip_as_on_the_cpu() -> None:
    """A finite float64 action beyond float32's range is clipped to the bounds on the device
    view too (the cast made it inf, refused); an inf is still refused."""
    import warnings

    device, cpu = device_view("Thrust/Pendulum-v1", 2, 0), cpu_view("Thrust/Pendulum-v1", 2, 0)
    device.reset(), cpu.reset()
    huge = np.array([[1e300], [-1e39]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's cast warning, on the CPU
        for mine, theirs in zip(device.step(huge)[:3], cpu.step(huge)[:3], strict=True):
            assert np.array_equal(mine, theirs)
    expect(InvalidAction, "action [inf] of environment 1 is not finite",
           lambda: device.step(np.array([[0.0], [np.inf]])))  # fmt: skip
    print("the device view clips float64 actions beyond float32 as the CPU view does")


def vs_opponent_refusals() -> None:
    game = make_vec("Thrust/Pong-v0", 2, device="cpu", validate="sync")
    for seat, words in ((2, "seat must be in [0, 2)"), ("random", "seat='random' draws seats")):
        try:
            DeviceVsOpponentVecEnv(game, opponent_torch, seat=seat)
        except ValueError as error:
            assert words in str(error), error
        else:
            raise AssertionError(f"seat={seat!r} was accepted")
    view = game.vs_opponent(lambda obs: torch.zeros(len(obs)), seed=0)  # float actions
    view.reset()
    before = game.state.clone()
    try:
        view.step(np.zeros(2, dtype=np.int64))
    except Exception as error:  # InvalidAction
        assert "the opponent gave actions of dtype torch.float32" in str(error), error
    else:
        raise AssertionError("float opponent actions were accepted")
    assert torch.equal(game.state, before), "a refused step changed the game"
    for mask in (torch.zeros(3, dtype=torch.bool), torch.zeros(2), [True, False]):
        expect(
            Exception, "restart takes a bool tensor of shape (2,)", lambda m=mask: game.restart(m)
        )
    assert torch.equal(game.state, before), "a refused restart changed the game"
    # An opponent action out of range is the device env's (lazy) check: the refused step
    # restarts no game and rotates no seat, even right after games ended.
    lazy = make_vec("Thrust/Pong-v0", 2, device="cpu", points_to_win=1, max_steps=2)
    bad = {"on": False}
    view = lazy.vs_opponent(lambda obs: torch.full((len(obs),), 99 if bad["on"] else 0), seed=0)
    view.reset()
    zeros = torch.zeros(2, dtype=torch.int64)
    view.device_step(zeros)
    step = view.device_step(zeros)  # the step limit: both games end, seats move on
    assert bool(step.dones.all())
    seats, state = view.seats, lazy.state.clone()
    bad["on"] = True
    view.device_step(zeros)
    assert torch.equal(view.seats, seats), "a refused step rotated the seats"
    assert torch.equal(lazy.state, state), "a refused step changed the games"
    expect(Exception, "action 99", lazy.check)
    # A device policy answering (actions, ...) as SB3's policies do, built with autograd on.
    net = torch.nn.Linear(8, 3)
    view = make_vec("Thrust/Pong-v0", 2, device="cpu").vs_opponent(
        lambda obs: (net(obs).argmax(1), net(obs)), seed=0
    )
    view.reset()
    assert view.device_step(zeros).observations.shape == (2, 8)
    # SB3's predict answer (actions, None) is its actions; a recurrent state is refused, as
    # the CPU view refuses it (it cannot be carried from step to step).
    predicted = make_vec("Thrust/Pong-v0", 2, device="cpu").vs_opponent(
        lambda obs: (torch.zeros(len(obs), dtype=torch.int64), None), seed=0
    )
    predicted.reset()
    assert predicted.device_step(zeros).observations.shape == (2, 8)
    recurrent = make_vec("Thrust/Pong-v0", 2, device="cpu").vs_opponent(
        lambda obs: (torch.zeros(len(obs), dtype=torch.int64), (obs, obs)), seed=0
    )
    recurrent.reset()
    expect(TypeError, "with a recurrent state", lambda: recurrent.device_step(zeros))
    # A list is the actions themselves (one per game), as the CPU view takes it.
    listed = make_vec("Thrust/Pong-v0", 2, device="cpu").vs_opponent(lambda obs: [2, 1], seed=0)
    listed.reset()
    assert listed.device_step(zeros).observations.shape == (2, 8)
    # game g: the opponent plays answer[g], from seat 1 in game 0 and seat 0 in game 1
    assert listed.device_env.actions.view(2, 2).tolist() == [[0, 2], [1, 0]]
    print("the device vs-opponent view refuses bad seats and opponents, changing nothing")


if __name__ == "__main__":
    view_matches_cpu_view("Thrust/CartPole-v1", N, 60)
    view_matches_cpu_view("Thrust/Pendulum-v1", 4, 30)
    view_matches_cpu_view("Thrust/Snake-v0", 4, 60)
    view_matches_cpu_view("Thrust/Pong-v0", 4, 90)
    ppo_matches_cpu_rollout("Thrust/CartPole-v1", N)
    ppo_matches_cpu_rollout("Thrust/Pendulum-v1", 4)
    ppo_matches_cpu_rollout("Thrust/Snake-v0", 2)
    ppo_matches_cpu_rollout("Thrust/Pong-v0", 2)
    ppo_matches_cpu_rollout("Thrust/CartPole-v1", 4, lean=False)
    ppo_falls_back_with_reason()
    ppo_stop_leaves_the_model_as_the_cpu_path()
    rollout_reads_per_rollout_not_per_step()
    vs = (device_vs_opponent, cpu_vs_opponent)
    view_matches_cpu_view("Thrust/Pong-v0", 4, 90, vs, "vs-opponent")
    view_matches_cpu_view("Thrust/Snake-v0", 4, 90, vs, "vs-opponent")
    seat_one = (lambda *a: device_vs_opponent(*a, seat=1), lambda *a: cpu_vs_opponent(*a, seat=1))
    view_matches_cpu_view("Thrust/Snake-v0", 3, 60, seat_one, "vs-opponent")
    view_matches_cpu_view("Thrust/CartPole-v1", 4, 40, (factory_view, cpu_view), "make_vec_env")
    view_matches_cpu_view("Thrust/Pong-v0", 3, 60, (factory_view, cpu_view), "make_vec_env")
    make_vec_env_options_on_a_device()
    print(views_by_id_agree("cpu", atol=0, rows=16))
    ppo_matches_cpu_rollout("Thrust/Snake-v0", 4, vs)
    ppo_matches_cpu_rollout("Thrust/Pong-v0", 4, vs)
    vs_opponent_refusals()
    vs_opponent_reset_starts_over()
    huge_float64_actions_clip_as_on_the_cpu()
    view_contract()
    rows_as_the_cpu_view()
