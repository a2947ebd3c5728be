"""A CleanRL-style PPO on EnvPool's CartPole-v1, for benchmarks/ppo.py's comparison tables.

Written after CleanRL's single-file ``cleanrl/ppo.py`` (Huang et al.,
https://github.com/vwxyzjn/cleanrl), with the envs swapped for EnvPool's as CleanRL's
``*_envpool.py`` scripts do. The algorithm is CleanRL's:

- the ``Agent``: separate actor and critic MLPs (64-64, tanh, or ReLU where the setting asks),
  orthogonal initialisation (gain sqrt(2), 0.01 on the logits, 1 on the value);
- the rollout: ``num_steps`` x ``num_envs`` torch storage, actions sampled from
  ``Categorical(logits=...)``, ``done`` = terminated or truncated (no time-limit bootstrap);
- GAE by the reverse loop over the rollout;
- ``update_epochs`` epochs of ``num_minibatches`` shuffled minibatches: advantages normalised per
  minibatch, the clipped objective, value clipping with ``clip_coef``, the entropy bonus,
  ``clip_grad_norm_`` and Adam (eps 1e-5) with the learning rate annealed linearly.

EnvPool runs the envs in C++ threads (``envpool.make(..., env_type="gymnasium")``, synchronous:
every env each step). It resets a finished env on the *next* step, whose reward is 0 and whose
action is ignored; that step is stored and counted, as in CleanRL's EnvPool scripts, so about one
step in an episode's length is such a reset step.

Imports torch and envpool (``pip install envpool``, Linux); benchmarks/ppo.py imports it only
when envpool is installed.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import envpool
import numpy as np
import torch as th
from torch import nn
from torch.distributions import Categorical


@dataclass(frozen=True)
class Config:
    """CleanRL's ppo.py arguments (its names), for one benchmark setting."""

    env_id: str = "CartPole-v1"
    total_timesteps: int = 500_000
    learning_rate: float = 2.5e-4
    num_envs: int = 4
    num_steps: int = 128
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 4
    norm_adv: bool = True
    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    activation: str = "tanh"  # or "relu"
    adam_kwargs: tuple[tuple[str, Any], ...] = (("eps", 1e-5),)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return max(1, self.total_timesteps // self.batch_size)


def config_from_setting(setting: dict[str, Any], total_timesteps: int) -> Config:
    """CleanRL's config for one of benchmarks/ppo.py's SB3-style settings: the same envs, steps,
    epochs, minibatch size (as ``num_minibatches``), start learning rate (annealed when the
    setting's is a schedule), gamma, lambda, entropy coefficient, activation and Adam arguments
    (SB3's eps default, 1e-5, is CleanRL's too). What CleanRL's algorithm fixes stays its own: a
    constant clip range, value clipping with it."""
    lr = setting.get("learning_rate", 3e-4)
    policy_kwargs = setting.get("policy_kwargs", {})
    activation = policy_kwargs.get("activation_fn")
    adam = {"eps": 1e-5, **policy_kwargs.get("optimizer_kwargs", {})}
    n_samples = setting["n_envs"] * setting["n_steps"]
    return Config(
        total_timesteps=total_timesteps,
        learning_rate=lr(1.0) if callable(lr) else lr,
        num_envs=setting["n_envs"],
        num_steps=setting["n_steps"],
        anneal_lr=callable(lr),
        gamma=setting.get("gamma", 0.99),
        gae_lambda=setting.get("gae_lambda", 0.95),
        num_minibatches=max(1, n_samples // setting.get("batch_size", 64)),
        update_epochs=setting.get("n_epochs", 10),
        ent_coef=setting.get("ent_coef", 0.0),
        activation="relu" if activation is not None and activation.__name__ == "ReLU" else "tanh",
        adam_kwargs=tuple(sorted(adam.items())),
    )


def _layer(n_in: int, n_out: int, std: float = float(np.sqrt(2))) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, 0.0)
    return layer


class Agent(nn.Module):
    """CleanRL's actor-critic: two MLPs of ``features -> 64 -> 64``, logits and value heads."""

    def __init__(self, features: int, n_actions: int, activation: str) -> None:
        super().__init__()
        act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
        self.critic = nn.Sequential(
            _layer(features, 64), act(), _layer(64, 64), act(), _layer(64, 1, std=1.0)
        )
        self.actor = nn.Sequential(
            _layer(features, 64), act(), _layer(64, 64), act(), _layer(64, n_actions, std=0.01)
        )

    def get_value(self, x: th.Tensor) -> th.Tensor:
        return self.critic(x)

    def get_action_and_value(
        self, x: th.Tensor, action: th.Tensor | None = None
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        probs = Categorical(logits=self.actor(x))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x)


class CleanRLPPO:
    """CleanRL's training loop, one ``update()`` (rollout, GAE, epochs) per call, so that the
    benchmark can pause between updates to evaluate. Seeded like ppo.py: torch's global RNG
    (action sampling, initialisation) from ``seed``, EnvPool's envs from ``seed``, the
    minibatch shuffles from a numpy generator of ``seed``."""

    def __init__(self, config: Config, seed: int) -> None:
        if config.minibatch_size < 1:
            raise ValueError(
                f"num_minibatches {config.num_minibatches} > batch {config.batch_size}"
            )
        self.config = config
        th.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        with warnings.catch_warnings():  # EnvPool's float64 Box bounds, cast by Gymnasium
            warnings.filterwarnings("ignore", message=".*precision lowered", category=UserWarning)
            self.envs = envpool.make(
                config.env_id, env_type="gymnasium", num_envs=config.num_envs, seed=seed
            )
            observation_space, action_space = self.envs.observation_space, self.envs.action_space
        if not hasattr(action_space, "n"):
            raise ValueError(f"{config.env_id}: CleanRL's ppo.py takes Discrete actions only")
        self.obs_shape = tuple(observation_space.shape)
        self.agent = Agent(int(np.prod(self.obs_shape)), int(action_space.n), config.activation)
        self.optimizer = th.optim.Adam(
            self.agent.parameters(), lr=config.learning_rate, **dict(config.adam_kwargs)
        )
        steps, envs = config.num_steps, config.num_envs
        self.obs = th.zeros((steps, envs, *self.obs_shape))
        self.actions = th.zeros((steps, envs))
        self.logprobs = th.zeros((steps, envs))
        self.rewards = th.zeros((steps, envs))
        self.dones = th.zeros((steps, envs))
        self.values = th.zeros((steps, envs))
        next_obs, _ = self.envs.reset()
        self.next_obs = th.as_tensor(next_obs, dtype=th.float32)
        self.next_done = th.zeros(envs)
        self.num_timesteps = 0
        self.updates_done = 0
        self.stats: dict[str, float] = {}  # the last update's approx_kl, clipfrac, explained var.

    def update(self) -> tuple[float, float]:
        """One rollout and one PPO update; returns their seconds (rollout, update)."""
        c = self.config
        start = time.perf_counter()
        if c.anneal_lr:
            frac = 1.0 - self.updates_done / c.num_updates
            self.optimizer.param_groups[0]["lr"] = frac * c.learning_rate
        for step in range(c.num_steps):
            self.num_timesteps += c.num_envs
            self.obs[step] = self.next_obs
            self.dones[step] = self.next_done
            with th.no_grad():
                action, logprob, _, value = self.agent.get_action_and_value(self.next_obs)
                self.values[step] = value.flatten()
            self.actions[step] = action
            self.logprobs[step] = logprob
            next_obs, reward, terminated, truncated, _ = self.envs.step(action.numpy())
            self.rewards[step] = th.as_tensor(reward, dtype=th.float32)
            self.next_obs = th.as_tensor(next_obs, dtype=th.float32)
            self.next_done = th.as_tensor(np.logical_or(terminated, truncated), dtype=th.float32)
        rollout = time.perf_counter() - start
        start = time.perf_counter()
        self._train()
        self.updates_done += 1
        return rollout, time.perf_counter() - start

    def _train(self) -> None:
        c = self.config
        with th.no_grad():  # GAE, bootstrapped from the value of the next observation
            next_value = self.agent.get_value(self.next_obs).reshape(1, -1)
            advantages = th.zeros_like(self.rewards)
            last = th.zeros(c.num_envs)
            for t in reversed(range(c.num_steps)):
                if t == c.num_steps - 1:
                    nonterminal, next_values = 1.0 - self.next_done, next_value
                else:
                    nonterminal, next_values = 1.0 - self.dones[t + 1], self.values[t + 1]
                delta = self.rewards[t] + c.gamma * next_values * nonterminal - self.values[t]
                advantages[t] = last = delta + c.gamma * c.gae_lambda * nonterminal * last
            returns = advantages + self.values
        b_obs = self.obs.reshape((-1, *self.obs_shape))
        b_logprobs, b_actions = self.logprobs.reshape(-1), self.actions.reshape(-1).long()
        b_advantages, b_returns = advantages.reshape(-1), returns.reshape(-1)
        b_values = self.values.reshape(-1)
        indices = np.arange(c.batch_size)
        clipfracs: list[float] = []
        for _ in range(c.update_epochs):
            self.rng.shuffle(indices)
            for begin in range(0, c.batch_size, c.minibatch_size):
                mb = th.as_tensor(indices[begin : begin + c.minibatch_size])
                _, newlogprob, entropy, newvalue = self.agent.get_action_and_value(
                    b_obs[mb], b_actions[mb]
                )
                logratio = newlogprob - b_logprobs[mb]
                ratio = logratio.exp()
                with th.no_grad():  # the statistics ppo.py logs (SB3's sides compute them too)
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs.append(((ratio - 1.0).abs() > c.clip_coef).float().mean().item())
                mb_advantages = b_advantages[mb]
                if c.norm_adv:
                    mb_advantages = (mb_advantages - mb_advantages.mean()) / (
                        mb_advantages.std() + 1e-8
                    )
                pg_loss = th.max(
                    -mb_advantages * ratio,
                    -mb_advantages * th.clamp(ratio, 1 - c.clip_coef, 1 + c.clip_coef),
                ).mean()
                newvalue = newvalue.view(-1)
                if c.clip_vloss:
                    unclipped = (newvalue - b_returns[mb]) ** 2
                    clipped = b_values[mb] + th.clamp(
                        newvalue - b_values[mb], -c.clip_coef, c.clip_coef
                    )
                    v_loss = 0.5 * th.max(unclipped, (clipped - b_returns[mb]) ** 2).mean()
                else:
                    v_loss = 0.5 * ((newvalue - b_returns[mb]) ** 2).mean()
                loss = pg_loss - c.ent_coef * entropy.mean() + c.vf_coef * v_loss
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.agent.parameters(), c.max_grad_norm)
                self.optimizer.step()
            if c.target_kl is not None and approx_kl > c.target_kl:
                break  # ppo.py's early stop, checked after each epoch
        y_pred, y_true = b_values.numpy(), b_returns.numpy()
        var_y = np.var(y_true)
        self.stats = {
            "approx_kl": float(approx_kl),
            "clipfrac": float(np.mean(clipfracs)),
            "explained_variance": np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y,
        }

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """SB3's ``predict`` (so that ``evaluate_policy`` plays it): the most likely action
        when ``deterministic``, else a sample."""
        with th.no_grad():
            logits = self.agent.actor(th.as_tensor(observation, dtype=th.float32))
            if deterministic:
                return logits.argmax(dim=-1).numpy(), None
            return Categorical(logits=logits).sample().numpy(), None

    def close(self) -> None:
        self.envs.close()
