"""Injected anomalies and their ground truth, so the pipeline's early warnings can be scored."""

import json
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from tools.city.mix import report_rate
from tools.city.model import City

AnomalyKind = Literal["burst", "cluster", "repeat"]
ANOMALY_KINDS: tuple[AnomalyKind, ...] = ("burst", "cluster", "repeat")

# Categories an anomaly is drawn from: those that really come in waves in a neighbourhood.
_WAVE_CATEGORIES = ("06010", "09009", "06028", "06029", "09006", "06027", "01037", "08004")
# Categories a single code attracts again and again, with the kind of code that attracts it.
_REPEAT_CATEGORIES = {"01002": "manhole_cover", "01037": "street_light", "03005": "litter_bin"}
_WINDOW_SHARE = 0.2  # of the run
_BURST_FACTOR = 5.0
_CLUSTER_FACTOR = 3.0


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: AnomalyKind
    grid_ids: tuple[str, ...]
    category: str
    start: datetime
    end: datetime
    count: int
    """Extra reports per grid in the window, on top of the background."""
    expected: float
    """Background reports per grid of the category in the window (0 for a single code)."""
    code: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "grid_ids": list(self.grid_ids),
            "category": self.category,
            "code": self.code,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "count": self.count,
            "expected": round(self.expected, 3),
        }


def plan_anomalies(
    city: City,
    kinds: Iterable[AnomalyKind],
    seed: int,
    start: datetime,
    *,
    rate: float,
    duration_s: float,
    acceleration: float = 1.0,
) -> list[Anomaly]:
    """One anomaly of each kind, all in the same window after 40 % of the run, so a baseline
    exists before it; a burst is _BURST_FACTOR times the grid's background rate."""
    rng = random.Random(f"{seed}/anomalies")
    window_s = duration_s * _WINDOW_SHARE
    first = start + timedelta(seconds=duration_s * 0.4 * acceleration)
    last = first + timedelta(seconds=window_s * acceleration)
    anomalies: list[Anomaly] = []
    for kind in kinds:
        grid = rng.choice(city.grids)
        if kind == "repeat":
            category, code = _repeated_code(city, rng, grid.grid_id)
            anomalies.append(Anomaly(kind, (grid.grid_id,), category, first, last, 6, 0.0, code))
            continue
        category = rng.choice(_WAVE_CATEGORIES)
        grids = (grid.grid_id,) if kind == "burst" else _three_neighbours(city, rng, grid.grid_id)
        rates = [report_rate(city, city.grid(g), category, rate) for g in grids]
        expected = sum(rates) / len(rates) * window_s
        factor, floor = (_BURST_FACTOR, 8) if kind == "burst" else (_CLUSTER_FACTOR, 4)
        count = max(floor, math.ceil((factor - 1) * expected))
        anomalies.append(Anomaly(kind, grids, category, first, last, count, expected))
    return anomalies


def write_ground_truth(path: Path | str, anomalies: Iterable[Anomaly]) -> None:
    """One JSON line per anomaly."""
    lines = [json.dumps(a.to_record(), ensure_ascii=False) + "\n" for a in anomalies]
    Path(path).write_text("".join(lines), encoding="utf-8")


def _three_neighbours(city: City, rng: random.Random, grid_id: str) -> tuple[str, str, str]:
    """A grid and two of its neighbours that also touch each other: one compact patch."""
    around = set(city.grid(grid_id).neighbours)
    # Within a community block such a pair always exists; across holes in the lattice it may not.
    pairs = [
        (second, third)
        for second in sorted(around)
        for third in sorted(around & set(city.grid(second).neighbours))
    ]
    second, third = rng.choice(pairs)
    return grid_id, second, third


def _repeated_code(city: City, rng: random.Random, grid_id: str) -> tuple[str, str]:
    category, kind = rng.choice(sorted(_REPEAT_CATEGORIES.items()))
    codes = [c.code for c in city.iter_codes([grid_id]) if c.kind == kind]
    if not codes:  # every grid has doorplates even when it lacks this kind of thing
        category = "06036"
        codes = [c.code for c in city.iter_codes([grid_id]) if c.kind == "doorplate"]
    return category, rng.choice(codes)
