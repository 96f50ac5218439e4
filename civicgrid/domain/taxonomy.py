"""The category taxonomy (SPEC §3) as data, with per-city overrides of severity, owners, limits."""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from civicgrid.domain.timelimit import TimeLimit
from civicgrid.schemas.enums import Severity

_OVERRIDABLE = frozenset({"severity", "lead", "co", "limit"})


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    zh: str
    en: str
    lead: str
    co: tuple[str, ...]
    severity: Severity
    limit: TimeLimit
    kinds: tuple[str, ...]
    # Disputes, petitions, household registration and public security are not public
    # matters: they are never listed as Open311 services and their cases never leave.
    public: bool = True

    @property
    def departments(self) -> tuple[str, ...]:
        return (self.lead, *self.co)


class Taxonomy:
    def __init__(
        self,
        categories: Mapping[str, Category],
        department_names: Mapping[str, str] | None = None,
        group_names: Mapping[str, str] | None = None,
    ) -> None:
        self._by_code = dict(categories)
        self._department_names = dict(department_names or {})
        self._group_names = dict(group_names or {})
        self._by_kind: dict[str, str] = {}
        for category in self._by_code.values():
            for kind in category.kinds:
                owner = self._by_kind.setdefault(kind, category.code)
                if owner != category.code:
                    raise ValueError(
                        f"registry kind {kind!r} points to {owner} and {category.code}"
                    )

    @classmethod
    def default(cls) -> "Taxonomy":
        return _packaged()

    @classmethod
    def load(cls, overrides_path: Path | None) -> "Taxonomy":
        """The packaged taxonomy with a city's overrides (per code: severity, lead, co, limit)."""
        base = cls.default()
        if overrides_path is None:
            return base
        overrides = json.loads(overrides_path.read_text(encoding="utf-8"))
        if not isinstance(overrides, dict):
            raise ValueError(
                f"{overrides_path}: overrides must be an object keyed by category code"
            )
        categories = dict(base._by_code)
        for code, fields in overrides.items():
            category = base.get(code)
            if not isinstance(fields, dict) or not set(fields) <= _OVERRIDABLE:
                raise ValueError(
                    f"{overrides_path}: override of {code} must be an object with keys among "
                    f"{sorted(_OVERRIDABLE)}"
                )
            categories[code] = _overridden(category, fields)
        return cls(categories, base._department_names, base._group_names)

    def get(self, code: str) -> Category:
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"unknown category code {code!r} (not in the taxonomy)") from None

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def department_name(self, department: str) -> str:
        """The department's Chinese name, as residents and partner apps are shown it."""
        return self._department_names.get(department, department)

    def group_name(self, code: str) -> str:
        """The 大类 a code belongs to (its 2-digit class, or 3 characters for local L codes)."""
        prefix = code[:3] if code.startswith("L") else code[:2]
        return self._group_names.get(prefix, prefix)

    def category_for_kind(self, kind: str) -> str | None:
        return self._by_kind.get(kind)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)


def _overridden(category: Category, fields: Mapping[str, Any]) -> Category:
    changed = category
    if "severity" in fields:
        changed = replace(changed, severity=Severity(fields["severity"]))
    if "lead" in fields:
        changed = replace(changed, lead=_department(fields["lead"]))
    if "co" in fields:
        co = fields["co"]
        if not isinstance(co, list):
            raise ValueError(f"override of {category.code}: co must be a list of departments")
        changed = replace(changed, co=tuple(_department(name) for name in co))
    if "limit" in fields:
        changed = replace(changed, limit=TimeLimit.parse(str(fields["limit"])))
    return changed


def _department(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"department {name!r} must be a non-empty string")
    return name.strip()


def _category(row: Mapping[str, Any]) -> Category:
    return Category(
        code=row["code"],
        zh=row["zh"],
        en=row["en"],
        lead=row["lead"],
        co=tuple(row["co"]),
        severity=Severity(row["severity"]),
        limit=TimeLimit.parse(row["limit"]),
        kinds=tuple(row["kinds"]),
        public=bool(row.get("public", True)),
    )


@cache
def _packaged() -> Taxonomy:
    text = resources.files("civicgrid.domain").joinpath("data/taxonomy.json").read_text("utf-8")
    data = json.loads(text)
    categories = {row["code"]: _category(row) for row in data["categories"]}
    return Taxonomy(categories, data["departments"], data["groups"])
