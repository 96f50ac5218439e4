"""The resident's case page (一件一码 扫码查询): `/c/{case_code}?k=<secret>`.

The QR on a resident's receipt encodes this URL; the secret is a keyed hash of the case code,
so case codes (sequential per grid and day) cannot be enumerated into pages. A page shows the
state in plain words, the steps with their dates and departments (never a worker's name or
number), the deadline, and once closed a satisfaction form that publishes an `evaluate`."""

import hmac
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Annotated

from fastapi import FastAPI, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from civicgrid.db import public
from civicgrid.domain.open311 import state_words, status_of
from civicgrid.domain.privacy import case_link_actor, case_link_secret
from civicgrid.schemas.enums import ActorKind, CaseAction, Satisfaction
from civicgrid.schemas.inbound import CaseUpdate

if TYPE_CHECKING:
    from civicgrid.api.app import ApiContext

_CHOICES = (
    (Satisfaction.SATISFIED, "满意"),
    (Satisfaction.BASICALLY_SATISFIED, "基本满意"),
    (Satisfaction.DISSATISFIED, "不满意"),
)
_WORDS = {value.value: words for value, words in _CHOICES}
_STYLE = """
body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;margin:0;
background:#f4f6f8;color:#1d2733;font-size:17px;line-height:1.5}
main{max-width:34rem;margin:0 auto;padding:1rem}
h1{font-size:1.25rem;margin:.2rem 0}.code{color:#5b6b7b;font-size:.9rem}
.state{background:#fff;border-radius:12px;padding:1rem;margin:1rem 0;
border-left:6px solid #1f7ae0}.state.closed{border-color:#2e9d57}
.state strong{font-size:1.3rem;display:block}
ol{list-style:none;padding:0;margin:0;background:#fff;border-radius:12px}
li{padding:.7rem 1rem;border-bottom:1px solid #e6eaee}li:last-child{border:0}
time{color:#5b6b7b;font-size:.9rem;display:block}
form{background:#fff;border-radius:12px;padding:1rem;margin:1rem 0}
fieldset{border:0;padding:0;margin:0 0 .8rem}
label{display:block;padding:.35rem 0}textarea{width:100%;box-sizing:border-box;
min-height:5rem;font:inherit}button{font:inherit;background:#1f7ae0;color:#fff;border:0;
border-radius:8px;padding:.6rem 1.4rem}.thanks{background:#e7f6ec;padding:1rem;
border-radius:12px}
"""


def case_url(context: "ApiContext", case_code: str) -> str:
    base = context.config.public_url.rstrip("/")
    return f"{base}/c/{case_code}?k={case_link_secret(context.links, case_code)}"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status)


def _not_found() -> HTMLResponse:
    return _page("未找到", "<h1>未找到该事件</h1><p>请核对二维码或链接是否完整。</p>", 404)


async def _visible(ctx: "ApiContext", case_code: str, secret: str) -> public.CasePage | None:
    """The case's page for the holder of its link; None, like an unknown case, for a wrong
    secret or a matter that is not public."""
    if not hmac.compare_digest(secret, case_link_secret(ctx.links, case_code)):
        return None
    page = await public.case_page(ctx.pool, case_code)
    if page is None or not ctx.taxonomy.get(page.category).public:
        return None
    return page


def add_routes(app: FastAPI, context: Callable[[], "ApiContext"]) -> None:
    @app.get("/c/{case_code}", response_class=HTMLResponse, include_in_schema=False)
    async def case_page(case_code: str, k: str = "", thanks: int = 0) -> Response:
        ctx = context()
        page = await _visible(ctx, case_code, k)
        if page is None:
            return _not_found()
        category = ctx.taxonomy.get(page.category)

        def when(moment: datetime) -> str:
            local = moment.astimezone(ctx.zone)
            return f'<time datetime="{local.isoformat()}">{local:%Y-%m-%d %H:%M}</time>'

        steps = []
        for step in page.steps:
            words = state_words(step.state)
            if step.state == "DISPATCHED":
                lead = step.department or category.lead
                words += f"：{escape(ctx.taxonomy.department_name(lead))}"
            steps.append(f"<li>{when(step.at)}{escape(words)}</li>")
        closed = status_of(page.state) == "closed"
        deadline = f"<p>办理时限：{when(page.deadline)}</p>" if page.deadline and not closed else ""
        body = [
            f"<h1>{escape(category.zh)}</h1>",
            f'<div class="code">事件编号 {escape(page.case_code)}</div>',
            f'<section class="state{" closed" if closed else ""}" aria-live="polite">',
            f"<span>当前状态</span><strong>{escape(state_words(page.state))}</strong>",
            f"{deadline}</section>",
            '<h2>办理过程</h2><ol aria-label="办理过程">',
            *steps,
            "</ol>",
        ]
        if thanks:
            body.append('<p class="thanks" role="status">感谢您的评价，我们已收到。</p>')
        elif page.state == "CLOSED" and page.evaluation is None:
            body.append(_evaluation_form(page.case_code, k))
        elif page.evaluation:
            shown = _WORDS.get(page.evaluation, page.evaluation)
            body.append(f"<p>您的评价：{escape(shown)}</p>")
        return _page(f"{category.zh} · {page.case_code}", "".join(body))

    @app.post("/c/{case_code}/evaluation", include_in_schema=False)
    async def evaluate(
        case_code: str,
        k: Annotated[str, Form()] = "",
        satisfaction: Annotated[str, Form()] = "",
        comment: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        ctx = context()
        page = await _visible(ctx, case_code, k)
        if page is None:
            return _not_found()
        try:
            chosen = Satisfaction(satisfaction)
        except ValueError:
            return _page("请选择", "<p>请选择满意、基本满意或不满意。</p>", 400)
        update = CaseUpdate(
            event_id=uuid.uuid4(),
            occurred_at=datetime.now(UTC),
            schema_version=1,
            case_id=page.case_id,
            # the visitor is known only as the holder of this case's link (the receipt's QR)
            actor_id=case_link_actor(ctx.links, case_code),
            actor_kind=ActorKind.RESIDENT,
            action=CaseAction.EVALUATE,
            note=comment.strip() or None,
            satisfaction=chosen,
        )
        await ctx.producer.send_and_wait(
            CaseUpdate.TOPIC,
            update.model_dump_json(exclude_none=True).encode(),
            key=page.case_id.encode(),
        )
        return RedirectResponse(f"/c/{case_code}?k={k}&thanks=1", status_code=303)


def _evaluation_form(case_code: str, secret: str) -> str:
    options = "".join(
        f'<label><input type="radio" name="satisfaction" value="{value.value}" required> '
        f"{words}</label>"
        for value, words in _CHOICES
    )
    return (
        f'<form method="post" action="/c/{escape(case_code)}/evaluation">'
        f'<input type="hidden" name="k" value="{escape(secret)}">'
        f"<fieldset><legend>您对办理结果满意吗？</legend>{options}</fieldset>"
        '<label for="comment">意见或建议（选填）</label>'
        '<textarea id="comment" name="comment" maxlength="500"></textarea>'
        '<p><button type="submit">提交评价</button></p></form>'
    )
