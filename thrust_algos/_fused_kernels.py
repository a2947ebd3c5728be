"""The fused rollout kernel: a whole PPO rollout (MLP forward, action sampling, the env's row
functions, episode statistics, the time-limit bootstrap) in one numba call.

Imported lazily by :mod:`thrust_algos.fused`, only for a Thrust environment (it imports
``thrust_envs``' random streams; ``import thrust_algos`` does not). The template is compiled
per env as ``thrust_envs.core.kernels`` compiles its own (``kernels.rebind``): the env's row
body (the one thrust_envs' step kernels run, in SAME_STEP mode) is written into its loop by
``kernels.inline_calls``, which also reads the fields of the ``rows``/``games``, ``policy`` and
``storage`` structs once at the top; its globals bind the body's row functions, ``act_rows``
and (in the act step) ``sample_action`` to the action kind's sampler, under a unique
qualified name carrying the env's source digest, with ``cache=True``.

Network layout (both the policy and the value network): ``weights`` is one flat float32
array; ``layers`` int64 ``[L, 5]`` holds, per dense layer, (in, out, offset of ``W^T``
stored ``[in, out]`` row-major, offset of the bias, activation: 0 none, 1 tanh, 2 relu); the
policy's layers are rows ``0 .. n_pi - 1``, the value network's the rest.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from thrust_envs.core.kernels import SAME_STEP, rebind
from thrust_envs.core.rng import next_double, seeded_stream

ACT_NONE, ACT_TANH, ACT_RELU = 0, 1, 2
NON_FINITE_ACTION = 1  # the kernel's status when the policy produced a NaN/inf Box action
_TWO_PI = 2.0 * math.pi
_LOG_SQRT_2PI = math.log(math.sqrt(2.0 * math.pi))
_F32 = np.float32
_TANH_CLAMP = _F32(7.90531110763549805)  # beyond it the float32 tanh rounds to +-1


# error_model="numpy": Python's model checks the division for a zero divisor, and that branch
# kept LLVM from vectorising a loop of tanh32 (2.7 against 0.4 ns an element, measured); the
# divisor q is at least 4.89e-3, so the check could never fire.
@njit(cache=True, error_model="numpy")
def tanh32(x):  # pragma: no cover - compiled
    """``tanh`` of a float32, within 6 ulp of the exact value (tests/test_algos_fused.py
    checks a dense grid), as a rational function: the approximation XLA (and so a jitted JAX
    policy) and Eigen use for float32 on CPUs. Unlike libm's ``tanhf`` it has no call and no
    branch, so LLVM vectorises a loop of it: about 0.4 ns an element against 15 here, and
    the rollout's forward spent most of its time in ``tanh``. NaN stays NaN."""
    clamped = x if x < _TANH_CLAMP else _TANH_CLAMP
    clamped = clamped if clamped > -_TANH_CLAMP else -_TANH_CLAMP
    x2 = clamped * clamped
    p = x2 * _F32(-2.76076847742355e-16) + _F32(2.00018790482477e-13)
    p = x2 * p + _F32(-8.60467152213735e-11)
    p = x2 * p + _F32(5.12229709037114e-08)
    p = x2 * p + _F32(1.48572235717979e-05)
    p = x2 * p + _F32(6.37261928875436e-04)
    p = x2 * p + _F32(4.89352455891786e-03)
    p = clamped * p
    q = x2 * _F32(1.19825839466702e-06) + _F32(1.18534705686654e-04)
    q = x2 * q + _F32(2.26843463243900e-03)
    q = x2 * q + _F32(4.89352518554385e-03)
    result = p / q
    return result if x == x else x


@njit(cache=True, error_model="numpy")
def activate(values, act):  # pragma: no cover - compiled
    """``values = act(values)`` in place, a flat float32 array: ``ACT_TANH`` (:func:`tanh32`),
    ``ACT_RELU`` (negatives to zero; NaN stays NaN, as torch's), ``ACT_NONE`` nothing. One
    flat loop: LLVM vectorises it (a loop per row of a batch is slower, measured)."""
    if act == ACT_TANH:
        for j in range(values.shape[0]):
            values[j] = tanh32(values[j])
    elif act == ACT_RELU:
        for j in range(values.shape[0]):
            if values[j] < 0.0:
                values[j] = np.float32(0.0)


