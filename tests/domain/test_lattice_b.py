"""The second lattice generator (issue 24) makes the month the issue describes."""

from datetime import timedelta

from tools.prediction_eval import lattice_b


def test_a_lattice_b_month_has_the_issues_shape_and_is_reproducible() -> None:
    month = lattice_b.month(7)
    around = lattice_b.neighbours()
    assert len(lattice_b.GRIDS) == 16
    assert len(lattice_b.CATEGORIES) == 6
    assert len(around["Q11"]) == 8
    assert len(around["Q00"]) == 3
    kinds = [inj.kind for inj in month.truth]
    assert kinds.count("burst") == 16
    assert kinds.count("cluster") == 10
    first = lattice_b.START + timedelta(days=lattice_b.DAYS - lattice_b.ANOMALY_DAYS)
    for inj in month.truth:
        assert inj.start >= first
        if inj.kind == "cluster":
            centre, *others = inj.grid_ids
            assert len(inj.grid_ids) == 3
            assert all(g in around[centre] for g in others)
    # city-wide days are background: 2-4 of them, none in the ground truth
    assert 2 <= len(month.citywide) <= 4
    arrivals = [r.arrives_at for r in month.reports]
    assert arrivals == sorted(arrivals)
    again = lattice_b.month(7)
    assert [r.event_id for r in again.reports] == [r.event_id for r in month.reports]
    assert lattice_b.month(7, anomalies=False).truth == []
