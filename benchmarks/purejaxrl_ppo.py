"""A PureJaxRL-style PPO (JAX + gymnax, CPU), for benchmarks/ppo.py's comparison table.

Written after PureJaxRL's ``purejaxrl/ppo.py`` (Lu et al., "Discovered policy optimisation",
https://github.com/luchris429/purejaxrl): the same flax ``ActorCritic`` (two separate MLPs,
orthogonal initialisation, tanh or relu), the same rollout (``jax.lax.scan`` over ``NUM_STEPS``
of ``jax.vmap``-ed gymnax envs with auto-reset), GAE by a reverse scan, ``UPDATE_EPOCHS`` epochs
of ``NUM_MINIBATCHES`` shuffled minibatches, the clipped loss with value clipping, and optax's
``clip_by_global_norm`` + Adam with optional linear annealing; the whole training loop is one
jitted function. Two things are added for the benchmark: ``make_train(config, n_updates)`` runs
a chunk of updates from a given state (so that time-to-solve can pause to evaluate between
chunks, as the other sides do) and :func:`evaluate` plays deterministic episodes.

Imports jax, flax, optax and gymnax (``pip install jax jaxlib gymnax``; not distrax:
:class:`Categorical` stands in); benchmarks/ppo.py imports it only when they are installed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.linen.initializers import constant, orthogonal
from flax.training.train_state import TrainState
from gymnax.wrappers.purerl import FlattenObservationWrapper, LogWrapper

# PureJaxRL's CartPole defaults (purejaxrl/ppo.py, __main__).
DEFAULT_CONFIG: dict[str, Any] = {
    "LR": 2.5e-4,
    "NUM_ENVS": 4,
    "NUM_STEPS": 128,
    "TOTAL_TIMESTEPS": 5e5,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "ACTIVATION": "tanh",
    "ENV_NAME": "CartPole-v1",
    "ANNEAL_LR": True,
    "ADAM_EPS": 1e-5,
}


class Categorical(NamedTuple):
    """The three methods of ``distrax.Categorical(logits=...)`` PureJaxRL uses (distrax is not
    installed here): sampling is ``jax.random.categorical``, as distrax's."""

    logits: jnp.ndarray

    def sample(self, seed):
        return jax.random.categorical(seed, self.logits, axis=-1)

    def log_prob(self, value):
        log_p = jax.nn.log_softmax(self.logits, axis=-1)
        return jnp.take_along_axis(log_p, value[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self):
        log_p = jax.nn.log_softmax(self.logits, axis=-1)
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


class ActorCritic(nn.Module):
    action_dim: Sequence[int]
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x):
        activation = nn.relu if self.activation == "relu" else nn.tanh
        actor_mean = nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x)
        actor_mean = activation(actor_mean)
        actor_mean = nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(
            actor_mean
        )
        actor_mean = activation(actor_mean)
        actor_mean = nn.Dense(
            self.action_dim, kernel_init=orthogonal(0.01), bias_init=constant(0.0)
        )(actor_mean)
        pi = Categorical(logits=actor_mean)

        critic = nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x)
        critic = activation(critic)
        critic = nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(critic)
        critic = activation(critic)
        critic = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0))(critic)
        return pi, jnp.squeeze(critic, axis=-1)


class Transition(NamedTuple):
    done: jnp.ndarray
    action: jnp.ndarray
    value: jnp.ndarray
    reward: jnp.ndarray
    log_prob: jnp.ndarray
    obs: jnp.ndarray
    info: jnp.ndarray


def make_env(config: dict[str, Any]):
    env, env_params = gymnax.make(config["ENV_NAME"])
    env = FlattenObservationWrapper(env)
    env = LogWrapper(env)
    return env, env_params


