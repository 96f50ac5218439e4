"""The operations console (城市大脑) served by `civicgrid api` under `/console`: sign-in, the
live map of the operator's grids, the case desk, a case's page with the actions an operator
takes, and the assessment board.

Every action is a case update published to civic.case-updates.v1 under the operator's own
id; the stream applies or refuses it like any other (authorisation against the roster
included), and the page shows the result once the worker has taken it."""

import asyncio
import csv
import functools
import io
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from pydantic import ValidationError

from civicgrid.console import session
from civicgrid.console.scope import ACTIONS, Operator
from civicgrid.db import console as store
from civicgrid.db.console import HOUSEHOLD_CATEGORY
from civicgrid.domain.open311 import state_words
from civicgrid.schemas.enums import CaseAction
from civicgrid.schemas.inbound import CaseUpdate

if TYPE_CHECKING:
    from civicgrid.api.app import ApiContext

STREAM_POLL_SECONDS = 1.0  # new cases and state changes reach the map within about this
_ACTION_WORDS = {
    "verify": "核实通过",
    "reject": "核实不通过",
    "reclassify": "更正分类",
    "supervise": "督办",
    "approve_extension": "批准延期",
    "refuse_extension": "驳回延期",
    "suspend": "挂账",
    "resume": "恢复办理",
    "cancel": "作废",
    "close": "结案",
    "reopen": "重新办理",
    "self_handle": "自行处置",
    "check_pass": "核查通过",
    "check_fail": "核查不通过",
    "accept": "接单",
    "return": "退回",
    "start": "开始处置",
    "handle": "处置完毕",
    "request_extension": "申请延期",
}


@functools.cache
def _asset(name: str) -> str:  # shipped in the package: read once per process
    return resources.files("civicgrid.console").joinpath(f"static/{name}").read_text("utf-8")


def _layout(operator: Operator | None, title: str, body: str, current: str = "") -> str:
    nav = ""
    if operator is not None:
        links = (("/console", "地图"), ("/console/cases", "案件"), ("/console/assessment", "考核"))
        items = "".join(
            f'<a href="{href}"{" aria-current=page" if href == current else ""}>{words}</a>'
            for href, words in links
        )
        who = f"{escape(operator.operator_id)}（{operator.role.value}：{escape(operator.scope)}）"
        nav = (
            f'<header><strong>城市大脑 · 运营控制台</strong><nav aria-label="主导航">{items}</nav>'
            f'<span class="who">{who}</span>'
            '<form method="post" action="/console/logout" class="inline">'
            '<button class="secondary">退出</button></form></header>'
        )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · civicgrid</title>"
        '<link rel="stylesheet" href="/console/static/console.css">'
        f"</head><body>{nav}<main>{body}</main>"
        '<script src="/console/static/console.js"></script></body></html>'
    )


