"""Personal data (SPEC §8): mask ID-card and mobile numbers in free text; hash identities.

The one masking rule, used by the pipeline (`protect_event`, dead letters) and the log filter
(civicgrid/logs.py). It reads numbers as people write them, not as a regex of ASCII digits:

- a digit is any Unicode decimal digit (ASCII, full-width １３８, other scripts);
- invisible characters (zero-width space and joiners, BOM, soft hyphen, combining marks:
  Unicode categories Cf, Mn, Me) inside a number are ignored, as a reader's eye does;
- digit groups may be separated by one to three separator characters: any space (NBSP,
  ideographic space, thin space: category Zs), tab, any dash (hyphen, en and em dash,
  full-width hyphen: category Pd, and the minus sign), an underscore, slash, backslash,
  tilde, bracket or ー (half- and full-width), or a dot (`.`, `．`, `·`, `・`).

A group of digit parts is searched for a run of whole parts that spells, digits only:

- an ID-card number: 18 characters, the last a digit or X, with a plausible birth date
  (YYYYMMDD at positions 7-14)
  after a region digit 1-8, or a valid ISO 7064 checksum, or an X;
- an old ID-card number: 15 digits with a plausible birth date (YYMMDD at 7-12);
- a mobile number: 11 digits 1[3-9]xxxxxxxxx, optionally after 86 or 0086.

Other runs are left alone: longer ones (order and tracking numbers), 15- and 18-digit ones
without a birth date (a float's 14 decimals, a nanosecond count), and decimals: a run may
not start or end at a decimal point, and may cross dots only when it crosses two or more
(139.7120.0010 is a phone number, 13.812345678 a decimal). Masked, a number keeps its
separators and its first 4 and last 4 characters (an ID) or first 3 and last 4 digits (a
mobile): 3201**********1234, 138-****-5678. Masking is repeated until nothing is found, so
the digits it keeps can never combine with a neighbour into a number left in clear.
"""

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from civicgrid.schemas.enums import ActorKind
from civicgrid.schemas.inbound import (
    ActorRecord,
    AttributeValue,
    CaseUpdate,
    GridRecord,
    InboundEvent,
    Patrol,
    PresenceObservation,
    RegistryRecord,
    Report,
    ResidentRecord,
    Scan,
    StateRecord,
)

_DIGIT = re.compile(r"\d")  # Python's \d is Unicode Nd, the same set as str.isdecimal
_X = frozenset("XxＸｘ")
_DOTS = frozenset(".．·・‧")
# tab, minus sign, small hyphen-minus; and what people and file names put between digit
# groups that is neither a space nor a dash (issue 16's hostile corpus): underscores, slashes,
# tildes, brackets (`(139) 7120 0010`), the prolonged sound mark ー typed for a dash. Not the
# comma: 13,912,345,678 is an amount.
_EXTRA_SEPARATORS = frozenset("\t\u2212\ufe63_＿/／\\~～()（）ー")
_INVISIBLE = frozenset({"Cf", "Mn", "Me"})
_MAX_SEPARATORS = 3  # a gap longer than " - " ends the number
_MAX_CHARS = 18  # the longest personal number (0086 + a mobile is 15)
_REGIONS = "12345678"  # the first digit of every Chinese region code
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True, slots=True)
class _Part:
    """Consecutive digits (invisible characters between them ignored) and a final X."""

    positions: tuple[int, ...]  # where each character of `chars` stands in the text
    chars: str  # ASCII digits, and X
    after_dot: bool  # the separator before this part held a dot


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) in _INVISIBLE


def _separator(ch: str) -> str | None:
    """ "dot" or "gap" for a separator character, None for anything else."""
    if ch in _DOTS:
        return "dot"
    if ch in _EXTRA_SEPARATORS or unicodedata.category(ch) in ("Zs", "Pd"):
        return "gap"
    return None


