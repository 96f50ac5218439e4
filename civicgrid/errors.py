"""The one error hierarchy, and the one place that decides what a failure means.

Every failure the pipeline meets is one of three things (`Disposition`):

- **retry**: a service is down, unreachable, refusing us for now or busy (PostgreSQL
  restarting, a connection killed, REVOKE CONNECT, the broker gone). Waiting fixes it: the
  stage retries the same batch with backoff, readiness answers 503, nothing is acked.
  A good event must never be dead-lettered for this.
- **dead-letter**: the record itself cannot be stored or sent (a value PostgreSQL rejects,
  a record larger than the broker takes, a topic the broker refuses for good). Waiting does
  not fix it; the record at fault becomes a dead letter with its reason and the rest flows on.
- **stop**: the worker's code or configuration is wrong (a table missing, bad settings).
  Neither waiting nor dead-lettering fixes it; the worker stops without acking, and its
  supervisor shows the crash.

civicgrid's own errors carry their disposition (subclasses of `RetryError`, `DeadLetterError`,
`StopError`); errors of aiokafka, asyncpg and the standard library are classified by
`classify`. `schemas/` and `civicgrid/domain/` do not import this module (they may import
only pydantic and the standard library): their refusals (`schemas.parse.IntakeError`,
`lifecycle.TransitionRejected`) are turned into dead letters inside the pure core and never
reach a stage's retry loop.
"""

from enum import StrEnum

import asyncpg
from aiokafka import errors as kafka


class Disposition(StrEnum):
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"
    STOP = "stop"


class CivicgridError(Exception):
    """Root of civicgrid's errors; each subclass says what the stage does with it."""

    disposition: Disposition = Disposition.STOP


class RetryError(CivicgridError):
    """A service is unavailable for now: wait with backoff, do not ack."""

    disposition = Disposition.RETRY


class DeadLetterError(CivicgridError):
    """This record cannot be processed, ever: it becomes a dead letter with `reason`."""

    disposition = Disposition.DEAD_LETTER

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StopError(CivicgridError):
    """Code or configuration is wrong: stop without acking."""

    disposition = Disposition.STOP


# The broker refuses this record (or this record's topic) for good: resending the same bytes
# gets the same answer. aiokafka marks UnknownTopicOrPartition retriable (metadata may lag
# a topic's creation); civicgrid creates its topics before it starts, so here it is final.
KAFKA_RECORD_FAULTS: tuple[type[BaseException], ...] = (
    kafka.MessageSizeTooLargeError,
    kafka.RecordTooLargeError,
    kafka.RecordListTooLargeError,
    kafka.TopicAuthorizationFailedError,
    kafka.ClusterAuthorizationFailedError,
    kafka.TransactionalIdAuthorizationFailed,
    kafka.UnknownTopicOrPartitionError,
    kafka.InvalidTopicError,
    kafka.InvalidRequestError,
    kafka.CorruptRecordException,
    kafka.InvalidMessageError,
    kafka.InvalidTimestampError,
    kafka.PolicyViolationError,
    kafka.UnsupportedForMessageFormatError,
)
# The client is set up wrong for this broker.
KAFKA_STOPS: tuple[type[BaseException], ...] = (
    kafka.KafkaConfigurationError,
    kafka.IllegalArgumentError,
    kafka.IncompatibleBrokerVersion,
    kafka.UnrecognizedBrokerVersion,
    kafka.UnsupportedVersionError,
    kafka.UnsupportedCodecError,
    kafka.InvalidRequiredAcksError,
    kafka.AuthenticationFailedError,
    kafka.AuthenticationMethodNotSupported,
    kafka.UnsupportedSaslMechanismError,
    kafka.SaslAuthenticationFailed,
    kafka.GroupAuthorizationFailedError,
    kafka.ProducerFenced,
)
# Non-retriable in aiokafka's flag, but a state of the broker, not of the record: a
# request that timed out (the broker is gone), no broker, a replica or the group settling,
# and UnknownError, which Tansu answers for requests it does not implement.
KAFKA_WAITS: tuple[type[BaseException], ...] = (
    kafka.KafkaTimeoutError,
    kafka.KafkaUnavailableError,
    kafka.BrokerNotAvailableError,
    kafka.ReplicaNotAvailableError,
    kafka.RebalanceInProgressError,
    kafka.UnknownError,
    kafka.ProducerClosed,
    kafka.Cancelled,
)

