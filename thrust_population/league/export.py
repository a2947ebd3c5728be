"""Exporting a league's snapshots through ``thrust_export``."""

from __future__ import annotations

import os
from pathlib import Path

from thrust_population.league.config import algorithm_class
from thrust_population.store import Store, StoreError

__all__ = ["export_member"]


def export_member(
    store: Store, name: str, output: str | os.PathLike[str], fmt: str = "numpy"
) -> Path:
    """Export member ``name`` (an SB3 snapshot) through ``thrust_export`` (``numpy``: a
    ``.npz``; ``onnx``: an ``.onnx``) and return the written path.

    A model of a subclass of a supported SB3 algorithm (such as ``thrust_algos.PPO``) is
    reloaded as that algorithm: the policy is the same network.
    """
    if fmt not in ("numpy", "onnx"):
        raise ValueError(f"export format must be numpy or onnx, got {fmt!r}")
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
    return Path(thrust_export.export_onnx(model, output))
