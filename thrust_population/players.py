"""Players: scripted bots by name, exported numpy policies, SB3 models, and player specs.

A player is a callable observation batch ``[k, obs_dim]`` -> action batch ``[k]``.

A bot spec is ``NAME`` or ``NAME:ARG`` (``random``, ``tracker:0.5``). Bots come from the games
themselves (thrust_envs' ``GameDefinition.bots``: Pong ships ``random`` and ``tracker``, so
``tracker:0.5`` is ``tracker_bot(0.5)``) and from a registry, where one line adds a bot::

    register_bot("tracker", lambda arg, game, seed: Tracker(float(arg)), games=("Thrust/Pong-v0",))

A registered factory gets the text after the colon (or None), the
:class:`~thrust_population.matches.GameInfo` (ID, spaces, the game's bots) and a seed, and
returns a policy. ``random`` (uniform actions from the game's action space) is registered for
every game.

:func:`parse_spec` turns a command-line player spec into a :class:`PlayerSpec`: a bot spec, or the
path of an exported ``.npz`` policy (:func:`thrust_export.load`) or an SB3 ``.zip`` model, each
optionally named ``NAME=SPEC``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thrust_population.imports import import_object
from thrust_population.matches import GameInfo, Policy

__all__ = [
    "BotFactory",
    "PlayerSpec",
    "SpecError",
    "bot_names",
    "check_fits",
    "make_bot",
    "parse_spec",
    "policy_from_model",
    "register_bot",
    "unregister_bot",
]

#: ``factory(arg, game, seed) -> policy``: ``arg`` is the text after ``NAME:`` (or None).
BotFactory = Callable[[str | None, GameInfo, int], Policy]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.:+\-]{1,80}$")


class SpecError(ValueError):
    """A player spec that names no bot or file, or bad bot arguments."""


@dataclass(frozen=True)
class _Bot:
    factory: BotFactory
    games: tuple[str, ...] | None
    doc: str


_BOTS: dict[str, _Bot] = {}


def register_bot(
    name: str,
    factory: BotFactory,
    *,
    games: tuple[str, ...] | list[str] | None = None,
    doc: str = "",
    replace: bool = False,
) -> None:
    """Register a scripted bot under ``name`` (used as ``name`` or ``name:ARG`` in specs).

    :param name: letters, digits, ``_``, ``-`` and ``.``
    :param factory: ``factory(arg, game, seed) -> policy`` (raise ``ValueError`` on a bad arg)
    :param games: the env IDs the bot can play (None: any)
    :param doc: one line for listings
    :param replace: allow replacing a registered bot of the same name
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(f"bot names use letters, digits, '_', '-' and '.', got {name!r}")
    if not callable(factory):
        raise TypeError(f"bot factory for {name!r} must be callable")
    if name in _BOTS and not replace:
        raise ValueError(f"a bot named {name!r} is already registered (pass replace=True)")
    _BOTS[name] = _Bot(factory, None if games is None else tuple(games), doc)


def unregister_bot(name: str) -> None:
    """Remove a registered bot (no error if there is none)."""
    _BOTS.pop(name, None)


def bot_names(env_id: str | None = None, game: GameInfo | None = None) -> list[str]:
    """Registered bot names (those that can play ``env_id``, if given), with the bots ``game``
    ships."""
    names = {
        name
        for name, bot in _BOTS.items()
        if env_id is None or bot.games is None or env_id in bot.games
    }
    return sorted(names | set(game.bots if game is not None else ()))


def split_bot_spec(spec: str) -> tuple[str, str | None]:
    """``"tracker:0.5"`` -> ``("tracker", "0.5")``; ``"random"`` -> ``("random", None)``."""
    name, sep, arg = spec.partition(":")
    return name, (arg if sep else None)


def is_bot_spec(spec: str, game: GameInfo | None = None) -> bool:
    """Whether ``spec`` names a registered bot, or one ``game`` ships (whatever its argument)."""
    name = split_bot_spec(spec)[0]
    return name in _BOTS or (game is not None and name in game.bots)


def _bot_entry(name: str, game: GameInfo) -> tuple[str, Callable[..., Policy]] | None:
    """Where the bot ``name`` comes from for ``game``: a registered bot for this game, else a
    bot the game ships, else a registered bot for any game."""
    bot = _BOTS.get(name)
    if bot is not None and bot.games is not None and game.env_id in bot.games:
        return "registry", bot.factory
    if name in game.bots:
        return "game", game.bots[name]
    if bot is not None and bot.games is None:
        return "registry", bot.factory
    return None


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def _game_bot(
    factory: Callable[..., Policy], arg: str | None, seed: int, params: Mapping[str, Any]
) -> Policy:
    """Call a game-shipped bot factory: ``NAME:A:B`` passes the numbers A, B positionally; the
    game's parameters the factory names (and are not given so) and a ``seed`` keyword, when it
    takes one, are passed by name (:func:`thrust_envs.core.games.bot_arguments`)."""
    from thrust_envs.core.games import bot_arguments

    args = [] if arg is None else [_number(part) for part in arg.split(":")]
    try:
        keywords = bot_arguments(factory, params, seed, given=len(args))
    except (TypeError, ValueError):  # no signature to read: positional arguments only
        keywords = {}
    return factory(*args, **keywords)


