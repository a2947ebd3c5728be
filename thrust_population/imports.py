"""Objects named ``"module:qualname"`` (an algorithm class, an env factory): the names a run
records so that another process rebuilds the same object."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["import_object"]


def import_object(path: str, noun: str, form: str, error: type[Exception] = ValueError) -> Any:
    """The object ``path`` names: ``"module:qualname"`` (``qualname`` may be dotted, e.g.
    ``"pkg.mod:Outer.Inner"``).

    :param noun: what the object is, for the messages (``"algorithm"``, ``"env factory"``)
    :param form: the expected form, for the messages (``"module:Class"``)
    :param error: the exception class raised
    :raises error: ``path`` is not of the form, its module cannot be imported, or it has no
        such attribute
    """
    article = "an" if noun[:1] in "aeiou" else "a"
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise error(f"{article} {noun} is named {form!r}, got {path!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        missing = (getattr(exc, "name", None) or "").split(".")[0]
        hint = (
            " (install the algos extra: pip install 'thrust-rl[algos]')"
            if missing in ("torch", "stable_baselines3", "sb3_contrib")
            else ""
        )
        raise error(f"cannot import {noun} module {module_name!r}: {exc}{hint}") from exc
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise error(f"no {noun} {qualname!r} in module {module_name!r}")
    return obj
