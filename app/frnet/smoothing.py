"""Temporal smoothing for video: the One-Euro filter (Casiez et al., CHI 2012).

A low-pass filter whose cut-off rises with speed: still faces get heavy smoothing (no jitter),
fast motion little (no lag). Applied per tracked face to its parameters expressed relative to a
fixed frame-sized ROI, so that ROI changes between frames are not mistaken for motion.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff_hz))
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """Vector One-Euro filter.

    Args:
        min_cutoff_hz: cut-off at zero speed (lower = smoother when still).
        beta: how fast the cut-off grows with speed (higher = less lag when moving).
        derivative_cutoff_hz: cut-off of the speed estimate.
    """

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.05, derivative_cutoff_hz: float = 1.0):
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.derivative_cutoff_hz = derivative_cutoff_hz
        self.reset()

    def reset(self) -> None:
        self._value: np.ndarray | None = None
        self._derivative: np.ndarray | None = None
        self._time_s: float | None = None

    def __call__(self, value: np.ndarray, time_s: float, scale: np.ndarray | float = 1.0) -> np.ndarray:
        """Filter one sample taken at ``time_s``. ``scale`` expresses speeds per-dimension in
        comparable units (e.g. parameter standard deviations) so one ``beta`` fits all."""
        value = np.asarray(value, dtype=np.float64)
        if self._value is None or self._time_s is None or time_s <= self._time_s:
            self._value, self._derivative, self._time_s = value.copy(), np.zeros_like(value), time_s
            return value.copy()
        dt = time_s - self._time_s
        derivative = (value - self._value) / dt
        a_d = _alpha(self.derivative_cutoff_hz, dt)
        self._derivative = a_d * derivative + (1 - a_d) * self._derivative
        cutoff = self.min_cutoff_hz + self.beta * np.abs(self._derivative) / np.asarray(scale)
        a = _alpha(cutoff, dt)
        self._value = a * value + (1 - a) * self._value
        self._time_s = time_s
        return self._value.copy()