def _group(text: str, start: int) -> tuple[list[_Part], int]:
    """The digit group that begins at `text[start]` (a digit), and where it ends."""
    parts: list[_Part] = []
    after_dot = False
    at = start
    while True:
        positions: list[int] = []
        chars: list[str] = []
        end = at
        while at < len(text):
            ch = text[at]
            if ch.isdecimal():
                positions.append(at)
                chars.append(str(unicodedata.decimal(ch)))
                end = at + 1
            elif not _invisible(ch):
                break
            at += 1
        if at < len(text) and text[at] in _X:
            positions.append(at)
            chars.append("X")
            parts.append(_Part(tuple(positions), "".join(chars), after_dot))
            return parts, at + 1  # an X ends a number
        parts.append(_Part(tuple(positions), "".join(chars), after_dot))
        gap, dot, look = 0, False, at
        while look < len(text) and gap <= _MAX_SEPARATORS:
            ch = text[look]
            kind = _separator(ch)
            if kind is None and not _invisible(ch):
                break
            if kind is not None:
                gap += 1
                dot = dot or kind == "dot"
            look += 1
        if not 1 <= gap <= _MAX_SEPARATORS or look >= len(text):
            return parts, end
        if text[look] in _X:  # 321202 1985 7125 461 X
            parts.append(_Part((look,), "X", dot))
            return parts, look + 1
        if not text[look].isdecimal():
            return parts, end
        at, after_dot = look, dot


def _plausible_date(digits: str) -> bool:
    """YYYYMMDD or YYMMDD with a real month and day: what an ID card's birth date looks like."""
    if len(digits) == 8 and digits[:2] not in ("18", "19", "20"):
        return False
    month, day = int(digits[-4:-2]), int(digits[-2:])
    return 1 <= month <= 12 and 1 <= day <= 31


