"""A league's configuration, its names and its env factory: what the store records of a league.

:class:`LeagueConfig` is stored in the run (the ``league`` metadata key) and a resumed league
uses the stored one; :func:`league_env_factory` rebuilds, from the store alone, the env factory
of a league's games with its game parameters (``LeagueConfig.env_kwargs``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from thrust_population.imports import import_object
from thrust_population.matches import Policy, Seat, load_env_factory, positive_int
from thrust_population.matchmaking import make_matchmaker
from thrust_population.store import Store, StoreError

__all__ = [
    "ENV_KWARGS_META",
    "INT64_RANGE",
    "LEAGUE_META",
    "RUNTIME_FIELDS",
    "STAGING_DIR",
    "TENSORBOARD_DIR",
    "ConfiguredFactory",
    "LeagueConfig",
    "algo_arguments",
    "algorithm_class",
    "check_algo",
    "check_env_kwargs",
    "check_recorded_env_kwargs",
    "league_env_factory",
    "snapshot_name",
    "tensorboard_available",
]

#: The store metadata key holding the league's configuration and progress.
LEAGUE_META = "league"
#: The store metadata key of a tournament's game parameters (``tournament --env-kwargs``).
ENV_KWARGS_META = "env_kwargs"
#: The run's TensorBoard directory (one sub-directory per learner).
TENSORBOARD_DIR = "tensorboard"
#: Where backends that train outside this process leave trained models for it to freeze.
STAGING_DIR = "league-staging"


def snapshot_name(learner: int, generation: int) -> str:
    """The member name of learner ``learner`` after generation ``generation``: ``L{i}-g{g}``."""
    return f"L{int(learner)}-g{int(generation)}"


def algorithm_class(path: str) -> Any:
    """The algorithm class named ``"module:Class"`` (a ValueError if there is none)."""
    return import_object(path, "algorithm", "module:Class")


@dataclass(frozen=True)
class LeagueConfig:
    """How a league trains (stored in the run; a resumed league uses the stored one).

    :param learners: number of main agents (``L{i}``): they train against opponents the
        matchmaker draws from every earlier snapshot and bot
    :param exploiters: number of exploiters (``E{j}``): they train against the main agents'
        latest snapshots only (drawn by the same matchmaker), as in league training
    :param exploiter_reset: an exploiter whose new snapshot scored at least this (draws half)
        against every main agent's new snapshot in a generation's evaluation restarts from its
        initial weights ``E{j}-g0`` in the next generation, to look for new weaknesses rather
        than refine a found one (AlphaStar's main exploiters reset at 0.7); None: never
    :param steps_per_generation: environment steps each learner trains per generation: a
        whole number of the algorithm's rollouts (``n_steps * n_envs``; checked when the league
        is created, since SB3 would round it up)
    :param matchmaking: the matchmaker spec choosing training opponents (``pfsp``,
        ``pfsp:variance``, ``self-play:5:0.5``, ``random``, ...); the learner is its last
        snapshot
    :param bots: scripted bots that join the pool (and are evaluated against); None: ``random``
        and every bot the game ships, with its default settings
    :param opponents_per_generation: training opponents per generation (the opponent changes
        at equal step intervals, at episode boundaries)
    :param n_envs: games each learner trains on at once
    :param eval_games: games per evaluation match (an N-player league: games of a generation's
        evaluation, rounded up to whole blocks of one game per player)
    :param eval_n_envs: games of an evaluation match played at once
    :param algo: ``"module:Class"`` of an SB3 on-policy algorithm
    :param algo_kwargs: keyword arguments of its constructor (``policy`` defaults to
        ``"MlpPolicy"``); ``device`` defaults to ``"cpu"``
    :param env_kwargs: game parameters given to the env factory (e.g. ``points_to_win``)
    :param seats: an N-player (free-for-all) league's seats per game (Snake's snakes); None:
        a two-player league. N-player leagues rate by placement (openskill), have no
        exploiters, and train each learner with parameter sharing over its seats
        (``thrust_envs.sb3.free_for_all``) while snapshots and bots fill the other seats
    :param learner_seats: an N-player league's learner seats per training game (``1 <=
        learner_seats < seats``; None: half the seats, at least one)
    :param tensorboard: write TensorBoard logs, one directory per learner, when tensorboard
        is installed (:func:`tensorboard_available`; it is not a dependency of the population
        extra); a resumed league may change it (:data:`RUNTIME_FIELDS`)
    """

    learners: int = 4
    exploiters: int = 0
    exploiter_reset: float | None = None
    steps_per_generation: int = 65_536
    matchmaking: str = "pfsp"
    bots: tuple[str, ...] | None = None
    opponents_per_generation: int = 4
    n_envs: int = 16
    eval_games: int = 32
    eval_n_envs: int = 32
    algo: str = "thrust_algos.ppo:PPO"
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    seats: int | None = None
    learner_seats: int | None = None
    tensorboard: bool = True

    def __post_init__(self) -> None:
        for label in (
            "learners",
            "steps_per_generation",
            "opponents_per_generation",
            "n_envs",
            "eval_games",
            "eval_n_envs",
        ):
            positive_int(label, getattr(self, label))
        if isinstance(self.exploiters, bool) or not isinstance(self.exploiters, int):
            raise ValueError(f"exploiters must be a non-negative int, got {self.exploiters!r}")
        if self.exploiters < 0:
            raise ValueError(f"exploiters must be a non-negative int, got {self.exploiters!r}")
        reset = self.exploiter_reset
        if reset is not None and (
            isinstance(reset, bool)
            or not isinstance(reset, (int, float))
            or not 0.0 <= reset <= 1.0
        ):
            raise ValueError(f"exploiter_reset must be None or in [0, 1], got {reset!r}")
        if reset is not None and self.exploiters == 0:
            raise ValueError("exploiter_reset is given but the league has no exploiters")
        make_matchmaker(self.matchmaking)  # ValueError on a bad spec
        if self.bots is not None:
            object.__setattr__(self, "bots", tuple(self.bots))
        if not isinstance(self.algo_kwargs, dict) or not isinstance(self.env_kwargs, dict):
            raise ValueError("algo_kwargs and env_kwargs must be dicts")
        check_env_kwargs(self.env_kwargs)
        if not isinstance(self.tensorboard, bool):
            raise ValueError(f"tensorboard must be a bool, got {self.tensorboard!r}")
        self._check_seats()

    def _check_seats(self) -> None:
        if self.seats is None:
            if self.learner_seats is not None:
                raise ValueError(
                    "learner_seats is an N-player league's setting; a two-player league "
                    "(seats None) has one learner seat per game"
                )
            return
        positive_int("seats", self.seats)
        if self.seats < 2:
            raise ValueError(f"seats must be at least 2, got {self.seats}")
        if self.exploiters:
            raise ValueError(
                "exploiters are a two-player league's (they train against the main agents); "
                "an N-player league has none"
            )
        if self.learner_seats is None:
            object.__setattr__(self, "learner_seats", max(1, self.seats // 2))
        positive_int("learner_seats", self.learner_seats)
        if not 1 <= self.learner_seats < self.seats:
            raise ValueError(
                f"learner_seats must be in [1, {self.seats - 1}] (at least one seat of the "
                f"{self.seats} is a snapshot's or a bot's), got {self.learner_seats}"
            )

    @property
    def free_for_all(self) -> bool:
        """Whether this is an N-player league (``seats`` given)."""
        return self.seats is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bots"] = None if self.bots is None else list(self.bots)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeagueConfig:
        data = dict(data)
        if data.get("bots") is not None:
            data["bots"] = tuple(data["bots"])
        return cls(**data)


#: The LeagueConfig fields a resumed league may change (they do not change what it trains).
RUNTIME_FIELDS = ("tensorboard",)
#: The integers a game parameter may hold (the kernels' int64).
INT64_RANGE = (-(2**63), 2**63)


def check_env_kwargs(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``env_kwargs`` after checking that its names are strings and its integers fit the
    kernels' int64 (a larger one would fail inside numba, after a run was written)."""
    low, high = INT64_RANGE
    for name, value in env_kwargs.items():
        if not isinstance(name, str):
            raise ValueError(f"game parameter names must be strings, got {name!r}")
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value < high:
            raise ValueError(
                f"game parameter {name}={value} does not fit a 64-bit integer "
                f"(expected {low} <= {name} < {high})"
            )
    return env_kwargs


