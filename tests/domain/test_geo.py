import random
import time

import pytest

from civicgrid.domain.geo import GridIndex, cell_of, cells_around, haversine_m


def square(lon: float, lat: float, size: float) -> list[list[float]]:
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


def test_haversine() -> None:
    assert haversine_m(32.45, 119.92, 32.45, 119.92) == 0.0
    # One degree of latitude is about 111.2 km.
    assert haversine_m(32.0, 119.9, 33.0, 119.9) == pytest.approx(111_195, rel=1e-3)
    assert haversine_m(32.45, 119.92, 32.452, 119.92) == pytest.approx(222, abs=1)


@pytest.mark.parametrize("lat", [32.45, -33.9, 61.2])
def test_every_point_within_a_cell_size_is_in_the_3x3_cells_around(lat: float) -> None:
    rng = random.Random(lat)
    for _ in range(2000):
        a = (lat + rng.uniform(-0.05, 0.05), 119.92 + rng.uniform(-0.05, 0.05))
        b = (a[0] + rng.uniform(-0.0025, 0.0025), a[1] + rng.uniform(-0.005, 0.005))
        if haversine_m(*a, *b) <= 250:
            assert cell_of(*b, 250) in set(cells_around(*a, 250))
    # cells are about 250 m: 2 km of latitude crosses 8 of them
    assert cell_of(32.45 + 2000 / 111_195, 119.92, 250)[0] - cell_of(32.45, 119.92, 250)[0] == 8


def test_locate_inside_outside_and_concave() -> None:
    l_shape = [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2], [0, 0]]
    index = GridIndex({"L": l_shape}, cell_deg=0.5)
    assert index.locate(0.5, 0.5) == "L"
    assert index.locate(1.5, 0.5) == "L"  # lat 1.5 lon 0.5: upper arm
    assert index.locate(1.5, 1.5) is None  # the notch
    assert index.locate(5, 5) is None


def test_add_replace_and_remove() -> None:
    index = GridIndex()
    index.add("g1", square(119.9, 32.4, 0.01))
    assert index.locate(32.405, 119.905) == "g1"
    index.add("g1", square(120.0, 32.4, 0.01))
    assert index.locate(32.405, 119.905) is None
    assert index.locate(32.405, 120.005) == "g1"
    index.remove("g1")
    assert index.locate(32.405, 120.005) is None
    assert len(index) == 0
    with pytest.raises(ValueError, match="3 distinct"):
        index.add("bad", [[0, 0], [1, 1], [0, 0]])


def test_ten_thousand_grids_locate_fast() -> None:
    size = 0.004
    index = GridIndex(
        {
            f"g{i}-{j}": square(119.5 + i * size, 32.0 + j * size, size)
            for i in range(100)
            for j in range(100)
        }
    )
    rng = random.Random(7)
    points = [(32.0 + rng.random() * 0.4, 119.5 + rng.random() * 0.4) for _ in range(5000)]
    started = time.perf_counter()
    found = [index.locate(lat, lon) for lat, lon in points]
    assert time.perf_counter() - started < 1.0
    lat, lon = points[0]
    assert found[0] == f"g{int((lon - 119.5) / size)}-{int((lat - 32.0) / size)}"
    assert all(found)
