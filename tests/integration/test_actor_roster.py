"""The actor roster through a real broker: a worker's follower is not caught up (so the worker
is not ready and processes nothing) until it has read the whole of civic.actors.v1, however
the roster arrived, and keeps applying changes and tombstones afterwards."""

import asyncio

from civicgrid.domain.cityview import CityView
from civicgrid.embedded.stack import Endpoints
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.registry_follower import RegistryFollower, city_appliers
from civicgrid.topics import catalogue as topics
from tests.support.kafka import publish

ROSTER = 6_000  # more than one poll of the follower (5,000 records)


def _worker(n: int) -> dict[str, object]:
    return {"actor_id": f"W-{n}", "kind": "grid_worker", "grids": [f"G{n % 50}"]}


def test_the_follower_waits_for_the_whole_roster_and_follows_it(endpoints: Endpoints) -> None:
    bootstrap = endpoints.kafka_bootstrap
    records = [(topics.ACTORS.name, f"W-{n}", _worker(n)) for n in range(ROSTER)]
    records += [
        (topics.ACTORS.name, "W-0", None),  # removed again before the worker starts
        (topics.ACTORS.name, "OP-1", {"actor_id": "OP-1", "kind": "operator", "rung": "city"}),
        # rejected (an operator without a rung): the follower goes on past it
        (topics.ACTORS.name, "OP-2", {"actor_id": "OP-2", "kind": "operator"}),
    ]

    async def run() -> None:
        await publish(bootstrap, records)
        city = CityView()
        follower = RegistryFollower(KafkaConnection.plaintext(bootstrap), city_appliers(city))
        await follower.start()
        try:
            await asyncio.wait_for(follower.caught_up.wait(), 60)
            # caught up means all of it: the last records too, in order per key
            assert len(city.actors) == ROSTER
            assert city.actors.get("W-0") is None
            assert city.actors.get("OP-2") is None
            operator = city.actors.get("OP-1")
            assert operator is not None
            assert operator.rung is not None
            worker = city.actors.get(f"W-{ROSTER - 1}")
            assert worker is not None
            assert worker.grids == (f"G{(ROSTER - 1) % 50}",)
            # while running: a change and a tombstone take effect
            moved = _worker(7) | {"grids": ["G-NEW"]}
            await publish(
                bootstrap,
                [(topics.ACTORS.name, "W-7", moved), (topics.ACTORS.name, "OP-1", None)],
            )

            def applied() -> bool:
                seven = city.actors.get("W-7")
                return (
                    city.actors.get("OP-1") is None
                    and seven is not None
                    and (seven.grids == ("G-NEW",))
                )

            for _ in range(600):  # up to 30 s: the two keys may sit on different partitions
                if applied():
                    break
                await asyncio.sleep(0.05)
            assert applied()
        finally:
            await follower.stop()

    asyncio.run(run())
