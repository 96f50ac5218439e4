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
    weekday_prior: float = 0.0
    """Weeks of pseudo-history pulling each category's day-of-week factor toward 1 (0: no
    day-of-week factor). See ``WeekdayProfile``."""
    learn_z: float | None = None
    """A count over the bar at this z is learnt as that bar (None: the alert's own z)."""
    pooled_dispersion: bool = False
    """Floor each series' spread by its category's negative binomial over-dispersion, pooled
    over the category's series (``Dispersion``: one series' variance from a few weeks is
    noise), and judge a count by the negative binomial tail."""
    pooled_levels: bool = False
    """Shrink each series' learnt level toward the grid x category model of every series
    (``Pool``: the grid's share of the city times the category's total), by empirical Bayes:
    the weight of its own mean is the spread between series over that plus its own noise."""
    citywide_prior: float = 0.0
    """Pseudo-reports of the city-wide lift (``citywide_lift``; 0: none): a category up in
    many grids together raises every grid's expectation of it that day."""

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        if not 0 < self.cluster_z <= self.z or self.min_expected < 0 or self.min_sigma <= 0:
            raise ValueError("need 0 < cluster_z <= z, min_sigma > 0 and min_expected >= 0")
        if self.cluster_z_per_grid < 0:
            raise ValueError("cluster_z_per_grid must be >= 0")
        if self.citywide_prior < 0:
            raise ValueError("citywide_prior must be >= 0")
        if self.warmup < 0 or self.seasons < 1 or self.weekday_prior < 0:
            raise ValueError("warmup and weekday_prior must be >= 0 and seasons >= 1")


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


def _negative_binomial_quantile(mean: float, dispersion: float, tail: float) -> int:
    """The smallest k with P(X > k) <= tail for X negative binomial with ``mean`` and variance
    ``mean + dispersion * mean^2``."""
    shape = 1.0 / dispersion
    p = mean / (mean + shape)
    k, pmf = 0, (1.0 - p) ** shape
    cdf = pmf
    while 1.0 - cdf > tail and pmf > 0.0:
        pmf *= (k + shape) / (k + 1) * p
        k += 1
        cdf += pmf
    return k


