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

from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from thrust_algos.buffers import GpuRolloutBuffer, torch_dtype, write_step
from thrust_algos.lean import LeanActorCritic

if TYPE_CHECKING:
    from thrust_algos.ppo import PPO


def staged_plan(model: PPO, env: VecEnv, buffer: Any) -> str | None:
    """None if the staged step applies to ``env`` and ``buffer``, else the reason it does not.

    The hook is looked up on the env's class, so a ``VecEnvWrapper`` (``VecNormalize``, which
    forwards attribute reads to the env it wraps) is not bypassed: it keeps SB3's path.
    """
    if not callable(getattr(type(env), "step_into", None)):
        return f"the env is a {type(env).__name__}, which has no step_into"
    if type(buffer) is not GpuRolloutBuffer:
        return f"the rollout buffer is a {type(buffer).__name__}, not a GpuRolloutBuffer"
    if not isinstance(model.observation_space, spaces.Box):
        return f"the observation space {model.observation_space} is not a Box"
    return None


def _host_array(shape: tuple[int, ...], dtype: np.dtype, pinned: bool) -> np.ndarray:
    """A zeroed host array; page-locked (pinned) memory when ``pinned``, for async uploads."""
    tensor = th.zeros(shape, dtype=torch_dtype(dtype), pin_memory=pinned)
    return tensor.numpy()


def collect_staged(
    model: PPO,
    env: VecEnv,
    callback: BaseCallback,
    rollout_buffer: GpuRolloutBuffer,
    n_rollout_steps: int,
    lean: LeanActorCritic | None,
) -> tuple[th.Tensor, np.ndarray] | None:
    """Fill ``rollout_buffer`` with ``n_rollout_steps`` staged steps (see the module docstring).
    Returns the values of the last observations and the last dones (for GAE), or None if a
    callback stopped training. ``rollout_buffer`` was reset by the caller."""
    device = rollout_buffer.device
    pinned = device.type == "cuda" and th.cuda.is_available()
    n_envs = env.num_envs
    obs_dtype = np.dtype(model.observation_space.dtype)
    obs_shape = (n_envs, *model.observation_space.shape)
    obs_host = _host_array(obs_shape, obs_dtype, pinned)
    final_obs_host = _host_array(obs_shape, obs_dtype, pinned)
    steps_envs = (n_rollout_steps, n_envs)
    rewards_host = _host_array(steps_envs, np.dtype(np.float32), pinned)
    dones_host = _host_array(steps_envs, np.dtype(np.bool_), pinned)
    time_limit_host = _host_array(steps_envs, np.dtype(np.bool_), pinned)
    starts_host = _host_array(steps_envs, np.dtype(np.float32), pinned)
    terminal_values = th.zeros(steps_envs, dtype=th.float32, device=device)
    final_obs_device = th.empty(obs_shape, dtype=rollout_buffer.observations.dtype, device=device)
    last_obs_device = th.empty_like(final_obs_device)
    obs_slots = rollout_buffer.observations
    value_model = model.policy if lean is None else lean

    obs_slots[0].copy_(th.as_tensor(np.asarray(model._last_obs).reshape(obs_shape)))
    starts_host[0] = np.asarray(model._last_episode_starts, dtype=np.float32)
    n_steps = 0
    while n_steps < n_rollout_steps:
        if model.use_sde and model.sde_sample_freq > 0 and n_steps % model.sde_sample_freq == 0:
            model.policy.reset_noise(n_envs)
        obs_tensor = obs_slots[n_steps]
        with th.no_grad():
            if lean is None:
                action_tensor, values, log_probs = model.policy(obs_tensor)
            else:
                action_tensor, values, log_probs = lean.act(obs_tensor)
        # The one synchronisation of a step: the CPU env needs the actions.
        actions = action_tensor.cpu().numpy()
        clipped_actions = actions
        if isinstance(model.action_space, spaces.Box):
            if model.policy.squash_output:
                clipped_actions = model.policy.unscale_action(clipped_actions)
            else:
                clipped_actions = np.clip(actions, model.action_space.low, model.action_space.high)
        rewards, dones = rewards_host[n_steps], dones_host[n_steps]
        infos = env.step_into(  # type: ignore[attr-defined]
            clipped_actions, obs_host, rewards, dones, final_obs_host, time_limit_host[n_steps]
        )
        next_slot = obs_slots[n_steps + 1] if n_steps + 1 < n_rollout_steps else last_obs_device
        next_slot.copy_(th.from_numpy(obs_host), non_blocking=pinned)
        new_obs = obs_host
        write_step(rollout_buffer.actions, None, n_steps, action_tensor, "action")
        write_step(rollout_buffer.values_tensor, None, n_steps, values, "value")
        write_step(rollout_buffer.log_probs, None, n_steps, log_probs, "log_prob")

        model.num_timesteps += n_envs
        # SB3's local names for callbacks (its loop hands them ``locals()``).
        callback.update_locals(
            {
                "self": model,
                "env": env,
                "callback": callback,
                "rollout_buffer": rollout_buffer,
                "n_rollout_steps": n_rollout_steps,
                "n_steps": n_steps,
                "obs_tensor": obs_tensor,
                "actions": actions,
                "values": values,
                "log_probs": log_probs,
                "clipped_actions": clipped_actions,
                "new_obs": new_obs,
                "rewards": rewards,
                "dones": dones,
                "infos": infos,
            }
        )
        if not callback.on_step():
            return None
        model._update_done_info_buffer(infos, np.flatnonzero(dones))
        if time_limit_host[n_steps].any():
            # The time-limit bootstrap: one value forward over every row, masked after the rollout.
            final_obs_device.copy_(th.from_numpy(final_obs_host), non_blocking=pinned)
            with th.no_grad():
                terminal_values[n_steps] = value_model.predict_values(final_obs_device).flatten()  # type: ignore[arg-type]
        if n_steps + 1 < n_rollout_steps:
            starts_host[n_steps + 1] = dones
        n_steps += 1

    rollout_buffer.rewards.copy_(th.from_numpy(rewards_host), non_blocking=pinned)
    rollout_buffer.episode_starts.copy_(th.from_numpy(starts_host), non_blocking=pinned)
    truncated = th.from_numpy(time_limit_host).to(device, non_blocking=pinned)
    rewards_device = rollout_buffer.rewards
    rewards_device.copy_(
        th.where(truncated, rewards_device + model.gamma * terminal_values, rewards_device)
    )
    rollout_buffer.pos = rollout_buffer.buffer_size
    rollout_buffer.full = True
    model._last_obs = obs_host.copy()  # type: ignore[assignment]
    last_dones = dones_host[-1].copy()
    model._last_episode_starts = last_dones
    with th.no_grad():
        last_values = value_model.predict_values(last_obs_device)  # type: ignore[arg-type]
    return last_values, last_dones