@njit(cache=True)
def _mlp_row(weights, layers, first, count, x, scratch):
    """Apply layers ``first .. first + count - 1`` to ``x`` (float32 ``[in]``), ping-ponging
    between ``scratch[0]`` and ``scratch[1]``; return the index of the row holding the output.
    Each output is ``b_j + sum_k x_k W_jk`` summed over ``k`` in order (vectorised over ``j``)."""
    width = x.shape[0]
    src = 0
    for k in range(width):
        scratch[0, k] = x[k]
    for layer in range(first, first + count):
        n_in, n_out = layers[layer, 0], layers[layer, 1]
        w_off, b_off, act = layers[layer, 2], layers[layer, 3], layers[layer, 4]
        dst = 1 - src
        # Slices, indexed by range variables: no negative-index wraparound in the inner loop,
        # which LLVM then vectorises over j (AVX: 8 outputs at a time).
        out = scratch[dst, :n_out]
        inp = scratch[src]
        bias = weights[b_off : b_off + n_out]
        for j in range(n_out):
            out[j] = bias[j]
        for k in range(n_in):
            xk = inp[k]
            w_row = weights[w_off + k * n_out : w_off + (k + 1) * n_out]
            for j in range(n_out):
                out[j] += xk * w_row[j]
        activate(out, act)
        src = dst
    return src


@njit(cache=True, error_model="numpy")
def _mlp_rows(weights, layers, first, count, x, scratch, plane):  # pragma: no cover - compiled
    """:func:`_mlp_row` for all rows of ``x`` (float32 ``[N, in]``) at once, each layer's
    product one BLAS call (numba's ``np.dot``): layer outputs alternate between the flat
    ``scratch[plane]`` and ``scratch[plane + 1]`` (each at least ``N * widest``); returns the
    last layer's output, ``[N, out]``, a view into them. The sums are BLAS's, so a row's
    result can differ from :func:`_mlp_row`'s in the last bit."""
    n = x.shape[0]
    source = x
    target = plane
    for layer in range(first, first + count):
        n_in, n_out = layers[layer, 0], layers[layer, 1]
        w_off, b_off, act = layers[layer, 2], layers[layer, 3], layers[layer, 4]
        out = scratch[target, : n * n_out].reshape(n, n_out)
        np.dot(source, weights[w_off : w_off + n_in * n_out].reshape(n_in, n_out), out)
        bias = weights[b_off : b_off + n_out]
        for i in range(n):
            for j in range(n_out):
                out[i, j] += bias[j]
        activate(out.reshape(-1), act)
        source = out
        target = 2 * plane + 1 - target
    return source


@njit(cache=True)
def _sample_categorical(head, log_std, prng, i, actions, low, high, buf_action):
    """Draw ``a ~ Categorical(logits=head)`` by inverting the CDF at one uniform from row
    ``i``'s stream; write it to ``actions[i]`` and ``buf_action[0]``; return ``log p(a)``."""
    n = head.shape[0]
    peak = -np.inf
    for k in range(n):
        peak = max(peak, float(head[k]))
    total = 0.0
    for k in range(n):
        total += math.exp(float(head[k]) - peak)
    log_norm = peak + math.log(total)
    u = next_double(prng, i)
    choice = n - 1
    cumulative = 0.0
    for k in range(n):
        cumulative += math.exp(float(head[k]) - log_norm)
        if u < cumulative:
            choice = k
            break
    actions[i] = choice
    buf_action[0] = np.float32(choice)
    return float(head[choice]) - log_norm


