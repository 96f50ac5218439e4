"""Settings: one class, CIVICGRID_ variables, errors that name the variable."""

from pathlib import Path

import pytest

from civicgrid.settings import SettingsError, env_names, load_settings


def test_defaults_run_the_embedded_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIVICGRID_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.kafka_broker is None
    assert settings.database_url is None
    assert settings.fetch_max_wait_ms is None  # 10 ms on Tansu (civicgrid/app.py)


def test_unknown_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICGRID_PARTITONS", "8")
    with pytest.raises(SettingsError, match="CIVICGRID_PARTITONS"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CIVICGRID_PARTITIONS", "many"),
        ("CIVICGRID_KAFKA_BROKER", "no-port"),
        ("CIVICGRID_DATABASE_URL", "mysql://x"),
        ("CIVICGRID_LOG_FORMAT", "xml"),
        ("CIVICGRID_CITY_TIMEZONE", "Asia/Taizhou"),
        ("CIVICGRID_CITY_TIMEZONE", "../../etc/passwd"),
    ],
)
def test_invalid_value_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_settings_are_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.partitions = 9  # type: ignore[misc]


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [name for name in env_names() if f"`{name}`" not in readme]
    assert missing == []
