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
4. With SB3's standard MLP actor-critic (``"MlpPolicy"`` on Box observations, Discrete or Box
   actions) and ``lean=True`` (the default), the rollout forward and the update run through
   :class:`~thrust_algos.lean.LeanActorCritic`: plain tensor calls and a hand-written backward
   instead of ``nn.Module`` calls, ``torch.distributions`` and autograd: about half the time per
   gradient step of SB3's path on a CPU. SB3's default Adam is switched to torch's fused kernel
   (:func:`~thrust_algos.lean.enable_fused_adam`), which takes the step on CUDA; on the CPU,
   where the optimizer allows it, :class:`~thrust_algos.lean_adam.LeanAdam` takes the gradient
   clipping and the Adam step instead, as one compiled call over the optimizer's own tensors
   (torch's arithmetic, to float32 rounding). An update whose ``clip_range`` or
   ``clip_range_vf`` is below ``TINY_CLIP_RANGE`` (1e-5, as a linear schedule's last update
   reaches) runs on autograd instead (``update_path`` ``"autograd: ..."``): every row of its
   first minibatch is then a tie on the clip boundary, which SB3's arithmetic decides and the
   lean ratio's last bit would not.
5. With that lean policy and ``LeanAdam`` on the CPU, the whole update (every minibatch of
   every epoch: gather, forward, loss, backward, clipping, Adam) is one compiled numba call
   (:class:`thrust_algos._lean_update.LeanEpochs`; with ``target_kl``, one call per epoch), and
   ``update_path`` reads ``"epoch kernel"``; where it cannot run, the lean path steps per
   minibatch and ``update_path`` says why.
6. With that lean policy on the CPU and a Thrust single-agent VecEnv (or a game's
   parameter-sharing view with Discrete actions) of at most ``fused.FUSED_MAX_ROWS`` (512)
   rows, each rollout is one compiled call (:mod:`thrust_algos.fused`; ``fused=False``
   switches it off, ``rollout_path`` says which path ran and why): actions from the model's
   own seeded streams (SB3's distribution, not its draws), callbacks called for every step
   after the rollout. Above 512 rows the per-step path, which steps the env on numba's
   threads, runs instead.
7. Otherwise, on an unwrapped Thrust single-agent VecEnv, the per-step loop is staged
   (:mod:`thrust_algos.device_rollout`: host staging buffers the env writes into, pinned and
   uploaded without blocking on CUDA, one synchronisation per step, the bootstrap as one masked
   value forward); ``double_buffer=True`` steps half the envs on a worker thread while the policy
   acts for the other half.
8. A ``thrust_envs.cuda`` device env (passed as is: ``_wrap_env`` makes it an SB3 view) with the
   model on its device: the whole rollout stays there (:func:`thrust_algos.device_rollout.
   collect_on_device`): no numpy, no info dicts, no synchronisation per step; callbacks see
   device tensors and infos built only when read; finished episodes logged once per rollout.
9. With the lean policy on CUDA (torch's fused Adam, no ``target_kl``, ``batch_size`` dividing
   the rollout), each minibatch step of the update (gather, loss, backward, clipping, Adam) is
   replayed from a CUDA graph (:mod:`thrust_algos.graphed_update`): the eager steps'
   operations (not yet run on a GPU: see that module). ``cuda_graphs=False`` keeps both this
   and the rollout's act eager;
   ``update_path`` says which update ran and why.

On the CPU the minibatch order is drawn from numpy's global generator exactly like SB3. With
``lean=False`` (or a policy the lean path does not handle), a thrust model with the same seed and
environment collects bit-identical rollouts and takes bit-identical gradient steps to stock SB3;
the one exception is the reward of a time-limit-truncated step, whose bootstrap value comes from a
batched forward and may differ from SB3's one-env forward in the last bit. On the lean path the
rollout forward is still identical to SB3's (same actions for the same weights and seed) and the
losses and gradients equal SB3's to float rounding, so training follows SB3's in distribution but
not bit for bit. On CUDA the buffer shuffles with ``torch.randperm`` on the device (statistical
parity). Saved models load in stock SB3 and the reverse; a model pickles as stock SB3's does
(the fast path's caches left out, rebuilt on use).
"""

from __future__ import annotations

import io
import pathlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import GymEnv, RolloutBufferSamples, Schedule
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from thrust_algos.buffers import DEVICE_BUFFER_KWARGS, GpuDictRolloutBuffer, GpuRolloutBuffer
from thrust_algos.device_rollout import collect_on_device, collect_staged, device_plan, staged_plan
from thrust_algos.fused import FusedRollout
from thrust_algos.fused import plan as fused_plan
from thrust_algos.graphed_update import GraphedMinibatchStep, graph_plan
from thrust_algos.lean import (
    LeanActorCritic,
    LossSettings,
    PPOLossStats,
    clipped_objective,
    enable_fused_adam,
)
from thrust_algos.lean_adam import LeanAdam
from thrust_envs.core.threads import one_torch_thread


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

    Thrust's own parameters: ``lean``, ``fused``, ``double_buffer`` (the module docstring) and
    ``cuda_graphs`` (on CUDA, the lean act and the lean update's minibatch step in CUDA graphs;
    ``False``: eager, for debugging or a GPU where capture misbehaves).

    ``lean``: with SB3's standard MLP actor-critic
    (``"MlpPolicy"`` on a Box observation space with Discrete or Box actions, see
    :meth:`~thrust_algos.lean.LeanActorCritic.from_policy`), the rollout forward and the update use
    :class:`~thrust_algos.lean.LeanActorCritic`: plain tensor calls and a hand-written backward
    instead of ``nn.Module``, ``torch.distributions`` and autograd, and a fused Adam step (an
    Adam left at SB3's defaults). Same rollouts as SB3; losses, gradients and Adam steps equal
    to float rounding. ``False``, or any other
    policy, keeps SB3's own forward and autograd update (bit-identical to stock SB3 on the CPU).
    """

    rollout_buffer: RolloutBuffer

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        target_kl: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        lean: bool = True,
        fused: bool = True,
        double_buffer: bool = False,
        cuda_graphs: bool = True,
        _init_setup_model: bool = True,
    ) -> None:
        if not isinstance(lean, bool):
            raise TypeError(f"lean must be True or False, got {lean!r}")
        if not isinstance(fused, bool):
            raise TypeError(f"fused must be True or False, got {fused!r}")
        if not isinstance(double_buffer, bool):
            raise TypeError(f"double_buffer must be True or False, got {double_buffer!r}")
        if not isinstance(cuda_graphs, bool):
            raise TypeError(f"cuda_graphs must be True or False, got {cuda_graphs!r}")
        self.lean = lean
        self.fused = fused
        self.double_buffer = double_buffer
        self.cuda_graphs = cuda_graphs
        self._lean: LeanActorCritic | None = None
        # The fused rollout's stream seeds: a base (set_random_seed's seed, else one draw) and
        # the number of fused rollouts collected since it was set.
        self._fused_base_seed: int | None = None
        self._fused_rollouts = 0
        # Which way the last rollout was collected: "fused", or "stepwise: <reason>".
        self.rollout_path: str | None = None
        # The rollouts' CUDA graphs of the lean act, by batch shape (device_rollout.graphed_act).
        self._graphed_act: Any = None
        self._graph_failed = False
        # The update's minibatch step in a CUDA graph (graphed_update.GraphedMinibatchStep).
        self._graphed_update: Any = None
        self._update_graph_failed = False
        # The update's clip + Adam step, kept across updates (LeanAdam.refresh revalidates it).
        self._lean_adam: LeanAdam | None = None
        # The update's one-call epochs (_lean_update.LeanEpochs), or why not; and which way the
        # last update ran: "epoch kernel", "lean" (per minibatch) or "autograd".
        self._lean_epochs: Any = None
        self.update_path: str | None = None
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            batch_size=batch_size,
            n_epochs=n_epochs,
            gamma=gamma,
            gae_lambda=gae_lambda,
            clip_range=clip_range,
            clip_range_vf=clip_range_vf,
            normalize_advantage=normalize_advantage,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            target_kl=target_kl,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    def _setup_model(self) -> None:
        if self.rollout_buffer_class in (None, RolloutBuffer, DictRolloutBuffer):
            if isinstance(self.observation_space, spaces.Dict):
                self.rollout_buffer_class = GpuDictRolloutBuffer
            else:
                self.rollout_buffer_class = GpuRolloutBuffer
        # A saved model keeps the device buffers' own keywords apart (see save).
        saved = self.__dict__.pop("device_buffer_kwargs", None)
        if saved:
            self.rollout_buffer_kwargs = {**(self.rollout_buffer_kwargs or {}), **saved}
        # On one torch thread: SB3's orthogonal initialisation gave other weights on two
        # threads than on one (a seed's model must not depend on the thread count).
        with one_torch_thread():
            super()._setup_model()

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """SB3's ``save``. Where the zip leaves the default device buffer out (so that stock
        SB3 loads the model, building its own ``RolloutBuffer``), the device buffers' own
        ``rollout_buffer_kwargs`` (``gae_backend``, ``shuffle_on_device``), which SB3's buffer
        would refuse, are saved apart, as ``device_buffer_kwargs``, and put back on load."""
        given = self.rollout_buffer_kwargs
        device_only = {k: v for k, v in (given or {}).items() if k in DEVICE_BUFFER_KWARGS}
        if not device_only or "rollout_buffer_class" not in self._excluded_save_params():
            return super().save(path, exclude, include)
        self.rollout_buffer_kwargs = {k: v for k, v in given.items() if k not in device_only}
        self.device_buffer_kwargs = device_only
        try:
            super().save(path, exclude, include)
        finally:
            self.rollout_buffer_kwargs = given
            del self.device_buffer_kwargs

    def _excluded_save_params(self) -> list[str]:
        # The default device buffer is an implementation detail: leaving it out of the zip lets
        # stock SB3 load the model without thrust_algos installed (it then picks RolloutBuffer).
        excluded = super()._excluded_save_params()
        if self.rollout_buffer_class in (GpuRolloutBuffer, GpuDictRolloutBuffer):
            excluded.append("rollout_buffer_class")
        # The fast path is rebuilt from the policy; ``lean`` is saved only when switched off.
        excluded.extend(
            [
                *_REBUILT_ON_USE,
                "rollout_path",
                "_fused_base_seed",
                "_fused_rollouts",
                "_graph_failed",
                "_update_graph_failed",
                "update_path",
            ]
        )
        if self.lean:
            excluded.append("lean")
        if self.fused:
            excluded.append("fused")
        if self.cuda_graphs:
            excluded.append("cuda_graphs")
        if not self.double_buffer:
            excluded.append("double_buffer")
        return excluded

    def __getstate__(self) -> dict[str, Any]:
        # A pickled model (multiprocessing, joblib, Ray) leaves out the fast path's caches:
        # compiled kernels do not pickle, and views of the optimizer's tensors would be
        # copied apart from them; each is rebuilt on its first use.
        state = self.__dict__.copy()
        for name in _REBUILT_ON_USE:
            state[name] = None
        return state

    def _lean_actor_critic(self) -> LeanActorCritic | None:
        """The lean fast path of the current policy, or None (``lean=False`` or a policy it does
        not handle). Rebuilt whenever the policy or its parameters are other objects."""
        if not self.lean:
            return None
        if self._lean is None or not self._lean.matches(self.policy):
            self._lean = LeanActorCritic.from_policy(self.policy)
        return self._lean

    def set_random_seed(self, seed: int | None = None) -> None:
        """SB3's (Python's, numpy's and torch's generators, the action space, the env), and the
        fused rollout's action streams start over from ``seed``: SB3's path draws its actions
        from torch's generator, which this call seeds, so ``model.set_random_seed(s)`` decides
        the next rollouts' draws on either path. Called with the model's ``seed`` when it is
        built or loaded."""
        super().set_random_seed(seed)
        if seed is not None:
            self._fused_base_seed = int(seed) % 2**64
            self._fused_rollouts = 0

    def _fused_seed(self) -> int:
        """The base seed of the fused rollout's action streams: the last
        :meth:`set_random_seed`'s (the model's seed), else one drawn once from torch's default
        generator, the one SB3 samples its actions from: a script that seeds it
        (``stable_baselines3.common.utils.set_random_seed``, ``torch.manual_seed``) instead of
        passing ``seed=`` replays its training, as on SB3's path."""
        if self._fused_base_seed is None:
            self._fused_base_seed = int(th.randint(0, 2**63 - 1, (), dtype=th.int64).item())
        return self._fused_base_seed

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

        One structure, three ways to fill the buffer between ``on_rollout_start`` and GAE
        (the stepwise one with a staged variant):

        - fused (:mod:`thrust_algos.fused`): a Thrust env and the lean MLP on the CPU, the whole
          rollout in one compiled call, the steps replayed to ``callback`` afterwards;
        - stepwise, staged (:func:`thrust_algos.device_rollout.collect_staged`): an env with a
          ``step_into`` hook (Thrust's single-agent VecEnv, unwrapped) writes into host staging
          buffers (pinned on CUDA), uploaded without blocking; rewards, starts and the
          time-limit bootstrap (one masked value forward per step) settled once per rollout;
          one synchronisation per step (the actions the env needs);
        - device (:func:`thrust_algos.device_rollout.collect_on_device`): the SB3 view of a
          ``thrust_envs.cuda`` device env on the model's device, the whole rollout there;
        - stepwise (:meth:`_collect_stepwise`): SB3's per-step loop, for everything else.

        A buffer that is not a ``GpuRolloutBuffer``, or a subclass of this class that overrides
        ``_update_info_buffer`` (SB3's per-step episode bookkeeping, which the other ways do
        not call), takes SB3's own ``collect_rollouts``.

        ``self.rollout_path`` says which ran: ``"fused"``, ``"device"``, or
        ``"stepwise: <why not fused>"`` (``"stepwise (staged): <why not fused>"`` for the staged
        step, ``"stepwise: not on the device: <why>"`` for a device env's view).

        :param env: The training environment
        :param callback: Callback called at each step (and at the start and end of the rollout)
        :param rollout_buffer: Buffer to fill
        :param n_rollout_steps: Number of steps to collect per environment
        :return: False if a callback stopped training early, True otherwise
        """
        if not isinstance(rollout_buffer, GpuRolloutBuffer):
            self.rollout_path = "stepwise: SB3's own rollout (the buffer is not a GpuRolloutBuffer)"
            return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        if type(self)._update_info_buffer is not SB3PPO._update_info_buffer:
            # A subclass's own episode bookkeeping: only SB3's loop calls it every step.
            self.rollout_path = (
                f"stepwise: SB3's own rollout ({type(self).__name__} overrides "
                "_update_info_buffer, which the other rollouts do not call)"
            )
            return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        assert self._last_obs is not None, "No previous observation was provided"
        self.policy.set_training_mode(False)
        lean = self._lean_actor_critic()
        on_device = device_plan(self, env, rollout_buffer)
        fused: FusedRollout | str | None = None
        staged: str | None = None
        if on_device is None:
            self.rollout_path = "device"
        else:
            if self.use_sde:
                fused = "use_sde"
            elif self.double_buffer:
                fused = "double_buffer=True"
            else:
                fused = fused_plan(self, env, rollout_buffer, lean)
            if not isinstance(fused, FusedRollout):
                staged = staged_plan(self, env, rollout_buffer)
            if isinstance(fused, FusedRollout):
                self.rollout_path = "fused"
            elif callable(getattr(type(env), "device_step", None)):
                self.rollout_path = f"stepwise: not on the device: {on_device}"
            elif staged is None:
                split = ", double-buffered" if self.double_buffer and env.num_envs >= 2 else ""
                self.rollout_path = f"stepwise (staged{split}): {fused}"
            else:
                self.rollout_path = f"stepwise: {fused}; not staged: {staged}"

        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)

        callback.on_rollout_start()

        if on_device is None:
            outcome = collect_on_device(self, env, callback, rollout_buffer, n_rollout_steps, lean)
        elif isinstance(fused, FusedRollout):
            outcome = fused.collect(self, callback, n_rollout_steps)
        elif staged is None:
            outcome = collect_staged(
                self, env, callback, rollout_buffer, n_rollout_steps, lean, self.double_buffer
            )
        else:
            outcome = self._collect_stepwise(env, callback, rollout_buffer, n_rollout_steps, lean)
        if outcome is None:
            return False
        values, dones = outcome

        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)

        callback.update_locals(locals())

        callback.on_rollout_end()

        return True

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        """SB3's ``_wrap_env``, and a ``thrust_envs.cuda`` device env becomes its SB3 view
        (``env.as_sb3_vec_env()``), whose rollout then stays on the device."""
        as_vec_env = getattr(type(env), "as_sb3_vec_env", None)
        if callable(as_vec_env) and not isinstance(env, VecEnv):
            env = env.as_sb3_vec_env()  # type: ignore[union-attr]
        return SB3PPO._wrap_env(env, verbose, monitor_wrapper)

    def _collect_stepwise(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: GpuRolloutBuffer,
        n_rollout_steps: int,
        lean: LeanActorCritic | None,
    ) -> tuple[th.Tensor, np.ndarray] | None:
        """SB3's per-step rollout loop into ``rollout_buffer``. Returns the values of the last
        observations and the last dones (for GAE), or None if a callback stopped training."""
        n_steps = 0
        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)

            with th.no_grad():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
                if lean is None:
                    action_tensor, values, log_probs = self.policy(obs_tensor)
                else:
                    action_tensor, values, log_probs = lean.act(obs_tensor)
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
            # Any real dtype a VecEnv sends (int64 rewards train in stock SB3): float32, as the
            # buffer stores them, before the in-place time-limit bootstrap adds float values.
            rewards = np.asarray(rewards, dtype=np.float32)

            self.num_timesteps += env.num_envs

            # Give access to local variables (the same names and types as in SB3)
            callback.update_locals(locals())
            if not callback.on_step():
                return None

            done_envs = np.flatnonzero(dones)
            self._update_done_info_buffer(infos, done_envs)
            n_steps += 1

            # Handle timeout by bootstrapping with the value function (SB3 issue #633), batched.
            self._bootstrap_truncated(rewards, infos, done_envs, lean)

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
            value_model = self.policy if lean is None else lean
            values = value_model.predict_values(obs_as_tensor(new_obs, self.device))  # type: ignore[arg-type]
        return values, dones

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
        self,
        rewards: np.ndarray,
        infos: list[dict[str, Any]],
        done_envs: np.ndarray,
        lean: LeanActorCritic | None = None,
    ) -> None:
        """Add ``gamma * V(terminal observation)`` to the rewards of time-limit truncated episodes,
        in place, with one value forward for all of them.

        :param rewards: Rewards of this step, ``(n_envs,)``, modified in place
        :param infos: Infos of this step
        :param done_envs: Indices of the environments whose episode ended this step
        :param lean: The policy's lean fast path, if the rollout uses one
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
            value_model = self.policy if lean is None else lean
            terminal_values = value_model.predict_values(obs_tensor).flatten()  # type: ignore[arg-type]
        rewards[truncated] += (self.gamma * terminal_values).cpu().numpy()

    def train(self) -> None:
        """
        Update policy using the currently gathered rollout buffer: SB3's PPO update, with the
        per-minibatch statistics kept on the device and read back once, and the lean loss and
        backward of :class:`~thrust_algos.lean.LeanActorCritic` where the policy allows it.
        """
        if not isinstance(self.rollout_buffer, GpuRolloutBuffer):
            self.update_path = "autograd: SB3's train (the buffer is not a GpuRolloutBuffer)"
            return super().train()
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update optimizer learning rate
        self._update_learning_rate(self.policy.optimizer)
        # Compute current clip range
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        # Optional: clip range for the value function
        clip_range_vf: float | None = None
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]
        lean = self._lean_actor_critic()
        tiny_clip = _tiny_clip_range(clip_range, clip_range_vf)
        if tiny_clip is not None:
            lean = None  # this update only: autograd, which SB3's ties need
        adam = None
        if lean is not None:
            enable_fused_adam(self.policy.optimizer)
            # clip_grad_norm_ + Adam as one compiled call where the optimizer allows it
            adam = self._lean_adam
            if adam is None or not adam.matches(self.policy.optimizer, lean.parameters):
                adam = self._lean_adam = LeanAdam.for_optimizer(
                    self.policy.optimizer, lean.parameters
                )
            else:
                adam.refresh()

        # One epoch, one compiled call (CPU, lean networks, LeanAdam): see _lean_update.
        epochs = None
        if adam is not None:
            from thrust_algos._lean_update import LeanEpochs  # numba kernels: imported on use

            epochs = self._lean_epochs
            if not (isinstance(epochs, LeanEpochs) and epochs.matches(
                lean, adam, self.rollout_buffer, self.batch_size
            )):  # fmt: skip
                epochs = LeanEpochs.for_update(lean, adam, self.rollout_buffer, self.batch_size)
                self._lean_epochs = epochs
        graph_reason = graph_plan(self, lean, adam)
        if epochs is not None and not isinstance(epochs, str):
            self.update_path = "epoch kernel"
            losses = self._train_epoch_kernel(epochs, clip_range, clip_range_vf)
        elif lean is not None and graph_reason is None:
            self.update_path = "lean per minibatch, CUDA graph"
            losses = self._train_graphed(lean, clip_range, clip_range_vf)
        else:
            if lean is None:
                self.update_path = "autograd" if tiny_clip is None else f"autograd: {tiny_clip}"
            else:
                why = epochs or "the optimizer is not LeanAdam"
                # Off CUDA a graph is never a question: the epoch kernel's reason is the one.
                on_cuda = self.device.type == "cuda"
                graph_note = f"; no CUDA graph: {graph_reason}" if on_cuda else ""
                self.update_path = f"lean per minibatch: {why}{graph_note}"
            losses = self._train_minibatches(lean, adam, clip_range, clip_range_vf)

        # One device -> host transfer for every statistic of this update.
        buffer = self.rollout_buffer
        explained = _explained_variance(buffer.values_tensor, buffer.returns_tensor)
        stats = th.stack([*losses, explained]).tolist()
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

    def _train_minibatches(
        self,
        lean: LeanActorCritic | None,
        adam: LeanAdam | None,
        clip_range: float,
        clip_range_vf: float | None,
    ) -> tuple[th.Tensor, ...]:
        """SB3's epochs and minibatches, the loss from the lean path or autograd; returns the
        update's mean entropy, policy and value losses, the last epoch's mean approximate KL,
        the mean clip fraction and the last loss, as 0-d tensors on the device."""
        # Lists of 0-d tensors on the device: no host synchronisation inside the loop.
        entropy_losses: list[th.Tensor] = []
        pg_losses: list[th.Tensor] = []
        value_losses: list[th.Tensor] = []
        clip_fractions: list[th.Tensor] = []
        approx_kl_divs: list[th.Tensor] = []

        continue_training = True
        kl_limit = None if self.target_kl is None else 1.5 * self.target_kl
        # train for n_epochs epochs
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            # Do a complete pass on the rollout buffer
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                if lean is None:
                    stats = self._autograd_loss(rollout_data, clip_range, clip_range_vf)
                else:
                    # Loss and statistics, with the gradients already in param.grad (none
                    # written for a minibatch that stops the update, as in SB3).
                    stats = lean.ppo_backward(
                        rollout_data,
                        clip_range,
                        clip_range_vf,
                        self.ent_coef,
                        self.vf_coef,
                        self.normalize_advantage,
                        kl_limit,
                    )
                last_loss = stats.loss.detach()
                pg_losses.append(stats.policy_loss.detach())
                value_losses.append(stats.value_loss.detach())
                entropy_losses.append(stats.entropy_loss.detach())
                clip_fractions.append(stats.clip_fraction)
                approx_kl_div = stats.approx_kl
                approx_kl_divs.append(approx_kl_div)

                # The per-minibatch synchronisation (the lean backward reads the same KL before it
                # writes gradients), and only when early stopping is on.
                if kl_limit is not None and approx_kl_div.item() > kl_limit:
                    continue_training = False
                    if self.verbose >= 1:
                        print(
                            f"Early stopping at step {epoch} due to reaching max kl: "
                            f"{approx_kl_div.item():.2f}"
                        )
                    break

                # Optimization step
                if lean is None:
                    self.policy.optimizer.zero_grad()
                    stats.loss.backward()
                    # Clip grad norm
                    th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                elif adam is None:
                    th.nn.utils.clip_grad_norm_(lean.parameters, self.max_grad_norm, foreach=True)
                if adam is None:
                    self.policy.optimizer.step()
                else:
                    adam.step(self.max_grad_norm)

            self._n_updates += 1
            if not continue_training:
                break

        return (
            _mean(entropy_losses, self.device),
            _mean(pg_losses, self.device),
            _mean(value_losses, self.device),
            _mean(approx_kl_divs, self.device),
            _mean(clip_fractions, self.device),
            last_loss,
        )

    def _train_graphed(
        self, lean: LeanActorCritic, clip_range: float, clip_range_vf: float | None
    ) -> tuple[th.Tensor, ...]:
        """:meth:`_train_minibatches` with each minibatch's step replayed from a CUDA graph
        (:mod:`thrust_algos.graphed_update`); the same parameters after the update, the same
        statistics to float rounding."""
        step = self._graphed_update
        if not (isinstance(step, GraphedMinibatchStep) and step.lean is lean
                and step.indices.shape[0] == self.batch_size):  # fmt: skip
            step = self._graphed_update = GraphedMinibatchStep(self, lean)
        settings = LossSettings(
            clip_range, clip_range_vf, self.ent_coef, self.vf_coef, self.normalize_advantage
        )
        losses = step.run_update(settings, self.n_epochs)
        if not step.capture:
            self.update_path = "lean per minibatch: capturing its CUDA graph failed (warned)"
        return losses

    def _train_epoch_kernel(
        self, epochs: Any, clip_range: float, clip_range_vf: float | None
    ) -> tuple[th.Tensor, ...]:
        """:meth:`_train_minibatches` with every epoch in one compiled call
        (:class:`thrust_algos._lean_update.LeanEpochs`); the same statistics."""
        rows, last_epoch_rows, epochs_done, stopped = epochs.run_update(
            self.n_epochs,
            clip_range,
            clip_range_vf,
            self.ent_coef,
            self.vf_coef,
            self.normalize_advantage,
            self.max_grad_norm,
            self.target_kl,
        )
        self._n_updates += epochs_done
        if stopped and self.verbose >= 1:
            print(
                f"Early stopping at step {epochs_done - 1} due to reaching max kl: "
                f"{rows[-1, 5]:.2f}"
            )
        table = th.from_numpy(rows)
        means = table.mean(0)
        kl = table[-last_epoch_rows:, 5].mean()
        return means[2], means[0], means[1], kl, means[4], table[-1, 3]

    def _autograd_loss(
        self, rollout_data: RolloutBufferSamples, clip_range: float, clip_range_vf: float | None
    ) -> PPOLossStats:
        """SB3's PPO loss on one minibatch through the policy's modules, for autograd: ``loss``
        carries the graph, the statistics do not."""
        actions = rollout_data.actions
        if isinstance(self.action_space, spaces.Discrete):
            # Convert discrete action from float to long
            actions = rollout_data.actions.long().flatten()

        values, log_prob, entropy = self.policy.evaluate_actions(rollout_data.observations, actions)
        values = values.flatten()
        objective = clipped_objective(
            rollout_data, log_prob, values, clip_range, clip_range_vf, self.normalize_advantage
        )
        policy_loss, value_loss = objective.policy_loss, objective.value_loss

        # Entropy loss favor exploration
        if entropy is None:
            # Approximate entropy when no analytical form
            entropy_loss = -th.mean(-log_prob)
        else:
            entropy_loss = -th.mean(entropy)

        loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss

        with th.no_grad():
            ratio, log_ratio = objective.ratio, objective.log_ratio
            clip_fraction = th.mean((th.abs(ratio - 1) > clip_range).float())
            # Approximate reverse KL divergence for early stopping (SB3 issue #417)
            approx_kl_div = th.mean((th.exp(log_ratio) - 1) - log_ratio)
        return PPOLossStats(
            policy_loss, value_loss, entropy_loss, loss, clip_fraction, approx_kl_div
        )


#: The fast path's caches, built from the policy, optimizer and buffer on first use: left out
#: of saved and pickled models.
_REBUILT_ON_USE = ("_lean", "_graphed_act", "_graphed_update", "_lean_adam", "_lean_epochs")


def _mean(values: list[th.Tensor], device: th.device) -> th.Tensor:
    """Mean of a list of 0-d tensors (NaN for an empty list, as ``np.mean([])``)."""
    if not values:
        return th.tensor(float("nan"), device=device)
    return th.stack(values).mean()


#: Below this a clip range is a tie: see :func:`_tiny_clip_range`.
TINY_CLIP_RANGE = 1e-5


def _tiny_clip_range(clip_range: float, clip_range_vf: float | None) -> str | None:
    """Why the lean update cannot reproduce SB3's at these clip ranges, or None.

    At a clip range of (nearly) 0, as a schedule such as ``lambda p: 0.2 * p`` reaches in its
    last update, every row of the first minibatch sits on the clip boundary: SB3's ratio is
    exactly 1 there, so the unclipped gradient flows, while the lean forward's ratio, summed in
    another order, is 1 give or take an ulp and clips about half the rows. Autograd, SB3's
    own arithmetic, decides those ties as SB3 does."""
    for name, value in (("clip_range", clip_range), ("clip_range_vf", clip_range_vf)):
        if value is not None and abs(value) < TINY_CLIP_RANGE:
            return (
                f"{name} {value:g} is below {TINY_CLIP_RANGE:g}, where the ratio's last bit "
                "decides which rows are clipped"
            )
    return None


def _explained_variance(y_pred: th.Tensor, y_true: th.Tensor) -> th.Tensor:
    """SB3's ``explained_variance``, ``1 - Var[y - y_pred] / Var[y]`` (NaN if ``Var[y] == 0``),
    on the device."""
    y_pred, y_true = y_pred.flatten(), y_true.flatten()
    var_y = th.var(y_true, correction=0)
    explained = 1 - th.var(y_true - y_pred, correction=0) / var_y
    return th.where(var_y == 0, th.full_like(explained, float("nan")), explained)
