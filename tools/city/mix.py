"""What the simulated city reports and how often: shared by the simulator and the anomaly plan."""

import random
from datetime import datetime, timedelta

from tools.city.model import City, Grid

# How often each category is reported, roughly as in a Chinese city's 12345 and grid statistics.
CATEGORY_WEIGHTS: dict[str, float] = {
    "09009": 12, "06010": 10, "09006": 8, "06036": 8, "07001": 7, "03005": 6, "06028": 6,
    "01037": 5, "L0501": 5, "06027": 4, "L0301": 4, "06029": 3, "01002": 3, "04002": 3,
    "06001": 3, "08004": 3, "09012": 3, "02010": 2, "06026": 2, "10002": 2, "L0101": 2,
    "L0102": 2, "L0302": 2, "L0401": 2, "01013": 1.5, "L0202": 1.5, "L0103": 1, "L0201": 1,
    "L0203": 1, "01049": 0.5, "L0303": 0.5,
}  # fmt: skip
# The code a resident would scan for a category; the rest are reported at a doorplate.
CATEGORY_KINDS: dict[str, str] = {
    "01002": "manhole_cover", "01037": "street_light", "01013": "fire_hydrant",
    "01049": "gas_regulator", "02010": "traffic_sign", "03005": "litter_bin",
    "04002": "street_tree", "L0102": "rental_house", "L0201": "lpg_cylinder",
    "L0203": "pollution_source",
}  # fmt: skip
OCCASIONS = ("resident_report", "worker_report", "patrol", "visit", "scan")
# Grid workers make most of the events, as in Taizhou's model: a route of code scans, household
# visits and their own reports (主动发现). Worker occasions take place only while the worker is
# on duty and keen (`worker_diligence`); otherwise the occasion is a resident viewing a code,
# so the volume per `rate` stays the same at any hour while the mix follows the working day.
OCCASION_WEIGHTS = (0.07, 0.20, 0.45, 0.20, 0.08)
SCAN_CHANNEL_SHARE = 0.7  # of residents' reports; each of those comes with its scan
EVENTS_PER_OCCASION = 1 + OCCASION_WEIGHTS[0] * SCAN_CHANNEL_SHARE
# Working days Monday to Friday, 07:00-21:00 local time: grid workers patrol in day shifts.
DUTY_HOURS = (7, 21)
ON_DUTY_SHARE = 5 / 7 * (DUTY_HOURS[1] - DUTY_HOURS[0]) / 24
MEAN_DILIGENCE = 0.65  # of worker_diligence's uniform 0.3-1.0


def on_duty(at: datetime) -> bool:
    """Whether grid workers are at work at `at` (local time of its UTC offset)."""
    return at.weekday() < 5 and DUTY_HOURS[0] <= at.hour < DUTY_HOURS[1]


def next_duty(at: datetime) -> datetime:
    """`at` if workers are on duty then, else the start of the next duty period."""
    moment = at
    while not on_duty(moment):
        moment = (moment + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return max(moment, at)


def worker_diligence(seed: int, worker_id: str) -> float:
    """How keen a worker is, 0.3-1.0, fixed per worker and seed: the share of their duty
    occasions they do fieldwork in, and of residents' cases they verify within the hour."""
    return random.Random(f"{seed}/diligence/{worker_id}").uniform(0.3, 1.0)


def report_rate(city: City, grid: Grid, category: str, rate: float) -> float:
    """Background reports of `category` in `grid` per real second when events flow at `rate`."""
    occasions = rate / EVENTS_PER_OCCASION
    # a worker's report occasion is a report only on duty, and only for a keen worker
    report_share = OCCASION_WEIGHTS[0] + OCCASION_WEIGHTS[1] * ON_DUTY_SHARE * MEAN_DILIGENCE
    grid_share = grid.households / sum(g.households for g in city.grids)
    category_share = CATEGORY_WEIGHTS[category] / sum(CATEGORY_WEIGHTS.values())
    return occasions * report_share * grid_share * category_share
