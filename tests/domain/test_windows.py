from datetime import UTC, datetime, timedelta

import pytest

from civicgrid.domain.windows import WindowCount, WindowCounter

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in UTC+8
H = timedelta(hours=1)


def test_daily_windows_follow_local_midnight() -> None:
    counter = WindowCounter(timedelta(days=1), utc_offset=timedelta(hours=8))
    assert counter.window_start(T0) == datetime(2026, 3, 1, 16, tzinfo=UTC)


def test_counts_per_series_with_zeros_for_known_series() -> None:
    counter = WindowCounter(H, grace=timedelta(minutes=10))
    counter.add("g1", "09009", T0 + timedelta(minutes=5))
    counter.add("g1", "09009", T0 + timedelta(minutes=50))
    counter.add("g2", "06010", T0 + timedelta(minutes=20))
    counter.add("g1", "09009", T0 + 2 * H + timedelta(minutes=30))  # watermark 02:20
    closed = counter.close_until()
    assert closed == [
        WindowCount("g1", "09009", T0, T0 + H, 2),
        WindowCount("g2", "06010", T0, T0 + H, 1),
        WindowCount("g1", "09009", T0 + H, T0 + 2 * H, 0),
        WindowCount("g2", "06010", T0 + H, T0 + 2 * H, 0),
    ]
    assert counter.close_until() == []


def test_grace_admits_late_events_and_later_ones_are_counted_late() -> None:
    counter = WindowCounter(H, grace=timedelta(minutes=15))
    counter.add("g1", "c", T0 + timedelta(minutes=30))
    counter.add("g1", "c", T0 + H + timedelta(minutes=10))  # watermark 00:55: nothing closes
    counter.add("g1", "c", T0 + timedelta(minutes=59))  # late but within grace
    assert counter.close_until() == []
    counter.add("g1", "c", T0 + H + timedelta(minutes=20))  # watermark 01:05
    assert [w.count for w in counter.close_until()] == [2]
    counter.add("g1", "c", T0 + timedelta(minutes=1))  # window closed
    assert counter.late_events == 1
    assert [w.count for w in counter.close_until(T0 + 2 * H)] == [2]


def test_events_before_the_first_close_extend_the_range() -> None:
    counter = WindowCounter(H)
    counter.add("g1", "c", T0 + 3 * H)
    counter.add("g1", "c", T0)
    closed = counter.close_until(T0 + 4 * H)
    assert [(w.window_start, w.count) for w in closed] == [
        (T0, 1),
        (T0 + H, 0),
        (T0 + 2 * H, 0),
        (T0 + 3 * H, 1),
    ]


def test_a_series_gets_no_zeros_before_its_first_event() -> None:
    counter = WindowCounter(H)
    counter.add("g1", "a", T0)
    counter.add("g2", "b", T0 + H)
    closed = counter.close_until(T0 + 2 * H)
    assert [(w.grid_id, w.window_start) for w in closed] == [
        ("g1", T0),
        ("g1", T0 + H),
        ("g2", T0 + H),
    ]
    assert counter.known_series == {("g1", "a"), ("g2", "b")}


def test_naive_times_and_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="offset"):
        WindowCounter(H).add("g", "c", datetime(2026, 3, 2))
    with pytest.raises(ValueError, match="positive"):
        WindowCounter(timedelta(0))


def test_the_oldest_open_window_can_be_read_while_it_counts() -> None:
    counter = WindowCounter(H, grace=timedelta(minutes=15))
    counter.add("g1", "a", T0 + timedelta(minutes=5))
    counter.add("g1", "a", T0 + timedelta(minutes=6))
    counter.add("g2", "b", T0 + timedelta(minutes=7))
    counter.add("g2", "b", T0 + H + timedelta(minutes=10))  # the next window, in the grace
    assert counter.open_counts() == [
        WindowCount("g1", "a", T0, T0 + H, 2),
        WindowCount("g2", "b", T0, T0 + H, 1),
    ]
    assert counter.open_counts({"b"}) == [WindowCount("g2", "b", T0, T0 + H, 1)]
    counter.add("g1", "a", T0 + H + timedelta(minutes=20))  # watermark 01:05: T0 closes
    assert len(counter.close_until()) == 2
    assert counter.open_counts() == [
        WindowCount("g1", "a", T0 + H, T0 + 2 * H, 1),
        WindowCount("g2", "b", T0 + H, T0 + 2 * H, 1),
    ]
    assert WindowCounter(H).open_counts() == []