def add_routes(app: FastAPI, context: Callable[[], "ApiContext"]) -> None:
    @functools.cache
    def sessions() -> session.Sessions:
        # the key is fixed for the process: derived once, not on every request
        return session.Sessions.from_secret(context().config.link_key)

    async def signed_in(request: Request) -> Operator | None:
        operator_id = sessions().operator(request.cookies.get(session.COOKIE))
        if operator_id is None:
            return None
        found = await store.account(context().pool, operator_id)
        return None if found is None else found[0]

    def to_login() -> RedirectResponse:
        return RedirectResponse("/console/login", status_code=303)

    def csrf_field(request: Request) -> str:
        token = sessions().csrf(request.cookies.get(session.COOKIE, ""))
        return f'<input type="hidden" name="csrf" value="{token}">'

    @app.get("/console/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        kinds = {"console.js": "text/javascript", "console.css": "text/css"}
        if name not in kinds:
            return PlainTextResponse("not found", status_code=404)
        return Response(_asset(name), media_type=f"{kinds[name]}; charset=utf-8")

    @app.get("/console/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(failed: int = 0) -> HTMLResponse:
        message = '<p class="flash" role="alert">用户名或密码错误</p>' if failed else ""
        body = (
            '<div class="login card"><h1>城市大脑 · 运营控制台</h1>'
            f'{message}<form method="post" action="/console/login">'
            '<label>用户名<input name="operator_id" autocomplete="username" required></label>'
            '<label>密码<input name="password" type="password" autocomplete="current-password"'
            " required></label><button>登录</button></form></div>"
        )
        return HTMLResponse(_layout(None, "登录", body))

    @app.post("/console/login", include_in_schema=False)
    async def login(
        operator_id: Annotated[str, Form(max_length=200)],
        password: Annotated[str, Form(max_length=500)],
    ) -> Response:
        found = await store.account(context().pool, operator_id)
        stored = found[1] if found else None
        if not session.password_matches(stored, password) or found is None:
            return RedirectResponse("/console/login?failed=1", status_code=303)
        answer = RedirectResponse("/console", status_code=303)
        answer.set_cookie(
            session.COOKIE,
            sessions().issue(operator_id),
            max_age=session.SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=context().config.secure_cookies,
        )
        await store.audit(context().pool, found[0], "sign_in", None)
        return answer

    @app.post("/console/logout", include_in_schema=False)
    async def logout() -> Response:
        answer = RedirectResponse("/console/login", status_code=303)
        answer.delete_cookie(session.COOKIE)
        return answer

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    async def map_page(request: Request) -> Response:
        operator = await signed_in(request)
        if operator is None:
            return to_login()
        legend = "".join(
            f'<span style="background:{colour}"></span>{words}'
            for colour, words in (
                ("#d9e7d5", "无待办"),
                ("#f6d37a", "有待办"),
                ("#e8735f", "有超期"),
                ("#b04fd0", "有预警"),
            )
        )
        body = (
            '<h1>网格地图 <small>（<span id="grid-count">0</span> 个网格，实时更新）</small></h1>'
            '<div class="layout"><svg id="map" viewBox="0 0 1000 700" role="img" '
            'aria-label="网格地图"></svg><aside id="panel" aria-live="polite">'
            "<p>点击网格查看事件、网格员与预警。</p></aside></div>"
            f'<p class="legend">{legend}</p>'
        )
        return HTMLResponse(_layout(operator, "网格地图", body, "/console"))

    @app.get("/console/api/grids", include_in_schema=False)
    async def grids(request: Request) -> Response:
        operator = await signed_in(request)
        if operator is None:
            return JSONResponse({"error": "sign in"}, status_code=401)
        rows = await store.map_grids(context().pool, operator, datetime.now(UTC))
        return JSONResponse(rows)

    @app.get("/console/api/grids/{grid_id}", include_in_schema=False)
    async def grid_panel(request: Request, grid_id: str) -> Response:
        """A grid's open cases, workers, alerts and today's assessment, for the map's panel."""
        operator = await signed_in(request)
        if operator is None:
            return JSONResponse({"error": "sign in"}, status_code=401)
        ctx = context()
        today = datetime.now(ctx.zone).date()
        detail = await store.grid_detail(ctx.pool, operator, grid_id, today)
        if detail is None:
            return JSONResponse({"error": "not within your scope"}, status_code=404)
        chosen = store.DeskFilter(grid_id=grid_id)
        rows = await store.cases(ctx.pool, operator, chosen, datetime.now(UTC), 50)
        taxonomy = ctx.taxonomy
        detail["cases"] = [
            {
                "case_code": r["case_code"],
                "state": r["state"],
                "state_words": state_words(r["state"]),
                "category_name": taxonomy.get(r["category"]).zh
                if r["category"] in taxonomy
                else r["category"],
                "overdue": bool(r["overdue"]),
            }
            for r in rows
            if r["state"] not in ("CLOSED", "CANCELLED", "DUPLICATE")
        ]
        return JSONResponse(detail)

    @app.get("/console/stream", include_in_schema=False)
    async def stream(request: Request) -> Response:
        """Server-sent events: `change` whenever the operator's cases or the alerts change."""
        operator = await signed_in(request)
        if operator is None:
            return JSONResponse({"error": "sign in"}, status_code=401)

        async def events() -> AsyncIterator[str]:
            seen = await store.last_change(context().pool, operator)
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                await asyncio.sleep(STREAM_POLL_SECONDS)
                mark = await store.last_change(context().pool, operator)
                if mark != seen:
                    seen = mark
                    yield "event: change\ndata: {}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/console/cases", response_class=HTMLResponse, include_in_schema=False)
    async def desk(
        request: Request,
        state: str = "",
        category: str = "",
        severity: str = "",
        level: str = "",
        overdue: int = 0,
        verifying: int = 0,
    ) -> Response:
        operator = await signed_in(request)
        if operator is None:
            return to_login()
        chosen = store.DeskFilter(
            state or None,
            category or None,
            severity or None,
            level or None,
            None,
            bool(overdue),
            bool(verifying),
        )
        now = datetime.now(UTC)
        rows = await store.cases(context().pool, operator, chosen, now)
        zone, taxonomy = context().zone, context().taxonomy
        lines = "".join(
            f'<tr><td><a href="/console/cases/{escape(r["case_code"])}">'
            f"{escape(r['case_code'])}</a></td><td>{escape(state_words(r['state']))}</td>"
            f"<td>{r['level']}</td><td>{escape(taxonomy.get(r['category']).zh)}</td>"
            f"<td>{r['severity']}</td><td{' class=overdue' if r['overdue'] else ''}>"
            f"{r['deadline'].astimezone(zone):%m-%d %H:%M}</td></tr>"
            for r in rows
        )

        def field(name: str, words: str, value: str) -> str:
            return f'<label>{words}<input name="{name}" value="{escape(value)}" size="12"></label>'

        body = (
            f"<h1>案件（{len(rows)}）</h1>"
            '<form class="filters" method="get" aria-label="筛选">'
            + field("state", "状态", state)
            + field("category", "类别代码", category)
            + field("severity", "等级", severity)
            + field("level", "层级", level)
            + f'<label><span>超期</span><input type="checkbox" name="overdue" value="1"'
            f"{' checked' if overdue else ''}></label>"
            + f'<label><span>待核实</span><input type="checkbox" name="verifying" value="1"'
            f"{' checked' if verifying else ''}></label><button>筛选</button></form>"
            "<table><thead><tr><th>事件编号</th><th>状态</th><th>层级</th><th>类别</th>"
            f"<th>等级</th><th>时限</th></tr></thead><tbody>{lines}</tbody></table>"
        )
        return HTMLResponse(_layout(operator, "案件", body, "/console/cases"))

    @app.get("/console/cases/{case_code}", response_class=HTMLResponse, include_in_schema=False)
    async def case_page(
        request: Request, case_code: str, pending: str = "", refused: str = "", applied: int = 0
    ) -> Response:
        operator = await signed_in(request)
        if operator is None:
            return to_login()
        ctx = context()
        case = await store.case(ctx.pool, operator, case_code)
        if case is None:
            body = "<h1>未找到</h1><p>该案件不存在，或不在您的管辖范围内。</p>"
            return HTMLResponse(_layout(operator, "未找到", body), status_code=404)
        await store.audit(ctx.pool, operator, "view_case", case["case_id"])
        reports = await store.case_reports(ctx.pool, case["case_id"])
        history = await store.case_history(ctx.pool, case["case_id"])
        zone, taxonomy = ctx.zone, ctx.taxonomy
        category = taxonomy.get(case["category"])
        flash = ""
        if pending:
            flash = (
                f'<p class="flash" data-pending-event="{escape(pending)}" role="status">'
                "已提交，等待处理……</p>"
            )
        elif refused:
            flash = f'<p class="flash" role="alert">操作被拒绝：{escape(refused)}</p>'
        elif applied:
            flash = '<p class="flash" role="status">操作已生效。</p>'
        report_items = "".join(
            f"<li><time>{r['occurred_at'].astimezone(zone):%Y-%m-%d %H:%M}</time> "
            f"[{escape(r['channel'] or '')}] {escape(r['description'] or '')}</li>"
            for r in reports
        )
        steps = "".join(
            f"<li><time>{h['changed_at'].astimezone(zone):%Y-%m-%d %H:%M}</time> "
            f"v{h['version']} <strong>{escape(state_words(h['state']))}</strong> "
            f"({h['level']}) — {escape(h['reason'])}</li>"
            for h in history
        )
        actions = "".join(
            _action_form(csrf_field(request), case_code, action, taxonomy)
            for action in ACTIONS[operator.role.actor_kind]
        )
        evidence = ""
        if case["category"] == HOUSEHOLD_CATEGORY:
            evidence = await _household_section(ctx.pool, operator, case["case_id"])
        deadline = case["deadline"].astimezone(zone) if case["deadline"] else None
        body = (
            f"{flash}<h1>{escape(case_code)} · {escape(category.zh)}</h1>"
            '<div class="card"><p>状态：<strong id="case-state">'
            f"{escape(state_words(case['state']))}</strong>（{case['state']}） · "
            f"层级 {case['level']} · 等级 {case['severity']} · "
            f"网格 {escape(case['grid_id'])}</p>"
            f"<p>办理时限：{f'{deadline:%Y-%m-%d %H:%M}' if deadline else '无'}</p></div>"
            f'<h2>上报</h2><ul class="card">{report_items}</ul>'
            f"{evidence}"
            f'<h2>办理过程</h2><ol class="timeline card">{steps}</ol>'
            f'<h2>操作</h2><div class="card" id="actions">{actions}</div>'
        )
        return HTMLResponse(_layout(operator, case_code, body, "/console/cases"))

    @app.post("/console/cases/{case_code}/actions", include_in_schema=False)
    async def act(
        request: Request,
        case_code: str,
        action: Annotated[str, Form()],
        csrf: Annotated[str, Form()] = "",
        note: Annotated[str, Form(max_length=2000)] = "",
        category: Annotated[str, Form()] = "",
        supervision: Annotated[str, Form()] = "",
    ) -> Response:
        operator = await signed_in(request)
        if operator is None:
            return to_login()
        if not sessions().csrf_valid(request.cookies.get(session.COOKIE), csrf):
            return PlainTextResponse("CSRF token missing or wrong", status_code=403)
        ctx = context()
        case = await store.case(ctx.pool, operator, case_code)
        if case is None:
            return PlainTextResponse("not within your scope", status_code=404)
        if action not in ACTIONS[operator.role.actor_kind]:
            return PlainTextResponse(f"{action} is not an action of your role", status_code=403)
        fields: dict[str, Any] = {}
        if action == CaseAction.RECLASSIFY:
            fields["category"] = category
        if action == CaseAction.SUPERVISE:
            fields["supervision"] = supervision or "normal"
        try:
            update = CaseUpdate(
                event_id=uuid.uuid4(),
                occurred_at=datetime.now(UTC),
                schema_version=1,
                case_id=case["case_id"],
                actor_id=operator.operator_id,
                actor_kind=operator.role.actor_kind,
                action=CaseAction(action),
                note=note.strip() or None,
                **fields,
            )
        except (ValidationError, ValueError) as invalid:
            return PlainTextResponse(f"invalid action: {invalid}", status_code=400)
        await ctx.producer.send_and_wait(
            CaseUpdate.TOPIC,
            update.model_dump_json(exclude_none=True).encode(),
            key=case["case_id"].encode(),
        )
        await store.audit(ctx.pool, operator, "action", case["case_id"], action)
        return RedirectResponse(
            f"/console/cases/{case_code}?pending={update.event_id}", status_code=303
        )

    @app.get("/console/api/updates/{event_id}", include_in_schema=False)
    async def update_state(request: Request, event_id: str) -> Response:
        operator = await signed_in(request)
        if operator is None:
            return JSONResponse({"error": "sign in"}, status_code=401)
        try:
            parsed = uuid.UUID(event_id)
        except ValueError:
            return JSONResponse({"error": "not an event id"}, status_code=400)
        row = await context().pool.fetchrow(
            """SELECT EXISTS (SELECT 1 FROM events WHERE event_id = $1) AS taken,
                      (SELECT message FROM dead_letters WHERE event_id = $1 LIMIT 1) AS refused""",
            parsed,
        )
        assert row is not None
        return JSONResponse({"taken": row["taken"], "refused": row["refused"]})

    @app.get("/console/assessment", include_in_schema=False)
    async def board(request: Request, day: str = "", format: str = "html") -> Response:
        operator = await signed_in(request)
        if operator is None:
            return to_login()
        ctx = context()
        chosen = date.fromisoformat(day) if day else datetime.now(ctx.zone).date()
        rows = await store.assessment(ctx.pool, operator, chosen)
        await store.audit(ctx.pool, operator, "assessment", None, chosen.isoformat())
        if format == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["kind", "subject", "grid", "score", "grade"])
            for r in rows:
                writer.writerow(
                    [r["subject_kind"], r["subject_id"], r["grid_id"] or "", r["score"], r["grade"]]
                )
            return Response(
                out.getvalue(),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f"attachment; filename=assessment-{chosen}.csv"},
            )
        lines = "".join(
            f"<tr><td>{'网格员' if r['subject_kind'] == 'grid_worker' else '部门'}</td>"
            f"<td>{escape(r['subject_id'])}</td><td>{escape(r['grid_id'] or '')}</td>"
            f"<td>{_score(r['score'])}</td>"
            f"<td>{r['grade'] or ''}</td></tr>"
            for r in rows
        )
        body = (
            f"<h1>考核排名 {chosen.isoformat()}</h1>"
            f'<form method="get" class="filters"><label>日期<input type="date" name="day" '
            f'value="{chosen.isoformat()}"></label><button>查看</button>'
            f'<a href="/console/assessment?day={chosen.isoformat()}&format=csv">导出 CSV</a>'
            "</form><table><thead><tr><th>对象</th><th>编号</th><th>网格</th><th>得分</th>"
            f"<th>等级</th></tr></thead><tbody>{lines}</tbody></table>"
        )
        return HTMLResponse(_layout(operator, "考核", body, "/console/assessment"))


