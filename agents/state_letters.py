"""Dead letters of the state topics: registry and grid records the follower refused.

Every worker follows the state topics whole, so every worker (and every restart) finds the
same bad records. Each is written once: under an advisory lock, only those not yet in
`dead_letters` are planned (the pure core's own dead-letter rows and messages), written and
published, and the transaction commits after the broker has them.
"""

import logging
from collections.abc import Sequence
from typing import Any

from civicgrid import metrics
from civicgrid.agents.delivery import send_all
from civicgrid.db.sink import write_plan
from civicgrid.domain.casebook import CaseBook
from civicgrid.runtime import Runtime
from civicgrid.schemas.internal import GridEnvelope

log = logging.getLogger(__name__)

_LOCK_KEY = 0x73746174  # "stat": workers writing the same letters take turns
_FLUSH_SECONDS = 1.0


async def write_new(app: Any, runtime: Runtime, letters: Sequence[GridEnvelope]) -> int:
    """Write and publish the letters not yet stored; return how many were new."""
    assert runtime.pool is not None
    origins = [e.origin for e in letters if e.origin is not None]
    async with runtime.pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        stored = await connection.fetch(
            'SELECT d.topic, d.partition, d."offset" FROM dead_letters d '
            'JOIN unnest($1::text[], $2::int[], $3::bigint[]) AS u(topic, partition, "offset") '
            'USING (topic, partition, "offset")',
            [o.topic for o in origins],
            [o.partition for o in origins],
            [o.offset for o in origins],
        )
        known = {(r[0], r[1], r[2]) for r in stored}
        new = [
            e
            for e in letters
            if e.origin is not None
            and (e.origin.topic, e.origin.partition, e.origin.offset) not in known
        ]
        plan = runtime.work.plan(new, set(), CaseBook(runtime.calendar))
        await write_plan(connection, plan, {}, runtime.calendar)
        await send_all(app, plan.messages)
    for name, count in plan.counts.items():
        kind, _, rest = name.partition(":")
        if kind == "dead_letter":
            topic, _, dl_kind = rest.rpartition(":")
            metrics.DEAD_LETTERS.labels(topic=topic, kind=dl_kind).inc(count)
    return len(new)


def register(app: Any, runtime: Runtime) -> None:
    @app.timer(interval=_FLUSH_SECONDS)
    async def state_dead_letters() -> None:
        follower = runtime.follower
        if follower is None or not follower.rejected or runtime.pool is None:
            return
        letters = list(follower.rejected)
        try:
            await write_new(app, runtime, letters)
        except Exception:
            log.exception("writing state dead letters failed; the next flush retries")
            return
        follower.take_rejected(len(letters))
