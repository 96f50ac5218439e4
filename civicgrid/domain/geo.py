"""Distances and point-in-grid lookup for placing reports by coordinates."""

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180  # metres per degree of latitude

Cell = tuple[int, int]  # (row, column)

Ring = Sequence[Sequence[float]]  # [[lon, lat], ...], as on civic.grids.v1


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def cell_of(lat: float, lon: float, size_m: float) -> Cell:
    """The fixed cell of about `size_m` x `size_m` holding the point: a function of the
    point alone, so two reports at one place (one code) always share their cell.

    Rows are `size_m` of latitude; each row is cut into columns `size_m` wide where the row
    is narrowest (a row further towards the pole, for margin), so no cell is narrower than
    `size_m` and a point within `size_m` of another lies in the 3 x 3 cells around it."""
    row = math.floor(lat * M_PER_DEG / size_m)
    return row, math.floor(lon / _column_deg(row, size_m))


def cells_around(lat: float, lon: float, size_m: float) -> Iterator[Cell]:
    """The 3 x 3 cells around the point's own: every point within `size_m` is in one."""
    row = math.floor(lat * M_PER_DEG / size_m)
    for r in (row - 1, row, row + 1):
        column = math.floor(lon / _column_deg(r, size_m))
        for c in (column - 1, column, column + 1):
            yield r, c


def _column_deg(row: int, size_m: float) -> float:
    row_deg = size_m / M_PER_DEG
    poleward = min(90.0, (max(abs(row), abs(row + 1)) + 1) * row_deg)
    return min(360.0, row_deg / max(math.cos(math.radians(poleward)), 1e-9))


@dataclass(frozen=True, slots=True)
class _Polygon:
    lons: tuple[float, ...]
    lats: tuple[float, ...]
    box: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat

    @classmethod
    def of(cls, ring: Ring) -> "_Polygon":
        points = [(float(p[0]), float(p[1])) for p in ring]
        if len(points) > 1 and points[0] == points[-1]:
            points.pop()
        if len(points) < 3:
            raise ValueError("a grid polygon needs at least 3 distinct corners")
        lons, lats = tuple(p[0] for p in points), tuple(p[1] for p in points)
        return cls(lons, lats, (min(lons), min(lats), max(lons), max(lats)))

    def contains(self, lon: float, lat: float) -> bool:
        x0, y0, x1, y1 = self.box
        if not (x0 <= lon <= x1 and y0 <= lat <= y1):
            return False
        inside = False
        lons, lats = self.lons, self.lats
        j = len(lons) - 1
        for i in range(len(lons)):
            yi, yj = lats[i], lats[j]
            if (yi > lat) != (yj > lat):
                crossing = lons[i] + (lat - yi) * (lons[j] - lons[i]) / (yj - yi)
                if lon < crossing:
                    inside = not inside
            j = i
        return inside


class GridIndex:
    """Grid polygons bucketed by bounding box in a uniform cell grid of `cell_deg` degrees.

    A lookup tests only the few polygons whose boxes touch the point's cell, so it stays
    fast for tens of thousands of grids.
    """

    def __init__(self, polygons: Mapping[str, Ring] | None = None, cell_deg: float = 0.01) -> None:
        if cell_deg <= 0:
            raise ValueError("cell_deg must be positive")
        self._cell = cell_deg
        self._polygons: dict[str, _Polygon] = {}
        self._buckets: dict[tuple[int, int], set[str]] = {}
        for grid_id, ring in (polygons or {}).items():
            self.add(grid_id, ring)

    def __len__(self) -> int:
        return len(self._polygons)

    def __contains__(self, grid_id: object) -> bool:
        return grid_id in self._polygons

    def _cells(self, box: tuple[float, float, float, float]) -> Iterable[tuple[int, int]]:
        x0, y0 = self._key(box[0], box[1])
        x1, y1 = self._key(box[2], box[3])
        return ((x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))

    def _key(self, lon: float, lat: float) -> tuple[int, int]:
        return math.floor(lon / self._cell), math.floor(lat / self._cell)

    def add(self, grid_id: str, ring: Ring) -> None:
        """Add or replace a grid's polygon."""
        polygon = _Polygon.of(ring)
        self.remove(grid_id)
        self._polygons[grid_id] = polygon
        for cell in self._cells(polygon.box):
            self._buckets.setdefault(cell, set()).add(grid_id)

    def remove(self, grid_id: str) -> None:
        polygon = self._polygons.pop(grid_id, None)
        if polygon is None:
            return
        for cell in self._cells(polygon.box):
            bucket = self._buckets[cell]
            bucket.discard(grid_id)
            if not bucket:
                del self._buckets[cell]

    def locate(self, lat: float, lon: float) -> str | None:
        """The grid containing the point; where polygons overlap, the smallest grid id."""
        candidates = self._buckets.get(self._key(lon, lat), ())
        hits = [g for g in candidates if self._polygons[g].contains(lon, lat)]
        return min(hits) if hits else None
