"""The staged rollout step: ``thrust_algos.PPO``'s stepwise rollout on an env that writes into
the caller's buffers (``step_into``, Thrust's single-agent SB3 VecEnv), as a GPU engineer
would write it (issue 14, item 2).

Per step, with the model on a CUDA device:

1. ``act`` on the observation already in the device rollout buffer (uploaded the step before);
2. actions device -> host: **the one synchronisation of a step** (the CPU env needs them);
3. the env writes observations, rewards, dones, ``TimeLimit.truncated`` and the final
   observations of finished episodes straight into host staging buffers (pinned memory when
   CUDA is available), rewards/dones/truncations into per-rollout ``[n_steps, N]`` arrays;
4. the observations go up with ``non_blocking=True`` into the buffer's next slot;
5. if the host-side truncation mask has any row (known without a sync: the env is on the host),
   the final observations go up the same way and ONE value forward over all ``N`` rows writes
   ``V(final obs)`` into a device ``[n_steps, N]`` tensor; rows not truncated are masked out
   later. No Python loop over done rows, no download.

With the lean policy on CUDA, ``act`` on the fixed ``[N, *obs_shape]`` batch (each half's, double
buffered) is captured once in a CUDA graph (:class:`GraphedAct`: about 20 small kernels become
one launch), rebuilt when the policy's parameters are other tensors; if capture fails it warns
once and stays eager. Graph replays draw from torch's CUDA generator like the eager calls
(deterministic for a seed, the draws differ from eager ones: on CUDA the rollout is SB3's in
distribution).

After the last step, rewards, episode starts and the truncation mask are uploaded once and the
bootstrap is applied as ``where(truncated, reward + gamma * V, reward)`` on the device.

Reusing a pinned staging buffer is safe: an async upload from it is queued on the stream before
the next step's ``act``, whose action download (step 2) waits for the stream, so the upload has
finished before the env writes into the buffer again.

On the CPU the same code runs with plain host arrays and the copies are synchronous; the buffer
then holds exactly what :meth:`thrust_algos.PPO._collect_stepwise` stores (bit for bit, the
bootstrap included: a row's value does not depend on the other rows of the forward there; the
test compares both paths). Callbacks see SB3's local names; ``rewards`` are the env's (before the
bootstrap, as in SB3's loop at ``on_step``), ``new_obs`` is a view valid until the next step, and
the rollout buffer's rewards and episode starts are filled only after the last step.
"""

from __future__ import annotations

import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from thrust_algos.buffers import GpuRolloutBuffer, torch_dtype
from thrust_algos.lean import LeanActorCritic
from thrust_envs.graph_capture import capture

if TYPE_CHECKING:
    from thrust_algos.ppo import PPO


# What SB3's rollout calls on a VecEnv, and a rollout through a Thrust hook does not.
_SB3_STEP_METHODS = ("reset", "step", "step_async", "step_wait")


def bypassed_overrides(env: VecEnv, hook: str) -> str | None:
    """Why a rollout through ``env``'s ``hook`` (``step_into``, ``device_step``) would skip
    code of the env's own: the SB3 step methods its class overrides below the class that
    defines the hook (a user's subclass shaping rewards in ``step_wait``, say), or None."""
    cls = type(env)
    owner = next(c for c in cls.__mro__ if hook in c.__dict__)
    overridden = [
        name for name in _SB3_STEP_METHODS if getattr(cls, name, None) is not getattr(owner, name)
    ]
    if overridden:
        return (
            f"the env's class {cls.__name__} overrides {', '.join(overridden)} of "
            f"{owner.__name__}, which the rollout through {hook} would bypass"
        )
    return None


