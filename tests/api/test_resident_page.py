"""The resident's case page in a real headless Chromium (Debian's, driven by Playwright):
a request filed through Open311 is followed on its page to closed, evaluated 不满意, and the
evaluation reaches the case, which the stream reopens."""

import asyncio
import time
from pathlib import Path

import asyncpg
from playwright.async_api import Browser

from tests.api.conftest import Stack, case_for, screenshot_path
from tests.support.privacy import holds_personal_numbers


async def _case(stack: Stack, case_code: str) -> tuple[str, str, str | None]:
    connection = await asyncpg.connect(stack.endpoints.database_url)
    try:
        row = await connection.fetchrow(
            "SELECT case_id, state, data->>'evaluation' AS evaluation FROM cases"
            " WHERE case_code = $1",
            case_code,
        )
        assert row is not None
        return row["case_id"], row["state"], row["evaluation"]
    finally:
        await connection.close()


async def _wait_for(stack: Stack, case_code: str, state: str, wait_s: float = 30.0) -> str | None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        _, found, evaluation = await _case(stack, case_code)
        if found == state:
            return evaluation
        await asyncio.sleep(0.2)
    raise AssertionError(f"case {case_code} did not reach {state} within {wait_s} s")


async def test_resident_follows_and_evaluates_a_case(
    stack: Stack, browser: Browser, tmp_path: Path
) -> None:
    filed = stack.api.post(
        "/open311/v2/requests.json",
        {
            "api_key": stack.second_key,
            "service_code": "01037",
            "address_id": stack.street_lights[1],
            "description": "楼下路灯坏了一个星期，联系电话13812345678",
        },
    )
    token = filed.json()[0]["token"]
    case_code = case_for(stack, token)
    case_url = stack.api.get(f"/open311/v2/tokens/{token}.json").json()[0]["case_url"]
    assert case_url.startswith(stack.api.url + f"/c/{case_code}?k=")

    page = await browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
    await page.goto(case_url)
    assert (await page.locator("h1").inner_text()) == "路灯"
    assert "已派遣给处置部门" in (await page.locator(".state strong").inner_text())
    assert "路灯管理处" in (await page.locator("ol").inner_text())
    assert (await page.locator("form").count()) == 0  # no evaluation before it is closed

    case_id, _, _ = await _case(stack, case_code)

    async def close() -> None:
        await stack.driver.update(case_id, "self_handle", "grid_worker", "换了灯泡")
        await stack.driver.update(case_id, "check_pass", "operator")

    await close()
    await page.reload()
    assert (await page.locator(".state strong").inner_text()) == "已办结"
    steps = await page.locator("ol li").all_inner_texts()
    assert len(steps) >= 4
    assert all("2" in step[:4] for step in steps)  # each step starts with its date
    html = await page.content()
    assert not holds_personal_numbers(html)
    await page.screenshot(path=screenshot_path(tmp_path, "case-page.png"), full_page=True)

    await page.get_by_label("不满意").check()
    await page.locator("textarea").fill("晚上还是不亮")
    await page.get_by_role("button", name="提交评价").click()
    assert "感谢您的评价" in (await page.get_by_role("status").inner_text())

    assert await _wait_for(stack, case_code, "DISPATCHED") == "dissatisfied"
    await page.goto(case_url)
    assert "已派遣给处置部门" in (await page.locator(".state strong").inner_text())
    assert "您的评价：不满意" in await page.content()


async def test_a_wrong_secret_shows_nothing(stack: Stack, browser: Browser) -> None:
    page = await browser.new_page()
    response = await page.goto(f"{stack.api.url}/c/{stack.street_lights[0]}?k=guess")
    assert response is not None
    assert response.status == 404
    assert "未找到" in (await page.locator("h1").inner_text())
