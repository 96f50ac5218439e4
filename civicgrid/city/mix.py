"""What the simulated city reports and how often: shared by the simulator and the anomaly plan."""

from civicgrid.city.model import City, Grid

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
OCCASION_WEIGHTS = (0.55, 0.10, 0.15, 0.08, 0.12)
SCAN_CHANNEL_SHARE = 0.7  # of residents' reports; each of those comes with its scan
EVENTS_PER_OCCASION = 1 + OCCASION_WEIGHTS[0] * SCAN_CHANNEL_SHARE


def report_rate(city: City, grid: Grid, category: str, rate: float) -> float:
    """Background reports of `category` in `grid` per real second when events flow at `rate`."""
    occasions = rate / EVENTS_PER_OCCASION
    report_share = OCCASION_WEIGHTS[0] + OCCASION_WEIGHTS[1]
    grid_share = grid.households / sum(g.households for g in city.grids)
    category_share = CATEGORY_WEIGHTS[category] / sum(CATEGORY_WEIGHTS.values())
    return occasions * report_share * grid_share * category_share
