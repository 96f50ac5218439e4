"""A stopping worker's shut-down encoder is not the batch's fault: no dead letter."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from civicgrid.agents.grid_stage import GridStage
from civicgrid.domain.workcalendar import WorkingCalendar
from civicgrid.errors import Disposition, StopError, classify
from civicgrid.settings import Settings


def _stage(stopping: bool) -> GridStage:
    encoding = ThreadPoolExecutor(max_workers=1)
    encoding.shutdown()
    runtime = SimpleNamespace(
        calendar=WorkingCalendar(),
        settings=Settings(),
        encoding=encoding,
        stopping=stopping,
        work=SimpleNamespace(embed=lambda part: []),
    )
    return GridStage(None, runtime)  # type: ignore[arg-type]


def test_a_stopping_workers_encoder_stops_the_batch_instead_of_dead_lettering_it() -> None:
    with pytest.raises(StopError) as raised:
        asyncio.run(_stage(stopping=True)._embed([object()]))  # type: ignore[list-item]
    assert classify(raised.value) is Disposition.STOP


def test_an_encoder_shut_down_for_another_reason_is_still_an_error() -> None:
    with pytest.raises(RuntimeError):
        asyncio.run(_stage(stopping=False)._embed([object()]))  # type: ignore[list-item]
