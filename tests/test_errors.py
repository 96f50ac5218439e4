"""Every failure is exactly one of retry / dead-letter / stop (civicgrid/errors.py)."""

from collections.abc import Callable

import asyncpg
import pytest
from aiokafka import errors as kafka
from faust.exceptions import ProducerSendError

from civicgrid.embedded.process import EmbeddedServiceError
from civicgrid.errors import (
    CivicgridError,
    DeadLetterError,
    Disposition,
    RetryError,
    StopError,
    classify,
    reason,
)
from civicgrid.settings import SettingsError

pg = asyncpg.exceptions
RETRY, DEAD_LETTER, STOP = Disposition.RETRY, Disposition.DEAD_LETTER, Disposition.STOP


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # the connection died or was refused: wait (issue 16 item 7)
        (pg.ConnectionDoesNotExistError("connection was closed"), RETRY),
        (pg.ConnectionFailureError("lost"), RETRY),
        (pg.InternalClientError("cannot switch to state 13; another operation is running"), RETRY),
        (pg.ProtocolError("unexpected message"), RETRY),
        (asyncpg.InterfaceError("connection is closed"), RETRY),
        (pg.CannotConnectNowError("the database system is starting up"), RETRY),
        (pg.TooManyConnectionsError("sorry, too many clients already"), RETRY),
        (pg.AdminShutdownError("terminating connection due to administrator command"), RETRY),
        (pg.CrashShutdownError("crash"), RETRY),
        (pg.InsufficientPrivilegeError("permission denied for database"), RETRY),
        (pg.InvalidAuthorizationSpecificationError("role is not permitted to log in"), RETRY),
        (pg.InvalidPasswordError("password authentication failed"), RETRY),
        (pg.InvalidCatalogNameError('database "x" does not exist'), RETRY),
        (pg.SerializationError("could not serialize access"), RETRY),
        (pg.DeadlockDetectedError("deadlock detected"), RETRY),
        (pg.ReadOnlySQLTransactionError("read-only transaction"), RETRY),
        (pg.UniqueViolationError("duplicate key"), RETRY),
        (ConnectionRefusedError(111, "refused"), RETRY),
        (OSError(104, "reset"), RETRY),
        (TimeoutError(), RETRY),
        # the value is at fault: dead-letter it
        (pg.DataError("bad"), DEAD_LETTER),
        (pg.UntranslatableCharacterError("\\u0000 cannot be converted to text"), DEAD_LETTER),
        (pg.CharacterNotInRepertoireError("invalid byte sequence"), DEAD_LETTER),
        (pg.NumericValueOutOfRangeError("out of range"), DEAD_LETTER),
        (pg.DatetimeFieldOverflowError("date/time field value out of range"), DEAD_LETTER),
        (pg.NotNullViolationError("null value"), DEAD_LETTER),
        (pg.CheckViolationError("check"), DEAD_LETTER),
        (pg.ForeignKeyViolationError("fk"), DEAD_LETTER),
        (pg.CardinalityViolationError("affect row a second time"), DEAD_LETTER),
        (pg.ProgramLimitExceededError("index row size exceeds"), DEAD_LETTER),
        # our SQL or schema is wrong: stop
        (pg.UndefinedTableError('relation "events" does not exist'), STOP),
        (pg.UndefinedColumnError("column does not exist"), STOP),
        (pg.PostgresSyntaxError("syntax error"), STOP),
        (pg.ClientConfigurationError("bad dsn"), STOP),
        # the broker refuses this record for good (issue 16 item 2)
        (kafka.MessageSizeTooLargeError(), DEAD_LETTER),
        (kafka.RecordTooLargeError(), DEAD_LETTER),
        (kafka.RecordListTooLargeError(), DEAD_LETTER),
        (kafka.TopicAuthorizationFailedError(), DEAD_LETTER),
        (kafka.UnknownTopicOrPartitionError(), DEAD_LETTER),  # retriable in aiokafka
        (kafka.InvalidRequestError(), DEAD_LETTER),
        (kafka.CorruptRecordException(), DEAD_LETTER),
        (kafka.InvalidTimestampError(), DEAD_LETTER),
        (kafka.OffsetMetadataTooLargeError(), DEAD_LETTER),  # non-retriable broker answer
        # the broker is gone or busy: wait
        (kafka.KafkaConnectionError(), RETRY),
        (kafka.KafkaTimeoutError(), RETRY),  # non-retriable in aiokafka
        (kafka.RequestTimedOutError(), RETRY),
        (kafka.NotLeaderForPartitionError(), RETRY),
        (kafka.NoBrokersAvailable(), RETRY),
        (kafka.UnknownError(), RETRY),
        (kafka.KafkaError(), RETRY),
        # the client is set up wrong
        (kafka.KafkaConfigurationError(), STOP),
        (kafka.UnsupportedVersionError(), STOP),
        (kafka.SaslAuthenticationFailed(), STOP),
        (kafka.GroupAuthorizationFailedError(), STOP),
        # civicgrid's own
        (RetryError("registry not loaded"), RETRY),
        (DeadLetterError("too large"), DEAD_LETTER),
        (StopError("bad"), STOP),
        (SettingsError("CIVICGRID_X: bad"), STOP),
        (EmbeddedServiceError("no binary"), STOP),
        # a bug met on one record costs that record, not the worker
        (ValueError("no working time within 3660 days"), DEAD_LETTER),
        (KeyError("x"), DEAD_LETTER),
        (MemoryError(), STOP),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_failure_has_one_disposition(error: BaseException, expected: Disposition) -> None:
    assert classify(error) is expected