def staged_plan(model: PPO, env: VecEnv, buffer: Any) -> str | None:
    """None if the staged step applies to ``env`` and ``buffer``, else the reason it does not.

    The hook is looked up on the env's class, so a ``VecEnvWrapper`` (``VecNormalize``, which
    forwards attribute reads to the env it wraps) is not bypassed: it keeps SB3's path; nor is
    a subclass that overrides SB3's step methods (:func:`bypassed_overrides`).
    """
    if not callable(getattr(type(env), "step_into", None)):
        return f"the env is a {type(env).__name__}, which has no step_into"
    overridden = bypassed_overrides(env, "step_into")
    if overridden:
        return overridden
    if type(buffer) is not GpuRolloutBuffer:
        return f"the rollout buffer is a {type(buffer).__name__}, not a GpuRolloutBuffer"
    if not isinstance(model.observation_space, spaces.Box):
        return f"the observation space {model.observation_space} is not a Box"
    return None


def _host_array(shape: tuple[int, ...], dtype: np.dtype, pinned: bool) -> np.ndarray:
    """A zeroed host array; page-locked (pinned) memory when ``pinned``, for async uploads."""
    tensor = th.zeros(shape, dtype=torch_dtype(dtype), pin_memory=pinned)
    return tensor.numpy()