def count_threshold(expected: float, sigma: float, z: float, dispersion: float = 0.0) -> float:
    """``expected + z * sigma``, never below the Poisson count with the tail of ``z`` nor,
    given an over-dispersion, the negative binomial one: its tail is far longer than the
    normal one (at 1/dispersion = 4 the count with the tail of z = 4 is ~4x the mean)."""
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))
    bar = max(expected + z * sigma, float(_poisson_quantile(expected, tail)))
    if dispersion > 1e-6 and expected > 0:
        bar = max(bar, float(_negative_binomial_quantile(expected, dispersion, tail)))
    return bar


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

    # ``factor`` is the day-of-week factor of the window (1: none): the series learns its
    # counts divided by it and expects its level times it. ``dispersion`` is its category's
    # over-dispersion (pooled over the grids, ``pooled_dispersion``): the spread is never
    # below the negative binomial's, ``expected + dispersion * expected^2``.
    def expected(self, season: int = 0, factor: float = 1.0) -> float:
        return max(self._estimate(season).mean * factor, self.config.min_expected)

    def _predictive(self, season: int, factor: float, dispersion: float) -> float:
        """The negative binomial variance of the next count given its category's
        over-dispersion (0 unless ``pooled_dispersion``)."""
        if not self.config.pooled_dispersion:
            return 0.0
        expected = self.expected(season, factor)
        return expected + dispersion * expected * expected

    def sigma(self, season: int = 0, factor: float = 1.0, dispersion: float = 0.0) -> float:
        return max(
            math.sqrt(self.variance(season, factor, dispersion)),
            math.sqrt(self.expected(season, factor)),
            self.config.min_sigma,
        )

    def variance(self, season: int = 0, factor: float = 1.0, dispersion: float = 0.0) -> float:
        """The spread of the next count: the negative binomial one with ``pooled_dispersion``
        once the category's dispersion is known (the series' own variance from a few weeks
        is noise, and one anomaly learnt into it lifts the bar for weeks), else the learnt
        variance, unfloored: a sum over grids floors it once, as a whole."""
        if self.config.pooled_dispersion and dispersion > 0:
            return self._predictive(season, factor, dispersion)
        return self._estimate(season).var * factor * factor

    def _dispersion(self, season: int, factor: float, dispersion: float) -> float:
        """The over-dispersion of the next count's predictive spread (0 without pooling)."""
        predictive = self._predictive(season, factor, dispersion)
        expected = self.expected(season, factor)
        return max(predictive - expected, 0.0) / (expected * expected) if expected > 0 else 0.0

    def threshold(
        self,
        season: int = 0,
        z: float | None = None,
        factor: float = 1.0,
        dispersion: float = 0.0,
    ) -> float:
        """The count above which a window is anomalous at ``z`` (default: the config's)."""
        z = self.config.z if z is None else z
        sigma = self.sigma(season, factor, dispersion)
        phi = self._dispersion(season, factor, dispersion)
        return count_threshold(self.expected(season, factor), sigma, z, phi)

    def score(
        self, count: float, season: int = 0, factor: float = 1.0, dispersion: float = 0.0
    ) -> float:
        """Standardised excess of ``count`` over the expectation (a z-score)."""
        return (count - self.expected(season, factor)) / self.sigma(season, factor, dispersion)

    def is_anomalous(
        self,
        count: float,
        season: int = 0,
        z: float | None = None,
        factor: float = 1.0,
        dispersion: float = 0.0,
    ) -> bool:
        return self.warmed_up and count > self.threshold(season, z, factor, dispersion)

    def learnt(
        self, count: float, season: int = 0, factor: float = 1.0, dispersion: float = 0.0
    ) -> float:
        """What ``update`` learns from ``count``: a count over the threshold is learnt as the
        threshold itself, so an ongoing anomaly does not raise the baseline enough to hide
        its own tail; not while the season is still learning, or a busy season's first
        counts would be clipped to the quieter all-season level."""
        if self._seasons[season % self.config.seasons].n < self.config.warmup:
            return count
        return min(count, self.threshold(season, self.config.learn_z, factor, dispersion))

    def update(
        self, count: float, season: int = 0, factor: float = 1.0, dispersion: float = 0.0
    ) -> None:
        """Learn from one closed window."""
        self.learn(self.learnt(count, season, factor, dispersion) / factor, season)

    def learn(self, level: float, season: int = 0) -> None:
        """Learn one window's level (its count, clipped and divided by its factors)."""
        self._all.update(level, self.config.alpha)
        self._seasons[season % self.config.seasons].update(level, self.config.alpha)

    @property
    def level(self) -> float:
        """The learnt level over all seasons (before any factor)."""
        return self._all.mean

    @property
    def effective_windows(self) -> float:
        """How many windows the EWMA mean rests on: n while it is a plain average, then
        (2 - alpha) / alpha."""
        return min(float(self._all.n), (2.0 - self.config.alpha) / self.config.alpha)

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


DISPERSION_ALPHA = 0.05
DISPERSION_WINDOWS = 3
"""Windows a category's dispersion needs before it is used (Poisson and the learnt variance
until then)."""


class Dispersion:
    """One category's over-dispersion: the moment estimate ``sum((x - m)^2 - m) / sum(m^2)``
    over its warmed-up series' windows, ``m`` each series' expectation before the window.

    Judged against the expectation the window was scored with, it holds the error of the
    learnt mean too: what the bar needs is the spread of the next count around it. Only
    counts under their threshold are learnt: an anomaly must not widen the spread that
    judges the next one (a burst's squared excess outweighs weeks of ordinary days)."""

    __slots__ = ("_den", "_num")

    def __init__(self) -> None:
        self._num, self._den = _Ewma(), _Ewma()

    @property
    def value(self) -> float:
        if self._den.n < DISPERSION_WINDOWS or self._den.mean <= 0:
            return 0.0
        return max(self._num.mean / self._den.mean, 0.0)

    def update(self, pairs: list[tuple[float, float]] | list[tuple[float, float, float]]) -> None:
        """One window's (count, expectation) of the category's series, or (count,
        expectation, the expectation's own error variance): that error is taken out, so a
        mean learnt from a few windows does not widen the spread for weeks after it has
        settled (the bar adds each series' own error back)."""
        if pairs:
            num = sum((p[0] - p[1]) ** 2 - p[1] - (p[2] if len(p) > 2 else 0.0) for p in pairs)
            self._num.update(num, DISPERSION_ALPHA)
            self._den.update(sum(p[1] * p[1] for p in pairs), DISPERSION_ALPHA)

    def to_dict(self) -> list[list[float]]:
        return [[e.mean, e.var, e.n] for e in (self._num, self._den)]

    @classmethod
    def from_dict(cls, data: list[list[float]]) -> "Dispersion":
        tracker = cls()
        tracker._num, tracker._den = (_Ewma(float(m), float(v), int(n)) for m, v, n in data)
        return tracker


