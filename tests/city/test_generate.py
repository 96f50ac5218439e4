from collections import Counter

import pytest

from tools.city.generate import generate_city
from tools.city.model import City

GRID_FIELDS = {
    "grid_id", "name", "community", "street", "district", "city",
    "neighbours", "worker_ids", "households", "polygon",
}  # fmt: skip
REGISTRY_FIELDS = {"code", "element_type", "kind", "grid_id", "name", "lat", "lon", "attributes"}


@pytest.fixture(scope="module")
def demo() -> City:
    return generate_city("demo", seed=7)


def test_same_seed_same_city(demo: City) -> None:
    again = generate_city("demo", seed=7)
    assert again.grids == demo.grids
    assert list(again.iter_codes()) == list(demo.iter_codes())
    assert generate_city("demo", seed=8).grids != demo.grids


def test_demo_counts(demo: City) -> None:
    codes = list(demo.iter_codes())
    assert len(demo.grids) == 36
    assert len({g.street for g in demo.grids}) == 2
    assert len({g.community for g in demo.grids}) == 6
    assert 2_500 <= len(codes) == demo.code_total <= 3_500
    assert len({c.code for c in codes}) == len(codes)
    kinds = Counter(c.kind for c in codes)
    assert {"doorplate", "manhole_cover", "rental_house", "lpg_cylinder", "enterprise"} <= set(
        kinds
    )


def test_neighbours_are_symmetric_and_adjacent(demo: City) -> None:
    for grid in demo.grids:
        assert grid.grid_id not in grid.neighbours
        assert 3 <= len(grid.neighbours) <= 8
        for other in grid.neighbours:
            assert grid.grid_id in demo.grid(other).neighbours


def test_every_code_lies_in_its_grid(demo: City) -> None:
    for code in demo.iter_codes():
        assert demo.grid(code.grid_id).contains(code.lat, code.lon)
        assert demo.locate(code.lat, code.lon) == code.grid_id


def test_polygons_are_closed_rings_and_workers_cover_every_grid(demo: City) -> None:
    for grid in demo.grids:
        assert len(grid.polygon) == 5
        assert grid.polygon[0] == grid.polygon[-1]
        assert demo.locate(grid.centre[1], grid.centre[0]) == grid.grid_id
        assert grid.worker_ids
        assert all(demo.workers[w] == (grid.grid_id,) for w in grid.worker_ids)
    assert demo.locate(0.0, 0.0) is None


def test_records_use_spec_field_names(demo: City) -> None:
    record = demo.grids[0].to_grid_record()
    assert set(record) == GRID_FIELDS
    assert record["polygon"][0] == record["polygon"][-1]
    assert record["grid_id"].startswith("TZ-HL-01-01-")
    code = next(demo.iter_codes())
    assert set(code.to_registry_record()) == REGISTRY_FIELDS
    assert code.element_type in {"person", "place", "thing", "organisation", "case"}


def test_taizhou_order_of_size() -> None:
    city = generate_city("taizhou", seed=7)
    assert len({g.district for g in city.grids}) == 6
    assert 90 <= len({g.street for g in city.grids}) <= 110
    assert len(city.grids) >= 6_000
    assert 900_000 <= city.code_total <= 1_100_000
    enterprises = sum(c["enterprise"] + c["pollution_source"] for c in city.code_counts.values())
    assert 4_000 <= enterprises <= 7_000
    some = [g.grid_id for g in city.grids[::1000]]
    codes = list(city.iter_codes(some))
    assert len(codes) == sum(sum(city.code_counts[g].values()) for g in some)
    assert all(city.locate(c.lat, c.lon) == c.grid_id for c in codes)