class GraphedAct:
    """``lean.act(obs)`` on one fixed CUDA batch, captured in a CUDA graph and replayed.

    The outputs are the graph's static tensors, overwritten by the next call: copy what you
    keep (the staged step copies them into the rollout buffer before the next step).

    :param lean: The lean actor-critic (its parameters are updated in place by the optimizer,
        so the graph reads the current weights)
    :param example_obs: An observation batch of the shape and dtype to capture, on CUDA
    """

    def __init__(self, lean: LeanActorCritic, example_obs: th.Tensor) -> None:
        self.lean = lean
        self.key = act_key(example_obs)
        self.static_obs = example_obs.clone()
        side = th.cuda.Stream(device=example_obs.device)
        side.wait_stream(th.cuda.current_stream(example_obs.device))
        # No autograd: the rollout acts under no_grad, and a graph recording autograd's state
        # would hold the graph of the outputs for nothing.
        with th.no_grad():
            with th.cuda.stream(side):
                for _ in range(2):  # warm-up outside the graph (lazy allocations, library handles)
                    lean.act(self.static_obs)
            th.cuda.current_stream(example_obs.device).wait_stream(side)
            self.graph = th.cuda.CUDAGraph()
            self.outputs = capture(
                self.graph, lambda: lean.act(self.static_obs), example_obs.device
            )

    def matches(self, lean: LeanActorCritic, obs: th.Tensor) -> bool:
        """Whether this graph computes ``lean.act(obs)`` (same policy tensors, same shape)."""
        return lean is self.lean and lean.matches(lean.policy) and self.key == act_key(obs)

    def __call__(self, obs: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        self.static_obs.copy_(obs)
        self.graph.replay()
        return self.outputs


def act_key(obs: th.Tensor) -> tuple:
    """What a :class:`GraphedAct` is captured for: the observation batch's shape, dtype, device."""
    return (tuple(obs.shape), obs.dtype, obs.device)


def graphs_possible(model: PPO, obs: th.Tensor) -> bool:
    """Whether the rollout's act on ``obs`` may be captured (CUDA, graphs on, none failed)."""
    return (
        obs.device.type == "cuda"
        and th.cuda.is_available()
        and not model._graph_failed
        and bool(model.cuda_graphs)
    )


def graphed_act(model: PPO, lean: LeanActorCritic | None, obs: th.Tensor) -> Any:
    """The act to call on ``obs`` batches: a :class:`GraphedAct` for the lean policy on CUDA
    (cached on the model by :func:`act_key`, so the two halves of a double-buffered rollout of
    an odd number of envs, one row apart, each replay their own graph), else ``lean.act`` / the
    policy's forward. Capture failures warn once and fall back to eager calls for the model's
    lifetime."""
    if lean is None:
        return model.policy
    if not graphs_possible(model, obs):
        return lean.act
    graphs = model._graphed_act if isinstance(model._graphed_act, dict) else {}
    cached = graphs.get(act_key(obs))
    if cached is not None and cached.matches(lean, obs):
        return cached
    try:
        graph = GraphedAct(lean, obs)
    except RuntimeError as error:
        warnings.warn(
            f"thrust_algos: capturing the rollout's act in a CUDA graph failed ({error}); "
            "the rollout calls it eagerly",
            RuntimeWarning,
            stacklevel=2,
        )
        model._graph_failed = True
        model._graphed_act = None
        return lean.act
    # Keep the graphs of this policy only, and at most one other shape (a rollout has one or
    # two): a new policy or env count replaces the rest.
    kept = [(key, g) for key, g in graphs.items() if g.lean is lean and lean.matches(lean.policy)]
    model._graphed_act = {**dict(kept[-1:]), graph.key: graph}
    return graph


class _StagedRollout:
    """The state of one staged rollout: host staging buffers, device targets, the env's parts.

    ``parts`` are the row slices stepped one after the other: one (every row), or two halves
    for double-buffered sampling, where one half steps on a worker thread while the policy acts
    for the other."""

    def __init__(
        self,
        model: PPO,
        env: VecEnv,
        rollout_buffer: GpuRolloutBuffer,
        n_rollout_steps: int,
        lean: LeanActorCritic | None,
        double_buffer: bool,
    ) -> None:
        device = rollout_buffer.device
        self.pinned = pinned = device.type == "cuda" and th.cuda.is_available()
        self.model, self.env, self.buffer, self.lean = model, env, rollout_buffer, lean
        self.n_envs = n_envs = env.num_envs
        self.n_rollout_steps = n_rollout_steps
        half = n_envs // 2
        self.parts = (
            [slice(0, half), slice(half, n_envs)]
            if double_buffer and n_envs >= 2
            else [slice(0, n_envs)]
        )
        obs_dtype = np.dtype(model.observation_space.dtype)
        obs_shape = (n_envs, *model.observation_space.shape)
        self.obs_host = _host_array(obs_shape, obs_dtype, pinned)
        self.final_obs_host = _host_array(obs_shape, obs_dtype, pinned)
        steps_envs = (n_rollout_steps, n_envs)
        self.rewards_host = _host_array(steps_envs, np.dtype(np.float32), pinned)
        self.dones_host = _host_array(steps_envs, np.dtype(np.bool_), pinned)
        self.time_limit_host = _host_array(steps_envs, np.dtype(np.bool_), pinned)
        self.starts_host = _host_array(steps_envs, np.dtype(np.float32), pinned)
        self.terminal_values = th.zeros(steps_envs, dtype=th.float32, device=device)
        obs_dtype_device = rollout_buffer.observations.dtype
        self.final_obs_device = th.empty(obs_shape, dtype=obs_dtype_device, device=device)
        self.last_obs_device = th.empty_like(self.final_obs_device)
        self.value_model = model.policy if lean is None else lean
        self.infos: list[list[dict[str, Any]]] = [[] for _ in self.parts]
        # The step's actions as the policy gave them and as the env took them (SB3's
        # ``actions`` and ``clipped_actions``), every part's rows, for the step's callback.
        self.step_actions: np.ndarray | None = None
        self.step_clipped: np.ndarray | None = None

    def act(self, act: Any, step: int, rows: slice) -> np.ndarray:
        """The policy on the rows' observations of ``step``: stores actions, values and
        log-probabilities, returns the (clipped) numpy actions the env takes."""
        model, buffer = self.model, self.buffer
        with th.no_grad():
            action_tensor, values, log_probs = act(buffer.observations[step, rows])
        # The one synchronisation of a step (of a part): the CPU env needs the actions.
        actions = action_tensor.cpu().numpy()
        width = rows.stop - rows.start
        buffer.actions[step, rows].copy_(action_tensor.reshape(width, -1))
        buffer.values_tensor[step, rows].copy_(values.reshape(width))
        buffer.log_probs[step, rows].copy_(log_probs.reshape(width))
        clipped = actions
        if isinstance(model.action_space, spaces.Box):
            if model.policy.squash_output:
                clipped = model.policy.unscale_action(actions)
            else:
                clipped = np.clip(actions, model.action_space.low, model.action_space.high)
        if self.step_actions is None:
            self.step_actions = np.empty((self.n_envs, *actions.shape[1:]), actions.dtype)
            self.step_clipped = np.empty((self.n_envs, *clipped.shape[1:]), clipped.dtype)
        self.step_actions[rows] = actions
        self.step_clipped[rows] = clipped  # type: ignore[index]
        return clipped

    def env_step(self, actions: np.ndarray, step: int, rows: slice) -> list[dict[str, Any]]:
        """Step the rows' envs into the staging buffers (on the worker thread when split)."""
        return self.env.step_into(  # type: ignore[attr-defined]
            actions,
            self.obs_host[rows],
            self.rewards_host[step, rows],
            self.dones_host[step, rows],
            self.final_obs_host[rows],
            self.time_limit_host[step, rows],
            rows=rows,
        )

    def settle_part(self, step: int, rows: slice) -> None:
        """After the rows stepped at ``step``: upload their observations into the next slot and
        run the time-limit bootstrap's value forward if any of them was truncated."""
        buffer = self.buffer
        following = step + 1
        slot = buffer.observations[following] if following < self.n_rollout_steps else None
        target = (self.last_obs_device if slot is None else slot)[rows]
        target.copy_(th.from_numpy(self.obs_host[rows]), non_blocking=self.pinned)
        if self.time_limit_host[step, rows].any():
            final = self.final_obs_device[rows]
            final.copy_(th.from_numpy(self.final_obs_host[rows]), non_blocking=self.pinned)
            with th.no_grad():
                values = self.value_model.predict_values(final)  # type: ignore[arg-type]
            self.terminal_values[step, rows] = values.flatten()

    def settle_step(self, step: int, callback: BaseCallback) -> bool:
        """Every part stepped at ``step``: count, call back (SB3's local names), episode
        statistics, next episode starts. False if the callback stops training."""
        model = self.model
        model.num_timesteps += self.n_envs
        infos = self.infos[0] if len(self.parts) == 1 else [i for part in self.infos for i in part]
        rewards, dones = self.rewards_host[step], self.dones_host[step]
        callback.update_locals(
            {
                "self": model,
                "env": self.env,
                "callback": callback,
                "rollout_buffer": self.buffer,
                "n_rollout_steps": self.n_rollout_steps,
                "n_steps": step,
                "obs_tensor": self.buffer.observations[step],
                "actions": self.step_actions,
                "clipped_actions": self.step_clipped,
                "values": self.buffer.values_tensor[step].reshape(self.n_envs, 1),
                "log_probs": self.buffer.log_probs[step],
                "new_obs": self.obs_host,
                "rewards": rewards,
                "dones": dones,
                "infos": infos,
            }
        )
        if not callback.on_step():
            # SB3's loop returns before it takes this step's observations and dones: the model
            # stands at the step's input, where learn(reset_num_timesteps=False) goes on.
            model._last_obs = self.buffer.observations[step].cpu().numpy().copy()  # type: ignore[assignment]
            model._last_episode_starts = self.starts_host[step].astype(np.bool_)
            return False
        model._update_done_info_buffer(infos, np.flatnonzero(dones))
        if step + 1 < self.n_rollout_steps:
            self.starts_host[step + 1] = dones
        return True

    def finish(self) -> tuple[th.Tensor, np.ndarray]:
        """Upload rewards, starts and truncations once, apply the bootstrap on the device, mark
        the buffer full; the last observations' values and the last dones."""
        buffer, model, pinned = self.buffer, self.model, self.pinned
        buffer.rewards.copy_(th.from_numpy(self.rewards_host), non_blocking=pinned)
        buffer.episode_starts.copy_(th.from_numpy(self.starts_host), non_blocking=pinned)
        truncated = th.from_numpy(self.time_limit_host).to(buffer.device, non_blocking=pinned)
        rewards = buffer.rewards
        rewards.copy_(th.where(truncated, rewards + model.gamma * self.terminal_values, rewards))
        buffer.pos = buffer.buffer_size
        buffer.full = True
        model._last_obs = self.obs_host.copy()  # type: ignore[assignment]
        last_dones = self.dones_host[-1].copy()
        model._last_episode_starts = last_dones
        with th.no_grad():
            last_values = self.value_model.predict_values(self.last_obs_device)  # type: ignore[arg-type]
        return last_values, last_dones


def collect_staged(
    model: PPO,
    env: VecEnv,
    callback: BaseCallback,
    rollout_buffer: GpuRolloutBuffer,
    n_rollout_steps: int,
    lean: LeanActorCritic | None,
    double_buffer: bool = False,
) -> tuple[th.Tensor, np.ndarray] | None:
    """Fill ``rollout_buffer`` with ``n_rollout_steps`` staged steps (see the module docstring).
    Returns the values of the last observations and the last dones (for GAE), or None if a
    callback stopped training (the model's ``_last_obs`` and ``_last_episode_starts`` are then
    the stopping step's input, where SB3's loop leaves them). ``rollout_buffer`` was reset by
    the caller.

    ``double_buffer``: two halves of the envs, the first stepping on a worker thread while the
    policy acts for the second and the reverse (the callback of a step is called once both
    halves took it; when it stops training, the first half has already taken the next step).
    """
    rollout = _StagedRollout(model, env, rollout_buffer, n_rollout_steps, lean, double_buffer)
    parts = rollout.parts
    rollout_buffer.observations[0].copy_(
        th.as_tensor(np.asarray(model._last_obs).reshape(rollout.obs_host.shape))
    )
    rollout.starts_host[0] = np.asarray(model._last_episode_starts, dtype=np.float32)
    acts = [graphed_act(model, lean, rollout_buffer.observations[0, rows]) for rows in parts]
    if len(parts) == 1:
        rows = parts[0]
        for step in range(n_rollout_steps):
            if model.use_sde and model.sde_sample_freq > 0 and step % model.sde_sample_freq == 0:
                model.policy.reset_noise(rollout.n_envs)
            rollout.infos[0] = rollout.env_step(rollout.act(acts[0], step, rows), step, rows)
            rollout.settle_part(step, rows)
            if not rollout.settle_step(step, callback):
                return None
        return rollout.finish()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="thrust-env") as worker:
        pending: list[Future | None] = [None, None]
        for step in range(n_rollout_steps):
            if model.use_sde and model.sde_sample_freq > 0 and step % model.sde_sample_freq == 0:
                model.policy.reset_noise(rollout.n_envs)
            for k, rows in enumerate(parts):
                if (future := pending[k]) is not None:
                    rollout.infos[k] = future.result()
                    rollout.settle_part(step - 1, rows)
                    if k == 1 and not rollout.settle_step(step - 1, callback):
                        if pending[0] is not None:
                            pending[0].result()
                        return None
                actions = rollout.act(acts[k], step, rows)
                pending[k] = worker.submit(rollout.env_step, actions, step, rows)
        for k, rows in enumerate(parts):
            rollout.infos[k] = pending[k].result()  # type: ignore[union-attr]
            rollout.settle_part(n_rollout_steps - 1, rows)
        if not rollout.settle_step(n_rollout_steps - 1, callback):
            return None
    return rollout.finish()


