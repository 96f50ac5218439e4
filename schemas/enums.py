"""Closed vocabularies of the contract (SPEC §2, §4, §5), shared by schemas and domain."""

from enum import StrEnum


class Role(StrEnum):
    RESIDENT = "resident"
    GRID_WORKER = "grid_worker"
    OFFICER = "officer"


class ScanPurpose(StrEnum):
    REPORT = "report"
    PATROL = "patrol"
    VISIT = "visit"
    VIEW = "view"
    VERIFY = "verify"


class Channel(StrEnum):
    SCAN = "scan"
    APP = "app"
    HOTLINE = "hotline"
    PATROL = "patrol"
    SENSOR = "sensor"


class PatrolKind(StrEnum):
    PATROL = "patrol"
    VISIT = "visit"
    RECTIFY = "rectify"
    VERIFY = "verify"
    CHECK = "check"


class ActorKind(StrEnum):
    GRID_WORKER = "grid_worker"
    DEPARTMENT = "department"
    OPERATOR = "operator"
    RESIDENT = "resident"


class CaseAction(StrEnum):
    ACCEPT = "accept"
    RETURN = "return"
    START = "start"
    HANDLE = "handle"
    SELF_HANDLE = "self_handle"
    CHECK_PASS = "check_pass"
    CHECK_FAIL = "check_fail"
    CLOSE = "close"
    REOPEN = "reopen"
    CANCEL = "cancel"
    EXTEND = "extend"
    EVALUATE = "evaluate"
    # SPEC §10, for the operations console (docs/contract.md)
    VERIFY = "verify"
    REJECT = "reject"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    REFUSE_EXTENSION = "refuse_extension"
    SUSPEND = "suspend"
    RESUME = "resume"
    SUPERVISE = "supervise"
    RECLASSIFY = "reclassify"  # an operator corrects the category (issue 17)


class Supervision(StrEnum):
    """督办 cards, mildest first: a supervised case's priority rises with its card."""

    NORMAL = "normal"
    YELLOW = "yellow"
    RED = "red"


class Satisfaction(StrEnum):
    """A resident's evaluation of a closed case (满意 / 基本满意 / 不满意)."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


class ElementType(StrEnum):
    PERSON = "person"
    PLACE = "place"
    THING = "thing"
    ORGANISATION = "organisation"
    CASE = "case"


class CaseState(StrEnum):
    REPORTED = "REPORTED"
    VERIFYING = "VERIFYING"  # SPEC §10: a report marked for verification (核实) waits here
    REGISTERED = "REGISTERED"
    DISPATCHED = "DISPATCHED"
    ACCEPTED = "ACCEPTED"
    IN_PROGRESS = "IN_PROGRESS"
    HANDLED = "HANDLED"
    CHECKING = "CHECKING"
    CLOSED = "CLOSED"
    SELF_HANDLED = "SELF_HANDLED"
    RETURNED = "RETURNED"
    ESCALATED = "ESCALATED"
    SUSPENDED = "SUSPENDED"
    DUPLICATE = "DUPLICATE"
    CANCELLED = "CANCELLED"

    @property
    def open311(self) -> str:
        """Open311 status: CLOSED, CANCELLED and DUPLICATE are `closed`, the rest `open`."""
        return "closed" if self in _TERMINAL else "open"

    @property
    def is_open(self) -> bool:
        return self not in _TERMINAL


_TERMINAL = frozenset({CaseState.CLOSED, CaseState.CANCELLED, CaseState.DUPLICATE})


class Level(StrEnum):
    """Rungs of the escalation ladder, lowest first."""

    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"
    CITY = "city"

    def next_rung(self) -> "Level":
        rungs = list(Level)
        return rungs[min(rungs.index(self) + 1, len(rungs) - 1)]


class Severity(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


class AlertKind(StrEnum):
    RATE_ANOMALY = "rate_anomaly"
    REPEAT_POINT = "repeat_point"
    CLUSTER = "cluster"
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"


class DeadLetterKind(StrEnum):
    """Why an inbound message could not be processed; one metric label each."""

    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    OVERSIZE = "oversize"
    SCHEMA = "schema"
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_KEY = "bad_key"
    CLOUDEVENTS_MISMATCH = "cloudevents_mismatch"
    OUT_OF_WINDOW = "out_of_window"  # occurred_at too far from the receive time
    UNPLACEABLE = "unplaceable"
    UNKNOWN_GRID = "unknown_grid"  # placed in a grid that is not (or no longer) registered
    REJECTED_TRANSITION = "rejected_transition"
    UNKNOWN_CASE = "unknown_case"
    UNAUTHORISED = "unauthorised"
    PROCESSING_ERROR = "processing_error"


class SubjectKind(StrEnum):
    """Who an assessment (量化考核) scores."""

    GRID_WORKER = "grid_worker"
    DEPARTMENT = "department"


class Grade(StrEnum):
    """Assessment grades: A >= 90, B >= 75, C >= 60, D >= 40, else E (SPEC §6)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


class RegistrationStatus(StrEnum):
    """Where a household registration (户口) stands on civic.residents.v1."""

    REGISTERED = "registered"
    MOVED_OUT = "moved_out"  # 迁出
    DEREGISTERED = "deregistered"  # 注销


class StatusReason(StrEnum):
    """Why a registration was moved out or deregistered."""

    DEATH = "death"
    EMIGRATION = "emigration"
    MOVED = "moved"  # registered anew in another household or city
    MILITARY = "military"
    OTHER = "other"


class HouseholdRole(StrEnum):
    HEAD = "head"  # 户主
    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"
    GRANDCHILD = "grandchild"
    RELATIVE = "relative"
    OTHER = "other"


class PresenceSource(StrEnum):
    """Who saw a person at a place (civic.presence.v1)."""

    HOME_VISIT = "home_visit"  # a grid worker's census visit (入户走访)
    VENUE_SCAN = "venue_scan"  # a venue or health-code scan (祥泰码)
    RENTAL_REGISTRATION = "rental_registration"
    UTILITY_ACCOUNT = "utility_account"
    DEATH_RECORD = "death_record"  # civil affairs: a death or cremation record
    EXIT_RECORD = "exit_record"  # exit-entry: settled abroad
    TRANSFER_NOTICE = "transfer_notice"  # another city registered the person (准迁)


class PresenceKind(StrEnum):
    """What an observation says about the person."""

    PRESENT = "present"  # lives, or was seen, at the place
    ABSENT = "absent"  # a home visit found the person does not live at the place
    DIED = "died"
    EMIGRATED = "emigrated"
    REGISTERED_ELSEWHERE = "registered_elsewhere"