WEEKDAY_ALPHA = 0.05
"""The weekday profile's EWMA weight per weekday: a plain average for its first 20 weeks.
The all-days mean is updated seven times as often with a seventh of it, so both reach back
as far."""


class WeekdayProfile:
    """A day-of-week pattern: per weekday, the mean summed (learnt) count of a category over
    its grids, or of every category, against the mean over all days.

    The ratio is shrunk toward ``target`` (1, or the pattern of every category) by ``prior``
    pseudo-reports: its weight is the reports it rests on, so a busy category learns its own
    week within two or three weeks while a quiet one, whose weekday means are noise for
    months, follows the city's. Pooled over the grids because one series sees a report every
    few days."""

    __slots__ = ("_all", "_days", "prior")

    def __init__(self, prior: float) -> None:
        self.prior = prior
        self._all = _Ewma()
        self._days = [_Ewma() for _ in range(7)]

    def factor(self, weekday: int, target: float = 1.0) -> float:
        day = self._days[weekday]
        if self.prior <= 0 or day.n == 0 or self._all.mean <= 0:
            return target
        # reports seen on the weekday, and the reports the all-days mean expects of them
        seen, expected = day.n * day.mean, day.n * self._all.mean
        return (seen + self.prior * target) / (expected + self.prior)

    def update(self, weekday: int, total: float) -> None:
        self._all.update(total, WEEKDAY_ALPHA / 7)
        self._days[weekday].update(total, WEEKDAY_ALPHA)

    def to_dict(self) -> list[list[float]]:
        return [[e.mean, e.var, e.n] for e in (self._all, *self._days)]

    @classmethod
    def from_dict(cls, data: list[list[float]], prior: float) -> "WeekdayProfile":
        profile = cls(prior)
        ewmas = [_Ewma(float(m), float(v), int(n)) for m, v, n in data]
        profile._all, profile._days = ewmas[0], ewmas[1:]
        return profile


POOL_MIN_SERIES = 4
"""Series a category needs (warmed up, with a level) before its pool is used."""