# PostgreSQL by SQLSTATE class (the first two characters), then by full code.
PG_WAIT_CLASSES = frozenset(
    {
        "08",  # connection exception: the server closed it, refused it, vanished
        "57",  # operator intervention: shutdown, crash, cannot connect now, cancelled
        "53",  # insufficient resources: too many connections, disk full
        "40",  # transaction rollback: serialization failure, deadlock
        "28",  # invalid authorization: a role disabled or its password being changed
        "3D",  # invalid catalog name: the database is being restored or renamed
        "58",  # system error: I/O
        "XX",  # internal error
        "F0",  # configuration file error
    }
)
PG_WAIT_CODES = frozenset(
    {
        "42501",  # insufficient privilege: REVOKE CONNECT / a GRANT being changed
        "25006",  # read-only transaction: a failover still promoting the new primary
        "55P03",  # lock not available
        "0A000",  # cached statement invalid after a migration: asyncpg re-prepares
        "23505",  # unique violation: a COPY racing a second owner of the grid during a
        # rebalance; the retry sees the rows stored and de-duplicates them
        "23P01",  # exclusion violation: the same race
    }
)
PG_RECORD_CLASSES = frozenset(
    {
        "22",  # data exception: NUL, untranslatable character, out of range, overflow
        "23",  # integrity constraint: not null, check, foreign key
        "21",  # cardinality violation: one key twice in an upsert
        "54",  # program limit exceeded: a value too large to index or store
    }
)
# any other class (42 syntax or access rule, 0A feature not supported, ...): our SQL or
# schema is wrong for this database, and every record would fail the same way.


def _own(error: BaseException) -> Disposition | None:
    """The disposition of an error we recognise, or None."""
    if isinstance(error, CivicgridError):
        return error.disposition
    if isinstance(error, kafka.KafkaError):
        return _kafka(error)
    if isinstance(error, asyncpg.PostgresError):
        return _postgres(error)
    if isinstance(error, asyncpg.exceptions.ClientConfigurationError | kafka.IllegalOperation):
        return Disposition.STOP
    if isinstance(
        error,
        # a connection the server closed under a query (pg_terminate_backend) leaves the
        # protocol in a state asyncpg reports as InternalClientError("cannot switch to
        # state N") or InterfaceError on the next use
        asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError | OSError | TimeoutError,
    ):
        return Disposition.RETRY
    if isinstance(error, MemoryError | RecursionError):
        return Disposition.STOP
    return None


def _kafka(error: kafka.KafkaError) -> Disposition:
    if isinstance(error, KAFKA_RECORD_FAULTS):
        return Disposition.DEAD_LETTER
    if isinstance(error, KAFKA_STOPS):
        return Disposition.STOP
    if error.retriable or isinstance(error, KAFKA_WAITS):
        return Disposition.RETRY
    if isinstance(error, kafka.BrokerResponseError):
        # the broker answered this request with a refusal aiokafka calls final
        return Disposition.DEAD_LETTER
    return Disposition.RETRY  # a client-side failure to reach the broker


def _postgres(error: asyncpg.PostgresError) -> Disposition:
    code = str(getattr(error, "sqlstate", "") or "")
    if code in PG_WAIT_CODES or code[:2] in PG_WAIT_CLASSES:
        return Disposition.RETRY
    if code[:2] in PG_RECORD_CLASSES:
        return Disposition.DEAD_LETTER
    return Disposition.STOP


def chain(error: BaseException) -> list[BaseException]:
    """The error and those it was raised from or during, outermost first."""
    seen: set[int] = set()
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def classify(error: BaseException) -> Disposition:
    """What a stage does with `error`.

    The whole cause/context chain counts: Faust wraps a producer's error in its own
    ProducerSendError, and a transaction on a connection the server closed ends in an
    InterfaceError raised from `__aexit__` during the real cause. A service failure anywhere
    in the chain means wait: a data error seen while the connection died says nothing about
    the record. Otherwise the outermost recognised error decides; an error nobody recognises
    (a bug met on one record) dead-letters that record, so one bad event cannot stop a worker.
    """
    known = [d for d in map(_own, chain(error)) if d is not None]
    if Disposition.RETRY in known:
        return Disposition.RETRY
    return known[0] if known else Disposition.DEAD_LETTER


def reason(error: BaseException) -> str:
    """A dead letter's reason: our own fault's reason, else the recognised error's class.
    Never a foreign error's message: PostgreSQL quotes the offending value in some (an out
    of range date, a bad character), and a value may hold personal data."""
    for link in chain(error):
        if isinstance(link, DeadLetterError):
            return link.reason
        if _own(link) is not None:
            return type(link).__name__
    return type(error).__name__
