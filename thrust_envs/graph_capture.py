"""Capturing work in a CUDA graph, for the device envs (``thrust_envs.cuda``) and for
``thrust_algos`` (the rollout's act, the update's minibatch step): one way, with the failures
handled once.

Imports torch; ``import thrust_envs`` does not import this module, only its users do.

``torch.cuda.graph`` switches torch's current stream to its capture stream on entry and back
on exit, but its ``__exit__`` ends the capture first and has no ``finally``
(torch/cuda/graphs.py): when ending the capture raises (an operation the capture refused),
the caller is left on the capture stream and its fallback work would run there. And its
default capture stream is one per process, made on whichever device was current when it was
first used. :func:`capture` restores the caller's stream whatever happens and captures on a
stream of the graph's own device. A capture that failed may still leave torch's allocator
unable to capture again in this process (a failed capture's memory pool is not released):
every user here then falls back to running its work, with a warning, rather than retrying.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch


class EmptyCapture(RuntimeError):
    """The capture recorded nothing: the work went to another stream, so it already ran
    (torch warned "The CUDA Graph is empty")."""


def capture(graph: torch.cuda.CUDAGraph, work: Callable[[], Any], device: torch.device) -> Any:
    """Record ``work()`` into ``graph`` on ``device`` and return what it returned (tensors of
    the graph's memory, which every replay overwrites); the work is recorded, not run: replay
    the graph to run it. ``capture_error_mode="thread_local"``: other threads' CUDA calls do
    not break it. Raises what the capture raised (the work did not run), or
    :class:`EmptyCapture` (it did, elsewhere); either way torch's current stream is the
    caller's again. Warnings raised meanwhile other than torch's empty-graph one are re-issued."""
    previous = torch.cuda.current_stream(device)
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stream = torch.cuda.Stream(device=device)
            with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
                result = work()
    finally:
        torch.cuda.set_stream(previous)
        empty = [w for w in caught if "graph is empty" in str(w.message).lower()]
        for other in (w for w in caught if w not in empty):
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    if empty:
        raise EmptyCapture(str(empty[0].message))
    return result
