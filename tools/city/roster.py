"""The simulated city's actor roster (civic.actors.v1) and the ids its actors use.

The simulated departments and workers (tools/city/departments.py) act under these ids,
so the roster must list each in the scope it acts in, or every update would be refused:
each grid worker for their grids, each department for its own cases anywhere in the city,
an operator per community (who checks the community's small matters) and one for the city.
"""

from collections.abc import Iterator
from typing import Any

from civicgrid.domain.taxonomy import Taxonomy
from tools.city.model import City, Grid

CITY_OPERATOR = "OP-CITY"


def department_actor(department: str) -> str:
    return f"D-{department}"


def community_operator(grid_id: str) -> str:
    """Grid ids are `<community id>-<n>`: the operator is named after the community."""
    return f"OP-{grid_id.rsplit('-', 1)[0]}"


def actor_records(city: City, taxonomy: Taxonomy | None = None) -> Iterator[dict[str, Any]]:
    """Every actor of the city as its civic.actors.v1 value."""
    for worker_id, grid_ids in sorted(city.workers.items()):
        yield {"actor_id": worker_id, "kind": "grid_worker", "grids": list(grid_ids)}
    communities: dict[str, Grid] = {}
    for grid in city.grids:
        communities.setdefault(community_operator(grid.grid_id), grid)
    for operator_id, grid in communities.items():
        yield {
            "actor_id": operator_id,
            "kind": "operator",
            "rung": "community",
            "community": grid.community,
            "street": grid.street,
            "district": grid.district,
        }
    yield {"actor_id": CITY_OPERATOR, "kind": "operator", "rung": "city"}
    categories = taxonomy if taxonomy is not None else Taxonomy.default()
    departments = sorted({name for category in categories for name in category.departments})
    for department in departments:
        yield {
            "actor_id": department_actor(department),
            "kind": "department",
            "departments": [department],
        }