class Pool:
    """Every series' level read against the grid x category model (issue 24).

    A series' own EWMA mean from two or three weeks is noisy: at a few reports a day and
    negative binomial days its error is a fifth of the level or more, and a series that was
    high by chance keeps its bar high for weeks. The model ``share[grid] * total[category]``
    (the independence fit of the table of levels) rests on every series; a series' level is
    pulled toward it by empirical Bayes: with ``tau2`` the category's squared coefficient of
    variation of the true levels around the model (moment estimate, over its series) and
    ``v`` the sampling variance of the series' own mean, ``(m + phi m^2) / n_eff``, its own
    mean weighs ``tau2 p^2 / (tau2 p^2 + v)``. Fitted once per scored window from the
    baselines after learning, and kept in the episode memory, so the stream's early checks,
    which read only the baselines of series with a count, judge as the evaluation does.
    ``expected`` is also each category's summed shrunk level (for the city-wide lift)."""

    __slots__ = ("expected", "share", "tau2", "total")

    def __init__(self) -> None:
        self.share: dict[str, float] = {}
        self.total: dict[str, float] = {}
        self.tau2: dict[str, float] = {}
        self.expected: dict[str, float] = {}

    def prior(self, grid: str, category: str) -> float | None:
        share, total = self.share.get(grid), self.total.get(category)
        if share is None or total is None or category not in self.tau2:
            return None
        return share * total

    def level(
        self, grid: str, category: str, baseline: "SeriesBaseline", dispersion: float
    ) -> float:
        """The series' shrunk level; its own when the model does not cover it."""
        return self.posterior(grid, category, baseline, dispersion)[0]

    def posterior(
        self, grid: str, category: str, baseline: "SeriesBaseline", dispersion: float
    ) -> tuple[float, float]:
        """The series' shrunk level and its error variance (the sampling variance of its
        own mean times its weight); its own mean and that mean's variance when the model
        does not cover it."""
        own = baseline.level
        noise = (own + dispersion * own * own) / max(baseline.effective_windows, 1.0)
        prior = self.prior(grid, category)
        if prior is None or prior <= 0 or baseline.windows_seen == 0:
            return own, noise
        between = self.tau2[category] * prior * prior
        weight = between / (between + noise) if between + noise > 0 else 1.0
        return weight * own + (1.0 - weight) * prior, weight * noise

    @classmethod
    def fit(
        cls,
        baselines: "dict[tuple[str, str], SeriesBaseline]",
        dispersions: dict[str, float],
    ) -> "Pool":
        pool = cls()
        # sorted: the stream reads its baselines in no fixed order, and float sums must not
        # depend on it (a backfill learns exactly what the same month in order learns)
        ordered = sorted(baselines.items())
        levels = {s: b.level for s, b in ordered if b.warmed_up and b.level > 0}
        city = sum(levels.values())
        if city <= 0:
            return pool
        grids: dict[str, float] = {}
        totals: dict[str, float] = {}
        for (grid, category), level in levels.items():
            grids[grid] = grids.get(grid, 0.0) + level
            totals[category] = totals.get(category, 0.0) + level
        pool.share = {g: v / city for g, v in grids.items()}
        spread: dict[str, list[float]] = {}
        for (grid, category), level in levels.items():
            prior = pool.share[grid] * totals[category]
            phi = dispersions.get(category, 0.0)
            n = max(baselines[(grid, category)].effective_windows, 1.0)
            noise = (level + phi * level * level) / n
            spread.setdefault(category, []).append(((level - prior) ** 2 - noise) / prior**2)
        for category, values in spread.items():
            if len(values) >= POOL_MIN_SERIES:
                pool.total[category] = totals[category]
                pool.tau2[category] = max(sum(values) / len(values), 0.0)
        for (grid, category), baseline in ordered:
            if baseline.warmed_up and category in pool.tau2:
                level = pool.level(grid, category, baseline, dispersions.get(category, 0.0))
                pool.expected[category] = pool.expected.get(category, 0.0) + level
        return pool

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {
            "share": dict(sorted(self.share.items())),
            "total": dict(sorted(self.total.items())),
            "tau2": dict(sorted(self.tau2.items())),
            "expected": dict(sorted(self.expected.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, float]]) -> "Pool":
        pool = cls()
        pool.share = {k: float(v) for k, v in data.get("share", {}).items()}
        pool.total = {k: float(v) for k, v in data.get("total", {}).items()}
        pool.tau2 = {k: float(v) for k, v in data.get("tau2", {}).items()}
        pool.expected = {k: float(v) for k, v in data.get("expected", {}).items()}
        return pool


CITYWIDE_TRIM = 4
"""Grids with the largest excess left out of a category's city-wide lift: a burst or a
cluster (three grids) must not lift its own category's expectation everywhere."""


def citywide_lift(cells: list[tuple[float, float]], expected_total: float, prior: float) -> float:
    """A category's lift in one window: its count over its expectation in every grid but the
    ``CITYWIDE_TRIM`` with the largest excess, with ``prior`` pseudo-reports at 1, never below
    1. ``cells`` are (count, expectation) of the grids with a count; ``expected_total`` is the
    expectation of every grid of the category, with a count or not. The lift only grows with
    the counts, so the open window's lift so far is at most the closed window's."""
    if prior <= 0 or expected_total <= 0:
        return 1.0
    # only grids with a count are trimmed: the stream's open window holds no others
    counted = [c for c in cells if c[0] > 0]
    top = sorted(counted, key=lambda c: (c[0] - c[1], c[0]), reverse=True)[:CITYWIDE_TRIM]
    rest_count = sum(x for x, _ in cells) - sum(x for x, _ in top)
    rest_expected = max(expected_total - sum(m for _, m in top), 0.0)
    return max(1.0, (rest_count + prior) / (rest_expected + prior))
