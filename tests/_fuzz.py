"""Hypothesis settings shared by the decoder and simulator fuzz tests."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_BASE = settings(
    deadline=None,
    database=None,  # keep the work tree clean; a failure prints its reproduction blob
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(examples: int) -> settings:
    """Settings for a fuzz test running ``examples`` examples, with no deadline."""
    return settings(_BASE, max_examples=examples)
