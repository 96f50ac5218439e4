"""Personal data (SPEC §8): mask ID-card and mobile numbers in free text; hash identities.

Masking rule: a number is masked only when it stands alone as a whole run of digits —
an 18-digit run (the 18th may be X, the ID-card checksum), a 15-digit run (old ID cards),
or an 11-digit mobile number 1[3-9]xxxxxxxxx, which may be written 138-1234-5678 or
138 1234 5678 and may carry a +86 / 0086 / 86 prefix. Runs of any other length (order
numbers, tracking numbers, amounts) are left untouched: masking a part of them would hide
nothing personal and would destroy references the departments need. Full-width digits
(１３８…) count as digits, as they do in Chinese input methods.
"""

import base64
import hashlib
import hmac
import re

from schemas.enums import ActorKind
from schemas.inbound import (
    CaseUpdate,
    GridRecord,
    InboundEvent,
    Patrol,
    PresenceObservation,
    Report,
    ResidentRecord,
    Scan,
)

_D = "[0-9０-９]"  # ASCII and full-width digits only: \d would also take other scripts' digits
_SEP = "[-\u0020\u3000]?"
_PERSONAL_NUMBER = re.compile(
    rf"(?<!{_D})(?:"
    rf"(?P<id18>{_D}{{17}}[0-9０-９XxＸｘ])"
    rf"|(?P<id15>{_D}{{15}})"
    rf"|(?P<cc>(?:\+|00)?86{_SEP})?(?P<m1>[1１][3-9３-９]{_D})(?P<s1>{_SEP}){_D}{{4}}"
    rf"(?P<s2>{_SEP})(?P<m2>{_D}{{4}})"
    rf")(?!{_D})"
)

_HASH_PREFIX = "h:"
_HASH_HEX_CHARS = 32
_MIN_KEY_BYTES = 16


def _mask(match: re.Match[str]) -> str:
    number = match.group("id18") or match.group("id15")
    if number is not None:
        return number[:4] + "*" * (len(number) - 8) + number[-4:]
    cc, s1, s2 = match.group("cc") or "", match.group("s1"), match.group("s2")
    return f"{cc}{match.group('m1')}{s1}****{s2}{match.group('m2')}"


def mask_text(text: str) -> str:
    """Mask ID-card and mobile numbers: 3201**********1234, 138****5678 (see module rule)."""
    return _PERSONAL_NUMBER.sub(_mask, text)


def contains_personal_numbers(text: str) -> bool:
    """Whether mask_text would change the text; for tests and audits of stored data."""
    return _PERSONAL_NUMBER.search(text) is not None


class KeyedHasher:
    """Pseudonymises identities with HMAC-SHA256 under a secret key; deterministic per key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < _MIN_KEY_BYTES:
            raise ValueError(f"the hashing key must be at least {_MIN_KEY_BYTES} bytes")
        # Keyed once; each hash copies the prepared state instead of re-keying.
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def hash(self, identifier: str) -> str:
        mac = self._mac.copy()
        mac.update(identifier.encode("utf-8"))
        return _HASH_PREFIX + mac.hexdigest()[:_HASH_HEX_CHARS]


# Departments and operators are accountable office holders, not private persons.
_PERSONAL_ACTORS = frozenset({ActorKind.GRID_WORKER, ActorKind.RESIDENT})
OFFICE_HOLDERS = frozenset(ActorKind) - _PERSONAL_ACTORS


_CASE_LINK = "case-link:"
_CASE_LINK_SECRET_CHARS = 20


def case_link_secret(hasher: KeyedHasher, case_code: str) -> str:
    """The secret in a case page's URL (on the reporter's receipt): holding it is what
    makes its holder the case's resident, since the page knows no one's identity.

    In base32 (letters and the digits 2-7), not hex: a run of hex digits can look like a
    mobile or ID-card number to the masking, and these URLs travel through logs and pages."""
    digest = bytes.fromhex(hasher.hash(f"case-page:{case_code}").removeprefix(_HASH_PREFIX))
    return base64.b32encode(digest).decode().lower()[:_CASE_LINK_SECRET_CHARS]


def case_link_actor(hasher: KeyedHasher, case_code: str) -> str:
    """The actor id the case page publishes an evaluation under."""
    return f"{_CASE_LINK}{case_code}:{case_link_secret(hasher, case_code)}"


def case_link_holder(case_code: str) -> str:
    """What a verified case-page actor id becomes once protected: the case, not a person."""
    return f"{_CASE_LINK}{case_code}"


def _verified_link(actor_id: str, hasher: KeyedHasher) -> str | None:
    if not actor_id.startswith(_CASE_LINK):
        return None
    case_code, _, secret = actor_id.removeprefix(_CASE_LINK).rpartition(":")
    expected = case_link_secret(hasher, case_code)
    return case_link_holder(case_code) if hmac.compare_digest(secret, expected) else None


def protect_event(
    event: InboundEvent, hasher: KeyedHasher, office_holder: bool = False
) -> InboundEvent:
    """The event as it may be stored or published: free text masked, people's ids hashed.

    A case update's actor id stays in clear only when the roster lists it as a department or
    operator (`office_holder`) and the update claims such a kind: an id the roster does not
    vouch for may be anyone's, and a grid worker claiming to be an operator is still a person.
    """
    match event:
        case Scan():
            return event.model_copy(update={"scanner_id": hasher.hash(event.scanner_id)})
        case Report():
            return event.model_copy(
                update={
                    "reporter_id": hasher.hash(event.reporter_id),
                    "description": mask_text(event.description),
                }
            )
        case Patrol():
            return event.model_copy(
                update={"worker_id": hasher.hash(event.worker_id), "note": _mask_opt(event.note)}
            )
        case CaseUpdate():
            clear = office_holder and event.actor_kind not in _PERSONAL_ACTORS
            link = _verified_link(event.actor_id, hasher)
            actor = link or (event.actor_id if clear else hasher.hash(event.actor_id))
            return event.model_copy(update={"actor_id": actor, "note": _mask_opt(event.note)})


def protect_grid(grid: GridRecord, hasher: KeyedHasher) -> GridRecord:
    """Hash worker ids the same way, so authorisation checks compare hashes with hashes."""
    return grid.model_copy(update={"worker_ids": tuple(hasher.hash(w) for w in grid.worker_ids)})


def protect_resident(record: ResidentRecord, hasher: KeyedHasher) -> ResidentRecord:
    """The person code and household numbers hashed (SPEC §8, issue 21); places stay codes."""
    entries = tuple(
        entry.model_copy(update={"household_id": hasher.hash(entry.household_id)})
        for entry in record.registrations
    )
    return record.model_copy(
        update={"person_code": hasher.hash(record.person_code), "registrations": entries}
    )


def protect_presence(observation: PresenceObservation, hasher: KeyedHasher) -> PresenceObservation:
    """The person code and the observing grid worker hashed, as on every other topic."""
    observer = observation.observer_id
    return observation.model_copy(
        update={
            "person_code": hasher.hash(observation.person_code),
            "observer_id": None if observer is None else hasher.hash(observer),
        }
    )


def mask_id(hashed: str) -> str:
    """A hashed id shortened for evidence lists: enough to tell entries apart, not to join
    them with another data set hashed under the same key."""
    return hashed[: len(_HASH_PREFIX) + 8] + "…"


def _mask_opt(text: str | None) -> str | None:
    return None if text is None else mask_text(text)
