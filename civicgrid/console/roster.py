"""Console operators on the actor roster: their case updates are authorised like anyone's."""

from civicgrid import kafka_clients
from civicgrid.console.scope import Operator
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.schemas.enums import ActorKind, Level
from civicgrid.schemas.inbound import ActorRecord


async def publish_roster_entry(
    kafka: KafkaConnection, operator: Operator, parents: dict[str, str]
) -> None:
    """The operator on civic.actors.v1, so the stream authorises their console actions."""
    rung = operator.role.rung
    assert rung is not None
    territory = {**parents} if rung is Level.CITY else {**parents, rung.value: operator.scope}
    record = ActorRecord.model_validate(
        {
            "actor_id": operator.operator_id,
            "kind": ActorKind.OPERATOR,
            "rung": rung,
            **territory,
        }
    )
    producer = kafka_clients.producer(kafka, linger_ms=0)
    await producer.start()
    try:
        await producer.send_and_wait(
            ActorRecord.TOPIC,
            record.model_dump_json(exclude_none=True).encode(),
            key=operator.operator_id.encode(),
        )
    finally:
        await producer.stop()
