"""CityView: placing by code, grid and point; updates, tombstones and worker authorisation."""

from typing import Any

import orjson
import pytest

from civicgrid.domain.cityview import CityView
from civicgrid.schemas.inbound import GridRecord, RegistryRecord
from tools.city.generate import generate_city
from tools.city.model import City


def grid_record(value: dict[str, Any]) -> GridRecord:
    # From JSON, as the follower reads it: the models are strict about Python types.
    return GridRecord.model_validate_json(orjson.dumps(value))


def code_record(value: dict[str, Any]) -> RegistryRecord:
    return RegistryRecord.model_validate_json(orjson.dumps(value))


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city("demo", 7)


@pytest.fixture
def view(city: City) -> CityView:
    built = CityView()
    for grid in city.grids:
        built.apply_grid(grid.grid_id, grid_record(grid.to_grid_record()))
    for code in city.iter_codes():
        built.apply_code(code.code, code_record(code.to_registry_record()))
    return built


def test_a_registered_code_places_the_event_in_its_grid(city: City, view: CityView) -> None:
    code = next(city.iter_codes())
    placement = view.place(code.code, None, None, None)
    assert placement.grid_id == code.grid_id
    assert placement.how == "code"
    assert not placement.unknown_code
    assert placement.code is not None
    assert (placement.code.element_type, placement.code.kind) == (code.element_type, code.kind)


def test_the_registry_wins_over_the_events_own_grid_and_point(city: City, view: CityView) -> None:
    code = next(city.iter_codes())
    elsewhere = next(g for g in city.grids if g.grid_id != code.grid_id)
    lon, lat = elsewhere.centre
    assert view.place(code.code, elsewhere.grid_id, lat, lon).grid_id == code.grid_id


def test_every_grid_centre_and_code_point_is_located_as_the_generator_says(
    city: City, view: CityView
) -> None:
    for grid in city.grids:
        lon, lat = grid.centre
        assert view.place(None, None, lat, lon).grid_id == grid.grid_id
    for code in city.iter_codes():
        placement = view.place(None, None, code.lat, code.lon)
        assert (placement.grid_id, placement.how) == (city.locate(code.lat, code.lon), "lat_lon")


def test_an_unknown_code_is_flagged_and_placed_by_grid_then_point(
    city: City, view: CityView
) -> None:
    grid = city.grids[3]
    lon, lat = grid.centre
    by_grid = view.place("TZ-NOT-REGISTERED", grid.grid_id, None, None)
    assert (by_grid.grid_id, by_grid.how, by_grid.unknown_code) == (grid.grid_id, "grid_id", True)
    by_point = view.place("TZ-NOT-REGISTERED", None, lat, lon)
    found = (by_point.grid_id, by_point.how, by_point.unknown_code)
    assert found == (grid.grid_id, "lat_lon", True)


def test_without_code_grid_or_a_point_inside_the_city_nothing_places(view: CityView) -> None:
    assert view.place("TZ-NOT-REGISTERED", None, None, None).grid_id is None
    outside = view.place(None, None, 0.0, 0.0)
    assert (outside.grid_id, outside.how, outside.unknown_code) == (None, "none", False)


def test_an_update_moves_a_code_and_a_tombstone_forgets_it(city: City, view: CityView) -> None:
    code = next(city.iter_codes())
    target = next(g for g in city.grids if g.grid_id != code.grid_id)
    moved = code.to_registry_record() | {"grid_id": target.grid_id}
    view.apply_code(code.code, code_record(moved))
    assert view.place(code.code, None, None, None).grid_id == target.grid_id
    total = view.grid_counts()[1]
    view.apply_code(code.code, None)
    assert view.grid_counts()[1] == total - 1
    gone = view.place(code.code, None, code.lat, code.lon)
    assert (gone.grid_id, gone.unknown_code, gone.how) == (code.grid_id, True, "lat_lon")


def test_a_grid_tombstone_stops_locating_points_in_it(city: City, view: CityView) -> None:
    grid = city.grids[0]
    lon, lat = grid.centre
    view.apply_grid(grid.grid_id, None)
    assert view.place(None, None, lat, lon).grid_id is None
    assert grid.grid_id not in view.grids


def test_workers_are_authorised_in_the_grids_that_list_them(city: City, view: CityView) -> None:
    grid, other = city.grids[0], city.grids[1]
    worker = grid.worker_ids[0]
    assert view.worker_authorised(worker, grid.grid_id)
    assert not view.worker_authorised(worker, other.grid_id)
    # The grid's new record no longer lists the worker: the authorisation goes with it.
    record = grid.to_grid_record() | {"worker_ids": ["W-someone-else"]}
    view.apply_grid(grid.grid_id, grid_record(record))
    assert not view.worker_authorised(worker, grid.grid_id)
    assert view.worker_authorised("W-someone-else", grid.grid_id)


def test_events_are_never_placed_in_a_grid_that_is_not_registered(
    city: City, view: CityView
) -> None:
    """A report naming NO-SUCH-GRID-XYZ once opened and dispatched a case there."""
    never = view.place(None, "NO-SUCH-GRID-XYZ", None, None)
    assert (never.grid_id, never.refused) == (None, "grid 'NO-SUCH-GRID-XYZ' is not registered")
    grid = city.grids[0]
    lon, lat = grid.centre
    view.apply_grid(grid.grid_id, None)
    deleted = view.place(None, grid.grid_id, lat, lon)
    assert deleted.grid_id is None
    assert deleted.refused == (
        f"grid {grid.grid_id!r} is not registered; the point lies in no registered grid"
    )
    code = next(c for c in city.iter_codes() if c.grid_id == grid.grid_id)
    orphan = view.place(code.code, None, None, None)
    assert orphan.grid_id is None
    assert orphan.refused is not None
    assert "the code's grid" in orphan.refused
    # a registered grid named next to the bad one still places the event
    other = city.grids[1]
    assert view.place(code.code, other.grid_id, None, None).grid_id == other.grid_id
