import json
import math

import pytest

from civicgrid.domain.baseline import (
    BaselineConfig,
    Dispersion,
    Pool,
    SeriesBaseline,
    WeekdayProfile,
    citywide_lift,
    count_threshold,
)


def test_warm_up_suppresses_alerts() -> None:
    baseline = SeriesBaseline(BaselineConfig(warmup=3))
    for _ in range(2):
        assert not baseline.is_anomalous(100)
        baseline.update(0)
    baseline.update(0)
    assert baseline.is_anomalous(100)


def test_early_windows_are_a_plain_average() -> None:
    baseline = SeriesBaseline(BaselineConfig(alpha=0.1, min_expected=0.0))
    for count in (2, 4, 6):
        baseline.update(count)
    assert baseline.expected() == pytest.approx(4.0)


def test_sparse_series_is_floored_by_min_expected_and_poisson_tail() -> None:
    config = BaselineConfig(z=4.0, min_expected=1.0, min_sigma=1.0, warmup=0)
    baseline = SeriesBaseline(config)
    assert baseline.expected() == 1.0
    assert baseline.sigma() == 1.0
    # Normal bar 1 + 4 = 5, but P(X > 5 | mean 1) is 6e-4, far above the z = 4 tail.
    assert baseline.threshold() == 7.0
    assert not baseline.is_anomalous(7)
    assert baseline.is_anomalous(8)


def test_busy_series_uses_learnt_variance() -> None:
    config = BaselineConfig(alpha=0.2, z=3.0, min_expected=0.0, warmup=0)
    baseline = SeriesBaseline(config)
    for count in [40, 60] * 20:
        baseline.update(count)
    assert baseline.expected() == pytest.approx(50.0, abs=2.5)
    assert baseline.sigma() == pytest.approx(10.0, rel=0.15)
    assert baseline.score(baseline.expected() + baseline.sigma()) == pytest.approx(1.0)


def test_anomalous_counts_are_learnt_clipped() -> None:
    baseline = SeriesBaseline(BaselineConfig(warmup=0))
    threshold = baseline.threshold()
    baseline.update(1_000)
    assert baseline.expected() == pytest.approx(threshold)


def test_seasons_fall_back_to_all_until_warmed_up() -> None:
    config = BaselineConfig(seasons=24, warmup=2, min_expected=0.0, alpha=0.5)
    baseline = SeriesBaseline(config)
    for _ in range(3):
        for hour in range(24):
            baseline.update(10 if hour == 9 else 0, season=hour)
    assert baseline.expected(9) == pytest.approx(10.0)
    assert baseline.expected(3) == pytest.approx(0.0)
    fresh = SeriesBaseline(config)
    fresh.update(24, season=9)
    fresh.update(0, season=10)
    assert fresh.expected(9) == pytest.approx(12.0)  # season 9 has 1 update: all-season mean


def test_prior_zero_windows_skip_warm_up() -> None:
    baseline = SeriesBaseline(BaselineConfig(warmup=7), prior_zero_windows=10)
    assert baseline.warmed_up
    assert baseline.expected() == 1.0


def test_state_round_trips_through_json() -> None:
    config = BaselineConfig(seasons=7)
    baseline = SeriesBaseline(config)
    for day, count in enumerate([3, 5, 2, 8, 4, 4, 1, 0, 6]):
        baseline.update(count, season=day % 7)
    copy = SeriesBaseline.from_dict(json.loads(json.dumps(baseline.to_dict())), config)
    assert copy.to_dict() == baseline.to_dict()
    assert copy.threshold(2) == baseline.threshold(2)
    with pytest.raises(ValueError, match="seasons"):
        SeriesBaseline.from_dict(baseline.to_dict(), BaselineConfig())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0.0},
        {"z": 0.0},
        {"cluster_z": 5.0},
        {"cluster_z_per_grid": -1.0},
        {"min_sigma": 0.0},
        {"seasons": 0},
    ],
)
def test_config_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        BaselineConfig(**kwargs)  # type: ignore[arg-type]


def test_threshold_of_large_mean_is_normal() -> None:
    baseline = SeriesBaseline(BaselineConfig(warmup=1, alpha=1.0))
    baseline.update(900)
    assert baseline.threshold() == pytest.approx(900 + 4 * math.sqrt(900))


@pytest.mark.parametrize("history", [(), (0,) * 10, (0, 1, 0, 0, 2, 0, 0, 1), (5, 9, 4, 7, 6, 8)])
def test_the_bar_does_not_depend_on_the_count(history: tuple[int, ...]) -> None:
    """What lets a window alert while it counts: its threshold, floors included (minimum
    expectation, minimum sigma, Poisson tail), is fixed by the baseline alone, so a count
    over it stays over it as the window's count grows."""
    config = BaselineConfig(z=4.0, min_expected=0.25, min_sigma=1.0, warmup=0)
    baseline = SeriesBaseline(config)
    for count in history:
        baseline.update(count)
    threshold = baseline.threshold()
    verdicts = [baseline.is_anomalous(n) for n in range(40)]
    assert verdicts == [n > threshold for n in range(40)]
    scores = [baseline.score(n) for n in range(40)]
    assert scores == sorted(scores)


