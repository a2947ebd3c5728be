"""Exporting a league's snapshots through ``thrust_export``."""

from __future__ import annotations

import os
from pathlib import Path

from thrust_population.league.config import LeagueConfig, algorithm_class
from thrust_population.store import Store, StoreError

__all__ = ["EXPORT_FORMATS", "export_member"]

#: Format name -> the file suffix ``thrust-population export`` writes by default.
EXPORT_FORMATS = {"numpy": ".npz", "onnx": ".onnx", "web": ".html"}


def export_member(
    store: Store, name: str, output: str | os.PathLike[str], fmt: str = "numpy"
) -> Path:
    """Export member ``name`` (an SB3 snapshot) through ``thrust_export`` (``numpy``: a
    ``.npz``; ``onnx``: an ``.onnx``; ``web``: an HTML page where it plays the run's game, with
    a league's game parameters) and return the written path.

    A model of a subclass of a supported SB3 algorithm (such as ``thrust_algos.PPO``) is
    reloaded as that algorithm: the policy is the same network.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    member = store.member(name)
    if member.kind != "sb3":
        raise StoreError(f"member {name!r} is a {member.kind}; only SB3 snapshots can be exported")
    path = store.artifact_path(member)
    assert path is not None
    if not path.is_file():
        raise StoreError(f"{store.directory}: artifact of {name!r} is missing: {path}")
    import thrust_export
    from thrust_export.sb3 import SUPPORTED_ALGORITHMS

    cls = algorithm_class(member.info["class"]) if "class" in member.info else None
    supported = set(SUPPORTED_ALGORITHMS.values())
    base = next((c for c in getattr(cls, "__mro__", ()) if c in supported), None)
    model = base.load(str(path), device="cpu") if base is not None else str(path)
    if fmt == "numpy":
        return Path(thrust_export.export_numpy(model, output))
    if fmt == "onnx":
        return Path(thrust_export.export_onnx(model, output))
    from thrust_export.web import export_web

    meta = store.meta("league")  # a league's games have its parameters
    env_kwargs = LeagueConfig.from_dict(meta["config"]).env_kwargs if meta else {}
    return Path(export_web(model, output, env_id=store.env_id, **env_kwargs))