def tensorboard_available() -> bool:
    """Whether TensorBoard logs can be written (the tensorboard package is importable)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


#: ``policy_kwargs.activation_fn`` names a JSON configuration may use (torch.nn classes)
ACTIVATIONS = {
    "relu": "ReLU",
    "tanh": "Tanh",
    "elu": "ELU",
    "gelu": "GELU",
    "silu": "SiLU",
    "leaky_relu": "LeakyReLU",
}


def _activation(value: Any) -> Any:
    """An ``activation_fn`` given by name in JSON (``"relu"`` or ``"torch.nn:ReLU"``) as its
    class; anything else unchanged (SB3 reports what it cannot use)."""
    if not isinstance(value, str):
        return value
    if value.lower() in ACTIVATIONS:
        import torch

        return getattr(torch.nn, ACTIVATIONS[value.lower()])
    if ":" in value:
        return import_object(value, "activation_fn", "module:Class")
    raise ValueError(
        f"policy_kwargs activation_fn {value!r}: expected one of {sorted(ACTIVATIONS)} or "
        "'module:Class' (e.g. 'torch.nn:ReLU')"
    )


def algo_arguments(config: LeagueConfig) -> tuple[Any, dict[str, Any]]:
    """The policy and the other constructor arguments of the learners' algorithm (an
    ``activation_fn`` named in ``policy_kwargs`` resolved to its class)."""
    kwargs = {"device": "cpu", **config.algo_kwargs}
    policy_kwargs = kwargs.get("policy_kwargs")
    if isinstance(policy_kwargs, dict) and "activation_fn" in policy_kwargs:
        kwargs["policy_kwargs"] = {
            **policy_kwargs,
            "activation_fn": _activation(policy_kwargs["activation_fn"]),
        }
    return kwargs.pop("policy", "MlpPolicy"), kwargs


def check_algo(algo: Any, config: LeagueConfig, make_venv: Callable[[], Any]) -> None:
    """Build one learner (not trained, not kept) on ``make_venv()``, so that bad algorithm
    arguments are reported as a ValueError before a run is written."""
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    if not (isinstance(algo, type) and issubclass(algo, OnPolicyAlgorithm)):
        raise ValueError(f"{config.algo} is not an SB3 on-policy algorithm class")
    policy, kwargs = algo_arguments(config)
    venv = make_venv()
    try:
        model = algo(policy, venv, seed=0, **kwargs)
    except (TypeError, ValueError, KeyError, AssertionError, RuntimeError) as exc:
        # RuntimeError: torch's for an unknown device ("tpu")
        raise ValueError(f"cannot build {config.algo} with {config.algo_kwargs}: {exc}") from exc
    finally:
        venv.close()
    rollout = int(model.n_steps) * int(model.n_envs)
    steps = config.steps_per_generation
    if steps % rollout:
        below, above = steps // rollout * rollout, (steps // rollout + 1) * rollout
        choices = f"{below} or {above}" if below else f"{above}"
        raise ValueError(
            f"steps_per_generation {steps} is not a whole number of rollouts of {rollout} steps "
            f"(n_steps {model.n_steps} x n_envs {model.n_envs}; SB3 would train {above}): give "
            f"{choices}, or change n_steps in the algorithm's arguments"
        )


class ConfiguredFactory:
    """An env factory with fixed game parameters (``env_kwargs``); ``check_game`` and
    ``game_bots`` are the base factory's."""

    def __init__(self, path: str | None, kwargs: dict[str, Any]) -> None:
        self.base = load_env_factory(path)
        self.default = path is None
        self.kwargs = dict(check_env_kwargs(kwargs))
        for attribute in ("check_game", "game_bots"):
            if hasattr(self.base, attribute):
                setattr(self, attribute, getattr(self.base, attribute))

    def __call__(
        self, env_id: str, opponent: Policy, n_envs: int, seat: Seat = 0, seed: int | None = None
    ) -> Any:
        if not self.kwargs:
            return self.base(env_id, opponent, n_envs, seat, seed)
        if self.default:
            import thrust_envs

            return thrust_envs.vs_opponent(
                env_id, opponent, n_envs, seat=seat, seed=seed, **self.kwargs
            )
        return self.base(env_id, opponent, n_envs, seat, seed, **self.kwargs)


def check_recorded_env_kwargs(
    where: Any, recorded: dict[str, Any] | None, given: dict[str, Any] | None
) -> dict[str, Any]:
    """The game parameters a resumed run plays with: those it recorded (``{}``: none), which
    ``given`` (a command line's, None: not given) must equal.

    :raises StoreError: ``given`` differs from the recorded ones
    """
    kwargs = {} if recorded is None else recorded
    if given is not None and given != kwargs:
        raise StoreError(
            f"{where} plays with the game parameters {json.dumps(kwargs)}, not --env-kwargs "
            f"{json.dumps(given)}"
        )
    return kwargs


def league_env_factory(store: Store) -> Any:
    """The env factory of a run's games with the game parameters it recorded: a league's
    (``LeagueConfig.env_kwargs``) or a tournament's (:data:`ENV_KWARGS_META`); None for a run
    without any (its recorded factory applies)."""
    meta = store.meta(LEAGUE_META)
    if meta is not None:
        kwargs = LeagueConfig.from_dict(meta["config"]).env_kwargs
    else:
        kwargs = store.meta(ENV_KWARGS_META)
    if kwargs is None:
        return None
    return ConfiguredFactory(store.env_factory, kwargs)
