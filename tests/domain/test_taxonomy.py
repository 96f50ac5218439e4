import json
from pathlib import Path

import pytest

from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.domain.timelimit import LimitUnit, TimeLimit
from civicgrid.schemas.enums import Severity

SPEC_CODES = {
    "01002",
    "01037",
    "01013",
    "01049",
    "02010",
    "03005",
    "04002",
    "06001",
    "06010",
    "06026",
    "06027",
    "06028",
    "06029",
    "06036",
    "07001",
    "08004",
    "09006",
    "09009",
    "09012",
    "10002",
    "L0101",
    "L0102",
    "L0103",
    "L0201",
    "L0202",
    "L0203",
    "L0301",
    "L0302",
    "L0303",
    "L0401",
    "L0501",
}


def test_every_spec_row_is_present_with_its_defaults() -> None:
    taxonomy = Taxonomy.default()
    assert {category.code for category in taxonomy} >= SPEC_CODES
    cover = taxonomy.get("01002")
    assert (cover.zh, cover.severity, cover.limit) == (
        "污水井盖",
        Severity.P1,
        TimeLimit(2, LimitUnit.HOURS),
    )
    assert taxonomy.get("02010").limit == TimeLimit(5, LimitUnit.WORKING_DAYS)


def test_registry_kinds_point_to_categories() -> None:
    taxonomy = Taxonomy.default()
    expected = {
        "manhole_cover": "01002",
        "street_light": "01037",
        "lpg_cylinder": "L0201",
        "pollution_source": "L0203",
        "rental_house": "L0102",
        "fire_hydrant": "01013",
        "gas_regulator": "01049",
        "litter_bin": "03005",
        "street_tree": "04002",
        "traffic_sign": "02010",
    }
    assert {kind: taxonomy.category_for_kind(kind) for kind in expected} == expected
    assert taxonomy.category_for_kind("doorplate") is None


def test_departments_put_the_lead_first() -> None:
    lane = Taxonomy.default().get("09012")
    assert lane.departments == ("fire", "traffic_police", "property_management")


def test_unknown_code_raises_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match="unknown category code '99999'"):
        Taxonomy.default().get("99999")


def test_a_city_overrides_severity_owners_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "city.json"
    path.write_text(
        json.dumps(
            {"01037": {"severity": "P2", "lead": "city_lighting", "co": ["grid"], "limit": "4 h"}}
        )
    )
    light = Taxonomy.load(path).get("01037")
    assert light.severity is Severity.P2
    assert light.departments == ("city_lighting", "grid")
    assert light.limit == TimeLimit(4, LimitUnit.HOURS)
    assert Taxonomy.default().get("01037").severity is Severity.P3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"99999": {"severity": "P1"}}, "unknown category"),
        ({"01037": {"colour": "red"}}, "keys among"),
        ({"01037": {"limit": "soon"}}, "time limit"),
        ({"01037": {"severity": "P0"}}, "P0"),
    ],
)
def test_bad_overrides_are_refused(tmp_path: Path, overrides: object, message: str) -> None:
    path = tmp_path / "city.json"
    path.write_text(json.dumps(overrides))
    with pytest.raises((ValueError, KeyError), match=message):
        Taxonomy.load(path)
