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

import contextlib
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
    :class:`EmptyCapture` (it did, elsewhere); either way torch's current stream and device
    are the caller's again. Warnings raised meanwhile, other than torch's empty-graph one, are
    issued again afterwards (only after a capture that worked under the caller's filters: a
    warning the caller made an error must not hide what happened to the capture). A
    ``graph`` that is not a ``torch.cuda.CUDAGraph`` or a ``work`` that is not callable raises
    ``TypeError`` before anything touches the device."""
    if not callable(work):
        raise TypeError(f"capture: work must be callable (no arguments), got {work!r}")
    if not isinstance(graph, torch.cuda.CUDAGraph):
        raise TypeError(f"capture: graph must be a torch.cuda.CUDAGraph, got {type(graph)!r}")
    with torch.cuda.device(device):
        previous = torch.cuda.current_stream(device)
        stream = torch.cuda.Stream(device=device)
        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
                        result = work()
                except BaseException:
                    _end_abandoned_capture(graph, stream)
                    raise
        except BaseException:
            _issue_again(caught, quietly=True)
            raise
        finally:
            torch.cuda.set_stream(previous)
    empty = [w for w in caught if "graph is empty" in str(w.message).lower()]
    _issue_again([w for w in caught if w not in empty], quietly=bool(empty))
    if empty:
        raise EmptyCapture(str(empty[0].message))
    return result


def _end_abandoned_capture(graph: torch.cuda.CUDAGraph, stream: torch.cuda.Stream) -> None:
    """End a capture that a failure left open on ``stream`` (a stream of torch's pool, which
    the next ``torch.cuda.Stream()`` may hand out again): ``torch.cuda.graph``'s end can
    refuse before it ends the capture (work that left another stream current)."""
    with torch.cuda.stream(stream):
        if torch.cuda.is_current_stream_capturing():
            with contextlib.suppress(Exception):  # the capture is lost either way
                graph.capture_end()


def _issue_again(caught: list[warnings.WarningMessage], quietly: bool) -> None:
    for w in caught:
        with contextlib.suppress(Warning) if quietly else contextlib.nullcontext():
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
