"""``thrust_algos.PPO``: Stable-Baselines3's PPO with a device-resident rollout buffer and a
vectorised rollout loop. Change ``from stable_baselines3 import PPO`` to
``from thrust_algos import PPO``; nothing else changes.

What differs from ``stable_baselines3.PPO`` (and nothing else does):

1. The rollout buffer is :class:`~thrust_algos.GpuRolloutBuffer` (``GpuDictRolloutBuffer`` for Dict
   observations): tensors on the model's device, allocated once; the observation tensor made for
   the policy's forward pass is stored as is; GAE is one kernel call.
2. ``collect_rollouts`` has no Python loop over environments: episode bookkeeping visits only the
   environments that finished, and the time-limit bootstrap of SB3 (``rewards += gamma * V(s_T)``
   for truncated episodes) is one batched value forward over all terminal observations of a step.
3. ``train`` keeps the per-minibatch statistics on the device and reads them back once per update
   (SB3 synchronises five times per minibatch), and computes the explained variance on the device.

On the CPU the minibatch order is drawn from numpy's global generator exactly like SB3, so with the
same seed and environment a thrust model collects bit-identical rollouts and takes bit-identical
gradient steps to stock SB3; the one exception is the reward of a time-limit-truncated step, whose
bootstrap value comes from a batched forward and may differ from SB3's one-env forward in the last
bit. On CUDA the buffer shuffles with ``torch.randperm`` on the device (statistical parity). Saved
models load in stock SB3 and the reverse.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from thrust_algos.buffers import GpuDictRolloutBuffer, GpuRolloutBuffer


class PPO(SB3PPO):
    """
    Proximal Policy Optimization (clip version), ``stable_baselines3.PPO`` with the same
    constructor, ``learn``, ``save``/``load``, callbacks, logger, progress bar and TensorBoard
    output, and a rollout that stays on ``device``. See :class:`stable_baselines3.PPO` for every
    parameter.

    ``rollout_buffer_class``: ``None`` (and SB3's own defaults ``RolloutBuffer`` /
    ``DictRolloutBuffer``, as found in models saved by stock SB3) select
    :class:`~thrust_algos.GpuRolloutBuffer` / :class:`~thrust_algos.GpuDictRolloutBuffer`. Any other
    class is used as given; with a buffer that is not a ``GpuRolloutBuffer`` the rollout and the
    update are SB3's own. ``rollout_buffer_kwargs`` may set ``gae_backend`` and
    ``shuffle_on_device`` of the device buffers.
    """

    rollout_buffer: RolloutBuffer

    def _setup_model(self) -> None:
        if self.rollout_buffer_class in (None, RolloutBuffer, DictRolloutBuffer):
            if isinstance(self.observation_space, spaces.Dict):
                self.rollout_buffer_class = GpuDictRolloutBuffer
            else:
                self.rollout_buffer_class = GpuRolloutBuffer
        super()._setup_model()

    def _excluded_save_params(self) -> list[str]:
        # The default device buffer is an implementation detail: leaving it out of the zip lets
        # stock SB3 load the model without thrust_algos installed (it then picks RolloutBuffer).
        excluded = super()._excluded_save_params()
        if self.rollout_buffer_class in (GpuRolloutBuffer, GpuDictRolloutBuffer):
            excluded.append("rollout_buffer_class")
        return excluded

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """
        Collect ``n_rollout_steps`` steps of every environment into ``rollout_buffer`` with the
        current policy; SB3's semantics, without a Python loop over environments.

        :param env: The training environment
        :param callback: Callback called at each step (and at the start and end of the rollout)
        :param rollout_buffer: Buffer to fill
        :param n_rollout_steps: Number of steps to collect per environment
        :return: False if a callback stopped training early, True otherwise
        """
        if not isinstance(rollout_buffer, GpuRolloutBuffer):
            return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        assert self._last_obs is not None, "No previous observation was provided"
        self.policy.set_training_mode(False)

        n_steps = 0
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)

        callback.on_rollout_start()

        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)

            with th.no_grad():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
                action_tensor, values, log_probs = self.policy(obs_tensor)
            # The one device -> host copy of a step: the environment needs numpy actions.
            actions = action_tensor.cpu().numpy()

            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                if self.policy.squash_output:
                    clipped_actions = self.policy.unscale_action(clipped_actions)
                else:
                    clipped_actions = np.clip(
                        actions, self.action_space.low, self.action_space.high
                    )

            new_obs, rewards, dones, infos = env.step(clipped_actions)

            self.num_timesteps += env.num_envs

            # Give access to local variables (the same names and types as in SB3)
            callback.update_locals(locals())
            if not callback.on_step():
                return False

            done_envs = np.flatnonzero(dones)
            self._update_done_info_buffer(infos, done_envs)
            n_steps += 1

            # Handle timeout by bootstrapping with the value function (SB3 issue #633), batched.
            self._bootstrap_truncated(rewards, infos, done_envs)

            rollout_buffer.add(
                obs_tensor,
                action_tensor,
                rewards,
                self._last_episode_starts,  # type: ignore[arg-type]
                values,
                log_probs,
            )
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones

        with th.no_grad():
            # Compute value for the last timestep
            values = self.policy.predict_values(obs_as_tensor(new_obs, self.device))  # type: ignore[arg-type]

        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)

        callback.update_locals(locals())

        callback.on_rollout_end()

        return True

    def _update_done_info_buffer(self, infos: list[dict[str, Any]], done_envs: np.ndarray) -> None:
        """SB3's ``_update_info_buffer`` restricted to the environments that finished this step.

        SB3 looks at every env's info each step, but ``Monitor``/``VecMonitor`` (and Thrust's
        VecEnvs) only report ``episode`` when an episode ends, and ``is_success`` counts only then.
        """
        assert self.ep_info_buffer is not None
        assert self.ep_success_buffer is not None
        for idx in done_envs:
            maybe_ep_info = infos[idx].get("episode")
            maybe_is_success = infos[idx].get("is_success")
            if maybe_ep_info is not None:
                self.ep_info_buffer.extend([maybe_ep_info])
            if maybe_is_success is not None:
                self.ep_success_buffer.append(maybe_is_success)

    def _bootstrap_truncated(
        self, rewards: np.ndarray, infos: list[dict[str, Any]], done_envs: np.ndarray
    ) -> None:
        """Add ``gamma * V(terminal observation)`` to the rewards of time-limit truncated episodes,
        in place, with one value forward for all of them.

        :param rewards: Rewards of this step, ``(n_envs,)``, modified in place
        :param infos: Infos of this step
        :param done_envs: Indices of the environments whose episode ended this step
        """
        truncated = [
            idx
            for idx in done_envs
            if infos[idx].get("terminal_observation") is not None
            and infos[idx].get("TimeLimit.truncated", False)
        ]
        if not truncated:
            return
        terminal_obs: np.ndarray | dict[str, np.ndarray]
        if isinstance(self.observation_space, spaces.Dict):
            terminal_obs = {
                key: np.stack([infos[idx]["terminal_observation"][key] for idx in truncated])
                for key in self.observation_space.spaces
            }
        else:
            terminal_obs = np.stack([infos[idx]["terminal_observation"] for idx in truncated])
        with th.no_grad():
            obs_tensor = self.policy.obs_to_tensor(terminal_obs)[0]
            terminal_values = self.policy.predict_values(obs_tensor).flatten()  # type: ignore[arg-type]
        rewards[truncated] += (self.gamma * terminal_values).cpu().numpy()

    def train(self) -> None:
        """
        Update policy using the currently gathered rollout buffer: SB3's PPO update, with the
        per-minibatch statistics kept on the device and read back once.
        """
        if not isinstance(self.rollout_buffer, GpuRolloutBuffer):
            return super().train()
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update optimizer learning rate
        self._update_learning_rate(self.policy.optimizer)
        # Compute current clip range
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        # Optional: clip range for the value function
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]

        # Lists of 0-d tensors on the device: no host synchronisation inside the loop.
        entropy_losses: list[th.Tensor] = []
        pg_losses: list[th.Tensor] = []
        value_losses: list[th.Tensor] = []
        clip_fractions: list[th.Tensor] = []
        approx_kl_divs: list[th.Tensor] = []

        continue_training = True
        # train for n_epochs epochs
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            # Do a complete pass on the rollout buffer
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                actions = rollout_data.actions
                if isinstance(self.action_space, spaces.Discrete):
                    # Convert discrete action from float to long
                    actions = rollout_data.actions.long().flatten()

                values, log_prob, entropy = self.policy.evaluate_actions(
                    rollout_data.observations, actions
                )
                values = values.flatten()
                # Normalize advantage
                advantages = rollout_data.advantages
                # Normalization does not make sense if mini batchsize == 1, see GH issue #325
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

                # ratio between old and new policy, should be one at the first iteration
                ratio = th.exp(log_prob - rollout_data.old_log_prob)

                # clipped surrogate loss
                policy_loss_1 = advantages * ratio
                policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                policy_loss = -th.min(policy_loss_1, policy_loss_2).mean()

                if self.clip_range_vf is None:
                    # No clipping
                    values_pred = values
                else:
                    # Clip the difference between old and new value
                    # NOTE: this depends on the reward scaling
                    values_pred = rollout_data.old_values + th.clamp(
                        values - rollout_data.old_values, -clip_range_vf, clip_range_vf
                    )
                # Value loss using the TD(gae_lambda) target
                value_loss = F.mse_loss(rollout_data.returns, values_pred)

                # Entropy loss favor exploration
                if entropy is None:
                    # Approximate entropy when no analytical form
                    entropy_loss = -th.mean(-log_prob)
                else:
                    entropy_loss = -th.mean(entropy)

                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss

                with th.no_grad():
                    pg_losses.append(policy_loss.detach())
                    value_losses.append(value_loss.detach())
                    entropy_losses.append(entropy_loss.detach())
                    clip_fractions.append(th.mean((th.abs(ratio - 1) > clip_range).float()))
                    # Approximate reverse KL divergence for early stopping (SB3 issue #417)
                    log_ratio = log_prob - rollout_data.old_log_prob
                    approx_kl_div = th.mean((th.exp(log_ratio) - 1) - log_ratio)
                    approx_kl_divs.append(approx_kl_div)

                # The only per-minibatch synchronisation, and only when early stopping is on.
                if self.target_kl is not None and approx_kl_div.item() > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(
                            f"Early stopping at step {epoch} due to reaching max kl: "
                            f"{approx_kl_div.item():.2f}"
                        )
                    break

                # Optimization step
                self.policy.optimizer.zero_grad()
                loss.backward()
                # Clip grad norm
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()

            self._n_updates += 1
            if not continue_training:
                break

        # One device -> host transfer for every statistic of this update.
        buffer = self.rollout_buffer
        stats = th.stack(
            [
                _mean(entropy_losses, self.device),
                _mean(pg_losses, self.device),
                _mean(value_losses, self.device),
                _mean(approx_kl_divs, self.device),
                _mean(clip_fractions, self.device),
                loss.detach(),
                _explained_variance(buffer.values_tensor, buffer.returns_tensor),
            ]
        ).tolist()
        entropy_mean, pg_mean, value_mean, kl_mean, clip_mean, last_loss, explained_var = stats

        # Logs
        self.logger.record("train/entropy_loss", entropy_mean)
        self.logger.record("train/policy_gradient_loss", pg_mean)
        self.logger.record("train/value_loss", value_mean)
        self.logger.record("train/approx_kl", kl_mean)
        self.logger.record("train/clip_fraction", clip_mean)
        self.logger.record("train/loss", last_loss)
        self.logger.record("train/explained_variance", explained_var)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if self.clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)


def _mean(values: list[th.Tensor], device: th.device) -> th.Tensor:
    """Mean of a list of 0-d tensors (NaN for an empty list, as ``np.mean([])``)."""
    if not values:
        return th.tensor(float("nan"), device=device)
    return th.stack(values).mean()


def _explained_variance(y_pred: th.Tensor, y_true: th.Tensor) -> th.Tensor:
    """SB3's ``explained_variance``, ``1 - Var[y - y_pred] / Var[y]`` (NaN if ``Var[y] == 0``),
    on the device."""
    y_pred, y_true = y_pred.flatten(), y_true.flatten()
    var_y = th.var(y_true, correction=0)
    explained = 1 - th.var(y_true - y_pred, correction=0) / var_y
    return th.where(var_y == 0, th.full_like(explained, float("nan")), explained)
