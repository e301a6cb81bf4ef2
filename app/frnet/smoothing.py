"""Temporal smoothing of tracked faces: an adaptive low-pass with constant-velocity prediction.

Applied per tracked face to its 62 parameters expressed relative to a fixed frame-sized ROI (so
ROI changes between frames are not mistaken for motion), in three groups:

* **pose** (``[:12]``) — a One-Euro-style filter
  (Casiez et al., CHI 2012) whose cut-off rises with the speed of the face's 68 points, measured
  in face sizes per second: still faces get heavy smoothing, moving ones little. A plain One-Euro
  filter still lags by ``(1 − α)/α`` frames, which at 300°/s is a few per cent of the face size, so
  the filter blends the new measurement with a *constant-velocity prediction* (the last estimate
  moved on by the filtered rate of change) instead of with the last estimate: steady motion is
  followed without lag, and the prediction is only trusted in proportion to the speed, so a
  still face's noise does not leak in through the velocity estimate.
* **expression** — its own One-Euro filter on the coefficients' rate of change (a smile is not a
  head turn, and a turning head need not leave its expression unsmoothed).
* **identity** (shape coefficients) — averaged over the track (the person does not change shape),
  over at most ``identity_window`` frames so that a bad first estimate is forgotten.

The presets in :data:`SMOOTHING_LEVELS` (``none``, ``light``, ``strong``) are what the CLI
(``--smoothing``) and the GUI offer; their measured trade-off is in docs/video.md
(``scripts/temporal_benchmark.py``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .geometry import NUM_POSE_PARAMS


def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray | float:
    if isinstance(cutoff_hz, float):  # the per-frame scalars: plain floats, no numpy round trip
        return 0.0 if cutoff_hz <= 0 else 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff_hz * dt_s))
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff_hz))
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """Vector One-Euro filter (each dimension its own speed and cut-off).

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


