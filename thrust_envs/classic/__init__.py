"""Gymnasium's classic-control environments, re-implemented as Thrust batch kernels."""