def make_bot(spec: str, game: GameInfo, seed: int = 0) -> Policy:
    """The policy of the bot spec ``spec`` (``NAME`` or ``NAME:ARG``) for ``game``.

    Looked up, in order: a bot registered for this game (:func:`register_bot` with ``games``),
    a bot the game ships (``game.bots``, e.g. thrust_envs Pong's ``random`` and
    ``tracker``; ``tracker:0.5`` calls ``tracker_bot(0.5)``, with ``seed=`` when the factory
    takes one), a bot registered for any game (``random``).

    :raises SpecError: unknown bot, a bot that cannot play this game, or a bad argument
    """
    name, arg = split_bot_spec(spec)
    entry = _bot_entry(name, game)
    if entry is None:
        if name in _BOTS:
            games = list(_BOTS[name].games or ())
            raise SpecError(f"bot {name!r} cannot play {game.env_id} (it plays {games})")
        raise SpecError(
            f"unknown bot {name!r}; bots for {game.env_id}: "
            f"{', '.join(bot_names(game.env_id, game)) or 'none'}"
        )
    source, factory = entry
    try:
        if source == "game":
            return _game_bot(factory, arg, int(seed), game.params)
        return factory(arg, game, int(seed))
    except (ValueError, TypeError) as exc:
        raise SpecError(f"bad bot spec {spec!r}: {exc}") from exc


class RandomBot:
    """Uniformly random actions from a Discrete, MultiDiscrete or Box action space.

    :param action_space: the game's action space (for one row)
    :param seed: seed of the bot's own generator
    """

    def __init__(self, action_space: Any, seed: int = 0) -> None:
        from gymnasium import spaces

        self.rng = np.random.default_rng(seed)
        self.space = action_space
        if isinstance(action_space, spaces.Discrete):
            self._draw = lambda k: action_space.start + self.rng.integers(0, action_space.n, size=k)
        elif isinstance(action_space, spaces.MultiDiscrete):
            nvec = np.asarray(action_space.nvec)
            self._draw = lambda k: self.rng.integers(0, nvec, size=(k, *nvec.shape))
        elif isinstance(action_space, spaces.Box):
            low = np.broadcast_to(action_space.low, action_space.shape)
            high = np.broadcast_to(action_space.high, action_space.shape)
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
                raise ValueError("the random bot needs a bounded Box action space")
            self._draw = lambda k: self.rng.uniform(low, high, size=(k, *low.shape)).astype(
                action_space.dtype
            )
        else:
            raise ValueError(f"the random bot does not support {type(action_space).__name__}")

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self._draw(len(obs)))


def _random_bot(arg: str | None, game: GameInfo, seed: int) -> Policy:
    if arg is not None:
        raise ValueError("'random' takes no argument")
    return RandomBot(game.action_space, seed)


register_bot("random", _random_bot, doc="uniformly random actions (any game)")

# Bots that thrust_envs games ship (GameDefinition.bots) need no line here. Others register
# here, one line each, e.g.
#   register_bot("tracker", _pong_tracker, games=("Thrust/Pong-v0",), doc="...")
# with the factory importing its game module lazily (importing this module must stay cheap).


# ---------------------------------------------------------------------------------------------
# Models and exported policies


def policy_from_model(model: Any) -> Policy:
    """A policy from anything with SB3's ``predict(obs, deterministic=True)`` (SB3 models and
    thrust_export NumpyPolicies), or a plain callable."""
    predict = getattr(model, "predict", None)
    if predict is not None:

        def policy(obs: np.ndarray) -> np.ndarray:
            return predict(obs, deterministic=True)[0]

        return policy
    if callable(model):
        return model
    raise TypeError(
        f"a player must be callable or have predict(obs, deterministic=True); got "
        f"{type(model).__name__}"
    )


def fast_policy(model: Any) -> Any:
    """The same deterministic policy as the SB3 ``model``, as a thrust_export
    :class:`~thrust_export.NumpyPolicy` (a pure-numpy forward pass: a Pong match between two
    snapshots runs 4.5x faster than through ``predict``, ``benchmarks/population.py
    --snapshots``) when thrust_export supports the model and the translation passes its parity
    check against ``predict`` on 64 random observations; else ``model`` itself (always correct,
    only slower). Discrete actions are the same as ``predict``'s; continuous ones agree to
    float32 rounding."""
    import thrust_export

    try:
        policy = thrust_export.to_numpy_policy(model)
    except NotImplementedError:
        return model
    if not thrust_export.check_parity(model, policy, n=64).passed:
        return model
    return policy