def _affine_part(points: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """The least-squares affine velocity field ``A·p + b`` closest to the points' velocities.

    Head motion (moves, turns, nods, zoom) is close to affine over the 68 points; independent
    per-point noise mostly is not, so the fit keeps the motion and drops most of the noise.
    """
    # The design matrix [p - mean(p), 1] has its constant column orthogonal to the centred ones,
    # so the least-squares fit splits into the mean velocity and a 2×2 normal-equation solve.
    centred = points - points.mean(axis=0)
    mean_velocity = velocity.mean(axis=0)
    (gxx, gxy), (_, gyy) = (centred.T @ centred).tolist()
    det = gxx * gyy - gxy * gxy
    if abs(det) <= 1e-12 * max(gxx + gyy, 1e-300) ** 2:
        design = np.concatenate([centred, np.ones((len(points), 1))], axis=1)  # degenerate: points on a line
        coefficients, *_ = np.linalg.lstsq(design, velocity, rcond=None)
        return design @ coefficients
    inverse = np.array([[gyy, -gxy], [-gxy, gxx]]) / det
    return centred @ (inverse @ (centred.T @ (velocity - mean_velocity))) + mean_velocity


@dataclass(frozen=True)
class SmoothingSettings:
    """One smoothing preset (see the module doc).

    Attributes:
        min_cutoff_hz: cut-off of the pose when the face holds still.
        beta: growth of the pose cut-off (Hz) per face size per second of point speed (above
            ``speed_knee``; below it the growth is quadratic, ``beta·speed²/speed_knee``).
        speed_knee: point speed (face sizes/s) where the cut-off's growth turns linear.
        speed_cutoff_hz: low-pass of the point speed that drives the cut-off.
        velocity_cutoff_hz: low-pass of the parameters' rate of change used for the prediction.
        prediction_speed: point speed (face sizes/s) from which the prediction is fully trusted
            (below it, in proportion to ``(speed / prediction_speed) ** trust_power``); 0 turns
            prediction off (a plain One-Euro filter).
        trust_power: how fast the trust in the prediction falls below ``prediction_speed`` (2:
            a near-still face's noisy velocity estimate hardly leaks into the estimate).
        identity_window: identity is the running mean of at most this many frames (1: not averaged).
        expression_min_cutoff_hz, expression_beta: the expression coefficients' own One-Euro
            filter (cut-off when unchanging; growth per standard deviation per second).
    """

    min_cutoff_hz: float
    beta: float
    speed_cutoff_hz: float = 4.0
    velocity_cutoff_hz: float = 4.0
    prediction_speed: float = 0.5
    identity_window: int = 30
    speed_knee: float = 1.0
    trust_power: float = 1.0
    expression_min_cutoff_hz: float = 1.0
    expression_beta: float = 0.3


SMOOTHING_LEVELS: dict[str, SmoothingSettings | None] = {
    "none": None,
    # Tuned on the temporal benchmark (scripts/smoothing_replay.py --search 300, docs/video.md) on
    # the recordings of the shipped v2 network: lower error than the per-frame output on its still,
    # slow and fast frames, and on the real clips at most half the per-frame jitter on still
    # segments with the p95 deviation under 3 % of the face. The pose cut-off is 0.3 Hz when still
    # (the search's floor) and rises steeply with speed; the prediction is trusted only from
    # ≈ 0.55 face sizes/s on (trust_power 46: nearly a switch) and uses a strongly low-passed rate
    # of change (1.4 Hz), so a slowly swaying head is low-passed and a turn is followed.
    "light": SmoothingSettings(min_cutoff_hz=0.3, beta=123.0, speed_cutoff_hz=7.0, velocity_cutoff_hz=1.41,
                               prediction_speed=0.57, speed_knee=1.23, trust_power=46.2,
                               expression_min_cutoff_hz=0.5, expression_beta=0.084),
}
# A calmer overlay: light's still cut-offs lowered (pose 0.15 Hz, expression 0.3 Hz) and a
# slower rise (beta 80): 0.16–0.36 of the per-frame jitter on the real clips' still segments,
# for ≈ 2.4 % more error on slowly moving faces.
SMOOTHING_LEVELS["strong"] = dataclasses.replace(SMOOTHING_LEVELS["light"], min_cutoff_hz=0.15, beta=80.0,
                                                 expression_min_cutoff_hz=0.3)
DEFAULT_SMOOTHING = "light"


class FaceSmoother:
    """Smooths one tracked face's parameters (frame-fixed ROI) frame by frame; see the module doc.

    Args:
        settings: the preset.
        num_identity: how many identity coefficients follow the 12 pose parameters.
    """

    def __init__(self, settings: SmoothingSettings, num_identity: int) -> None:
        self.settings = settings
        self._identity = slice(NUM_POSE_PARAMS, NUM_POSE_PARAMS + num_identity)
        self._expression = slice(NUM_POSE_PARAMS + num_identity, None)
        self.reset()

    def reset(self) -> None:
        self._time_s: float | None = None
        self._estimate: np.ndarray | None = None
        self._last_raw: np.ndarray | None = None
        self._velocity: np.ndarray | None = None
        self._last_points: np.ndarray | None = None
        self._point_velocity: np.ndarray | None = None
        self._speed = 0.0
        self._frames = 0

    @property
    def speed(self) -> float:
        """The filtered point speed (face sizes per second) of the last call."""
        return self._speed

    def __call__(self, params: np.ndarray, points_px: np.ndarray, time_s: float, reframed: bool = False) -> np.ndarray:
        """Filter ``params (62,)`` measured at ``time_s``; ``points_px (68, 2)`` are the face's
        unsmoothed landmarks in image pixels (they measure its speed). ``reframed``: the crop was
        re-anchored by the detector for this frame, so a jump of the measurement is a change of
        framing, not motion: the speed and velocity estimates ignore it (the estimate eases over
        at the still face's cut-off instead of jumping). Returns the smoothed copy."""
        s = self.settings
        params = np.asarray(params, dtype=np.float64)
        points = np.asarray(points_px, dtype=np.float64)[:, :2]
        extent = points.max(axis=0) - points.min(axis=0)
        face_size = max(float(np.sqrt(max(extent[0] * extent[1], 0.0))), 1e-6)
        if self._estimate is None or self._time_s is None or time_s <= self._time_s:
            self._time_s, self._estimate, self._last_raw = time_s, params.copy(), params.copy()
            self._velocity = np.zeros_like(params)
            self._last_points, self._speed, self._frames = points, 0.0, 1
            self._point_velocity = np.zeros_like(points)
            self._expression_rate = np.zeros_like(params[self._expression])
            return params.copy()
        dt = time_s - self._time_s
        # Speed of the points (face sizes per second): the mean length of their low-passed velocity
        # vectors, each frame's velocities reduced to their affine part (head motion is nearly
        # affine over the 68 points, per-point noise is not; and low-passing the vectors, not
        # their lengths, lets what noise is left cancel).
        a_s = _alpha(s.speed_cutoff_hz, dt)
        if not reframed:
            velocity = _affine_part(points, (points - self._last_points) / dt)
            self._point_velocity = a_s * velocity + (1 - a_s) * self._point_velocity
            self._speed = float(np.linalg.norm(self._point_velocity, axis=1).mean()) / face_size
        # Rate of change of the parameters, low-passed (for the prediction).
        a_v = _alpha(s.velocity_cutoff_hz, dt)
        # Below the knee the cut-off grows with the square of the speed: a talking head's sway
        # stays smoothed, a turn is followed.
        speed = self._speed if self._speed >= s.speed_knee else self._speed ** 2 / s.speed_knee
        a = _alpha(s.min_cutoff_hz + s.beta * speed, dt)
        if not reframed:
            self._velocity = a_v * (params - self._last_raw) / dt + (1 - a_v) * self._velocity
        trust = 0.0 if s.prediction_speed <= 0 else min(1.0, self._speed / s.prediction_speed) ** s.trust_power
        prediction = self._estimate + trust * self._velocity * dt
        estimate = a * params + (1 - a) * prediction
        # Expression: its own One-Euro filter (a smile is not a head turn), speed in
        # standard deviations of the coefficients per second.
        expr = self._expression
        if not reframed:
            self._expression_rate = a_v * (params[expr] - self._last_raw[expr]) / dt + (1 - a_v) * self._expression_rate
        a_e = _alpha(s.expression_min_cutoff_hz + s.expression_beta * np.abs(self._expression_rate), dt)
        estimate[expr] = a_e * params[expr] + (1 - a_e) * self._estimate[expr]
        # Identity: running mean over the track.
        self._frames += 1
        weight = 1.0 / min(self._frames, max(1, s.identity_window))
        estimate[self._identity] = self._estimate[self._identity] + weight * (
            params[self._identity] - self._estimate[self._identity])
        self._estimate, self._last_raw, self._last_points, self._time_s = estimate, params, points, time_s
        return estimate.copy()