def make_init(config: dict[str, Any]):
    """``init(rng) -> runner_state``: network, optimizer and envs, as PureJaxRL's train() starts."""
    env, env_params = make_env(config)
    num_updates = int(config["TOTAL_TIMESTEPS"] // config["NUM_STEPS"] // config["NUM_ENVS"])
    minibatch_size = config["NUM_ENVS"] * config["NUM_STEPS"] // config["NUM_MINIBATCHES"]
    config["NUM_UPDATES"], config["MINIBATCH_SIZE"] = num_updates, minibatch_size

    def linear_schedule(count):
        frac = 1.0 - (count // (config["NUM_MINIBATCHES"] * config["UPDATE_EPOCHS"])) / num_updates
        return config["LR"] * frac

    def init(rng):
        network = ActorCritic(env.action_space(env_params).n, activation=config["ACTIVATION"])
        rng, _rng = jax.random.split(rng)
        init_x = jnp.zeros(env.observation_space(env_params).shape)
        network_params = network.init(_rng, init_x)
        learning_rate = linear_schedule if config["ANNEAL_LR"] else config["LR"]
        tx = optax.chain(
            optax.clip_by_global_norm(config["MAX_GRAD_NORM"]),
            optax.adam(learning_rate, eps=config["ADAM_EPS"]),
        )
        train_state = TrainState.create(apply_fn=network.apply, params=network_params, tx=tx)
        rng, _rng = jax.random.split(rng)
        reset_rng = jax.random.split(_rng, config["NUM_ENVS"])
        obsv, env_state = jax.vmap(env.reset, in_axes=(0, None))(reset_rng, env_params)
        return (train_state, env_state, obsv, rng)

    return init


def make_train(config: dict[str, Any], n_updates: int):
    """``train(runner_state) -> (runner_state, metrics)``: ``n_updates`` of PureJaxRL's
    ``_update_step`` in one ``jax.lax.scan`` (PureJaxRL scans over all ``NUM_UPDATES``)."""
    env, env_params = make_env(config)
    network = ActorCritic(env.action_space(env_params).n, activation=config["ACTIVATION"])

    def _update_step(runner_state, unused):
        # COLLECT TRAJECTORIES
        def _env_step(runner_state, unused):
            train_state, env_state, last_obs, rng = runner_state
            rng, _rng = jax.random.split(rng)
            pi, value = network.apply(train_state.params, last_obs)
            action = pi.sample(seed=_rng)
            log_prob = pi.log_prob(action)
            rng, _rng = jax.random.split(rng)
            rng_step = jax.random.split(_rng, config["NUM_ENVS"])
            obsv, env_state, reward, terminated, truncated, info = jax.vmap(
                env.step, in_axes=(0, 0, 0, None)
            )(rng_step, env_state, action, env_params)
            # gymnax >= 1.0 splits PureJaxRL's done; PureJaxRL treats both as the end.
            done = jnp.logical_or(terminated, truncated)
            transition = Transition(done, action, value, reward, log_prob, last_obs, info)
            runner_state = (train_state, env_state, obsv, rng)
            return runner_state, transition

        runner_state, traj_batch = jax.lax.scan(_env_step, runner_state, None, config["NUM_STEPS"])

        # CALCULATE ADVANTAGE
        train_state, env_state, last_obs, rng = runner_state
        _, last_val = network.apply(train_state.params, last_obs)

        def _calculate_gae(traj_batch, last_val):
            def _get_advantages(gae_and_next_value, transition):
                gae, next_value = gae_and_next_value
                done, value, reward = transition.done, transition.value, transition.reward
                delta = reward + config["GAMMA"] * next_value * (1 - done) - value
                gae = delta + config["GAMMA"] * config["GAE_LAMBDA"] * (1 - done) * gae
                return (gae, value), gae

            _, advantages = jax.lax.scan(
                _get_advantages,
                (jnp.zeros_like(last_val), last_val),
                traj_batch,
                reverse=True,
                unroll=16,
            )
            return advantages, advantages + traj_batch.value

        advantages, targets = _calculate_gae(traj_batch, last_val)

        # UPDATE NETWORK
        def _update_epoch(update_state, unused):
            def _update_minbatch(train_state, batch_info):
                traj_batch, advantages, targets = batch_info

                def _loss_fn(params, traj_batch, gae, targets):
                    pi, value = network.apply(params, traj_batch.obs)
                    log_prob = pi.log_prob(traj_batch.action)
                    value_pred_clipped = traj_batch.value + (value - traj_batch.value).clip(
                        -config["CLIP_EPS"], config["CLIP_EPS"]
                    )
                    value_losses = jnp.square(value - targets)
                    value_losses_clipped = jnp.square(value_pred_clipped - targets)
                    value_loss = 0.5 * jnp.maximum(value_losses, value_losses_clipped).mean()
                    ratio = jnp.exp(log_prob - traj_batch.log_prob)
                    gae = (gae - gae.mean()) / (gae.std() + 1e-8)
                    loss_actor1 = ratio * gae
                    loss_actor2 = (
                        jnp.clip(ratio, 1.0 - config["CLIP_EPS"], 1.0 + config["CLIP_EPS"]) * gae
                    )
                    loss_actor = -jnp.minimum(loss_actor1, loss_actor2).mean()
                    entropy = pi.entropy().mean()
                    total_loss = (
                        loss_actor + config["VF_COEF"] * value_loss - config["ENT_COEF"] * entropy
                    )
                    return total_loss, (value_loss, loss_actor, entropy)

                grad_fn = jax.value_and_grad(_loss_fn, has_aux=True)
                total_loss, grads = grad_fn(train_state.params, traj_batch, advantages, targets)
                train_state = train_state.apply_gradients(grads=grads)
                return train_state, total_loss

            train_state, traj_batch, advantages, targets, rng = update_state
            rng, _rng = jax.random.split(rng)
            batch_size = config["MINIBATCH_SIZE"] * config["NUM_MINIBATCHES"]
            permutation = jax.random.permutation(_rng, batch_size)
            batch = (traj_batch, advantages, targets)
            batch = jax.tree_util.tree_map(lambda x: x.reshape((batch_size,) + x.shape[2:]), batch)
            shuffled_batch = jax.tree_util.tree_map(
                lambda x: jnp.take(x, permutation, axis=0), batch
            )
            minibatches = jax.tree_util.tree_map(
                lambda x: jnp.reshape(x, [config["NUM_MINIBATCHES"], -1] + list(x.shape[1:])),
                shuffled_batch,
            )
            train_state, total_loss = jax.lax.scan(_update_minbatch, train_state, minibatches)
            update_state = (train_state, traj_batch, advantages, targets, rng)
            return update_state, total_loss

        update_state = (train_state, traj_batch, advantages, targets, rng)
        update_state, loss_info = jax.lax.scan(
            _update_epoch, update_state, None, config["UPDATE_EPOCHS"]
        )
        train_state = update_state[0]
        metric = traj_batch.info
        rng = update_state[-1]
        runner_state = (train_state, env_state, last_obs, rng)
        return runner_state, metric

    def train(runner_state):
        return jax.lax.scan(_update_step, runner_state, None, n_updates)

    return jax.jit(train)


def make_evaluate(config: dict[str, Any], n_episodes: int, max_steps: int = 500):
    """``evaluate(params, rng) -> mean return`` of ``n_episodes`` deterministic (argmax)
    episodes on gymnax's env, jitted."""
    env, env_params = make_env(config)
    network = ActorCritic(env.action_space(env_params).n, activation=config["ACTIVATION"])

    def evaluate(params, rng):
        reset_rng = jax.random.split(rng, n_episodes)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_rng, env_params)

        def step(carry, unused):
            obs, state, rng, returns, alive = carry
            pi, _ = network.apply(params, obs)
            action = jnp.argmax(pi.logits, axis=-1)
            rng, _rng = jax.random.split(rng)
            step_rng = jax.random.split(_rng, n_episodes)
            obs, state, reward, terminated, truncated, _ = jax.vmap(
                env.step, in_axes=(0, 0, 0, None)
            )(step_rng, state, action, env_params)
            done = jnp.logical_or(terminated, truncated)
            returns = returns + reward * alive
            alive = alive * (1 - done)
            return (obs, state, rng, returns, alive), None

        carry = (obs, state, rng, jnp.zeros(n_episodes), jnp.ones(n_episodes))
        carry, _ = jax.lax.scan(step, carry, None, max_steps)
        return carry[3].mean()

    return jax.jit(evaluate)


# --- the benchmark's glue ------------------------------------------------------------------------

_jitted: dict[tuple, Any] = {}


def config_from_setting(setting: dict[str, Any], total_timesteps: int) -> dict[str, Any]:
    """PureJaxRL's config for one of benchmarks/ppo.py's SB3-style settings: the same envs,
    steps, epochs, minibatch size (as ``NUM_MINIBATCHES``), start learning rate (annealed
    linearly when the setting's is a schedule), gamma, lambda, entropy coefficient, activation
    and Adam eps (SB3's PPO default, 1e-5). What PureJaxRL's algorithm fixes stays its own: a
    constant clip range, value clipping with it, 0.5 * vf_coef on the value loss."""
    lr = setting.get("learning_rate", 3e-4)
    policy_kwargs = setting.get("policy_kwargs", {})
    activation = policy_kwargs.get("activation_fn")
    n_samples = setting["n_envs"] * setting["n_steps"]
    return {
        **DEFAULT_CONFIG,
        "NUM_ENVS": setting["n_envs"],
        "NUM_STEPS": setting["n_steps"],
        "TOTAL_TIMESTEPS": total_timesteps,
        "UPDATE_EPOCHS": setting.get("n_epochs", 10),
        "NUM_MINIBATCHES": max(1, n_samples // setting.get("batch_size", 64)),
        "LR": lr(1.0) if callable(lr) else lr,
        "ANNEAL_LR": callable(lr),
        "GAMMA": setting.get("gamma", 0.99),
        "GAE_LAMBDA": setting.get("gae_lambda", 0.95),
        "ENT_COEF": setting.get("ent_coef", 0.0),
        "ACTIVATION": "relu"
        if activation is not None and activation.__name__ == "ReLU"
        else "tanh",
        "ADAM_EPS": policy_kwargs.get("optimizer_kwargs", {}).get("eps", 1e-5),
    }


def _functions(config: dict[str, Any], n_updates: int, n_eval: int):
    """(init, train of ``n_updates`` updates, evaluate), jitted once per config."""
    key = (tuple(sorted(config.items())), n_updates, n_eval)
    if key not in _jitted:
        config = dict(config)
        init = jax.jit(make_init(config))
        _jitted[key] = (init, make_train(config, n_updates), make_evaluate(config, n_eval))
    return _jitted[key]


def time_to_solve(
    config: dict[str, Any], seed: int, eval_every: int, n_eval: int, solved_at: float
) -> tuple[bool, int, float, float]:
    """Train in chunks of updates covering ``eval_every`` steps, evaluating ``n_eval``
    deterministic episodes between chunks (outside the clock) until the mean return reaches
    ``solved_at`` or ``TOTAL_TIMESTEPS`` pass. Returns (solved, steps, seconds, last mean)."""
    steps_per_update = config["NUM_ENVS"] * config["NUM_STEPS"]
    chunk = max(1, -(-eval_every // steps_per_update))
    init, train, evaluate = _functions(config, chunk, n_eval)
    state = jax.block_until_ready(init(jax.random.PRNGKey(seed)))
    steps, seconds, mean = 0, 0.0, float("nan")
    while steps < config["TOTAL_TIMESTEPS"]:
        start = time.perf_counter()
        state, _ = train(state)
        jax.block_until_ready(state)
        seconds += time.perf_counter() - start
        steps += chunk * steps_per_update
        mean = float(evaluate(state[0].params, jax.random.PRNGKey(10_000 + seed)))
        if mean >= solved_at:
            return True, steps, seconds, mean
    return False, steps, seconds, mean


def throughput(config: dict[str, Any], n_updates: int) -> tuple[float, float]:
    """(compile seconds, env-steps/s) of ``n_updates`` updates in one jitted call: the first
    call compiles and runs, the second only runs (compile = first - second)."""
    init, train, _ = _functions(config, n_updates, 1)
    state = jax.block_until_ready(init(jax.random.PRNGKey(0)))
    start = time.perf_counter()
    jax.block_until_ready(train(state))
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(train(state))
    second = time.perf_counter() - start
    steps = n_updates * config["NUM_ENVS"] * config["NUM_STEPS"]
    return max(0.0, first - second), steps / second