def raised(build: Callable[[], None]) -> BaseException:
    """The exception `build` raises, with the chain Python gave it."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 - any: the chain is the subject
        build()
    return caught.value


def _producer_refused() -> None:
    try:
        raise kafka.MessageSizeTooLargeError("1234567 bytes")
    except kafka.KafkaError as error:
        raise ProducerSendError(f"Error while sending: {error!r}") from error


def _data_error_while_the_connection_died() -> None:
    try:
        raise pg.ConnectionDoesNotExistError("connection was closed in the middle")
    except pg.PostgresError:
        raise pg.DataError("invalid input") from None


def _closing_after_a_data_error() -> None:
    try:
        raise pg.DatetimeFieldOverflowError("out of range")
    except pg.PostgresError:
        raise asyncpg.InterfaceError("connection is closed")  # noqa: B904


def test_the_whole_chain_counts() -> None:
    # Faust wraps a producer's error in its own
    wrapped = raised(_producer_refused)
    assert isinstance(wrapped, ProducerSendError)
    assert classify(wrapped) is DEAD_LETTER
    assert reason(wrapped) == "MessageSizeTooLargeError"


def test_a_dying_connection_is_never_the_records_fault() -> None:
    # a data error raised while the connection went away says nothing about the record
    during = raised(_data_error_while_the_connection_died)
    assert during.__context__ is not None
    assert classify(during) is RETRY
    # and the InterfaceError from __aexit__ after a real data error is not the record's
    # fault either: the retry meets the data error again on a live connection
    assert classify(raised(_closing_after_a_data_error)) is RETRY


def test_reasons_never_quote_a_foreign_message() -> None:
    # PostgreSQL quotes the offending value; a value may be personal data
    error = pg.DatetimeFieldOverflowError('date/time field value out of range: "13800138000"')
    assert reason(error) == "DatetimeFieldOverflowError"
    assert reason(DeadLetterError("internal record too large (1.2 MB)")) == (
        "internal record too large (1.2 MB)"
    )
    assert reason(ValueError("13800138000")) == "ValueError"


def test_one_root() -> None:
    for own in (RetryError, DeadLetterError, StopError, SettingsError, EmbeddedServiceError):
        assert issubclass(own, CivicgridError)
    dispositions = {RetryError.disposition, DeadLetterError.disposition, StopError.disposition}
    assert dispositions == set(Disposition)
