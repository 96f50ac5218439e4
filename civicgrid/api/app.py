"""`civicgrid api`: Open311 GeoReport v2 and the resident's case page, over PostgreSQL.

A thin shell: it reads PostgreSQL and publishes reports and evaluations to Kafka; the stream
worker alone writes case state. The rules live in `civicgrid.domain.open311`."""

import functools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from civicgrid import kafka_clients
from civicgrid.api import resident
from civicgrid.api.formats import Format, error, render
from civicgrid.api.ratelimit import RateLimiter
from civicgrid.console import routes as console
from civicgrid.db import public
from civicgrid.db.pool import create_pool
from civicgrid.domain import open311
from civicgrid.domain.open311 import Open311Error
from civicgrid.domain.privacy import KeyedHasher
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.kafka_connection import KafkaConnection
from civicgrid.schemas.enums import Channel, Role
from civicgrid.schemas.inbound import Report

PREFIX = "/open311/v2"


@dataclass(frozen=True)
class ApiConfig:
    """What the process is started with (from settings, by `civicgrid api`)."""

    database_url: str
    kafka: KafkaConnection
    taxonomy: Taxonomy
    zone: ZoneInfo
    link_key: bytes  # keys the per-case secret of the resident page's URL
    requests_per_minute: int
    public_url: str
    secure_cookies: bool = False  # the console's session cookie only over HTTPS
    kafka_options: dict[str, Any] = field(default_factory=dict)
    pool_min_size: int = 1
    pool_max_size: int = 4


@dataclass
class ApiContext:
    """What every request needs, opened once per process in the app's lifespan."""

    config: ApiConfig
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    links: KeyedHasher
    limiter: RateLimiter

    @property
    def taxonomy(self) -> Taxonomy:
        return self.config.taxonomy

    @property
    def zone(self) -> ZoneInfo:
        return self.config.zone

    @functools.cached_property
    def public_codes(self) -> list[str]:
        """Fixed for the process (the taxonomy is loaded once): computed at first use."""
        return [c.code for c in open311.public_categories(self.config.taxonomy)]


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": text,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "integer"},
                            "description": {"type": "string"},
                        },
                        "required": ["code", "description"],
                    },
                }
            },
            "text/xml": {"schema": {"type": "string"}},
        },
    }
    for status, text in (
        (400, "a parameter is missing or wrong"),
        (403, "the api_key is missing or unknown"),
        (404, "no such service, request or token"),
        (429, "the api_key's rate limit is exceeded"),
    )
}