# -- the device env's rollout -----------------------------------------------------------------


def _same_device(a: th.device, b: th.device) -> bool:
    """``cuda`` and ``cuda:0`` are one device when 0 is the current one."""
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    current = th.cuda.current_device() if th.cuda.is_available() else 0
    return (a.index if a.index is not None else current) == (
        b.index if b.index is not None else current
    )


def device_plan(model: PPO, env: VecEnv, buffer: Any) -> str | None:
    """None if the whole rollout can stay on the env's device (the SB3 view of a
    ``thrust_envs.cuda`` device env, unwrapped, and a ``GpuRolloutBuffer`` on that device),
    else the reason it cannot."""
    if not callable(getattr(type(env), "device_step", None)):
        return f"the env is a {type(env).__name__}, not the SB3 view of a device env"
    overridden = bypassed_overrides(env, "device_step")
    if overridden:
        return overridden
    if type(buffer) is not GpuRolloutBuffer:
        return f"the rollout buffer is a {type(buffer).__name__}, not a GpuRolloutBuffer"
    if not _same_device(buffer.device, env.device):  # type: ignore[attr-defined]
        return (
            f"the env lives on {env.device}, the model on {buffer.device} "  # type: ignore[attr-defined]
            "(pass PPO(..., device=<the env's device>))"
        )
    if not isinstance(model.observation_space, spaces.Box):
        return f"the observation space {model.observation_space} is not a Box"
    return None


