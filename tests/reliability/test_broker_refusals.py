"""Records refused for good by the real Kafka client of a real worker (issue 16, item 2).

Tansu takes whatever it is sent (11 MB with a topic's `max.message.bytes` at 2,000: it
enforces neither), so the refusal here is aiokafka's own: the worker's producer refuses a
record over its `max_request_size` (`CIVICGRID_PRODUCER_MAX_REQUEST_BYTES`) before sending
it, with `MessageSizeTooLargeError`, as it would for a broker configured with a small
`message.max.bytes`. The limit is set to 16 KiB (the least the setting allows), under what
intake accepts (64 KiB), so records the edge lets through are refused inside the worker:

- a valid report of ~57 KB (4,000 four-byte characters, 20 long photo URLs): its internal
  record is refused, then its dead letter (the envelope, base64, ~76 KB) too, which is cut
  to the last resort's 4 KiB (the worker used to stop here: "refuses even dead letters");
- a ~60 KB value the schema refuses: its dead letter carries it base64, ~80 KB, refused and
  cut to 4 KiB;
- on an output topic: 450 reports on one code, whose case snapshot on civic.cases.v1 (it
  lists the case's event ids) outgrows the limit at ~410 reports; from then on each
  batch's output is refused, the batch rolled back and split, and each report whose
  output is refused is dead-lettered alone, naming the refusal.

Around them the city's stream must flow: every other offset is an event, and the worker
stays ready with every stage flowing. Ordinary batch records over the limit are refused and
sent again one envelope per record, so that round is crossed for real too.
"""

import asyncio
import uuid
from collections.abc import Callable
from urllib.request import urlopen

import orjson

from civicgrid.embedded.stack import Endpoints
from civicgrid.topics import catalogue as topics
from tests.support.database import fetch, fetchval, unaccounted
from tests.support.kafka import publish_tracked, read_topic
from tools.city.generate import generate_city
from tools.city.publish import publish_city
from tools.faults import event_stream
from tools.workerproc import WorkerProcess

LIMIT = 16_384  # the least the setting allows
BURST = 450  # reports on one code: a snapshot of ~410 event ids is over LIMIT
_ENV = {
    "CIVICGRID_SLA_CHECK_SECONDS": "86400",
    "CIVICGRID_PREDICTION_CHECK_SECONDS": "86400",
    "CIVICGRID_PRODUCER_MAX_REQUEST_BYTES": str(LIMIT),
}


def _report_template(records: list[tuple[str, str | None, bytes]]) -> dict[str, object]:
    for topic, _, value in records:
        fields = orjson.loads(value)
        if topic == topics.REPORTS.name and fields.get("code"):
            return dict(fields)
    raise AssertionError("no report with a code in the stream")


def test_records_the_client_refuses_are_dead_lettered_and_the_rest_flows(
    endpoints: Endpoints, start_worker: Callable[..., WorkerProcess]
) -> None:
    city = generate_city("demo", 7)
    asyncio.run(publish_city(endpoints.kafka_bootstrap, city, progress=False))
    stream = event_stream(city, 300, seed=5)
    template = _report_template(stream)
    big = {
        **template,
        "event_id": str(uuid.uuid4()),
        "description": "\U0001f6a7" * 4000,  # 4 bytes each in UTF-8
        "photos": [f"https://oss.civicgrid.example/p/{n}/" + "a" * 2000 for n in range(20)],
    }
    too_long = {**template, "event_id": str(uuid.uuid4()), "description": "x" * 60_000}
    big_value, too_long_value = orjson.dumps(big), orjson.dumps(too_long)
    assert 50_000 < len(big_value) < 64 * 1024
    assert 55_000 < len(too_long_value) < 64 * 1024
    worker = start_worker(**_ENV)
    worker.wait_ready()

    bootstrap, url = endpoints.kafka_bootstrap, endpoints.database_url
    head = [(t, k, v) for t, k, v in stream[:150]]
    tail = [(t, k, v) for t, k, v in stream[150:]]
    pills = [
        (topics.REPORTS.name, template.get("code"), big_value),
        (topics.REPORTS.name, template.get("code"), too_long_value),
    ]
    published = asyncio.run(publish_tracked(bootstrap, head))
    at_fault = asyncio.run(publish_tracked(bootstrap, pills))
    published |= at_fault | asyncio.run(publish_tracked(bootstrap, tail))
    assert asyncio.run(unaccounted(url, published, wait_s=240)) == set()

    # a point reported by a whole street: once the case's snapshot (its event ids) is over
    # the limit, civic.cases.v1 refuses it, the batch rolls back and each report whose output
    # is refused is a dead letter alone; the case keeps every report before
    code = str(template["code"])
    burst = [
        (
            topics.REPORTS.name,
            code,
            orjson.dumps(
                {**template, "event_id": str(uuid.uuid4()), "reporter_id": f"R-{80_000_000 + n}"}
            ),
        )
        for n in range(BURST)
    ]
    hot = asyncio.run(publish_tracked(bootstrap, burst))
    after = asyncio.run(publish_tracked(bootstrap, stream[:20]))  # resends: duplicates
    published |= hot | after
    assert asyncio.run(unaccounted(url, published, wait_s=240)) == set()

    letters = asyncio.run(
        fetch(url, 'SELECT topic, partition, "offset", kind, message FROM dead_letters')
    )
    by_offset = {(r["topic"], r["partition"], r["offset"]): r for r in letters}
    for letter in letters:
        assert "MessageSizeTooLargeError" in letter["message"], letter["message"]
    # the two records at fault at intake are dead letters, cut to the last resort
    assert at_fault <= set(by_offset)
    pill_letters = [by_offset[o] for o in sorted(at_fault)]
    assert sorted(r["kind"] for r in pill_letters) == ["processing_error", "schema"]
    assert all("cut to its first 4096 bytes" in r["message"] for r in pill_letters)
    # the burst: each report an event, or a dead letter whose output was refused; no other
    refused = set(by_offset) - at_fault
    assert refused, "no case snapshot went over the limit"
    assert refused <= hot
    assert all("output refused" in by_offset[o]["message"] for o in refused)
    assert all(by_offset[o]["kind"] == "processing_error" for o in refused)
    in_cases = asyncio.run(
        fetchval(
            url,
            'SELECT count(*) FROM events e WHERE (e.topic, e.partition, e."offset") '
            "= ANY(SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[]))",
            [o[0] for o in hot],
            [o[1] for o in hot],
            [o[2] for o in hot],
        )
    )
    assert in_cases == BURST - len(refused)
    # every other record of the stream is an event (its resends flagged, not dead)
    events = asyncio.run(fetchval(url, "SELECT count(*) FROM events"))
    distinct = {orjson.loads(v)["event_id"] for _, _, v in stream}
    assert events == len(distinct) + in_cases
    # the largest case holds every burst report that is an event, and no event is in two
    held = asyncio.run(
        fetchval(url, "SELECT max(jsonb_array_length(data -> 'event_ids')) FROM cases")
    )
    assert held >= in_cases

    out = asyncio.run(read_topic(bootstrap, topics.DEADLETTER.name, len(letters)))
    assert len(out) == len(letters)
    assert all(len(orjson.dumps(value)) < LIMIT for _, value in out)
    assert worker.process is not None
    assert worker.process.poll() is None
    assert worker.health() == 200
    with urlopen(f"http://127.0.0.1:{worker.port}/health/ready", timeout=5) as response:
        body = orjson.loads(response.read())
    assert body.get("stages_flowing") is True, body
    log = worker.log_path.read_text(encoding="utf-8", errors="replace")
    assert "the broker refused an internal record" in log
