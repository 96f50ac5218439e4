"""Masking of ID-card and mobile numbers in realistic Chinese text, and keyed hashes (SPEC §8)."""

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicgrid.domain.privacy import (
    KeyedHasher,
    contains_personal_numbers,
    mask_text,
    protect_event,
    protect_grid,
)
from schemas.enums import ActorKind, CaseAction, Channel, Role
from schemas.inbound import CaseUpdate, GridRecord, Report

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "我是张三，身份证320102199003071234，电话13812345678，楼下井盖没了",
            "我是张三，身份证3201**********1234，电话138****5678，楼下井盖没了",
        ),
        ("身份证号32010219900307123X，请核实", "身份证号3201**********123X，请核实"),
        ("身份证号32010219900307123x", "身份证号3201**********123x"),
        ("老身份证320102900307123还在用", "老身份证3201*******7123还在用"),
        ("联系电话：138-1234-5678", "联系电话：138-****-5678"),
        ("联系电话 138 1234 5678 王师傅", "联系电话 138 **** 5678 王师傅"),
        ("手机+86 13912345678", "手机+86 139****5678"),
        ("手机 0086 15912345678", "手机 0086 159****5678"),
        ("手机008615912345678", "手机0086*******5678"),  # a 15-digit run: masked as an old ID
        ("全角电话１３８１２３４５６７８", "全角电话１３８****５６７８"),
        ("两个号码13812345678和19987654321", "两个号码138****5678和199****4321"),
    ],
)
def test_masks_personal_numbers(text: str, masked: str) -> None:
    assert mask_text(text) == masked
    assert contains_personal_numbers(text)
    assert not contains_personal_numbers(masked)


@pytest.mark.parametrize(
    "text",
    [
        "订单号12345678901234567890已处理",  # 20 digits: an order number, not an ID card
        "快递单号1381234567890",  # 13 digits starting like a mobile
        "座机025-83123456，门牌号12号",
        "12345678901不是手机号",  # 11 digits but 12… is not a mobile prefix
        "2025年3月1日下午3点，井盖编号TZ00012",
    ],
)
def test_leaves_other_numbers_alone(text: str) -> None:
    assert mask_text(text) == text
    assert not contains_personal_numbers(text)


@given(st.text())
def test_masking_is_idempotent_and_leaves_nothing_behind(text: str) -> None:
    once = mask_text(text)
    assert mask_text(once) == once
    assert not contains_personal_numbers(once)


def test_keyed_hash_is_deterministic_prefixed_and_keyed() -> None:
    hasher = KeyedHasher(KEY)
    digest = hasher.hash("u12345")
    assert digest == KeyedHasher(KEY).hash("u12345")
    assert digest.startswith("h:")
    assert len(digest) == 34
    int(digest[2:], 16)
    assert digest != hasher.hash("u12346")
    assert digest != KeyedHasher(b"x" * 32).hash("u12345")


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        KeyedHasher(b"short")


def test_protect_event_masks_text_and_hashes_people() -> None:
    hasher = KeyedHasher(KEY)
    report = Report(
        event_id=uuid.uuid4(),
        occurred_at=datetime(2025, 3, 1, tzinfo=UTC),
        schema_version=1,
        channel=Channel.APP,
        code="TZ00001",
        description="我是张三，身份证320102199003071234，电话13812345678，楼下井盖没了",
        reporter_id="u1",
        reporter_role=Role.RESIDENT,
    )
    protected = protect_event(report, hasher)
    assert isinstance(protected, Report)
    assert protected.reporter_id == hasher.hash("u1")
    assert not contains_personal_numbers(protected.description)
    assert protected.code == report.code


@pytest.mark.parametrize(
    ("kind", "office_holder", "hashed"),
    [
        (ActorKind.GRID_WORKER, False, True),
        (ActorKind.DEPARTMENT, True, False),
        (ActorKind.OPERATOR, True, False),
        # not on the roster as an office holder: an id claimed as a department may be anyone's
        (ActorKind.DEPARTMENT, False, True),
        (ActorKind.OPERATOR, False, True),
        # an office holder claiming to be a grid worker or resident is treated as one
        (ActorKind.GRID_WORKER, True, True),
        (ActorKind.RESIDENT, True, True),
    ],
)
def test_only_office_holders_among_actors_stay_in_clear(
    kind: ActorKind, office_holder: bool, hashed: bool
) -> None:
    hasher = KeyedHasher(KEY)
    update = CaseUpdate(
        event_id=uuid.uuid4(),
        occurred_at=datetime(2025, 3, 1, tzinfo=UTC),
        schema_version=1,
        case_id="G0001~1",
        actor_id="a1",
        actor_kind=kind,
        action=CaseAction.HANDLE,
        note="回访电话13812345678",
    )
    protected = protect_event(update, hasher, office_holder)
    assert isinstance(protected, CaseUpdate)
    assert (protected.actor_id == hasher.hash("a1")) is hashed
    assert protected.note == "回访电话138****5678"


def test_protect_grid_hashes_worker_ids_like_events() -> None:
    hasher = KeyedHasher(KEY)
    grid = GridRecord(
        grid_id="G0001",
        name="一网格",
        community="春晖社区",
        street="海陵街道",
        district="海陵区",
        city="泰州市",
        worker_ids=("u1", "u2"),
    )
    assert protect_grid(grid, hasher).worker_ids == (hasher.hash("u1"), hasher.hash("u2"))