def _ok(schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The answer in both formats, and the 400 every Open311 call may give."""
    content = {"application/json": {"schema": schema}, "text/xml": {"schema": {"type": "string"}}}
    return {200: {"description": "the result", "content": content}, 400: _ERRORS[400]}


_NULLABLE_STRING = {"type": ["string", "null"]}
_SERVICE = {
    "type": "object",
    "properties": {
        name: {"type": "string"}
        for name in ("service_code", "service_name", "description", "type", "keywords", "group")
    }
    | {"metadata": {"type": "boolean"}},
    "required": ["service_code", "service_name", "metadata", "type"],
}
_REQUEST = {
    "type": "object",
    "properties": dict.fromkeys(
        (
            "service_request_id",
            "status",
            "status_notes",
            "service_name",
            "service_code",
            "description",
            "agency_responsible",
            "service_notice",
            "requested_datetime",
            "updated_datetime",
            "expected_datetime",
            "address",
            "address_id",
            "zipcode",
            "media_url",
        ),
        _NULLABLE_STRING,
    )
    | {"lat": {"type": ["number", "null"]}, "long": {"type": ["number", "null"]}},
    "required": ["service_request_id", "status", "service_code", "requested_datetime"],
}
_TOKEN = {
    "type": "object",
    "properties": {"token": {"type": "string"}, "service_request_id": _NULLABLE_STRING},
    "required": ["token"],
}


def create_app(config: ApiConfig) -> FastAPI:
    """The ASGI app; its PostgreSQL pool and Kafka producer live as long as it serves."""
    holder: list[ApiContext] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(
            config.database_url, min_size=config.pool_min_size, max_size=config.pool_max_size
        )
        producer = kafka_clients.producer(config.kafka, linger_ms=0, **config.kafka_options)
        await producer.start()
        holder.append(
            ApiContext(
                config,
                pool,
                producer,
                KeyedHasher(config.link_key),
                RateLimiter(config.requests_per_minute),
            )
        )
        try:
            yield
        finally:
            holder.clear()
            await producer.stop()
            await pool.close()

    app = FastAPI(
        title="civicgrid",
        version="2",
        description="Open311 GeoReport v2 for the city's grid governance, and case pages.",
        lifespan=lifespan,
    )

    def context() -> ApiContext:
        return holder[0]

    def fmt_of(request: Request) -> Format:
        return "xml" if request.url.path.endswith(".xml") else "json"

    @app.middleware("http")
    async def _storable_text_only(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # PostgreSQL text cannot hold NUL: no identifier or filter has one, so refuse it here
        # instead of failing in a query.
        if "\x00" in unquote(request.url.path) or "\x00" in unquote(request.url.query):
            return error(fmt_of(request), 400, "a parameter holds a NUL character")
        return await call_next(request)

    @app.exception_handler(Open311Error)
    async def _open311_error(request: Request, exc: Open311Error) -> Response:
        return error(fmt_of(request), exc.status, exc.description)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
            for e in exc.errors()
        )
        return error(fmt_of(request), 400, problems)

    @app.get(f"{PREFIX}/services.{{fmt}}", responses=_ok({"type": "array", "items": _SERVICE}))
    async def services(fmt: Format, jurisdiction_id: str | None = None) -> Response:
        """GET Service List: the city's public categories as services."""
        rows = [
            open311.service(c, context().taxonomy)
            for c in open311.public_categories(context().taxonomy)
        ]
        return render(fmt, rows, "services", "service")

    @app.get(
        f"{PREFIX}/services/{{code}}.{{fmt}}",
        responses=_ok({"type": "object"}) | {404: _ERRORS[404]},
    )
    async def service_definition(
        code: str, fmt: Format, jurisdiction_id: str | None = None
    ) -> Response:
        """GET Service Definition."""
        category = open311.public_category(context().taxonomy, code)
        return render(fmt, open311.service_definition(category), "service_definition", "")

    @app.get(
        f"{PREFIX}/requests.{{fmt}}",
        responses=_ok({"type": "array", "items": _REQUEST}),
    )
    async def list_requests(
        fmt: Format,
        service_request_id: str | None = None,
        service_code: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        status: open311.Status | None = None,
        jurisdiction_id: str | None = None,
    ) -> Response:
        """GET Service Requests: 90 days and 1,000 requests at most, newest first."""
        params = {
            name: value
            for name, value in (
                ("service_request_id", service_request_id),
                ("service_code", service_code),
                ("start_date", start_date),
                ("end_date", end_date),
                ("status", status),
            )
            if value is not None
        }
        query = open311.request_query(params, context().taxonomy, datetime.now(UTC))
        rows = await public.requests(context().pool, query, context().public_codes)
        out = [open311.service_request(r, context().taxonomy, context().zone) for r in rows]
        return render(fmt, out, "service_requests", "request")

    @app.get(
        f"{PREFIX}/requests/{{request_id}}.{{fmt}}",
        responses=_ok({"type": "array", "items": _REQUEST}) | {404: _ERRORS[404]},
    )
    async def get_request(
        request_id: str, fmt: Format, jurisdiction_id: str | None = None
    ) -> Response:
        """GET Service Request."""
        row = await public.request(context().pool, request_id, context().public_codes)
        if row is None:
            raise Open311Error(404, f"no service request {request_id!r}")
        out = [open311.service_request(row, context().taxonomy, context().zone)]
        return render(fmt, out, "service_requests", "request")

    @app.get(
        f"{PREFIX}/tokens/{{token}}.{{fmt}}",
        responses=_ok({"type": "array", "items": _TOKEN}) | {404: _ERRORS[404]},
    )
    async def get_token(token: str, fmt: Format, jurisdiction_id: str | None = None) -> Response:
        """GET service_request_id from a token: empty until the stream has opened the case."""
        try:
            parsed = uuid.UUID(token)
        except ValueError:
            raise Open311Error(404, f"no token {token!r}") from None
        state = await public.token_state(context().pool, parsed, context().public_codes)
        if not state.issued:
            raise Open311Error(404, f"no token {token!r}")
        row: dict[str, Any] = {"token": token, "service_request_id": state.case_code}
        if state.rejected:
            row["service_notice"] = f"the report was not accepted: {state.rejected}"
        if state.case_code:
            row["case_url"] = resident.case_url(context(), state.case_code)
        return render(fmt, [row], "service_requests", "request")

    @app.post(
        f"{PREFIX}/requests.{{fmt}}",
        responses=_ok({"type": "array", "items": _TOKEN})
        | {s: _ERRORS[s] for s in (403, 404, 429)},
    )
    async def post_request(
        fmt: Format,
        api_key: Annotated[str | None, Form()] = None,
        service_code: Annotated[str | None, Form()] = None,
        jurisdiction_id: Annotated[str | None, Form()] = None,
        lat: Annotated[str | None, Form()] = None,
        long: Annotated[str | None, Form()] = None,
        address_string: Annotated[str | None, Form()] = None,
        address_id: Annotated[str | None, Form()] = None,
        email: Annotated[str | None, Form()] = None,
        device_id: Annotated[str | None, Form()] = None,
        account_id: Annotated[str | None, Form()] = None,
        first_name: Annotated[str | None, Form()] = None,
        last_name: Annotated[str | None, Form()] = None,
        phone: Annotated[str | None, Form()] = None,
        description: Annotated[str | None, Form()] = None,
        media_url: Annotated[str | None, Form()] = None,
    ) -> Response:
        """POST Service Request: published to civic.reports.v1 (channel app); answered
        with a token, since the case is opened by the stream, not by this call."""
        given: list[str | None] = [api_key, service_code, lat, long, address_string, address_id]
        given += [email, device_id, account_id, first_name, last_name, phone, description]
        given.append(media_url)
        if any(value and "\x00" in value for value in given):
            raise Open311Error(400, "a parameter holds a NUL character")
        if not api_key:
            raise Open311Error(403, "api_key is required")
        key = await public.api_key(context().pool, api_key)
        if key is None:
            raise Open311Error(403, "unknown api_key")
        if not context().limiter.allow(key.key_id, time.monotonic()):
            raise Open311Error(429, "rate limit exceeded for this api_key; retry in a minute")
        if not service_code:
            raise Open311Error(400, "service_code is required")
        category = open311.public_category(context().taxonomy, service_code)
        point = _point(lat, long)
        if point is None and not address_id:
            raise Open311Error(400, "a location is required: lat and long, or address_id")
        # The reporter is known to civicgrid only by a keyed hash (made at intake); names,
        # e-mail and phone are not kept at all.
        reporter = account_id or device_id or email or phone or f"app:{key.name}"
        text = " ".join(t for t in (description, address_string) if t and t.strip())
        token = uuid.uuid4()
        try:
            report = Report(
                event_id=token,
                occurred_at=datetime.now(UTC),
                schema_version=1,
                channel=Channel.APP,
                code=address_id or None,
                lat=point[0] if point else None,
                lon=point[1] if point else None,
                category_hint=category.code,
                description=text or category.zh,
                reporter_id=f"{key.name}:{reporter}",
                reporter_role=Role.RESIDENT,
                photos=(media_url,) if media_url else (),
            )
        except ValidationError as invalid:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
                for e in invalid.errors()
            )
            raise Open311Error(400, problems) from None
        await public.record_token(context().pool, token, key.key_id)
        await context().producer.send_and_wait(
            Report.TOPIC,
            report.model_dump_json(exclude_none=True).encode(),
            key=(address_id or str(token)).encode(),
        )
        return render(fmt, [{"token": str(token)}], "service_requests", "request")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        links = (
            ("/open311/v2/services.json", "Open311 GeoReport v2: services (JSON)"),
            ("/open311/v2/services.xml", "Open311 GeoReport v2: services (XML)"),
            ("/open311/v2/requests.json", "Open311 GeoReport v2: requests of the last 90 days"),
            ("/docs", "OpenAPI document and interactive docs"),
            ("/console", "城市大脑 · 运营控制台 (operators sign in)"),
        )
        items = "".join(f'<li><a href="{href}">{text}</a></li>' for href, text in links)
        return HTMLResponse(
            '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            "<title>civicgrid</title></head><body><h1>civicgrid</h1>"
            f"<ul>{items}</ul><p>居民扫码查询：/c/事件编号?k=回执上的密钥</p></body></html>"
        )

    resident.add_routes(app, context)
    console.add_routes(app, context)
    app.openapi = lambda: _open311_document(app)  # type: ignore[method-assign]
    return app


def _open311_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI documents its own 422 for bad parameters; Open311 answers those with 400."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in document["paths"].values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        app.openapi_schema = document
    return app.openapi_schema


def _point(lat: str | None, lon: str | None) -> tuple[float, float] | None:
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        raise Open311Error(400, "lat and long must be given together")
    try:
        return float(lat), float(lon)
    except ValueError:
        raise Open311Error(400, "lat and long must be decimal degrees") from None