def load_numpy_policy(path: str | os.PathLike[str]) -> Any:
    """Load an exported numpy policy (``thrust_export.load``; never imports torch)."""
    import thrust_export

    return thrust_export.load(path)


def _space_text(space_type: str, shape: tuple[int, ...], n: int | None) -> str:
    return f"{space_type}({n})" if n is not None else f"{space_type}{list(shape)}"


def check_fits(policy: Any, game: GameInfo, where: str) -> None:
    """Check that a loaded policy (a ``NumpyPolicy`` or an SB3 model) was trained on the
    game's spaces: the observation shape, the action space's type and size.

    :raises SpecError: a policy of another game (``where`` names it)
    """
    if hasattr(policy, "observation_shape"):  # a thrust_export NumpyPolicy
        obs_shape = tuple(policy.observation_shape)
        act_type = policy.action_space_type
        act_n = getattr(policy, "_n_actions", None) if act_type == "Discrete" else None
        act_shape = tuple(policy.action_shape)
    else:  # an SB3 model
        obs_shape = tuple(policy.observation_space.shape)
        act_type = type(policy.action_space).__name__
        act_n = int(policy.action_space.n) if act_type == "Discrete" else None
        act_shape = tuple(policy.action_space.shape)
    space = game.action_space
    game_type = type(space).__name__
    game_n = int(space.n) if game_type == "Discrete" else None
    want_obs = tuple(game.observation_space.shape)
    if obs_shape != want_obs:
        raise SpecError(
            f"{where} takes observations of shape {list(obs_shape)}; {game.env_id} gives "
            f"{list(want_obs)} (a policy of another game?)"
        )
    if (act_type, act_n, act_shape) != (game_type, game_n, tuple(space.shape)):
        raise SpecError(
            f"{where} acts in {_space_text(act_type, act_shape, act_n)}; {game.env_id} expects "
            f"{_space_text(game_type, tuple(space.shape), game_n)} (a policy of another game?)"
        )


def load_sb3_model(path: str | os.PathLike[str], class_path: str | None = None) -> Any:
    """Load an SB3 model on the CPU.

    :param path: the ``.zip`` written by ``model.save``
    :param class_path: ``"module:QualName"`` of the algorithm class (e.g.
        ``"stable_baselines3.ppo.ppo:PPO"``); detected from the archive when None (PPO, A2C,
        DQN, SAC, TD3)
    """
    if class_path is None:
        from thrust_export.sb3 import load_model

        return load_model(path)
    cls = import_object(class_path, "algorithm", "module:QualName", ImportError)
    return cls.load(str(path), device="cpu")


def class_path_of(obj: Any) -> str:
    """``"module:QualName"`` of ``obj``'s class."""
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


# ---------------------------------------------------------------------------------------------
# Specs


@dataclass(frozen=True)
class PlayerSpec:
    """A parsed player spec.

    Attributes:
        name: the member name (``NAME=`` prefix, else the bot spec or the file's stem)
        kind: ``"bot"``, ``"numpy"`` (an exported ``.npz``) or ``"sb3"`` (an SB3 ``.zip``)
        spec: the bot spec, or the file's path
    """

    name: str
    kind: str
    spec: str


def parse_spec(text: str, game: GameInfo | None = None) -> PlayerSpec:
    """Parse ``[NAME=]SPEC``: a bot (``random``, ``tracker:0.5``), a ``.npz`` or a ``.zip``.

    With ``game`` given, a bot spec is also instantiated once to check its argument.

    :raises SpecError: a spec that names no registered bot or existing file
    """
    text = text.strip()
    if not text:
        raise SpecError("empty player spec")
    name, sep, spec = text.partition("=")
    if not sep:
        name, spec = "", text
    name, spec = name.strip(), spec.strip()
    if sep and not name:
        raise SpecError(f"empty member name in {text!r}")
    suffix = Path(spec).suffix.lower()
    if suffix in (".npz", ".zip"):
        path = Path(spec)
        if not path.is_file():
            raise SpecError(f"no such policy file: {spec}")
        kind = "numpy" if suffix == ".npz" else "sb3"
        name = name or path.stem
    elif is_bot_spec(spec, game):
        kind = "bot"
        name = name or spec
        if game is not None:
            make_bot(spec, game, 0)
    else:
        known = ", ".join(bot_names(None if game is None else game.env_id, game)) or "none"
        raise SpecError(
            f"unknown player {spec!r}: not a registered bot ({known}) nor a .npz/.zip policy file"
        )
    check_member_name(name)
    return PlayerSpec(name, kind, spec)


def check_member_name(name: str) -> str:
    """Member names: 1-80 characters among letters, digits and ``_ . : + -``."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SpecError(
            f"bad member name {name!r}: use 1-80 letters, digits and the characters _ . : + -"
        )
    return name
