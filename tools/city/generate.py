"""Generate a synthetic city, deterministic for a seed: `generate_city("taizhou")`.

Grids are rectangles on one lattice around Taizhou. The hierarchy is nested blocks of it:
district -> street/town -> community -> grid, so every rung is a contiguous area and neighbours
(grids sharing an edge or a corner) can be read off the lattice.
"""

import math
import random
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from typing import Literal

from tools.city.codes import grid_codes, kind_counts
from tools.city.model import City, Grid, Lattice
from tools.city.names import CITY, DISTRICTS, community_names, street_names

Scale = Literal["demo", "demo10x", "taizhou"]

_CENTRE_LAT, _CENTRE_LON = 32.45, 119.92
_METRES_PER_DEGREE = 111_320.0
_WORKER_HOUSEHOLDS = 450  # a grid with more households than this gets a second worker


@dataclass(frozen=True, slots=True)
class _Layout:
    districts: tuple[int, int]  # (columns, rows) of districts
    streets: tuple[int, int]  # per district
    communities: tuple[int, int]  # block per street; some slots stay empty
    community_range: tuple[int, int]  # how many communities a street really has
    grids: tuple[int, int]  # per community
    density: float  # scales the things and places per grid


_LAYOUTS: dict[str, _Layout] = {
    "demo": _Layout((1, 1), (2, 1), (1, 3), (3, 3), (3, 2), 0.5),
    # ten times the demo (360 grids, 31,219 codes): the middle of the benchmarks' cost curve
    "demo10x": _Layout((1, 1), (2, 5), (2, 3), (6, 6), (3, 2), 0.5),
    "taizhou": _Layout((2, 3), (4, 4), (4, 3), (11, 12), (3, 2), 0.86),
}


def generate_city(scale: Scale, seed: int = 7) -> City:
    layout = _LAYOUTS[scale]
    rng = random.Random(f"{seed}/{scale}/city")
    places = _place_grids(layout, rng)
    lattice = _lattice(layout, rng, places)
    grids: list[Grid] = []
    for (col, row), (grid_id, name, community, street, district) in sorted(
        places.items(), key=lambda item: item[1][0]
    ):
        households = rng.randint(180, 620)
        workers = 2 if households > _WORKER_HOUSEHOLDS else 1
        west, east = lattice.lon_edges[col], lattice.lon_edges[col + 1]
        south, north = lattice.lat_edges[row], lattice.lat_edges[row + 1]
        neighbours = [
            lattice.cells[(col + dc, row + dr)]
            for dc in (-1, 0, 1)
            for dr in (-1, 0, 1)
            if (dc, dr) != (0, 0) and (col + dc, row + dr) in lattice.cells
        ]
        grids.append(
            Grid(
                grid_id=grid_id,
                name=name,
                community=community,
                street=street,
                district=district,
                city=CITY,
                neighbours=tuple(sorted(neighbours)),
                worker_ids=tuple(f"W-{grid_id}-{k}" for k in range(1, workers + 1)),
                households=households,
                polygon=((west, south), (east, south), (east, north), (west, north), (west, south)),
                centre=(round((west + east) / 2, 6), round((south + north) / 2, 6)),
            )
        )
    counts = {g.grid_id: kind_counts(seed, g.grid_id, g.households, layout.density) for g in grids}
    numbers = {g.grid_id: i for i, g in enumerate(grids, start=1)}
    return City(
        scale=scale,
        seed=seed,
        grids=tuple(grids),
        workers={w: (g.grid_id,) for g in grids for w in g.worker_ids},
        code_counts=counts,
        lattice=lattice,
        codes_of=partial(grid_codes, seed, counts, numbers),
        positions={g.grid_id: i for i, g in enumerate(grids)},
    )


_Place = tuple[str, str, str, str, str]  # grid_id, grid name, community, street, district


def _place_grids(layout: _Layout, rng: random.Random) -> dict[tuple[int, int], _Place]:
    """Lattice cell -> the grid's id and the names of its rungs."""
    (dcols, drows), (scols, srows) = layout.districts, layout.streets
    (ccols, crows), (gcols, grows) = layout.communities, layout.grids
    places: dict[tuple[int, int], _Place] = {}
    # Drawn for the whole city at once: street names must be unique across districts too.
    streets = iter(street_names(rng, dcols * drows * scols * srows))
    for d, (abbr, district) in enumerate(DISTRICTS[: dcols * drows]):
        dcol, drow = d % dcols, d // dcols
        for s in range(1, scols * srows + 1):
            street = next(streets)
            scol, srow = dcol * scols + (s - 1) % scols, drow * srows + (s - 1) // scols
            n_communities = rng.randint(*layout.community_range)
            for c, community in enumerate(community_names(rng, n_communities), start=1):
                ccol, crow = scol * ccols + (c - 1) % ccols, srow * crows + (c - 1) // ccols
                for g in range(1, gcols * grows + 1):
                    col, row = ccol * gcols + (g - 1) % gcols, crow * grows + (g - 1) // gcols
                    grid_id = f"TZ-{abbr}-{s:02d}-{c:02d}-{g:03d}"
                    places[(col, row)] = (
                        grid_id,
                        f"{community}第{g}网格",
                        community,
                        street,
                        district,
                    )
    return places


def _lattice(layout: _Layout, rng: random.Random, places: dict[tuple[int, int], _Place]) -> Lattice:
    """Columns and rows 300-600 m wide, so grids differ in size but still tile the city."""
    cols = layout.districts[0] * layout.streets[0] * layout.communities[0] * layout.grids[0]
    rows = layout.districts[1] * layout.streets[1] * layout.communities[1] * layout.grids[1]
    metres_per_lon = _METRES_PER_DEGREE * math.cos(math.radians(_CENTRE_LAT))
    widths = [rng.uniform(300, 600) / metres_per_lon for _ in range(cols)]
    heights = [rng.uniform(300, 600) / _METRES_PER_DEGREE for _ in range(rows)]
    west = _CENTRE_LON - sum(widths) / 2
    south = _CENTRE_LAT - sum(heights) / 2
    return Lattice(
        lon_edges=tuple(round(x, 6) for x in accumulate(widths, initial=west)),
        lat_edges=tuple(round(y, 6) for y in accumulate(heights, initial=south)),
        cells={cell: place[0] for cell, place in places.items()},
    )