def test_the_negative_binomial_bar_is_far_above_the_normal_one_at_strong_overdispersion() -> None:

    # variance 8 + 0.25 * 64 = 24: mean + 4 sigma is 27.6, the tail of z = 4 is past 30
    normal = count_threshold(8.0, math.sqrt(24.0), 4.0)
    dispersed = count_threshold(8.0, math.sqrt(24.0), 4.0, dispersion=0.25)
    assert normal < 28.0 < 30.0 < dispersed
    assert count_threshold(8.0, math.sqrt(8.0), 4.0, dispersion=1e-9) == count_threshold(
        8.0, math.sqrt(8.0), 4.0
    )


def test_a_weekday_factor_is_shrunk_toward_one_with_little_history() -> None:

    profile = WeekdayProfile(prior=1.0)
    assert profile.factor(5) == 1.0  # nothing learnt yet
    for week in range(4):
        for day in range(7):
            profile.update(day, 13.0 if day >= 5 else 10.0)
        if week == 0:
            after_one = profile.factor(5)
    ratio = 13.0 / (76.0 / 7.0)  # a weekend day against the mean day
    assert 1.0 < after_one < profile.factor(5) < ratio
    assert profile.factor(0) < 1.0
    restored = WeekdayProfile.from_dict(profile.to_dict(), 1.0)
    assert restored.factor(5) == profile.factor(5)


def _settled(level: float, windows: int = 20) -> SeriesBaseline:
    baseline = SeriesBaseline(BaselineConfig(warmup=3))
    for _ in range(windows):
        baseline.learn(level)
    return baseline


def test_a_series_high_by_chance_is_pulled_toward_its_grid_and_category() -> None:
    # a 4 x 4 table of levels with the grid x category structure, one series twice as high
    levels = {(f"g{g}", f"c{c}"): (1.0 + g) * (1.0 + c) for g in range(4) for c in range(4)}
    levels[("g0", "c0")] = 2.0
    baselines = {series: _settled(level) for series, level in levels.items()}
    pool = Pool.fit(baselines, {c: 0.25 for _, c in levels})
    # every other series fits the model exactly: the between-series spread is small, so the
    # lone high series is shrunk most of the way toward the model's level
    shrunk, error = pool.posterior("g0", "c0", baselines[("g0", "c0")], 0.25)
    assert 1.0 < (pool.prior("g0", "c0") or 0) < 1.3  # the outlier is in the fit too
    assert 1.0 < shrunk < 1.6
    assert 0 < error < (2.0 + 0.25 * 4.0) / 19
    # a busy series the model fits keeps its level
    assert pool.level("g3", "c3", baselines[("g3", "c3")], 0.25) == pytest.approx(16.0, rel=0.05)
    assert Pool.from_dict(json.loads(json.dumps(pool.to_dict()))).to_dict() == pool.to_dict()


def test_the_citywide_lift_ignores_a_few_high_grids_and_follows_many() -> None:
    quiet = [(2.0, 2.0)] * 12
    # a burst and a cluster: four grids far up, the rest as expected -> no lift
    assert (
        citywide_lift([*quiet, (20.0, 2.0), (9.0, 2.0), (9.0, 2.0), (9.0, 2.0)], 32.0, 10.0) == 1.0
    )
    # every grid up by half: the lift follows, shrunk toward 1 by the pseudo-reports
    up = [(3.0, 2.0)] * 16
    assert citywide_lift(up, 32.0, 10.0) == pytest.approx((36 + 10) / (24 + 10))
    # grids without a count hold the lift down through the expected total
    assert citywide_lift([(3.0, 2.0)] * 4, 32.0, 10.0) == 1.0
    assert citywide_lift(up, 32.0, 0.0) == 1.0


def test_dispersion_takes_out_the_error_of_a_young_mean() -> None:
    plain, corrected = Dispersion(), Dispersion()
    pairs = [(0.0, 1.0), (3.0, 1.0), (1.0, 1.0), (2.0, 1.0)]
    for _ in range(5):
        plain.update(pairs)
        corrected.update([(x, m, 0.5) for x, m in pairs])
    # sum((x - m)^2 - m) = 2 over sum(m^2) = 4; minus the error, 4 x 0.5
    assert plain.value == pytest.approx(0.5)
    assert corrected.value == 0.0
