"""Learned per-series baseline for event counts (SPEC §7): EWMA mean and variance.

A series is one grid x category count per window. The baseline keeps an
exponentially weighted mean and variance, optionally one pair per season
(hour of day for hourly windows, day of week for daily ones). The alarm rule is
EARS C2-like: alert when the count exceeds ``expected + z * sigma``, where

* ``expected = max(mean, min_expected)`` so a near-silent series is not judged
  against an expectation of zero, and
* ``sigma = max(sqrt(var), sqrt(expected), min_sigma)``: the EWMA variance of a
  sparse count series badly underestimates its spread, so the Poisson spread of
  the expectation and a fixed floor bound it from below.

For small expectations the Poisson tail is far heavier than the normal one
(P(X >= 6 | mean 1) is 6e-4, not the 3e-5 of z = 4), so the threshold is also
never below the Poisson count whose upper tail matches the one of ``z``.
"""

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    """Tuning of every series baseline.

    ``cluster_z`` is the bar a neighbourhood (a grid and some of its neighbours)
    must clear with its summed count against its summed expectation: a
    spread-out anomaly lifts each grid less than a burst lifts one.
    ``cluster_z_per_grid`` raises that bar for each grid past two: the scan picks
    each zone's members among the grids that happen to be high, and the more it
    picks, the more its summed excess is chance.
    ``seasons`` is 1 (no seasonality), 24 (hour of day) or 7 (day of week); a
    season's own estimate is used once it has ``warmup`` updates, before that
    the all-season estimate stands in for it.
    """

    alpha: float = 0.1
    z: float = 4.0
    cluster_z: float = 2.5
    cluster_z_per_grid: float = 0.0
    min_expected: float = 1.0
    min_sigma: float = 1.0
    warmup: int = 7
    seasons: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        if not 0 < self.cluster_z <= self.z or self.min_expected < 0 or self.min_sigma <= 0:
            raise ValueError("need 0 < cluster_z <= z, min_sigma > 0 and min_expected >= 0")
        if self.cluster_z_per_grid < 0:
            raise ValueError("cluster_z_per_grid must be >= 0")
        if self.warmup < 0 or self.seasons < 1:
            raise ValueError("warmup must be >= 0 and seasons >= 1")


def _poisson_quantile(mean: float, tail: float) -> int:
    """The smallest k with P(X > k) <= tail for X ~ Poisson(mean)."""
    k, pmf = 0, math.exp(-mean)
    cdf = pmf
    # exp(-mean) underflows past ~700; such means are far into the normal regime.
    while 1.0 - cdf > tail and pmf > 0.0:
        k += 1
        pmf *= mean / k
        cdf += pmf
    return k


def count_threshold(expected: float, sigma: float, z: float) -> float:
    """``expected + z * sigma``, never below the Poisson count with the tail of ``z``."""
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))
    return max(expected + z * sigma, float(_poisson_quantile(expected, tail)))


@dataclass(slots=True)
class _Ewma:
    mean: float = 0.0
    var: float = 0.0
    n: int = 0

    def update(self, value: float, alpha: float) -> None:
        # A plain average until 1/n drops below alpha, so early windows are not
        # dominated by whichever count happened to come first.
        weight = max(alpha, 1.0 / (self.n + 1))
        diff = value - self.mean
        self.mean += weight * diff
        self.var = (1.0 - weight) * (self.var + weight * diff * diff)
        self.n += 1


class SeriesBaseline:
    """Baseline state of one series; mutable, persisted with ``to_dict``/``from_dict``."""

    __slots__ = ("_all", "_seasons", "config")

    def __init__(self, config: BaselineConfig, prior_zero_windows: int = 0) -> None:
        """``prior_zero_windows``: windows already observed as zero before the
        series' first event, so a newly seen series is not stuck in warm-up."""
        self.config = config
        self._all = _Ewma(n=prior_zero_windows)
        self._seasons = [
            _Ewma(n=prior_zero_windows // config.seasons) for _ in range(config.seasons)
        ]

    @property
    def windows_seen(self) -> int:
        return self._all.n

    @property
    def warmed_up(self) -> bool:
        return self._all.n >= self.config.warmup

    def _estimate(self, season: int) -> _Ewma:
        own = self._seasons[season % self.config.seasons]
        return own if own.n >= self.config.warmup else self._all

    def expected(self, season: int = 0) -> float:
        return max(self._estimate(season).mean, self.config.min_expected)

    def sigma(self, season: int = 0) -> float:
        est = self._estimate(season)
        return max(math.sqrt(est.var), math.sqrt(self.expected(season)), self.config.min_sigma)

    def variance(self, season: int = 0) -> float:
        """The learnt variance alone, unfloored: a sum over grids floors it once, as a whole."""
        return self._estimate(season).var

    def threshold(self, season: int = 0, z: float | None = None) -> float:
        """The count above which a window is anomalous at ``z`` (default: the config's)."""
        z = self.config.z if z is None else z
        return count_threshold(self.expected(season), self.sigma(season), z)

    def score(self, count: float, season: int = 0) -> float:
        """Standardised excess of ``count`` over the expectation (a z-score)."""
        return (count - self.expected(season)) / self.sigma(season)

    def is_anomalous(self, count: float, season: int = 0, z: float | None = None) -> bool:
        return self.warmed_up and count > self.threshold(season, z)

    def update(self, count: float, season: int = 0) -> None:
        """Learn from one closed window.

        A count over the threshold is learnt as the threshold itself, so an
        ongoing anomaly does not raise the baseline enough to hide its own tail;
        not while the season is still learning, or a busy season's first counts
        would be clipped to the quieter all-season level.
        """
        own = self._seasons[season % self.config.seasons]
        learning = own.n < self.config.warmup
        learnt = count if learning else min(count, self.threshold(season))
        self._all.update(learnt, self.config.alpha)
        self._seasons[season % self.config.seasons].update(learnt, self.config.alpha)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state; the config is not included (it belongs to the deployment)."""
        return {
            "all": [self._all.mean, self._all.var, self._all.n],
            "seasons": [[s.mean, s.var, s.n] for s in self._seasons],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: BaselineConfig) -> "SeriesBaseline":
        seasons = data["seasons"]
        if len(seasons) != config.seasons:
            raise ValueError(f"state has {len(seasons)} seasons, config {config.seasons}")
        baseline = cls(config)
        baseline._all = _Ewma(float(data["all"][0]), float(data["all"][1]), int(data["all"][2]))
        baseline._seasons = [_Ewma(float(m), float(v), int(n)) for m, v, n in seasons]
        return baseline