def _checksum_ok(chars: str) -> bool:
    total = sum(int(c) * w for c, w in zip(chars[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == chars[17]


def _kept(chars: str) -> tuple[int, int] | None:
    """For a personal number, the range of its characters to mask; else None."""
    if "X" in chars[:-1]:
        return None
    if len(chars) == 18 and chars[0] in _REGIONS:
        if chars[-1] == "X" or _plausible_date(chars[6:14]) or _checksum_ok(chars):
            return 4, 14
        return None
    if "X" in chars:
        return None
    for prefix in ("", "86", "0086"):
        mobile = chars[len(prefix) :]
        if (
            chars.startswith(prefix)
            and len(mobile) == 11
            and mobile[0] == "1"
            and mobile[1] in "3456789"
        ):
            return len(prefix) + 3, len(prefix) + 7
    if len(chars) == 15 and chars[0] in _REGIONS and _plausible_date(chars[6:12]):
        return 4, 11
    return None


# The lengths `_kept` can accept: an 18-character ID, a mobile (11) after nothing, 86 or
# 0086, an old 15-digit ID.
_LENGTHS = frozenset({11, 13, 15, 18})


def _matches(parts: list[_Part]) -> Iterator[tuple[int, ...]]:
    """The text positions to mask of each personal number in a group, left to right; of the
    runs starting at one part, the longest. Only runs of a length a personal number has are
    spelled out and checked: 64 KiB of `1 1 1 …` (one digit a part) took over a second of
    the event loop when every run was built and checked (the hostile corpus)."""
    i = 0
    count = len(parts)
    while i < count:
        best: tuple[int, tuple[int, ...]] | None = None
        if not parts[i].after_dot:
            length, dots = 0, 0
            for j in range(i, count):
                if j > i and parts[j].after_dot:
                    dots += 1
                length += len(parts[j].chars)
                if length > _MAX_CHARS:
                    break
                ends_at_dot = j + 1 < count and parts[j + 1].after_dot
                if dots == 1 or ends_at_dot or length not in _LENGTHS:
                    continue
                run = parts[i : j + 1]
                span = _kept("".join(part.chars for part in run))
                if span is not None:
                    positions = tuple(at for part in run for at in part.positions)
                    best = (j + 1, positions[span[0] : span[1]])
        if best is None:
            i += 1
        else:
            i = best[0]
            yield best[1]


# Our own pseudonyms (KeyedHasher: "h:" and 32 hex digits) are not personal numbers, though
# one in 300 or so holds eleven digits in a row that spell a mobile's ("…5b13584835452d…");
# masking them would break the hash an operator searches for.
_PSEUDONYM = re.compile(r"(?<![0-9A-Za-z])h:[0-9a-f]{32}(?![0-9A-Za-z])")


def _masked_positions(text: str) -> list[int]:
    found: list[int] = []
    hashes = [m.span() for m in _PSEUDONYM.finditer(text)] if "h:" in text else []
    match = _DIGIT.search(text)
    while match is not None:
        inside = next((end for start, end in hashes if start <= match.start() < end), None)
        if inside is not None:
            match = _DIGIT.search(text, inside)
            continue
        parts, end = _group(text, match.start())
        for positions in _matches(parts):
            found.extend(positions)
        match = _DIGIT.search(text, end)
    return found


def mask_text(text: str) -> str:
    """Mask ID-card and mobile numbers: 3201**********1234, 138****5678 (see module rule)."""
    while positions := _masked_positions(text):
        chars = list(text)
        for at in positions:
            chars[at] = "*"
        text = "".join(chars)
    return text


def contains_personal_numbers(text: str) -> bool:
    """Whether mask_text would change the text; for tests and audits of stored data."""
    return bool(_masked_positions(text))


_HASH_PREFIX = "h:"
_HASH_HEX_CHARS = 32
_MIN_KEY_BYTES = 16


class KeyedHasher:
    """Pseudonymises identities with HMAC-SHA256 under a secret key; deterministic per key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < _MIN_KEY_BYTES:
            raise ValueError(f"the hashing key must be at least {_MIN_KEY_BYTES} bytes")
        # Keyed once; each hash copies the prepared state instead of re-keying.
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def hash(self, identifier: str) -> str:
        mac = self._mac.copy()
        # surrogatepass: an id cut from invalid UTF-8 (a dead letter's key) hashes, not raises
        mac.update(identifier.encode("utf-8", "surrogatepass"))
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
                    # a photo's path may hold the reporter's phone or ID number
                    "photos": tuple(mask_text(url) for url in event.photos),
                }
            )
        case Patrol():
            return event.model_copy(
                update={
                    "worker_id": hasher.hash(event.worker_id),
                    "note": _mask_opt(event.note),
                    # households are often keyed by the householder's ID-card number
                    "household_id": _mask_opt(event.household_id),
                }
            )
        case CaseUpdate():
            clear = office_holder and event.actor_kind not in _PERSONAL_ACTORS
            link = _verified_link(event.actor_id, hasher)
            actor = link or (event.actor_id if clear else hasher.hash(event.actor_id))
            return event.model_copy(update={"actor_id": actor, "note": _mask_opt(event.note)})


def protect_state(record: StateRecord | None) -> StateRecord | None:
    """A state record's free text as the worker may keep, store and publish it: every name
    a clerk typed (a grid's and its rungs', a code's, an actor's) and every string attribute
    masked. The hostile corpus found a phone number in a grid's name in clear in
    `mirror_grids`. Masking is deterministic, so a grid's community and an operator's still
    compare equal. Ids are not free text: a grid worker's id stays as the roster gives it."""
    match record:
        case GridRecord():
            grid_names = ("name", "community", "street", "district", "city")
            return record.model_copy(update={n: mask_text(getattr(record, n)) for n in grid_names})
        case RegistryRecord():
            attributes = {k: _mask_attribute(v) for k, v in record.attributes.items()}
            return record.model_copy(
                update={"name": _mask_opt(record.name), "attributes": attributes}
            )
        case ActorRecord():
            actor_names = ("name", "community", "street", "district")
            return record.model_copy(update={n: _mask_opt(getattr(record, n)) for n in actor_names})
    return record


def _mask_attribute(value: AttributeValue) -> AttributeValue:
    """A string masked; an integer that reads as a personal number (a phone column exported
    as numbers) becomes its masked text; other values as they are."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    return value


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


# Fields that name a person in any inbound value (SPEC §2); case updates' actor_id too: in a
# record that failed to parse, its actor_kind cannot be trusted to tell an office holder.
# civic.residents.v1 / civic.presence.v1 (issue 21): the person code, household number and
# observing grid worker are hashed at intake like the others, so in a dead letter too.
_IDENTITY_FIELDS = frozenset(
    {
        "reporter_id",
        "scanner_id",
        "worker_id",
        "actor_id",
        "worker_ids",
        "person_code",
        "household_id",
        "observer_id",
    }
)
# A JSON member: a string key, then a string, an array of scalars or a bare literal value.
_MEMBER = re.compile(
    r'"((?:[^"\\]|\\.){1,100})"(\s*:\s*)'
    r'("(?:[^"\\]|\\.)*"|\[[^\[\]{}]*\]|\{[^{}]*\}|[^\s,:{}\[\]"]+)'
)
_SCALAR = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s,:{}\[\]"]+')
_HASHED = re.compile(r"h:[0-9a-f]{32}")
WITHHELD = "h:withheld"  # an identity where no key was at hand to hash it


def protect_original(text: str, hasher: KeyedHasher | None) -> str:
    """A rejected record's original as a dead letter may keep it (issue 16 item 11): every
    identity field (`reporter_id`, `scanner_id`, `worker_id`, `actor_id`, `worker_ids`)
    replaced by its keyed hash, as stored events carry it, and personal numbers masked
    everywhere else. The rest of the bytes stay as they came, so the record can still be
    diagnosed; an operator holding the pseudonym key finds a person's dead letters by hashing
    their id. Works on text that is not JSON too (a member is found wherever it stands), and
    on escaped keys (`"reporter\\u005fid"`); a value already hashed is kept."""
    out: list[str] = []
    done = 0
    for member in _MEMBER.finditer(text):
        if _json_text(member.group(1)) not in _IDENTITY_FIELDS:
            continue
        out.append(mask_escaped(text[done : member.start()]))
        name, colon, value = member.group(1), member.group(2), member.group(3)
        if value[0] in "[{":  # every scalar inside: an identity is no less one for its nesting
            hashed = _SCALAR.sub(lambda m: _pseudonym(m.group(0), hasher), value)
        else:
            hashed = _pseudonym(value, hasher)
        out.append(f'"{name}"{colon}{hashed}')
        done = member.end()
    out.append(mask_escaped(text[done:]))
    return "".join(out)


_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(.))", re.DOTALL)
_SHORT_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def mask_escaped(text: str) -> str:
    """`mask_text` on raw JSON text as its reader will see it: a JSON escape is the character
    it stands for. The hostile corpus hid numbers behind escapes in dead letters' originals:
    `"\\u0000321202 19850722 005X"` (the escape's zeros joined the digits, so no ID-card
    number was seen), digits written `\\u0031\\u0033…`, separators written `\\u00a0`. Each
    masked character's whole escape becomes `*`; then the raw text is masked as it reads."""
    if "\\" not in text:
        return mask_text(text)
    decoded: list[str] = []
    spans: list[tuple[int, int]] = []
    at = 0
    for escape in _ESCAPE.finditer(text):
        for i in range(at, escape.start()):
            decoded.append(text[i])
            spans.append((i, i + 1))
        code, char = escape.group(1), escape.group(2)
        decoded.append(chr(int(code, 16)) if code else _SHORT_ESCAPES.get(char, char))
        spans.append((escape.start(), escape.end()))
        at = escape.end()
    for i in range(at, len(text)):
        decoded.append(text[i])
        spans.append((i, i + 1))
    plain = "".join(decoded)
    masked = mask_text(plain)
    out: list[str] = []
    for (start, end), before, after in zip(spans, plain, masked, strict=True):
        out.append(text[start:end] if before == after else after)
    # and as a reader of the raw bytes sees it: no number in clear either way
    return mask_text("".join(out))


def _json_text(literal: str) -> str:
    """The text of a JSON string's inside (escapes resolved), or the literal itself."""
    try:
        value = orjson.loads(f'"{literal}"')
    except orjson.JSONDecodeError:
        return literal
    return value if isinstance(value, str) else literal


def _pseudonym(value: str, hasher: KeyedHasher | None) -> str:
    """A JSON value naming a person, as the JSON string of its keyed hash."""
    identity = _json_text(value[1:-1]) if value.startswith('"') and len(value) > 1 else value
    if _HASHED.fullmatch(identity):
        return f'"{identity}"'
    return f'"{WITHHELD if hasher is None else hasher.hash(identity)}"'


def _mask_opt(text: str | None) -> str | None:
    return None if text is None else mask_text(text)
