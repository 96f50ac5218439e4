"""What the grid stage's kept case book claims to hold: the horizons that decide whether a
batch may trust it or must read PostgreSQL first."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from civicgrid.agents.grid_stage import _KEEP_SETTLED, _PRUNE_EVERY, GridStage
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.schemas.internal import GridEnvelope
from civicgrid.settings import Settings

NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)


def _stage() -> GridStage:
    runtime = SimpleNamespace(calendar=WorkingCalendar(), settings=Settings())
    return GridStage(None, runtime)  # type: ignore[arg-type]


def _prune(stage: GridStage, newest: datetime) -> None:
    stage.newest_report = newest
    stage.batches = _PRUNE_EVERY - 1
    stage._keep([GridEnvelope(kind="tick", grid_id="G1", now=newest)])


def test_a_grid_never_loaded_is_not_held() -> None:
    assert not _stage()._holds("G1", None)


def test_open_cases_alone_do_not_serve_a_report_batch() -> None:
    stage = _stage()
    stage.held_since["G1"] = None  # loaded for a tick: its open cases only
    assert stage._holds("G1", None)
    assert not stage._holds("G1", NOW - timedelta(days=7))


def test_a_grid_held_from_a_date_serves_later_horizons_only() -> None:
    stage = _stage()
    stage.held_since["G1"] = NOW - timedelta(days=7)
    assert stage._holds("G1", NOW - timedelta(days=6))
    assert not stage._holds("G1", NOW - timedelta(days=8))


def test_pruning_moves_horizons_forward_but_never_invents_closed_cases() -> None:
    stage = _stage()
    stage.held_since = {"G1": NOW - timedelta(days=30), "G2": None}
    _prune(stage, NOW)
    assert stage.held_since["G1"] == NOW - _KEEP_SETTLED
    assert stage.held_since["G2"] is None  # still only its open cases
    assert not stage._holds("G2", NOW - timedelta(days=1))