def collect_on_device(
    model: PPO,
    env: Any,
    callback: BaseCallback,
    rollout_buffer: GpuRolloutBuffer,
    n_rollout_steps: int,
    lean: LeanActorCritic | None,
) -> tuple[th.Tensor, th.Tensor] | None:
    """Fill ``rollout_buffer`` from a device env (``env``: its SB3 view,
    :class:`thrust_envs.sb3.device.DeviceSB3VecEnv`) without leaving the device. Returns the
    values of the last observations and the last dones (for GAE), or None if a callback
    stopped training. ``rollout_buffer`` was reset by the caller.

    Per step: ``act`` on the buffer's observation slot (a CUDA graph for the lean policy on
    CUDA), Box actions clipped on the device, ``env.device_step`` (two kernel launches), its
    observations copied into the next slot, rewards, dones, the time-limit mask and finished
    episodes' returns and lengths into ``[n_steps, N]`` device tensors, and (when a row can be
    truncated at all) one value forward over the step's terminal observations, masked later:
    nothing is read back. Callbacks are called every step with SB3's local names; ``new_obs``,
    ``rewards`` and ``dones`` are device tensors, ``infos`` a
    :class:`thrust_envs.sb3.device.DeviceInfos` (built, with one copy, only when read, during
    that step's callback). Like ``new_obs``, the step's ``actions``, ``values`` and
    ``log_probs`` are tensors the next step overwrites (the act graph's outputs, the env's
    buffers): a callback that keeps one past its step keeps a copy (``.clone()``); the rollout
    buffer holds every step's.

    Once per rollout: the env's error status (an action it refused makes it raise here,
    before anything is trained on the rollout), the bootstrap ``where(truncated, reward +
    gamma * V, reward)``, and one read of the finished episodes (their number is
    data-dependent) into ``ep_info_buffer``, in SB3's order (step by step, env by env; their
    ``"t"`` is the rollout's end, as on the fused path), with the last observations and dones
    for the model's ``_last_obs`` / ``_last_episode_starts``. A callback that stops training
    gets the episodes of the steps before its own, and the model's last observations and
    episode starts are its step's input, as in SB3.
    """
    from thrust_envs.sb3.device import DeviceInfos

    buffer = rollout_buffer
    device = buffer.device
    n_envs = env.num_envs
    steps_envs = (n_rollout_steps, n_envs)
    dones_all = th.zeros(steps_envs, dtype=th.bool, device=device)
    time_limit = th.zeros(steps_envs, dtype=th.bool, device=device)
    returns = th.zeros(steps_envs, dtype=th.float64, device=device)
    lengths = th.zeros(steps_envs, dtype=th.float64, device=device)
    terminal_values = (
        th.zeros(steps_envs, dtype=th.float32, device=device) if env.has_time_limit else None
    )
    last_obs = th.empty_like(buffer.observations[0])
    buffer.observations[0].copy_(th.as_tensor(np.asarray(model._last_obs)).reshape(last_obs.shape))
    buffer.episode_starts[0].copy_(
        th.as_tensor(np.asarray(model._last_episode_starts, dtype=np.float32))
    )
    value_model = model.policy if lean is None else lean
    act = graphed_act(model, lean, buffer.observations[0])
    space = model.action_space
    box = isinstance(space, spaces.Box)
    if box:
        low = th.as_tensor(space.low, device=device)
        high = th.as_tensor(space.high, device=device)
    step_out = None
    for step in range(n_rollout_steps):
        if model.use_sde and model.sde_sample_freq > 0 and step % model.sde_sample_freq == 0:
            model.policy.reset_noise(n_envs)
        obs_tensor = buffer.observations[step]
        with th.no_grad():
            action_tensor, values, log_probs = act(obs_tensor)
        buffer.actions[step].copy_(action_tensor.reshape(n_envs, -1))
        buffer.values_tensor[step].copy_(values.reshape(n_envs))
        buffer.log_probs[step].copy_(log_probs.reshape(n_envs))
        clipped_actions = action_tensor
        if box:
            if model.policy.squash_output:
                clipped_actions = low + 0.5 * (action_tensor + 1.0) * (high - low)
            else:
                clipped_actions = th.clamp(action_tensor, low, high)
        step_out = env.device_step(clipped_actions)
        following = step + 1
        (buffer.observations[following] if following < n_rollout_steps else last_obs).copy_(
            step_out.observations
        )
        buffer.rewards[step].copy_(step_out.rewards)
        dones_all[step] = step_out.dones
        time_limit[step] = step_out.time_limit
        returns[step] = step_out.returns
        lengths[step] = step_out.lengths
        if terminal_values is not None:
            with th.no_grad():
                final_values = value_model.predict_values(step_out.terminal_observations)  # type: ignore[arg-type]
            terminal_values[step] = final_values.flatten()
        if following < n_rollout_steps:
            buffer.episode_starts[following].copy_(step_out.dones)
        model.num_timesteps += n_envs
        callback.update_locals(
            {
                "self": model,
                "env": env,
                "callback": callback,
                "rollout_buffer": buffer,
                "n_rollout_steps": n_rollout_steps,
                "n_steps": step,
                "obs_tensor": obs_tensor,
                "actions": action_tensor,
                "clipped_actions": clipped_actions,
                "values": values,
                "log_probs": log_probs,
                "new_obs": step_out.observations,
                "rewards": step_out.rewards,
                "dones": step_out.dones,
                "infos": DeviceInfos(env, step_out),
            }
        )
        if not callback.on_step():
            # SB3 logs a step's episodes after its callback: those of the steps before.
            _log_episodes(model, env, dones_all[:step], returns[:step], lengths[:step])
            # and returns before it takes the step's observations and dones: the model stands
            # at the step's input, where learn(reset_num_timesteps=False) goes on.
            model._last_obs = obs_tensor.cpu().numpy().copy()  # type: ignore[assignment]
            model._last_episode_starts = buffer.episode_starts[step].bool().cpu().numpy()
            return None

    assert step_out is not None
    # A step the env refused (an action outside its space) changed nothing, so the rollout
    # after it is not the env's: raise its error before anything is trained on it (the
    # episodes' read below waits for the device anyway).
    env.device_env.check()
    rewards = buffer.rewards
    if terminal_values is not None:
        rewards.copy_(th.where(time_limit, rewards + model.gamma * terminal_values, rewards))
    buffer.pos = buffer.buffer_size
    buffer.full = True
    _log_episodes(model, env, dones_all, returns, lengths)
    last_dones = step_out.dones.clone()
    model._last_obs = last_obs.cpu().numpy()  # type: ignore[assignment]
    model._last_episode_starts = last_dones.cpu().numpy()
    with th.no_grad():
        last_values = value_model.predict_values(last_obs)  # type: ignore[arg-type]
    return last_values, last_dones.to(th.float32)


def _log_episodes(
    model: PPO, env: Any, dones: th.Tensor, returns: th.Tensor, lengths: th.Tensor
) -> None:
    """The rollout's one read: the episodes that ended in ``dones`` (``[T, N]``, a
    data-dependent count) into ``model.ep_info_buffer``, in SB3's order (step by step, env by
    env), the newest ``maxlen`` of them."""
    assert model.ep_info_buffer is not None
    finished = dones.flatten().nonzero().flatten()
    finished = finished[-model.ep_info_buffer.maxlen :] if model.ep_info_buffer.maxlen else finished
    if finished.numel():
        model.ep_info_buffer.extend(
            env.episode_infos(
                returns.flatten()[finished].cpu().numpy(),
                lengths.flatten()[finished].cpu().numpy(),
            )
        )
