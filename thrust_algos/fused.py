"""The fused rollout: a whole ``n_steps x n_envs`` PPO rollout in one compiled call.

When the training env is a Thrust SB3 VecEnv of a single-agent env (classic control) or the
parameter-sharing view of a game with Discrete actions (``SharedGameVecEnv``: Pong, Snake), the
policy is the lean MLP (:class:`~thrust_algos.lean.LeanActorCritic`), the model runs on the CPU
and the buffer is a plain :class:`~thrust_algos.GpuRolloutBuffer`, :meth:`FusedRollout.collect`
runs the policy forward, action sampling, the env's row functions, episode statistics and SB3's
time-limit bootstrap (``reward += gamma * V(terminal obs)``) for every step and row in one numba
call (:mod:`thrust_algos._fused_kernels`), writing straight into the buffer's storage. Python
runs once per rollout. :func:`plan` says why not when it cannot (``PPO.rollout_path``).

**The env stays consistent.** The kernel works on the env's own arrays (state, random streams,
episode statistics, observations, last rewards/flags, final observations), so afterwards the
VecEnv stands exactly where stepping it ``n_steps`` times would have left it, and ``model.env``
keeps working (evaluation, a later rollout on SB3's per-step path). The one difference: the
``"t"`` of the episodes that ended in the rollout is the time at its end.

**Randomness.** Actions are drawn from per-row SplitMix64 streams (``thrust_envs.core.rng``),
seeded from the model's seed (``PPO.set_random_seed``'s, which building or loading the
model calls with it, and a user may call again; without one, a seed drawn once from torch's
default generator, so that a script seeding torch globally replays as on SB3's path), the
rollout's number since that seed was set (``PPO._fused_rollouts``, as SB3's torch generator
is seeded anew by ``set_random_seed``) and the row: results are
deterministic for a seed and a sequence of ``learn`` calls, whatever the thread count,
and do not touch torch's or numpy's global generators (but for that one draw). They are not
SB3's draws (SB3 samples with torch's generator): the same distributions, not the same
numbers. Discrete actions invert the categorical CDF at one uniform double; Box actions are
``mean + std * z`` with ``z`` a Box–Muller normal, clipped to the space for the env and
stored unclipped, as SB3 does. The network's sums run in another order than torch's
``F.linear``: values and log-probabilities equal the policy's to float32 rounding (tested).

**Callbacks** see every step after the fact: once the rollout is collected, ``on_step`` is called
``n_steps`` times, ``num_timesteps`` advancing by ``n_envs`` each time, with SB3's ``locals``
of that step: ``n_steps`` (the steps before it), ``obs_tensor``, ``actions``,
``clipped_actions``, ``values``, ``log_probs``, ``dones``, ``new_obs``, ``infos`` (built on
access: ``episode``, ``TimeLimit.truncated`` and ``terminal_observation`` of finished rows) and
``rewards``, the buffer's row before the bootstrap, so that a callback shaping rewards in place
shapes what is trained on, as in SB3. Counting callbacks (``EvalCallback``,
``CheckpointCallback``, the progress bar, ``StopTrainingOnMaxEpisodes``) thus fire at the
same steps as on SB3's path, but they see the model and env of the rollout's end; one that
returns False stops training at that step, with the env already at the rollout's end. Without
a callback (``learn(callback=None)``: SB3's ``ConvertCallback(None)``, whose ``on_step`` only
counts) the replay is skipped: the counts advance by ``n_steps`` at once and the last step's
``locals`` are set, as the replay would leave
them (tested).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback, ConvertCallback
from stable_baselines3.common.vec_env import VecEnv

from thrust_algos._blas import openblas
from thrust_algos.buffers import GpuRolloutBuffer
from thrust_algos.lean import LeanActorCritic

if TYPE_CHECKING:
    from thrust_algos.ppo import PPO

_ACTIVATION_CODES = {None: 0, "tanh": 1, "relu": 2}
# episodes[k]: final return, length, row, step, truncated (time limit, 1.0) and the bootstrap
# gamma * V(terminal obs) to add to the step's reward, float32 (0.0 for terminated rows).
_RETURN, _LENGTH, _ROW, _STEP, _TRUNCATED, _BOOTSTRAP = range(6)


#: The most rows (envs, or agents of a game's shared view) the fused rollout takes. Its
#: forward is batched (BLAS), but it steps the env rows on one thread, where the per-step path
#: steps large batches on numba's threads: rollout time against the per-step path's, 2 cores
#: (2026-12-03): CartPole 256 / 1,024 envs 2.1x / 1.6x faster, Pong 128 / 256 games 2.1x /
#: 2.6x, Snake 64 / 128 games (256 / 512 rows) 1.5x / 1.2x, Snake 256 games (1,024 rows) 5%
#: slower. So at most 512 rows.
FUSED_MAX_ROWS = 512


def plan(model: PPO, env: VecEnv, buffer: Any, lean: LeanActorCritic | None) -> FusedRollout | str:
    """A :class:`FusedRollout` of ``model`` on ``env`` into ``buffer``, or the reason there is
    none (a sentence; the rollout then takes SB3's per-step path)."""
    if not model.fused:
        return "fused=False"
    if env.num_envs > FUSED_MAX_ROWS:
        return (
            f"{env.num_envs} rows: above {FUSED_MAX_ROWS} the per-step path, which steps the "
            "env on numba's threads, can be faster than the fused rollout's one thread"
        )
    if lean is None:
        return "the policy is not the lean MLP (lean=False, or a policy LeanActorCritic rejects)"
    from thrust_algos._blas import blas_available

    if (reason := blas_available()) is not None:
        return reason
    if model.device.type != "cpu":
        return f"the model is on {model.device} (the fused rollout runs on the CPU)"
    if type(buffer) is not GpuRolloutBuffer:
        return f"the rollout buffer is a {type(buffer).__name__}, not a GpuRolloutBuffer"
    if type(env).__name__ == "SharedGameVecEnv" and type(env).__module__.startswith("thrust_envs"):
        return _game_plan(model, env, buffer, lean)
    batch = getattr(env, "_batch", None)
    if not type(env).__module__.startswith("thrust_envs") or batch is None:
        return (
            f"the env is a {type(env).__name__}, not a Thrust single-agent SB3 VecEnv or the "
            "parameter-sharing view of a game (thrust_envs.sb3.make_vec_env; VecEnv wrappers "
            "such as VecNormalize also fall back)"
        )
    if getattr(env, "_pending", False):
        return "the env has a step_async pending"
    if getattr(env, "_closed", False):
        return "the env is closed"
    from thrust_envs.core.fusion import row_parts

    parts = row_parts(batch)
    if isinstance(parts, str):
        return parts
    obs_space = model.observation_space
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
        return f"the observation space {obs_space} is not a flat Box"
    if parts.rows.obs.dtype != np.float32:
        return f"the env's observations are {parts.rows.obs.dtype}, not float32"
    if isinstance(model.action_space, spaces.Box) and parts.actions.dtype != np.float32:
        return f"the env's Box actions are {parts.actions.dtype}, not float32"
    return FusedRollout(parts, lean, buffer, env)


def _game_plan(model: PPO, env: VecEnv, buffer: Any, lean: LeanActorCritic) -> FusedRollout | str:
    """:func:`plan` for the parameter-sharing view of a game (``SharedGameVecEnv``)."""
    if getattr(env, "_closed", False):
        return "the env is closed"
    from thrust_envs.core.fusion import game_parts

    parts = game_parts(env._game)  # type: ignore[attr-defined]
    if isinstance(parts, str):
        return parts
    if not parts.discrete or lean.distribution != "categorical":
        return "the game's actions are not Discrete (the fused game rollout samples one action)"
    obs_space = model.observation_space
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
        return f"the observation space {obs_space} is not a flat Box"
    if parts.games.obs.dtype != np.float32:
        return f"the game's observations are {parts.games.obs.dtype}, not float32"
    return FusedRollout(parts, lean, buffer, env)


class FusedRollout:
    """One rollout of a lean policy on a Thrust env, collected by one kernel call (see the
    module's docstring). Built by :func:`plan` for each rollout (cheap: no compilation after
    the first)."""

    def __init__(self, parts: Any, lean: LeanActorCritic, buffer: GpuRolloutBuffer, env: VecEnv):
        from thrust_algos import _fused_kernels as FK

        self._fk = FK
        self.parts = parts
        self.lean = lean
        self.buffer = buffer
        self.env = env
        self.game = hasattr(parts, "games")  # a GameParts: the game's shared view
        self.kernel = FK.game_rollout_kernel(parts) if self.game else FK.rollout_kernel(parts)
        layers = [*lean.pi_layers, *lean.vf_layers]
        rows, offset, width = [], 0, buffer.obs_shape[0]  # type: ignore[index]
        for dense in layers:
            n_out, n_in = dense.weight.shape
            rows.append(
                (n_in, n_out, offset, offset + n_in * n_out, _ACTIVATION_CODES[dense.activation])
            )
            offset += n_in * n_out + n_out
            width = max(width, n_out)
        self.layers = np.array(rows, dtype=np.int64)
        self.n_pi = len(lean.pi_layers)
        self.weights = np.empty(offset, dtype=np.float32)
        # Four planes of [rows x widest layer]: the two networks' batched forward ping-pongs
        # in 0-1 and 2-3 (_mlp_rows); a single row's forward (the bootstrap) uses 0-1.
        self.scratch = np.zeros((4, buffer.n_envs * width), dtype=np.float32)
        self._dense = layers
        if isinstance(lean.policy.action_space, spaces.Box):
            self.action_low = lean.policy.action_space.low.astype(np.float32)
            self.action_high = lean.policy.action_space.high.astype(np.float32)
        else:
            self.action_low = self.action_high = np.zeros(0, dtype=np.float32)

    def _load_weights(self) -> np.ndarray:
        """Copy the current weights (``W^T``) and biases into the flat array; return log std."""
        for (n_in, n_out, w_off, b_off, _), dense in zip(self.layers, self._dense, strict=True):
            w = self.weights[w_off : w_off + n_in * n_out].reshape(n_in, n_out)
            w[...] = dense.weight.detach().numpy().T
            self.weights[b_off : b_off + n_out] = dense.bias.detach().numpy()
        if self.lean.log_std is None:
            return np.zeros(0, dtype=np.float32)
        return self.lean.log_std.detach().numpy().astype(np.float32, copy=True)

    def collect(
        self, model: PPO, callback: BaseCallback, n_rollout_steps: int
    ) -> tuple[th.Tensor, np.ndarray] | None:
        """Collect the rollout into the buffer; replay the steps to ``callback``; update the
        model's counters, episode buffer and last observation. Returns the last values
        ``(n_envs,)`` and dones for GAE, or None if a callback stopped training."""
        parts, buffer, env = self.parts, self.buffer, self.env
        n_envs, n_steps = buffer.n_envs, buffer.buffer_size
        if n_rollout_steps != n_steps:
            raise ValueError(f"n_rollout_steps={n_rollout_steps} != the buffer's {n_steps} steps")
        host = buffer._host
        buf_obs = buffer._host_observations
        assert buf_obs is not None and model._last_obs is not None
        buf_obs[0] = model._last_obs
        starts = np.asarray(model._last_episode_starts, dtype=np.bool_).copy()
        prng = np.empty(n_envs, dtype=np.uint64)
        seed = model._fused_seed()
        # The rollout's number since the seed was set (PPO.set_random_seed), not its first
        # timestep: learn() with reset_num_timesteps=True starts the timesteps at 0 again, and
        # would draw the same numbers again (SB3's torch generator goes on).
        self._fk.seed_policy_streams(prng, np.uint64(seed), np.uint64(model._fused_rollouts))
        model._fused_rollouts += 1
        last_values = np.empty(n_envs, dtype=np.float32)
        episodes = np.zeros((n_steps * n_envs, 6), dtype=np.float64)
        episode_obs = np.zeros((n_steps * n_envs, *buffer.obs_shape), dtype=np.float32)  # type: ignore[misc]
        policy, storage = self._policy(self._load_weights()), self._storage()
        gamma = float(model.gamma)
        # The forward's products on this thread only (why: thrust_algos._blas).
        with openblas().one_thread():
            if self.game:
                last_obs = np.empty_like(buf_obs[0])
                flat_actions = parts.actions.reshape(-1)  # [G, A, 1] as the [G * A] rows' (a view)
                status, n_episodes = self.kernel(
                    parts.games, parts.actions, flat_actions, parts.params, parts.max_steps,
                    policy, prng, gamma, starts, storage, last_obs, last_values, episodes,
                    episode_obs,
                )  # fmt: skip
                model._last_obs = last_obs  # type: ignore[assignment]
            else:
                status, n_episodes = self.kernel(
                    parts.rows, parts.actions, parts.params, parts.max_steps, policy,
                    self.action_low, self.action_high, prng, gamma, starts, storage, last_values,
                    episodes, episode_obs,
                )  # fmt: skip
                model._last_obs = parts.rows.obs.copy()
        model._last_episode_starts = starts.copy()
        if status == self._fk.NON_FINITE_ACTION:  # (a NaN log-probability, either kind)
            what = "Box action" if self.lean.distribution == "gaussian" else "action probabilities"
            raise ValueError(
                f"the policy produced a non-finite {what} (NaN or infinite weights?); "
                "the env stands at the last completed step"
            )
        episodes = episodes[:n_episodes]
        elapsed = round(time.time() - env._t_start, 6)  # type: ignore[attr-defined]
        for row in episodes[:, _ROW].astype(np.int64):
            env.reset_infos[row] = {}
        stopped = self._replay(model, callback, episodes, episode_obs[:n_episodes], elapsed, starts)
        # SB3 adds the bootstrap after the step's callbacks: the replay showed the raw rewards.
        bootstrapped = episodes[episodes[:, _TRUNCATED] != 0.0]
        if bootstrapped.size:
            steps = bootstrapped[:, _STEP].astype(np.int64)
            rows = bootstrapped[:, _ROW].astype(np.int64)
            host["rewards"][steps, rows] += bootstrapped[:, _BOOTSTRAP].astype(np.float32)
        buffer.pos = n_steps
        buffer.full = True
        if stopped:
            return None
        return th.from_numpy(last_values), starts

    def _policy(self, log_std: np.ndarray) -> Any:
        """The lean policy as the kernels read it (:class:`_fused_kernels.Policy`)."""
        return self._fk.Policy(self.weights, self.layers, self.n_pi, log_std, self.scratch)

    def _storage(self) -> Any:
        """The buffer's host storage the kernels write, as :class:`_fused_kernels.Storage`."""
        host = self.buffer._host
        return self._fk.Storage(
            self.buffer._host_observations, host["actions"], host["rewards"],
            host["episode_starts"], host["values_tensor"], host["log_probs"],
        )  # fmt: skip

    def _replay(
        self,
        model: PPO,
        callback: BaseCallback,
        episodes: np.ndarray,
        episode_obs: np.ndarray,
        elapsed: float,
        last_dones: np.ndarray,
    ) -> bool:
        """Call ``callback.on_step`` once per collected step with that step's locals, and fill
        ``model.ep_info_buffer``. Returns True if a callback stopped training."""
        buffer = self.buffer
        n_envs, n_steps = buffer.n_envs, buffer.buffer_size
        assert model.ep_info_buffer is not None
        starts_all = buffer._host["episode_starts"]
        obs_all = buffer._host_observations
        step_of = episodes[:, _STEP].astype(np.int64)
        bounds = np.searchsorted(step_of, np.arange(n_steps + 1))
        if type(callback) is ConvertCallback and callback.callback is None:
            # SB3's callback for callback=None: its on_step only counts the calls and the
            # timesteps, so n_steps calls are the counts, the last step's locals, and every
            # episode in step order into the stats window (a deque: the newest ones stay).
            model.num_timesteps += n_envs * n_steps
            callback.n_calls += n_steps
            callback.num_timesteps = model.num_timesteps
            lo = bounds[n_steps - 1]
            callback.update_locals(
                {
                    **self._step_locals(model, callback, n_steps - 1),
                    "new_obs": model._last_obs,
                    "dones": last_dones,
                    "infos": StepInfos(n_envs, episodes[lo:], episode_obs[lo:], elapsed),
                }
            )
            window = model.ep_info_buffer.maxlen or len(episodes)
            model.ep_info_buffer.extend(episode_info(r, elapsed) for r in episodes[-window:])
            return False
        for t in range(n_steps):
            lo, hi = bounds[t], bounds[t + 1]
            last = t + 1 == n_steps
            dones = last_dones if last else starts_all[t + 1].astype(np.bool_)
            new_obs = model._last_obs if last else obs_all[t + 1].copy()  # type: ignore[index]
            infos = StepInfos(n_envs, episodes[lo:hi], episode_obs[lo:hi], elapsed)
            model.num_timesteps += n_envs
            callback.update_locals(
                {
                    **self._step_locals(model, callback, t),
                    "new_obs": new_obs,
                    "dones": dones,
                    "infos": infos,
                }
            )
            if not callback.on_step():
                return True
            model.ep_info_buffer.extend(infos.episode_infos())
        return False

    def _step_locals(self, model: PPO, callback: BaseCallback, t: int) -> dict[str, Any]:
        """SB3's rollout locals of step ``t`` that the buffer holds, under SB3's names: as its
        loop has them when it calls ``on_step`` (``n_steps`` counts the steps before this one;
        ``rewards`` is the buffer's row itself, before the bootstrap, so that a callback that
        shapes them in place shapes what is trained on, as in SB3)."""
        buffer, host = self.buffer, self.buffer._host
        n_envs = buffer.n_envs
        space = model.action_space
        stored = host["actions"][t]
        if isinstance(space, spaces.Box):
            actions = stored.reshape(n_envs, *space.shape)
            clipped = np.clip(actions, space.low, space.high)
        else:  # the buffer's float32 row, back to the policy's int64 actions
            actions = stored.reshape(n_envs, *space.shape).astype(np.int64)
            clipped = actions
        return {
            "self": model,
            "env": self.env,
            "callback": callback,
            "rollout_buffer": buffer,
            "n_rollout_steps": buffer.buffer_size,
            "n_steps": t,
            "obs_tensor": th.from_numpy(buffer._host_observations[t]),  # type: ignore[index]
            "actions": actions,
            "clipped_actions": clipped,
            "values": th.from_numpy(host["values_tensor"][t]).reshape(n_envs, 1),
            "log_probs": th.from_numpy(host["log_probs"][t]),
            "rewards": host["rewards"][t],
        }


def episode_info(record: np.ndarray, elapsed: float) -> dict[str, Any]:
    """SB3 Monitor's ``info["episode"]`` of one finished-episode record of the kernel."""
    return {"r": round(float(record[_RETURN]), 6), "l": int(record[_LENGTH]), "t": elapsed}


class StepInfos(Sequence[dict[str, Any]]):
    """The ``infos`` list of one replayed step, ``n_envs`` dicts built on access, as the Thrust
    VecEnv builds them: ``TimeLimit.truncated`` on every one; ``terminal_observation`` and
    ``episode`` (``{"r", "l", "t"}``) on the rows whose episode ended at this step."""

    def __init__(self, n_envs: int, episodes: np.ndarray, final_obs: np.ndarray, elapsed: float):
        self._n_envs = n_envs
        self._episodes = episodes
        self._final_obs = final_obs
        self._elapsed = elapsed
        self._done = {int(row): k for k, row in enumerate(episodes[:, _ROW])}

    def __len__(self) -> int:
        return self._n_envs

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n_envs))]
        i = range(self._n_envs)[index]
        k = self._done.get(i)
        if k is None:
            return {"TimeLimit.truncated": False}
        record = self._episodes[k]
        return {
            "TimeLimit.truncated": bool(record[_TRUNCATED] != 0.0),
            "terminal_observation": self._final_obs[k].copy(),
            "episode": episode_info(record, self._elapsed),
        }

    def episode_infos(self) -> list[dict[str, Any]]:
        """The ``episode`` dicts of this step's finished rows, in row order."""
        return [episode_info(record, self._elapsed) for record in self._episodes]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(self._n_envs))
