"""Parity check: an exported policy against SB3's own ``predict`` on random observations.

Needs torch and stable-baselines3 (it runs the original model). Observations are drawn from the
model's observation space (uniform on bounded dimensions, normal/exponential on unbounded ones, as
gymnasium's ``Box.sample``); with VecNormalize statistics, the raw observations go to the export
and ``vec_normalize.normalize_obs(obs)`` to SB3.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.vec_env import VecNormalize

from thrust_export.numpy_policy import NumpyPolicy, load
from thrust_export.onnx_policy import OnnxPolicy
from thrust_export.sb3 import ACTOR_CRITIC_ALGORITHMS, algorithm_name, load_vec_normalize

__all__ = [
    "ParityReport",
    "check_parity",
    "check_verify",
    "parity_verifier",
    "reference_outputs",
    "sample_observations",
]

DEFAULT_TOLERANCE = 1e-5


class ExportedPolicy(Protocol):
    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]: ...

    def forward(self, observation: np.ndarray) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class ParityReport:
    """Result of :func:`check_parity`.

    :param n_observations: how many observations were compared
    :param deviations: output name -> largest absolute difference from SB3
    :param discrete: whether the actions are discrete (compared for exact equality)
    :param action_mismatches: discrete: action elements differing from SB3; continuous: elements
        outside the tolerance
    :param within_tolerance: whether every non-action output is within the tolerance
    :param problems: dtype/shape differences and other failures, in words
    :param tolerance: ``|exported - sb3| <= tolerance * max(1, |sb3|)`` is required of
        continuous outputs (absolute up to magnitude 1, relative beyond)
    """

    n_observations: int
    deviations: dict[str, float]
    discrete: bool
    action_mismatches: int
    within_tolerance: bool
    problems: tuple[str, ...] = field(default_factory=tuple)
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def passed(self) -> bool:
        """No action mismatch, no problem, every other output within tolerance."""
        return self.action_mismatches == 0 and not self.problems and self.within_tolerance

    @property
    def largest_deviation(self) -> tuple[str, float]:
        """``(output name, deviation)`` of the largest absolute deviation."""
        name = max(self.deviations, key=lambda k: self.deviations[k])
        return name, self.deviations[name]

    def summary(self) -> str:
        """One line: the largest deviation, per-output deviations and the verdict."""
        name, value = self.largest_deviation
        parts = ", ".join(f"{k} {v:.3g}" for k, v in self.deviations.items())
        kind = "exact match required" if self.discrete else f"tolerance {self.tolerance:g}"
        text = (
            f"parity on {self.n_observations} random observations: largest deviation {value:.3g} "
            f"({name}); {parts}; action mismatches {self.action_mismatches} ({kind})"
        )
        if self.problems:
            text += "; problems: " + "; ".join(self.problems)
        return text + (" -> OK" if self.passed else " -> FAILED")


def sample_observations(space: spaces.Space, n: int, seed: int = 0) -> np.ndarray:
    """``n`` observations drawn from a Box space with its own sampling rule, stacked.

    :param space: a ``gymnasium.spaces.Box``
    :param n: how many
    :param seed: seed of a private copy of the space (``space`` itself is not reseeded)
    :return: array of shape ``(n, *space.shape)`` and the space's dtype
    """
    if not isinstance(space, spaces.Box):
        raise NotImplementedError(f"sampling {type(space).__name__} observations")
    box = spaces.Box(
        low=space.low, high=space.high, shape=space.shape, dtype=space.dtype, seed=seed
    )
    return (
        np.stack([box.sample() for _ in range(n)])
        if n
        else np.zeros((0, *space.shape), space.dtype)
    )


def reference_outputs(
    model: BaseAlgorithm, observations: np.ndarray, vec_normalize: VecNormalize | None = None
) -> dict[str, np.ndarray]:
    """SB3's outputs for a batch of raw observations, named as in the export.

    ``action`` is ``model.predict(obs, deterministic=True)[0]`` itself; the other outputs run the
    policy's own modules (``predict_values``, ``action_net``, ``q_net``,
    ``actor.get_action_dist_params``).

    :param model: the SB3 model
    :param observations: shape ``(batch, *obs_shape)``
    :param vec_normalize: statistics applied with ``normalize_obs`` first, as at training time
    :return: output name -> array with a leading batch axis
    """
    obs = observations
    if vec_normalize is not None and vec_normalize.norm_obs:
        obs = vec_normalize.normalize_obs(obs)
    policy = model.policy
    result: dict[str, np.ndarray] = {"action": model.predict(obs, deterministic=True)[0]}
    algorithm = algorithm_name(model)
    with th.no_grad():
        tensor = policy.obs_to_tensor(obs)[0]
        if algorithm in ACTOR_CRITIC_ALGORITHMS:
            result["value"] = policy.predict_values(tensor)[:, 0].cpu().numpy()
            features = policy.pi_features_extractor(
                preprocess_obs(tensor, policy.observation_space)
            )
            out = policy.action_net(policy.mlp_extractor.forward_actor(features)).cpu().numpy()
            discrete = isinstance(
                model.action_space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
            )
            result["logits" if discrete else "mean"] = out
        elif algorithm == "DQN":
            result["q_values"] = policy.q_net(tensor).cpu().numpy()
        elif algorithm == "SAC":
            mean, log_std, _ = policy.actor.get_action_dist_params(tensor)
            result["mean"] = mean.cpu().numpy()
            if not policy.actor.use_sde:
                result["log_std"] = log_std.cpu().numpy()
    return result


def _as_exported(exported: ExportedPolicy | str | os.PathLike[str]) -> ExportedPolicy:
    if isinstance(exported, (str, os.PathLike)):
        path = Path(exported)
        return OnnxPolicy(path) if path.suffix.lower() == ".onnx" else load(path)
    return exported


def check_verify(verify: object) -> int:
    """The exporters' ``verify`` argument, checked before anything is loaded or written.

    :param verify: how many random observations to compare with SB3 (0: no verification)
    :return: ``verify``
    :raises TypeError: not an integer (``True``/``False`` included: they would silently mean
        1 and 0 observations)
    :raises ValueError: a negative number
    """
    if isinstance(verify, bool) or not isinstance(verify, (int, np.integer)):
        raise TypeError(
            "verify must be a number of observations (an int >= 0; 0 skips the verification), "
            f"got {verify!r}"
        )
    if verify < 0:
        raise ValueError(
            f"verify must be a number of observations (an int >= 0; 0 skips the verification), "
            f"got {verify}"
        )
    return int(verify)


def parity_verifier(
    model: BaseAlgorithm,
    n: int,
    vec_normalize: VecNormalize | None,
    label: str,
    load_export: Callable[[Path], ExportedPolicy],
    on_report: Callable[[ParityReport], object] | None = None,
) -> Callable[[Path], None] | None:
    """An exporter's ``verify`` step, the ``check`` of :func:`thrust_export.artifact.write_file`:
    it loads the file just written (still at its temporary path) with ``load_export`` and
    compares it with SB3's predict on ``n`` random observations.

    :param model: the exported SB3 model
    :param n: observations to compare (0: no verification, ``None`` is returned)
    :param vec_normalize: the statistics folded into the export
    :param label: the format, named in the error
    :param load_export: reads an export from a path (``load``, ``OnnxPolicy``)
    :param on_report: called with the report, whether it passed or not, before the verdict
    :return: the check, or ``None`` when ``n`` is 0
    """
    if not n:
        return None

    def verify(path: Path) -> None:
        report = check_parity(model, load_export(path), n=n, vec_normalize=vec_normalize)
        if on_report is not None:
            on_report(report)
        if not report.passed:
            raise RuntimeError(
                f"the {label} export does not reproduce SB3's predict: {report.summary()}"
            )

    return verify


def check_parity(
    model: BaseAlgorithm,
    exported: NumpyPolicy | OnnxPolicy | ExportedPolicy | str | os.PathLike[str],
    n: int = 1000,
    vec_normalize: VecNormalize | str | os.PathLike[str] | None = None,
    seed: int = 0,
    batch_size: int = 1024,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ParityReport:
    """Compare an export with SB3 on ``n`` random observations from the observation space.

    Every named output is compared; the action also through the export's ``predict`` (dtype and
    shape must equal SB3's). Discrete actions must match exactly.

    :param model: the SB3 model that was exported
    :param exported: a NumpyPolicy, an OnnxPolicy, or the path of an ``.npz``/``.onnx`` export
    :param n: number of observations (>= 1)
    :param vec_normalize: the statistics folded into the export, if any
    :param seed: seed of the observation sampler
    :param batch_size: observations per call
    :param tolerance: see :class:`ParityReport`
    :return: the report
    """
    if n < 1 or batch_size < 1:
        raise ValueError(f"n and batch_size must be >= 1, got n={n}, batch_size={batch_size}")
    policy = _as_exported(exported)
    vn = load_vec_normalize(vec_normalize)
    discrete = isinstance(
        model.action_space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
    )
    observations = sample_observations(model.observation_space, n, seed)
    deviations: dict[str, float] = {}
    problems: list[str] = []
    mismatches = 0
    within = True
    for start in range(0, n, batch_size):
        obs = observations[start : start + batch_size]
        ref = reference_outputs(model, obs, vn)
        got = policy.forward(obs)
        actions, _ = policy.predict(obs, deterministic=True)
        if actions.dtype != ref["action"].dtype or actions.shape != ref["action"].shape:
            problems.append(
                f"predict returned {actions.dtype}{actions.shape}, "
                f"SB3 {ref['action'].dtype}{ref['action'].shape}"
            )
        missing = set(ref) - set(got)
        if missing:
            problems.append(f"outputs missing from the export: {sorted(missing)}")
        for name in ref:
            if name not in got:
                continue
            a = np.asarray(got[name])
            b = np.asarray(ref[name])
            if a.shape != b.shape:
                problems.append(f"output {name!r} has shape {a.shape}, SB3 {b.shape}")
                continue
            a64 = a.astype(np.float64)
            b64 = b.astype(np.float64)
            both_nan = np.isnan(a64) & np.isnan(b64)
            diff = np.where(both_nan, 0.0, np.abs(a64 - b64))
            if diff.size:
                worst = float(np.max(diff))  # NaN if only one side is NaN
                deviations[name] = (
                    worst if np.isnan(worst) else max(deviations.get(name, 0.0), worst)
                )
            ok = diff <= tolerance * np.maximum(1.0, np.abs(b64))
            if name == "action":
                bad = (a64 != b64) & ~both_nan if discrete else ~ok
                mismatches += int(np.count_nonzero(bad))
                if not np.array_equal(a, actions, equal_nan=a.dtype.kind == "f"):
                    problems.append("forward()['action'] differs from predict()")
            elif not np.all(ok):
                within = False
    return ParityReport(
        n_observations=n,
        deviations=deviations or {"action": 0.0},
        discrete=discrete,
        action_mismatches=mismatches,
        within_tolerance=within,
        problems=tuple(dict.fromkeys(problems)),
        tolerance=tolerance,
    )
