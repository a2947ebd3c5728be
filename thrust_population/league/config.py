"""A league's configuration, its names and its env factory: what the store records of a league.

:class:`LeagueConfig` is stored in the run (the ``league`` metadata key) and a resumed league
uses the stored one; :func:`league_env_factory` rebuilds, from the store alone, the env factory
of a league's games with its game parameters (``LeagueConfig.env_kwargs``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from thrust_population.imports import import_object
from thrust_population.matches import Policy, Seat, load_env_factory, positive_int
from thrust_population.matchmaking import make_matchmaker
from thrust_population.players import make_bot
from thrust_population.store import Store

__all__ = [
    "LEAGUE_META",
    "STAGING_DIR",
    "TENSORBOARD_DIR",
    "ConfiguredFactory",
    "LeagueConfig",
    "algo_arguments",
    "algorithm_class",
    "check_algo",
    "league_env_factory",
    "snapshot_name",
]

#: The store metadata key holding the league's configuration and progress.
LEAGUE_META = "league"
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
    :param steps_per_generation: environment steps each learner trains per generation (SB3
        rounds up to whole rollouts)
    :param matchmaking: the matchmaker spec choosing training opponents (``pfsp``,
        ``pfsp:variance``, ``self-play:5:0.5``, ``random``, ...); the learner is its last
        snapshot
    :param bots: scripted bots that join the pool (and are evaluated against); None: ``random``
        and every bot the game ships, with its default settings
    :param opponents_per_generation: training opponents per generation (the opponent changes
        at equal step intervals, at episode boundaries)
    :param n_envs: games each learner trains on at once
    :param eval_games: games per evaluation match
    :param eval_n_envs: games of an evaluation match played at once
    :param algo: ``"module:Class"`` of an SB3 on-policy algorithm
    :param algo_kwargs: keyword arguments of its constructor (``policy`` defaults to
        ``"MlpPolicy"``); ``device`` defaults to ``"cpu"``
    :param env_kwargs: game parameters given to the env factory (e.g. ``points_to_win``)
    :param tensorboard: write TensorBoard logs, one directory per learner
    """

    learners: int = 4
    exploiters: int = 0
    exploiter_reset: float | None = None
    steps_per_generation: int = 50_000
    matchmaking: str = "pfsp"
    bots: tuple[str, ...] | None = None
    opponents_per_generation: int = 4
    n_envs: int = 16
    eval_games: int = 32
    eval_n_envs: int = 32
    algo: str = "thrust_algos.ppo:PPO"
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
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
        make_matchmaker(self.matchmaking)  # ValueError on a bad spec
        if self.bots is not None:
            object.__setattr__(self, "bots", tuple(self.bots))
        if not isinstance(self.algo_kwargs, dict) or not isinstance(self.env_kwargs, dict):
            raise ValueError("algo_kwargs and env_kwargs must be dicts")

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


def algo_arguments(config: LeagueConfig) -> tuple[Any, dict[str, Any]]:
    """The policy and the other constructor arguments of the learners' algorithm."""
    kwargs = {"device": "cpu", **config.algo_kwargs}
    return kwargs.pop("policy", "MlpPolicy"), kwargs


def check_algo(algo: Any, config: LeagueConfig, factory: Any, game: Any, env_id: str) -> None:
    """Build one learner (not trained, not kept), so that bad algorithm arguments are reported
    as a ValueError before a run is written."""
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    if not (isinstance(algo, type) and issubclass(algo, OnPolicyAlgorithm)):
        raise ValueError(f"{config.algo} is not an SB3 on-policy algorithm class")
    policy, kwargs = algo_arguments(config)
    venv = factory(env_id, make_bot("random", game, 0), config.n_envs, "alternate", 0)
    try:
        algo(policy, venv, seed=0, **kwargs)
    except (TypeError, ValueError, KeyError, AssertionError) as exc:
        raise ValueError(f"cannot build {config.algo} with {config.algo_kwargs}: {exc}") from exc
    finally:
        venv.close()


class ConfiguredFactory:
    """An env factory with fixed game parameters (``env_kwargs``); ``check_game`` and
    ``game_bots`` are the base factory's."""

    def __init__(self, path: str | None, kwargs: dict[str, Any]) -> None:
        self.base = load_env_factory(path)
        self.default = path is None
        self.kwargs = dict(kwargs)
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


def league_env_factory(store: Store) -> Any:
    """The env factory of a run's games: a league's, with its game parameters
    (``LeagueConfig.env_kwargs``); None for a run that is not a league (its recorded factory
    applies)."""
    meta = store.meta(LEAGUE_META)
    if meta is None:
        return None
    return ConfiguredFactory(store.env_factory, LeagueConfig.from_dict(meta["config"]).env_kwargs)
