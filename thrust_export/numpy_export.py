"""``export_numpy``: an SB3 model to a torch-free ``.npz`` artifact (needs torch and SB3)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from thrust_export.artifact import check_not_an_input, write_artifact
from thrust_export.numpy_policy import NumpyPolicy, load
from thrust_export.parity import ParityReport, check_verify, parity_verifier
from thrust_export.sb3 import extract, load_model, load_vec_normalize

__all__ = ["export_numpy"]


def export_numpy(
    model_or_path: BaseAlgorithm | str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    vec_normalize: VecNormalize | str | os.PathLike[str] | None = None,
    *,
    algo: str | None = None,
    verify: int = 256,
    on_report: Callable[[ParityReport], object] | None = None,
) -> Path:
    """Write ``model``'s deterministic policy as a numpy artifact (one ``.npz`` file).

    The file holds the float32 weights, the JSON metadata (format version, algorithm, policy class,
    layers with their sizes and activations, observation and action spaces, action bounds and
    squashing, the VecNormalize statistics when given) and a SHA-256 digest of both; it loads with
    ``np.load(path, allow_pickle=False)`` and, through :func:`thrust_export.load`, runs without
    torch.

    :param model_or_path: an SB3 model or the path of its ``.zip``
    :param out_path: the file to write (conventionally ``*.npz``; written exactly there)
    :param vec_normalize: a ``VecNormalize`` or the path of its ``.pkl``: its observation
        statistics are applied inside the exported policy, which then takes raw observations
    :param algo: algorithm of a ``.zip`` (``"PPO"``, ``"A2C"``, ``"DQN"``, ``"SAC"``, ``"TD3"``);
        detected when ``None``
    :param verify: before the file is put at ``out_path``, reload it and compare it with SB3 on
        this many random observations (an int >= 0; 0 to skip); on a mismatch ``RuntimeError``
        is raised and ``out_path`` is left as it was (see
        :func:`thrust_export.artifact.write_file`)
    :param on_report: called with the verification's :class:`~thrust_export.ParityReport`
        (passed or not), e.g. to print it
    :return: the path written
    :raises NotImplementedError: for an unsupported algorithm, policy, space or layer
    :raises TypeError, ValueError: ``verify`` is not an int >= 0, or ``out_path`` names an
        input file (before anything is read)
    """
    n = check_verify(verify)
    check_not_an_input(out_path, {"model_or_path": model_or_path, "vec_normalize": vec_normalize})
    model = load_model(model_or_path, algo)
    vn = load_vec_normalize(vec_normalize)
    metadata, arrays = extract(model, vn)
    check = parity_verifier(model, n, vn, "numpy", load, on_report)
    return write_artifact(out_path, metadata, arrays, check)


def to_numpy_policy(
    model_or_path: BaseAlgorithm | str | os.PathLike[str],
    vec_normalize: VecNormalize | str | os.PathLike[str] | None = None,
    *,
    algo: str | None = None,
    seed: int | None = None,
) -> NumpyPolicy:
    """``model``'s policy as an in-memory :class:`NumpyPolicy`: what :func:`export_numpy` would
    write, without the file (for running a model many times faster than SB3's ``predict`` on
    small batches, e.g. as an opponent in matches).

    :param model_or_path: an SB3 model or the path of its ``.zip``
    :param vec_normalize: as in :func:`export_numpy`
    :param algo: as in :func:`export_numpy`
    :param seed: seed for ``predict(..., deterministic=False)``
    :raises NotImplementedError: for an unsupported algorithm, policy, space or layer
    """
    model = load_model(model_or_path, algo)
    metadata, arrays = extract(model, load_vec_normalize(vec_normalize))
    return NumpyPolicy(metadata, arrays, seed=seed)
