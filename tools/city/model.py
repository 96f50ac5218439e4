"""The synthetic city: grids, registered codes and grid workers (SPEC §2 grids and registry).

Codes are not held in memory: a Taizhou-sized city has about a million of them, so each grid's
codes are rebuilt on demand from the seed by `City.iter_codes`.
"""

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Grid:
    grid_id: str
    name: str
    community: str
    street: str
    district: str
    city: str
    neighbours: tuple[str, ...]
    worker_ids: tuple[str, ...]
    households: int
    polygon: tuple[Point, ...]
    """Closed ring of (lon, lat), GeoJSON order, first point repeated last."""
    centre: Point
    """(lon, lat), the same order as the polygon."""

    def to_grid_record(self) -> dict[str, Any]:
        """The value of this grid on civic.grids.v1."""
        return {
            "grid_id": self.grid_id,
            "name": self.name,
            "community": self.community,
            "street": self.street,
            "district": self.district,
            "city": self.city,
            "neighbours": list(self.neighbours),
            "worker_ids": list(self.worker_ids),
            "households": self.households,
            "polygon": [[lon, lat] for lon, lat in self.polygon],
        }

    def contains(self, lat: float, lon: float) -> bool:
        """Whether the point lies inside the grid's rectangle, borders included."""
        lons = [p[0] for p in self.polygon]
        lats = [p[1] for p in self.polygon]
        return min(lons) <= lon <= max(lons) and min(lats) <= lat <= max(lats)


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    element_type: str
    kind: str
    grid_id: str
    name: str
    lat: float
    lon: float
    attributes: Mapping[str, Any]

    def to_registry_record(self) -> dict[str, Any]:
        """The value of this code on civic.registry.v1."""
        return {
            "code": self.code,
            "element_type": self.element_type,
            "kind": self.kind,
            "grid_id": self.grid_id,
            "name": self.name,
            "lat": self.lat,
            "lon": self.lon,
            "attributes": dict(self.attributes),
        }


@dataclass(frozen=True, slots=True)
class Lattice:
    """Grids tile a rectangular lattice; a point is located by two bisections, not a scan."""

    lon_edges: tuple[float, ...]
    lat_edges: tuple[float, ...]
    cells: Mapping[tuple[int, int], str]
    """(column, row) -> grid_id; lattice cells without a grid are absent."""

    def locate(self, lat: float, lon: float) -> str | None:
        col = bisect_right(self.lon_edges, lon) - 1
        row = bisect_right(self.lat_edges, lat) - 1
        return self.cells.get((col, row))


@dataclass(frozen=True, slots=True)
class City:
    scale: str
    seed: int
    grids: tuple[Grid, ...]
    workers: Mapping[str, tuple[str, ...]]
    """worker_id -> the grid_ids that worker is authorised for."""
    code_counts: Mapping[str, Mapping[str, int]]
    """grid_id -> kind -> number of codes, known without building the codes."""
    lattice: Lattice
    codes_of: Callable[[Grid], Iterator[Code]]
    positions: Mapping[str, int]
    """grid_id -> index in `grids`."""

    def grid(self, grid_id: str) -> Grid:
        return self.grids[self.positions[grid_id]]

    def iter_codes(self, grid_ids: Iterable[str] | None = None) -> Iterator[Code]:
        """Every code of the given grids (all grids by default), rebuilt from the seed."""
        grids = self.grids if grid_ids is None else [self.grid(g) for g in grid_ids]
        for grid in grids:
            yield from self.codes_of(grid)

    @property
    def code_total(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.code_counts.values())

    def locate(self, lat: float, lon: float) -> str | None:
        """The grid a point belongs to (ground truth for placement tests), or None outside."""
        return self.lattice.locate(lat, lon)