async def _household_section(pool: Any, operator: Operator, case_id: str) -> str:
    """A household cross-check case's findings and evidence (issue 21): shown to the police
    station whose territory holds the case only, and every showing audited."""
    found = await store.household_evidence(pool, operator, case_id)
    if found is None:
        return '<h2>比对发现</h2><p class="card">核查证据仅对辖区派出所可见。</p>'
    await store.audit(pool, operator, "view_household_evidence", case_id, f"{len(found)} findings")
    items = []
    for row in found:
        lines = "".join(
            f"<li>{escape(str(e['source']))} / {escape(str(e['kind']))} @ "
            f"{escape(str(e['place_code'] or '—'))}: {e['days']} 天 "
            f"({escape(str(e['first']))} – {escape(str(e['last']))})</li>"
            for e in row["evidence"]
        )
        thresholds = ", ".join(f"{k}={v}" for k, v in row["thresholds"].items())
        state = "" if row["raised"] else "（已撤销）"
        items.append(
            f"<li><strong>{escape(row['kind'])}</strong>{state} {escape(row['subject'])}: "
            f"{escape(row['rule'])} · 地点 {escape(row['place_code'] or '—')} · "
            f"决定日 {row['decisive_on']:%Y-%m-%d} · 阈值 {escape(thresholds)} · "
            f"户 {escape(', '.join(row['households']))}<ul>{lines}</ul></li>"
        )
    return f'<h2>比对发现</h2><ul class="card">{"".join(items)}</ul>'


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _action_form(csrf: str, case_code: str, action: str, taxonomy: Any) -> str:
    extra = ""
    if action == "reclassify":
        options = "".join(f'<option value="{c.code}">{c.code} {c.zh}</option>' for c in taxonomy)
        extra = f'<select name="category" aria-label="正确类别">{options}</select>'
    elif action == "supervise":
        extra = (
            '<select name="supervision" aria-label="督办等级"><option value="normal">普通</option>'
            '<option value="yellow">黄牌</option><option value="red">红牌</option></select>'
        )
    elif action in ("reject", "cancel", "request_extension", "return"):
        extra = '<input name="note" placeholder="理由" aria-label="理由" required>'
    return (
        f'<form class="inline" method="post" action="/console/cases/{escape(case_code)}/actions">'
        f'{csrf}<input type="hidden" name="action" value="{action}">{extra}'
        f"<button>{_ACTION_WORDS.get(action, action)}</button></form>"
    )