@njit(cache=True)
def _sample_gaussian(head, log_std, prng, i, actions, low, high, buf_action):
    """Draw ``a ~ Normal(head, exp(log_std))`` per dimension (Box–Muller on two uniforms
    from row ``i``'s stream); write ``a`` to ``buf_action`` and ``clip(a, low, high)`` to
    ``actions[i]`` (what SB3 hands the env); return ``log p(a)``, or NaN if ``a`` is not
    finite."""
    log_prob = 0.0
    for k in range(head.shape[0]):
        u1 = next_double(prng, i)
        u2 = next_double(prng, i)
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(_TWO_PI * u2)
        std = np.float32(math.exp(log_std[k]))
        a = np.float32(head[k] + std * np.float32(z))
        if not np.isfinite(a):
            return np.nan
        buf_action[k] = a
        actions[i, k] = min(max(a, low[k]), high[k])
        diff = float(a) - float(head[k])
        log_prob += -(diff * diff) / (2.0 * float(std) * float(std)) - log_std[k] - _LOG_SQRT_2PI
    return log_prob


class Policy(NamedTuple):
    """The lean actor-critic as the kernels read it: ``weights`` and ``layers`` as in the
    module's docstring, ``n_pi`` the policy's layer count, ``log_std`` float32 ``[A]`` (Box
    actions; empty for Discrete), ``scratch`` float32 ``[4, N * widest layer]`` (the batched
    forward's planes: 0-1 the policy, 2-3 the value network; a single row's uses 0-1)."""

    weights: np.ndarray
    layers: np.ndarray
    n_pi: int
    log_std: np.ndarray
    scratch: np.ndarray


