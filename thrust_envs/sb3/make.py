"""``make_vec_env``: an SB3 ``VecEnv`` by Thrust ID (env or game) with SB3's own signature,
and the game views' factories."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from thrust_envs.registration import game_definitions, lookup, resolve_id
from thrust_envs.sb3.shared import SharedGameVecEnv
from thrust_envs.sb3.single import ThrustVecEnv
from thrust_envs.sb3.vs_opponent import VsOpponentVecEnv

# Options of the batch VecEnv that SB3 users pass inside env_kwargs (gym.make's keywords).
_VIEW_OPTIONS = ("render_mode", "max_episode_steps", "num_threads")


class _SB3RenderDefault(str):
    """``make_vec_env``'s ``render_mode`` when neither it nor ``env_kwargs`` names one:
    ``"rgb_array"``, as SB3's ``make_vec_env`` makes its envs (so that ``VecVideoRecorder``
    works; frames are drawn only when asked). Told apart from a given ``"rgb_array"``, so
    that ``env_kwargs={"render_mode": ...}`` takes precedence and ``render_mode=None`` is
    none."""


SB3_RENDER_DEFAULT = _SB3RenderDefault("rgb_array")


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    start_index: int = 0,
    monitor_dir: str | None = None,
    wrapper_class: Callable[[gym.Env], gym.Env] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: type[VecEnv] | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
    monitor_kwargs: dict[str, Any] | None = None,
    wrapper_kwargs: dict[str, Any] | None = None,
    *,
    render_mode: str | None = SB3_RENDER_DEFAULT,
    num_threads: int | None = None,
    max_episode_steps: int | None = None,
    device: Any = None,
    **kwargs: Any,
) -> VecEnv:
    """An SB3 ``VecEnv`` of ``n_envs`` copies of a Thrust environment, one kernel call a step.

    The signature is SB3's ``make_vec_env``'s, so SB3 scripts run unchanged; Thrust's own
    keywords follow. Without ``wrapper_class``, ``vec_env_cls``, ``monitor_dir`` and
    ``monitor_kwargs`` the result is a :class:`ThrustVecEnv` (a game:
    :class:`SharedGameVecEnv`), which behaves as SB3's ``DummyVecEnv`` over ``Monitor``-wrapped
    envs does (infos, episode statistics, seeding) without one Python env per row.

    :param env_id: a Thrust ID such as ``"Thrust/CartPole-v1"`` (or a game, ``"Thrust/Pong-v0"``).
    :param n_envs: number of environments (for a game: of games).
    :param seed: if given, environment ``i`` is seeded with ``seed + i`` at the first reset (as
        SB3's ``make_vec_env`` does).
    :param start_index: the rank of the first environment. SB3 names Monitor files and seeds each
        env's action space with it; the batch VecEnv writes no files and has one action
        space, seeded ``seed + start_index`` as SB3 seeds its first env's (resets are seeded
        ``seed + i`` either way, as SB3 does).
    :param monitor_dir: a folder for SB3's per-env Monitor CSV files. The batch VecEnv keeps the
        Monitor's statistics in ``info["episode"]`` but writes no files: giving a folder
        takes the fallback path.
    :param wrapper_class: a Gymnasium wrapper (or a function of one env) applied to each env after
        its Monitor, with ``wrapper_kwargs``. The batch VecEnv has no per-env
        ``gymnasium.Env`` to wrap: giving one takes the fallback path.
    :param env_kwargs: the environment's parameters (e.g. ``{"gravity": 9.8}``), and the
        ``gym.make`` keywords ``render_mode``, ``max_episode_steps`` (and ``num_threads``)
        as SB3 users pass them. Same meaning as the keyword arguments ``**kwargs``; a name
        given both ways is an error.
    :param vec_env_cls: an SB3 ``VecEnv`` class (``DummyVecEnv``, ``SubprocVecEnv``) over one
        Gymnasium env per row, with ``vec_env_kwargs``: takes the fallback path.
    :param vec_env_kwargs: keyword arguments of ``vec_env_cls`` (needs ``vec_env_cls``).
    :param monitor_kwargs: keyword arguments of SB3's ``Monitor`` (e.g. ``info_keywords``): takes
        the fallback path.
    :param wrapper_kwargs: keyword arguments of ``wrapper_class`` (needs ``wrapper_class``).
    :param render_mode: None or ``"rgb_array"``. Left out (and not in ``env_kwargs``), an env's
        is ``"rgb_array"``, as SB3's ``make_vec_env`` makes its envs (so that
        ``VecVideoRecorder`` works; frames are drawn only when asked); a game has none.
    :param num_threads: numba threads for large batches (default: numba's pool size). Results do
        not depend on it. Unused on the fallback path.
    :param max_episode_steps: override the registration's time limit.
    :param device: None (default): the CPU VecEnv above. A CUDA device (``"cuda"``,
        ``"cuda:1"``) builds the same env on that device instead (needs the ``gpu`` extra):
        :class:`~thrust_envs.sb3.device.DeviceSB3VecEnv` over a
        :class:`~thrust_envs.cuda.DeviceVecEnv` (a game: over a
        :class:`~thrust_envs.cuda.DeviceGameVecEnv`, one row per agent), which
        ``thrust_algos.PPO`` trains on without leaving the device and SB3 code steps through
        numpy. Same rows, seeds, infos and time limit as the CPU VecEnv (equal under
        ``NUMBA_ENABLE_CUDASIM=1``, where the device is ``"cpu"``); the device env's own
        options ``validate`` and ``cuda_graph`` may be given with the parameters. The
        fallback path's arguments and ``num_threads`` are errors with a device.
    :param kwargs: the environment's parameters (e.g. ``gravity=9.8`` for CartPole).

    The fallback path: SB3's own ``make_vec_env`` over ``gym.make(env_id)`` Thrust single envs
    (exactly Gymnasium's references), with every argument as given, and a ``UserWarning``
    naming the argument that asked for it. Correct, but one Python env per row: without those
    arguments the batch VecEnv is one kernel call per step. Games have no single Gymnasium
    env, so for them these arguments are errors.

    For a multi-agent game ``n_envs`` is the number of games and the VecEnv has one row per
    (game, agent), for parameter sharing (:class:`SharedGameVecEnv`).
    """
    if not isinstance(start_index, int) or isinstance(start_index, bool) or start_index < 0:
        raise ValueError(f"{env_id}: start_index must be a non-negative int, got {start_index!r}")
    if wrapper_kwargs and wrapper_class is None:
        raise ValueError(f"{env_id}: wrapper_kwargs are arguments of wrapper_class; give both")
    if vec_env_kwargs and vec_env_cls is None:
        raise ValueError(f"{env_id}: vec_env_kwargs are arguments of vec_env_cls; give both")
    options = _merge_env_kwargs(
        env_id,
        env_kwargs or {},
        kwargs,
        {
            "max_episode_steps": max_episode_steps,
            "num_threads": num_threads,
        },
    )
    if render_mode is not SB3_RENDER_DEFAULT:  # given, None included
        if "render_mode" in (env_kwargs or {}):
            raise ValueError(
                f"{env_id}: 'render_mode' is given both in env_kwargs and as a keyword argument"
            )
        options["render_mode"] = render_mode
    reasons = [
        reason
        for given, reason in (
            (wrapper_class is not None, f"wrapper_class={_name(wrapper_class)} wraps each env"),
            (vec_env_cls is not None, f"vec_env_cls={_name(vec_env_cls)} holds one env per row"),
            (monitor_dir is not None, "monitor_dir asks for Monitor files"),
            (bool(monitor_kwargs), "monitor_kwargs configure SB3's Monitor"),
        )
        if given
    ]
    env_id = resolve_id(env_id)
    if env_id not in game_definitions():
        options.setdefault("render_mode", "rgb_array")  # a plain str from here on
    if device is not None:
        venv = _make_device_vec_env(env_id, n_envs, seed, device, reasons, options)
    elif env_id in game_definitions():
        venv = _make_game_vec_env(env_id, n_envs, seed, reasons, options)
    else:
        definition, spec = lookup(env_id)
        if reasons:
            warnings.warn(
                f"thrust_envs.sb3.make_vec_env({env_id!r}): {'; '.join(reasons)}, which the "
                "batch VecEnv cannot do: built SB3's make_vec_env over gym.make single envs "
                "instead (one Python env per row; leave those arguments out for the one-kernel "
                "VecEnv)",
                UserWarning,
                stacklevel=2,
            )
            options.pop("num_threads", None)  # a single env runs on the calling thread
            return sb3_make_vec_env(  # which seeds its envs' action spaces itself
                env_id,
                n_envs,
                seed=seed,
                start_index=start_index,
                monitor_dir=monitor_dir,
                wrapper_class=wrapper_class,
                env_kwargs=options,
                vec_env_cls=vec_env_cls,
                vec_env_kwargs=vec_env_kwargs,
                monitor_kwargs=monitor_kwargs,
                wrapper_kwargs=wrapper_kwargs,
            )
        steps = options.pop("max_episode_steps", None)
        venv = ThrustVecEnv(
            definition,
            spec.id,
            n_envs,
            render_mode=options.pop("render_mode", None),
            num_threads=options.pop("num_threads", None),
            max_episode_steps=spec.max_episode_steps if steps is None else steps,
            **{**spec.kwargs, **options},
        )
        if seed is not None:
            venv.seed(seed)
    if seed is not None:
        # SB3 seeds each env's action space with seed + rank, and a DummyVecEnv's
        # action_space is its first env's: action_space.sample() (an off-policy algorithm's
        # warm-up actions) is then the same on every run.
        venv.action_space.seed(seed + start_index)
    return venv


def _merge_env_kwargs(
    env_id: str, env_kwargs: dict[str, Any], kwargs: dict[str, Any], view: dict[str, Any]
) -> dict[str, Any]:
    """One dict of parameters and view options from SB3's ``env_kwargs``, the keyword
    arguments and Thrust's explicit options (those left at None are not given)."""
    if not isinstance(env_kwargs, dict):
        raise TypeError(f"{env_id}: env_kwargs must be a dict, got {env_kwargs!r}")
    given = {name: value for name, value in view.items() if value is not None}
    for name in env_kwargs:
        if name in kwargs or name in given:
            raise ValueError(
                f"{env_id}: {name!r} is given both in env_kwargs and as a keyword argument"
            )
    return {**env_kwargs, **kwargs, **given}


def _make_device_vec_env(
    env_id: str,
    n_envs: int,
    seed: int | None,
    device: Any,
    reasons: list[str],
    options: dict[str, Any],
) -> VecEnv:
    """``make_vec_env(..., device=...)``: the device env's SB3 view, with the CPU VecEnv's
    meaning of every argument (a time limit of None is the registration's)."""
    if reasons:
        raise ValueError(
            f"{env_id}: device={device!r} builds the device VecEnv, one kernel launch a step "
            f"over every row, but {'; '.join(reasons)}, which needs one Gymnasium env per row "
            "on the CPU; leave those arguments out, or leave device out for the CPU fallback"
        )
    if options.get("num_threads") is not None:
        raise ValueError(
            f"{env_id}: num_threads sets the CPU kernels' threads; a device env "
            f"(device={device!r}) runs one CUDA thread per row"
        )
    if "autoreset_mode" in options:
        raise ValueError(
            f"{env_id}: an SB3 VecEnv resets a finished environment in the step that ends it "
            "(autoreset_mode='SameStep'), so autoreset_mode is not an option of make_vec_env"
        )
    options.pop("num_threads", None)
    try:
        from thrust_envs.cuda import DeviceGameVecEnv, DeviceVecEnv
    except ImportError as error:
        message = f"{env_id}: device={device!r} needs thrust_envs.cuda ({error})"
        raise ImportError(message) from error
    if env_id in game_definitions():
        _refuse_game_view_options(env_id, options)
        return DeviceGameVecEnv(env_id, n_envs, device, **options).as_sb3_vec_env(seed)
    render_mode = options.pop("render_mode", None)
    steps = options.pop("max_episode_steps", None)
    env = DeviceVecEnv(
        env_id,
        n_envs,
        device,
        autoreset_mode="SameStep",
        max_episode_steps="registered" if steps is None else steps,
        **options,
    )
    return env.as_sb3_vec_env(seed, render_mode=render_mode)


def _refuse_game_view_options(env_id: str, options: dict[str, Any]) -> None:
    """A game's VecEnv has no render mode or time limit of its own: refuse them, and drop the
    Nones ``make_vec_env`` put in their place."""
    if options.get("render_mode") is not None or options.get("max_episode_steps") is not None:
        raise ValueError(
            f"{env_id}: render_mode and max_episode_steps are not options of the "
            "multi-agent VecEnv (the game's max_steps parameter sets its time limit)"
        )
    options.pop("render_mode", None)
    options.pop("max_episode_steps", None)


def _make_game_vec_env(
    env_id: str, n_games: int, seed: int | None, reasons: list[str], options: dict[str, Any]
) -> SharedGameVecEnv:
    if reasons:
        raise ValueError(
            f"{env_id} is a multi-agent game: {'; '.join(reasons)}, but a game has no "
            "single-agent Gymnasium env to build those from; use the shared VecEnv without "
            "them, or the PettingZoo view (thrust_envs.make_parallel) with your own wrappers"
        )
    _refuse_game_view_options(env_id, options)
    num_threads = options.pop("num_threads", None)
    return SharedGameVecEnv(
        game_definitions()[env_id], n_games, seed=seed, num_threads=num_threads, **options
    )


def _name(value: Any) -> str:
    return getattr(value, "__name__", None) or repr(value)


# The views of a game definition, by their classes' constructors: ``make_shared_vec_env(
# definition, n_games, seed=None, num_threads=None, **params)`` and ``make_vs_opponent(
# definition, opponent, n_envs, seat="alternate", seed=None, num_threads=None, **params)``
# (by ID: make_vec_env and thrust_envs.vs_opponent). The names predate the classes.
make_shared_vec_env = SharedGameVecEnv
make_vs_opponent = VsOpponentVecEnv
