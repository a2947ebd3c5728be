"""Learning runs (slow-marked: ``./dev.sh test -m slow``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_sac_solves_thrust_pendulum():
    mean, _, _ = _load("sb3_pendulum").train(timesteps=12_000, seed=0)
    assert mean > -200


@pytest.mark.slow
def test_stock_ppo_beats_the_pong_tracker_through_vs_opponent():
    rate, _, _ = _load("sb3_pong_shared").train(timesteps=3_000_000, seed=0, verbose=False)
    assert rate >= 0.8
