"""Logs: JSON lines with the event's correlation id, readable text, personal numbers masked."""

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest

from civicgrid.domain.privacy import mask_text
from civicgrid.logs import configure_logging, correlation, current_correlation_id

ID_CARD = "32010219900307123X"
MOBILE = "13812345678"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("aiokafka", "faust", "mode")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in noisy.items():
        logging.getLogger(name).setLevel(noisy_level)


def json_lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line]


def test_json_line_carries_fields_extras_and_correlation_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "INFO")
    log = logging.getLogger("civicgrid.test")
    with correlation("0b7f6a4e-event"):
        log.info("case %s opened", "G1~7", extra={"topic": "civic.reports.v1", "partition": 2})
    log.info("outside")
    inside, outside = json_lines(capsys.readouterr().err)
    assert inside["level"] == "INFO"
    assert inside["logger"] == "civicgrid.test"
    assert inside["msg"] == "case G1~7 opened"
    assert inside["correlation_id"] == "0b7f6a4e-event"
    assert inside["topic"] == "civic.reports.v1"
    assert inside["partition"] == 2
    assert str(inside["ts"]).endswith("+00:00")
    assert "correlation_id" not in outside


def test_explicit_correlation_id_wins(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    with correlation("from-context"):
        logging.getLogger("civicgrid.test").info("x", extra={"correlation_id": "explicit"})
    (line,) = json_lines(capsys.readouterr().err)
    assert line["correlation_id"] == "explicit"


async def test_correlation_id_is_per_task() -> None:
    async def handle(event_id: str) -> str | None:
        with correlation(event_id):
            await asyncio.sleep(0.01)
            return current_correlation_id()

    assert list(await asyncio.gather(handle("a"), handle("b"))) == ["a", "b"]
    assert current_correlation_id() is None


def test_text_format_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text", "INFO")
    with correlation("evt-1"):
        logging.getLogger("civicgrid.test").warning("slow batch", extra={"offset": 42})
    (line,) = capsys.readouterr().err.splitlines()
    assert " WARNING " in line
    assert " civicgrid.test " in line
    assert line.endswith("slow batch [evt-1] offset=42")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_level_and_noisy_loggers(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "DEBUG")
    logging.getLogger("aiokafka.producer").debug("per-message noise")
    logging.getLogger("faust.transport").info("more noise")
    logging.getLogger("civicgrid.test").debug("kept")
    assert [line["msg"] for line in json_lines(capsys.readouterr().err)] == ["kept"]
    configure_logging("json", "ERROR")
    logging.getLogger("civicgrid.test").warning("dropped")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (f"身份证{ID_CARD}，电话{MOBILE}", "身份证3201**********123X，电话138****5678"),
        ("110105194912310021", "1101**********0021"),
        ("+86 138-1234-5678", "+86 138-****-5678"),
        ("联系13912345678谢谢", "联系139****5678谢谢"),
        # Longer digit runs (order numbers, offsets) are not personal numbers.
        ("1234567890123456789012", "1234567890123456789012"),
        ("12812345678", "12812345678"),
        ("138123456789", "138123456789"),
        # A float's 15 decimals are not an old ID card (issue 16: 16.4493*******0126).
        ("runtime=16.449300000000126", "runtime=16.449300000000126"),
        ("电话139.7120.0010", "电话139.****.0010"),
    ],
)
def test_masking(raw: str, masked: str) -> None:
    # The log filter masks with the domain's one rule (civicgrid/domain/privacy.py).
    assert mask_text(raw) == masked


def test_filter_masks_message_args_extras_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "INFO")
    log = logging.getLogger("civicgrid.test")
    log.info("report from %s", MOBILE, extra={"description": f"身份证 {ID_CARD}"})
    try:
        raise ValueError(f"bad input {ID_CARD}")
    except ValueError:
        log.exception("parse failed")
    err = capsys.readouterr().err
    assert MOBILE not in err
    assert ID_CARD not in err
    first, second = json_lines(err)
    assert first["msg"] == "report from 138****5678"
    assert first["description"] == "身份证 3201**********123X"
    assert "bad input 3201**********123X" in str(second["exc"])


def test_text_format_masks_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text", "INFO")
    logging.getLogger("civicgrid.test").info("call %s", MOBILE)
    assert "call 138****5678" in capsys.readouterr().err


def test_filter_keeps_ordinary_numbers_and_masks_spaced_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "INFO")
    log = logging.getLogger("civicgrid.test")
    log.info(
        "batch took runtime=%s", "16.449300000000126", extra={"note": "回电139\u00a07120\u00a00010"}
    )
    (line,) = json_lines(capsys.readouterr().err)
    assert line["msg"] == "batch took runtime=16.449300000000126"
    assert line["note"] == "回电139\u00a0****\u00a00010"