class Storage(NamedTuple):
    """The rollout buffer's storage, written in place (``T`` steps of ``N`` rows): ``obs``
    float32 ``[T, N, F]``, ``actions`` float32 ``[T, N, K]``, ``rewards``, ``episode_starts``,
    ``values``, ``log_probs`` float32 ``[T, N]``."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    episode_starts: np.ndarray
    values: np.ndarray
    log_probs: np.ndarray


@njit(cache=True)
def _value(policy, x):
    """``V(x)`` of one observation row (float32 ``[F]``)."""
    n_vf = policy.layers.shape[0] - policy.n_pi
    out = _mlp_row(policy.weights, policy.layers, policy.n_pi, n_vf, x, policy.scratch)
    return policy.scratch[out, 0]


def _act_template(t, policy, storage, prng, actions, action_low, action_high, starts):
    """(A) of step ``t``, for every row ``i`` of ``storage.obs[t]``: the policy's forward, an
    action sampled into ``actions[i]`` (what the env takes) and ``storage.actions[t, i]``, its
    log-probability, the value and the episode start (``starts[i]``) into the storage. False
    if a Box action was not finite (the row's later fields are then unwritten)."""
    n_pi = policy.n_pi
    n_vf = policy.layers.shape[0] - n_pi
    x = storage.obs[t]
    # Both networks over all rows, each layer one BLAS product (planes 0-1 and 2-3 of scratch).
    heads = _mlp_rows(policy.weights, policy.layers, np.int64(0), n_pi, x, policy.scratch,
                      np.int64(0))  # fmt: skip
    values = _mlp_rows(policy.weights, policy.layers, n_pi, n_vf, x, policy.scratch, np.int64(2))
    for i in range(x.shape[0]):
        log_prob = sample_action(  # noqa: F821
            heads[i], policy.log_std, prng, i, actions, action_low, action_high,
            storage.actions[t, i],
        )  # fmt: skip
        if np.isnan(log_prob):
            return False
        storage.log_probs[t, i] = np.float32(log_prob)
        storage.values[t, i] = values[i, 0]
        storage.episode_starts[t, i] = np.float32(1.0) if starts[i] else np.float32(0.0)
    return True


def _rollout_template(
    rows, actions, params, max_steps, policy, action_low, action_high, prng, gamma, starts,
    storage, last_values, episodes, episode_obs,
):  # fmt: skip
    """Collect ``T = storage.obs.shape[0]`` steps of all ``N`` rows of ``rows`` (the env's
    :class:`~thrust_envs.core.kernels.RowArrays`; ``actions`` its action buffer).

    In: ``storage.obs[0]`` the observations to act on first, ``starts`` bool ``[N]`` whether
    they start episodes. Each step: (A) every row's policy forward, sampled action, value and
    log-probability into the storage, the action into ``actions``; (B) every row's env step as
    the SAME_STEP step kernel does it (episode statistics, truncation, final observation,
    reset in place), the raw reward into ``storage.rewards``, finished episodes' (final
    return, length, row, step, truncated, the float32 bootstrap ``gamma * V(final obs)``) into
    ``episodes`` and their final observations into ``episode_obs`` (the caller adds the
    bootstraps to the rewards), and the next observations and starts into ``storage``. Out:
    ``starts`` (the last step's dones), ``last_values`` ``V(obs)``. Returns (status, episodes
    recorded); status 1 if a Box action was not finite (the env then stands at step ``t``).
    """
    n_steps = storage.obs.shape[0]
    n = rows.state.shape[0]
    features = rows.obs.shape[1]
    n_episodes = 0
    for t in range(n_steps):
        # (A) act: everything the policy needs comes from storage.obs[t].
        if not act_rows(t, policy, storage, prng, actions, action_low, action_high, starts):  # noqa: F821
            return NON_FINITE_ACTION, n_episodes
        # (B) step every env row: thrust_envs' own SAME_STEP row body (autoreset in place,
        # final observation kept aside), then record the rows that finished.
        for i in range(n):
            step_one(rows, actions, params, SAME_STEP, max_steps, i)  # noqa: F821
            if rows.terminated[i] or rows.truncated[i]:
                record = episodes[n_episodes]
                record[0] = rows.episode[i, 4]
                record[1] = rows.episode[i, 3]
                record[2] = i
                record[3] = t
                if rows.truncated[i] and not rows.terminated[i]:
                    record[4] = 1.0
                    record[5] = np.float32(np.float32(gamma) * _value(policy, rows.final_obs[i]))
                for k in range(features):  # element loops: see fusion.row_parts
                    episode_obs[n_episodes, k] = rows.final_obs[i, k]
                n_episodes += 1
            storage.rewards[t, i] = rows.reward[i]
            starts[i] = rows.terminated[i] or rows.truncated[i]
            if t + 1 < n_steps:
                for k in range(features):
                    storage.obs[t + 1, i, k] = rows.obs[i, k]
    for i in range(n):
        last_values[i] = _value(policy, rows.obs[i])
    return 0, n_episodes


def _game_rollout_template(
    games, actions, flat_actions, params, max_steps, policy, prng, gamma, starts, storage,
    last_obs, last_values, episodes, episode_obs,
):  # fmt: skip
    """:func:`_rollout_template` for the parameter-sharing view of a game
    (``thrust_envs.sb3.SharedGameVecEnv``; ``games`` its
    :class:`~thrust_envs.core.games.GameArrays`): row ``r = g * A + a`` is agent ``a`` of game
    ``g``.

    (A) as there, the sampled actions into ``flat_actions`` (``actions [G, A, 1]`` seen as
    ``[G * A]``); (B) every game's body with autoreset, then the view's outputs per row: the
    observation, or zeros for an agent dead before the step whose game goes on; the reward as
    float32; done when the agent was alive and its episode ended; a done row's record (its
    return and length: the game's final ones if the game ended, else its own so far; its
    terminal observation; the time-limit bootstrap), as ``shared_step_rows`` and
    ``shared_finished_rows`` compute them for the SB3 step. The last observations go to
    ``last_obs`` ``[R, F]`` (what the view's next step starts from). Returns (status, episodes).
    """
    n_steps = storage.obs.shape[0]
    n_games, per_game = games.alive.shape
    features = storage.obs.shape[2]
    no_bounds = np.zeros(0, dtype=np.float32)
    autoreset = True
    n_episodes = 0
    for t in range(n_steps):
        if not act_rows(  # noqa: F821
            t, policy, storage, prng, flat_actions, no_bounds, no_bounds, starts
        ):  # fmt: skip
            return NON_FINITE_ACTION, n_episodes
        for g in range(n_games):
            step_one(games, actions, params, autoreset, max_steps, g)  # noqa: F821
            ended = games.game_over[g]
            for seat in range(per_game):
                row = g * per_game + seat
                done = games.was_alive[g, seat] and (
                    games.terminated[g, seat] or games.truncated[g, seat]
                )
                storage.rewards[t, row] = np.float32(games.reward[g, seat])
                starts[row] = done
                if done:
                    record = episodes[n_episodes]
                    if ended:
                        record[0] = games.final_return[g, seat]
                        record[1] = games.final_length[g]
                    else:
                        record[0] = games.agent_return[g, seat]
                        record[1] = games.length[g]
                    record[2] = row
                    record[3] = t
                    source = games.final_obs[g, seat] if ended else games.obs[g, seat]
                    if games.truncated[g, seat] and not games.terminated[g, seat]:
                        record[4] = 1.0
                        record[5] = np.float32(np.float32(gamma) * _value(policy, source))
                    for k in range(features):
                        episode_obs[n_episodes, k] = source[k]
                    n_episodes += 1
                target = storage.obs[t + 1, row] if t + 1 < n_steps else last_obs[row]
                if games.was_alive[g, seat] or ended:
                    for k in range(features):
                        target[k] = games.obs[g, seat, k]
                else:
                    for k in range(features):
                        target[k] = np.float32(0.0)
    for r in range(last_obs.shape[0]):
        last_values[r] = _value(policy, last_obs[r])
    return 0, n_episodes


def game_rollout_kernel(parts: Any):
    """The game rollout template specialised for one game (``parts``, a
    :class:`thrust_envs.core.fusion.GameParts`), compiled on first call, cached on disk."""
    key = (parts.module, "game", parts.source_digest)
    kernel = _compiled.get(key)
    if kernel is None:
        act = act_kernel("discrete", parts.source_digest)
        bindings = {**parts.step_one.names, "act_rows": act}
        module = parts.module.replace(".", "_")
        qualname = f"game_rollout__{module}_{parts.source_digest}"
        inline = {"step_one": parts.step_one.body}
        function = rebind(
            _game_rollout_template, qualname, bindings, inline, ("games", "policy", "storage")
        )
        kernel = _compiled[key] = njit(cache=True, nogil=True)(function)
    return kernel


@njit(cache=True)
def seed_policy_streams(prng: np.ndarray, base: np.uint64, rollout: np.uint64) -> None:
    """Seed row ``i``'s action stream from ``(base, rollout, i)`` (hashed twice, so nearby
    seeds, rollouts and rows give unrelated streams)."""
    mixed = seeded_stream(base)
    for i in range(prng.shape[0]):
        prng[i] = seeded_stream(mixed + rollout * np.uint64(0x2545F4914F6CDD1D) + np.uint64(i))


_compiled: dict[tuple[str, str, str], Any] = {}


def rollout_kernel(parts: Any):
    """The rollout template specialised for one env (``parts``, a
    :class:`thrust_envs.core.fusion.RowParts`: its SAME_STEP row body) and its action kind,
    compiled on first call, cached on disk by numba."""
    key = (parts.module, parts.action_kind, parts.source_digest)
    kernel = _compiled.get(key)
    if kernel is None:
        act = act_kernel(parts.action_kind, parts.source_digest)
        bindings = {**parts.step_one.names, "act_rows": act}
        module = parts.module.replace(".", "_")
        qualname = f"rollout__{module}_{parts.action_kind}_{parts.source_digest}"
        inline = {"step_one": parts.step_one.body}
        structs = ("rows", "policy", "storage")
        function = rebind(_rollout_template, qualname, bindings, inline, structs)
        kernel = _compiled[key] = njit(cache=True, nogil=True)(function)
    return kernel


def act_kernel(action_kind: str, source_digest: str):
    """:func:`_act_template` with the action kind's sampler ("discrete" or "box"), compiled
    once per kind (and package digest), shared by the rollout templates."""
    key = ("act", action_kind, source_digest)
    kernel = _compiled.get(key)
    if kernel is None:
        sampler = _sample_categorical if action_kind == "discrete" else _sample_gaussian
        qualname = f"act_rows__{action_kind}_{source_digest}"
        function = rebind(_act_template, qualname, {"sample_action": sampler}, None,
                          ("policy", "storage"))  # fmt: skip
        kernel = _compiled[key] = njit(cache=True, nogil=True)(function)
    return kernel
