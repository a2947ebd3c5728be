"""``export_web``: a trained policy as one self-contained HTML page where it plays its env.

The page holds the env's physics and the policy's forward pass in plain JavaScript (the files
next to this one: ``envs/*.js`` one env each, ``rng.js``, ``policy.js``, ``episodes.js`` and
``shell.js`` shared), the policy's plan (:func:`thrust_export.policy_plan.plan_to_json`) and
the env's parameters, all inlined: it opens from ``file://`` with no network access and no
Python. A game's page plays the policy in seat 0 against the game's bot in the other seats, as
``thrust_envs.vs_opponent(env_id, bot, 1, seat=0, seed=S)`` does (see ``episodes.js``).
Opened with ``?selftest=N&seed=S`` it plays N deterministic episodes at once and
writes ``{"env_id", "seed", "returns", "lengths"}`` as JSON into the element
``#thrust-result``. Needs numpy and thrust_envs (for the env's parameters), and torch and SB3
only when given an SB3 model rather than a ``.npz`` artifact.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thrust_export.artifact import check_not_an_input, write_file
from thrust_export.policy_plan import PolicyPlan, plan_policy, plan_to_json

__all__ = ["WEB_ENVS", "WebEnv", "export_web", "page_html", "python_bot", "web_env"]

_HERE = Path(__file__).resolve().parent
#: The page's shared scripts, in load order (each env's file goes before episodes.js).
_SHARED_BEFORE = ("rng.js", "policy.js")
_SHARED_AFTER = ("episodes.js", "shell.js")


@dataclasses.dataclass(frozen=True)
class WebEnv:
    """An env the page can run: its JavaScript name (``Thrust.envs[name]``) and the files
    that define it (``envs/...``). A game also names what its seat 0, the policy's, is on the
    canvas, and the scripted bot that plays the other seats by default (one of the game's
    ``bots``, ported to JavaScript)."""

    name: str
    scripts: tuple[str, ...]
    game: bool = False
    seat: str = ""
    bot: str = ""


#: Every env ID the web export can port, and its JavaScript: every Thrust env and game.
WEB_ENVS: Mapping[str, WebEnv] = {
    "Thrust/CartPole-v1": WebEnv("CartPole", ("envs/cartpole.js",)),
    "Thrust/CartPole-v0": WebEnv("CartPole", ("envs/cartpole.js",)),
    "Thrust/Pendulum-v1": WebEnv("Pendulum", ("envs/pendulum.js",)),
    "Thrust/MountainCar-v0": WebEnv(
        "MountainCar", ("envs/mountain_car_picture.js", "envs/mountain_car.js")
    ),
    "Thrust/MountainCarContinuous-v0": WebEnv(
        "MountainCarContinuous",
        ("envs/mountain_car_picture.js", "envs/mountain_car_continuous.js"),
    ),
    "Thrust/Acrobot-v1": WebEnv("Acrobot", ("envs/acrobot.js",)),
    "Thrust/Pong-v0": WebEnv(
        "Pong", ("envs/pong.js",), game=True, seat="the left paddle", bot="tracker"
    ),
    "Thrust/Snake-v0": WebEnv(
        "Snake", ("envs/snake.js",), game=True, seat="the green snake", bot="greedy"
    ),
    "Thrust/BucketBrigade-v0": WebEnv(
        "BucketBrigade",
        ("envs/bucket_brigade.js",),
        game=True,
        seat="the agent of the red-dotted houses",
        bot="coordinator",
    ),
}


def python_bot(env_id: str, bot: str, params: Any, seed: int) -> Any:
    """The Python bot that the page's bot ``bot`` plays as: the game's factory called with
    ``seed`` if it takes one (the page seeds its bots' generator with the page's seed) and
    with the game's parameters it takes by name (Bucket Brigade's ``num_houses`` and
    ``num_agents``), which the page gives its bots too.

    :param env_id: a game the web export runs
    :param bot: one of the game's bots
    :param params: the game's parameters (its params NamedTuple)
    :param seed: the page's seed
    :return: the bot, a callable from an observation batch to actions
    """
    from thrust_envs.core.games import bot_arguments
    from thrust_envs.registration import game_lookup

    factory = game_lookup(env_id).bots[bot]
    return factory(**bot_arguments(factory, params._asdict(), seed))


def _python_bot_call(env_id: str, bot: str, params: Mapping[str, Any]) -> str:
    """How :func:`python_bot` builds ``bot``, as code (``seed`` standing for the page's
    seed): ``greedy_bot(seed)``, ``coordinator_bot(num_houses=10, num_agents=4)``."""
    from thrust_envs.core.games import bot_arguments
    from thrust_envs.registration import game_lookup

    arguments = bot_arguments(game_lookup(env_id).bots[bot], params, "seed")
    text = ", ".join(
        "seed" if name == "seed" else f"{name}={value!r}" for name, value in arguments.items()
    )
    return f"{bot}_bot({text})"


def web_env(env_id: str, env_kwargs: Mapping[str, Any]) -> tuple[WebEnv, dict[str, Any]]:
    """The port of ``env_id`` and the page's env config (parameters, time limit, spaces).

    :param env_id: a Thrust env ID the web export runs
    :param env_kwargs: the env's parameters (validated)
    :return: ``(port, config)``
    :raises ValueError: an env the web export cannot port, or invalid parameters
    :raises TypeError: unknown parameter names
    """
    if env_id not in WEB_ENVS:
        raise ValueError(f"the web export cannot run env {env_id!r}; it runs {', '.join(WEB_ENVS)}")
    port = WEB_ENVS[env_id]
    from thrust_envs.core.definition import make_params

    if port.game:
        from thrust_envs.registration import game_lookup

        game = game_lookup(env_id)
        params = make_params(game, env_id, env_kwargs)
        observation_space = game.observation_space(params)
        action_space = game.action_space(params)
        max_steps = int(game.max_steps(params))
        game_config = {"players": int(game.num_agents(params)), "opponent": port.bot}
    else:
        from thrust_envs.registration import lookup

        definition, spec = lookup(env_id)
        params = make_params(definition, env_id, {**spec.kwargs, **env_kwargs})
        observation_space = definition.observation_space(params)
        action_space = definition.action_space(params)
        max_steps = spec.max_episode_steps or 0
        game_config = {}
    config = {
        "env_id": env_id,
        "env_name": port.name,
        "params": params._asdict(),
        "max_episode_steps": max_steps,
        "observation_shape": list(observation_space.shape),
        "action_space": _describe_space(action_space),
        **game_config,
    }
    return port, config


def _describe_space(space: Any) -> dict[str, Any]:
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": [int(n) for n in space.nvec]}
    return {"type": "Box", "shape": list(space.shape)}


def _action_text(kind: str, n: int, nvec: Any, shape: Any) -> str:
    """An action space in words, the same for the env's and the policy's (``start`` offsets
    aside, which SB3's predict ignores)."""
    if kind == "Discrete":
        return f"Discrete({n})"
    if kind == "MultiDiscrete":
        return f"MultiDiscrete({[int(v) for v in nvec]})"
    return f"{kind} of shape {tuple(shape)}"


def _check_fits(plan: PolicyPlan, config: Mapping[str, Any]) -> None:
    """The policy must read the env's observations and produce its actions."""
    env_id = config["env_id"]
    if list(plan.observation_shape) != config["observation_shape"]:
        raise ValueError(
            f"the policy reads observations of shape {plan.observation_shape}, but {env_id} "
            f"gives shape {tuple(config['observation_shape'])}"
        )
    space = config["action_space"]
    action = plan.action
    wanted = _action_text(space["type"], space.get("n"), space.get("nvec"), space.get("shape"))
    offered = _action_text(action.type, action.n, action.nvec, action.shape)
    if offered != wanted:
        raise ValueError(
            f"the policy's actions ({offered}) do not fit {env_id}, which takes {wanted}"
        )


def _plan_of(model_or_artifact: Any, vec_normalize: Any, algo: str | None) -> PolicyPlan:
    from thrust_export.numpy_policy import NumpyPolicy

    is_policy = isinstance(model_or_artifact, NumpyPolicy)
    is_artifact = isinstance(model_or_artifact, (str, os.PathLike)) and str(
        model_or_artifact
    ).endswith(".npz")
    if is_policy or is_artifact:
        # Both describe an SB3 model still to be read: an exported policy already holds its
        # statistics and its algorithm, so either given here would be silently ignored.
        what = "a NumpyPolicy" if is_policy else "a .npz artifact"
        if vec_normalize is not None:
            raise ValueError(
                f"vec_normalize (--vec-normalize) applies to an SB3 model; {what} already holds "
                "its observation statistics"
            )
        if algo is not None:
            raise ValueError(
                f"algo (--algo) names the algorithm of an SB3 model's .zip; {what} already "
                "records its algorithm"
            )
    if is_policy:
        return model_or_artifact.plan
    if is_artifact:
        from thrust_export.artifact import ArtifactError, read_artifact

        metadata, arrays = read_artifact(model_or_artifact)
        try:
            return plan_policy(metadata, arrays)
        except ArtifactError as exc:
            raise ArtifactError(f"{model_or_artifact}: {exc}") from exc
    from thrust_export.sb3 import extract, load_model, load_vec_normalize

    model = load_model(model_or_artifact, algo)
    metadata, arrays = extract(model, load_vec_normalize(vec_normalize))
    return plan_policy(metadata, arrays)


def _script(text: str) -> str:
    # An inline script ends at the first "</script"; the files are ours and never contain it.
    if "</script" in text.lower():
        raise AssertionError("an inlined script contains '</script'")
    return f"<script>\n{text}</script>"


_PLACEHOLDER = re.compile(r"__(?:TITLE|HEADING|SUBTITLE|CONFIG|SCRIPTS)__")


def page_html(plan: PolicyPlan, port: WebEnv, config: Mapping[str, Any]) -> str:
    """The page's HTML text for ``plan`` playing the env ``config`` describes.

    :param plan: the policy
    :param port: the env's JavaScript port
    :param config: the env config from :func:`web_env`
    :return: one self-contained HTML document
    """
    page_config = {**config, "plan": plan_to_json(plan)}
    scripts = [
        (_HERE / name).read_text(encoding="utf-8")
        for name in (*_SHARED_BEFORE, *port.scripts, *_SHARED_AFTER)
    ]
    config_json = json.dumps(page_config, separators=(",", ":"), allow_nan=False)
    env_id = config["env_id"]
    subtitle = (
        f"A {plan.algorithm} policy playing {env_id} in your browser: the env's physics and "
        "the policy's forward pass run in JavaScript, seeded as Thrust's vector env."
    )
    if port.game and config["players"] == 1:
        subtitle += f" The policy plays {port.seat} alone."
    elif port.game:
        # What the page's Episodes do, and the Python view that plays the same episodes.
        bot_call = _python_bot_call(env_id, port.bot, config["params"])
        subtitle += (
            f" The policy plays {port.seat} (seat 0), the {port.bot} bot every other seat, as "
            f"thrust_envs.vs_opponent(env_id, {bot_call}, seat=0) plays them: an "
            "episode ends when the game ends or when seat 0 is out of it, and a new game begins."
        )
    replacements = {
        # Text from the artifact (its algorithm name) is HTML-escaped: a crafted artifact must
        # not put markup, let alone a script, into the page.
        "__TITLE__": html.escape(f"Thrust: {plan.algorithm} on {env_id}"),
        "__HEADING__": html.escape(f"{plan.algorithm} on {env_id}"),
        "__SUBTITLE__": html.escape(subtitle),
        # "<" never appears unescaped in the JSON, so it cannot close the script element.
        "__CONFIG__": config_json.replace("<", "\\u003c"),
        "__SCRIPTS__": "\n".join(_script(text) for text in scripts),
    }
    template = (_HERE / "page.html").read_text(encoding="utf-8")
    # One pass: a placeholder's name inside a substituted value (an artifact's text, say)
    # stays text, where replacing one placeholder after the other would substitute it again.
    return _PLACEHOLDER.sub(lambda match: replacements[match[0]], template)


def export_web(
    model_or_artifact: Any,
    path: str | os.PathLike[str],
    env_id: str,
    *,
    vec_normalize: Any = None,
    algo: str | None = None,
    **env_kwargs: Any,
) -> Path:
    """Write one self-contained HTML page where the policy plays ``env_id``.

    :param model_or_artifact: an SB3 model, the path of its ``.zip``, a ``.npz`` artifact
        written by :func:`thrust_export.export_numpy`, or a :class:`~thrust_export.NumpyPolicy`
    :param path: the ``.html`` file to write
    :param env_id: a Thrust ID from :data:`WEB_ENVS` (e.g. ``"Thrust/CartPole-v1"``)
    :param vec_normalize: VecNormalize statistics to fold in (an SB3 model only: refused with
        an artifact or a NumpyPolicy, which hold their own)
    :param algo: algorithm of a ``.zip`` (detected when None; refused with an artifact or a
        NumpyPolicy)
    :param env_kwargs: the env's parameters (fields of its params NamedTuple)
    :return: the path written
    :raises ValueError: an env the page cannot run, a policy that does not fit it, bad
        parameters, ``path`` naming an input file; :class:`~thrust_export.ArtifactError` for a
        damaged artifact
    :raises NotImplementedError: a policy kind the export does not support
    :raises FileNotFoundError: a missing input file
    """
    inputs = {"model_or_artifact": model_or_artifact, "vec_normalize": vec_normalize}
    check_not_an_input(path, inputs, "path")
    port, config = web_env(env_id, env_kwargs)
    plan = _plan_of(model_or_artifact, vec_normalize, algo)
    _check_fits(plan, config)
    page = page_html(plan, port, config)
    data = page.encode("utf-8")
    return write_file(path, lambda f: f.write(data))
