"""The registered codes of one grid (四码: places, things, organisations), rebuilt from the seed."""

import random
from collections.abc import Iterator, Mapping
from typing import Any

from tools.city.model import Code, Grid
from tools.city.names import eatery_name, enterprise_name, road_name

# kind -> (element_type, code prefix); the order is the order codes are built in a grid.
KINDS: dict[str, tuple[str, str]] = {
    "doorplate": ("place", "MP"),
    "rental_house": ("place", "CZ"),
    "manhole_cover": ("thing", "JG"),
    "street_light": ("thing", "LD"),
    "fire_hydrant": ("thing", "XF"),
    "gas_regulator": ("thing", "RQ"),
    "litter_bin": ("thing", "LJ"),
    "street_tree": ("thing", "XS"),
    "traffic_sign": ("thing", "JT"),
    "lpg_cylinder": ("thing", "GP"),
    "enterprise": ("organisation", "QY"),
    "pollution_source": ("organisation", "WR"),
}

# Share of grids with an industrial estate: enterprises cluster, they are not spread evenly.
_INDUSTRIAL_SHARE = 0.10
_LABELS = {
    "manhole_cover": "窨井盖",
    "street_light": "路灯",
    "fire_hydrant": "消火栓",
    "gas_regulator": "燃气调压箱",
    "litter_bin": "垃圾箱",
    "street_tree": "行道树",
    "traffic_sign": "交通标志牌",
}
_SPECIES = ("香樟", "银杏", "法国梧桐", "女贞", "栾树", "广玉兰")
_SIGNS = ("禁止停车", "限速40", "人行横道", "禁止左转", "单行道")
_MARGIN = 1e-5  # degrees (~1 m): keeps rounded coordinates strictly inside their grid


def kind_counts(seed: int, grid_id: str, households: int, density: float) -> dict[str, int]:
    """How many codes of each kind a grid has; doorplates, rentals and LPG follow households."""
    rng = random.Random(f"{seed}/{grid_id}/counts")
    things = {
        "manhole_cover": rng.randint(10, 22),
        "street_light": rng.randint(12, 28),
        "fire_hydrant": rng.randint(2, 6),
        "gas_regulator": rng.randint(0, 2),
        "litter_bin": rng.randint(6, 14),
        "street_tree": rng.randint(12, 36),
        "traffic_sign": rng.randint(3, 9),
    }
    counts = {
        "doorplate": households // 6,
        "rental_house": round(households * rng.uniform(0.01, 0.05)),
        "lpg_cylinder": round(households * rng.uniform(0.01, 0.06)),
    }
    counts |= things
    counts = {kind: max(0, round(n * density)) for kind, n in counts.items()}
    industrial = rng.random() < _INDUSTRIAL_SHARE
    counts["enterprise"] = rng.randint(3, 10) if industrial else 0
    counts["pollution_source"] = rng.randint(0, 4) if industrial else 0
    return {kind: counts[kind] for kind in KINDS}


def grid_codes(
    seed: int, counts: Mapping[str, Mapping[str, int]], numbers: Mapping[str, int], grid: Grid
) -> Iterator[Code]:
    """The codes of one grid, identical on every call for the same seed."""
    rng = random.Random(f"{seed}/{grid.grid_id}/codes")
    lons = [p[0] for p in grid.polygon]
    lats = [p[1] for p in grid.polygon]
    west, east = min(lons) + _MARGIN, max(lons) - _MARGIN
    south, north = min(lats) + _MARGIN, max(lats) - _MARGIN
    roads = [road_name(rng) for _ in range(3)]
    enterprises: list[str] = []
    doorplates: list[str] = []
    number = numbers[grid.grid_id]
    for kind, n in counts[grid.grid_id].items():
        element_type, prefix = KINDS[kind]
        for i in range(1, n + 1):
            code = f"TZ{prefix}{number:05d}{i:04d}"
            road = rng.choice(roads)
            name, attributes = _describe(kind, i, road, rng, enterprises, doorplates)
            if kind == "enterprise":
                enterprises.append(code)
            elif kind == "doorplate":
                doorplates.append(code)
            yield Code(
                code=code,
                element_type=element_type,
                kind=kind,
                grid_id=grid.grid_id,
                name=name,
                lat=round(rng.uniform(south, north), 6),
                lon=round(rng.uniform(west, east), 6),
                attributes=attributes,
            )


_MAINTAINERS = {
    "street_light": "lighting",
    "fire_hydrant": "fire",
    "gas_regulator": "gas",
    "litter_bin": "sanitation",
    "street_tree": "greening",
    "traffic_sign": "traffic",
}


def _describe(
    kind: str,
    i: int,
    road: str,
    rng: random.Random,
    enterprises: list[str],
    doorplates: list[str],
) -> tuple[str, dict[str, Any]]:
    """Name and attributes of a code, the way a registration clerk would enter them."""
    if kind == "doorplate":
        return f"{road}{i}号", {"households": rng.randint(1, 12)}
    if kind == "rental_house":
        doorplate = rng.choice(doorplates) if doorplates else None
        rooms, tenants = rng.randint(1, 4), rng.randint(1, 8)
        return f"{road}出租屋{i}", {"doorplate": doorplate, "rooms": rooms, "tenants": tenants}
    if kind == "lpg_cylinder":
        return f"{eatery_name(rng)}液化气钢瓶", {"capacity_kg": rng.choice((15, 15, 50))}
    if kind == "enterprise":
        name, industry = enterprise_name(rng)
        return name, {"industry": industry, "employees": rng.randint(8, 600)}
    if kind == "pollution_source":
        owner = rng.choice(enterprises) if enterprises else None
        medium = rng.choice(("废水", "废气", "固废"))
        return f"{road}{medium}排放口{i}", {"enterprise": owner, "owner": owner, "medium": medium}
    # city components are registered with the unit that maintains them (权属单位)
    attributes: dict[str, Any] = {"owner": _MAINTAINERS[kind]} if kind in _MAINTAINERS else {}
    if kind == "street_tree":
        attributes["species"] = rng.choice(_SPECIES)
    elif kind == "traffic_sign":
        attributes["sign"] = rng.choice(_SIGNS)
    elif kind == "manhole_cover":
        network = rng.choice(("污水", "雨水", "通信"))
        attributes |= {"network": network, "owner": "telecom" if network == "通信" else "drainage"}
    return f"{road}{_LABELS[kind]}{i:03d}", attributes
