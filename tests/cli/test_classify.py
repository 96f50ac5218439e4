import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from civicgrid.cli.classify import classify_command

ROOT = Path(__file__).resolve().parents[2]


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def test_one_line_out_per_input_and_bad_lines_do_not_stop_the_run() -> None:
    stdin = "\n".join(
        [
            json.dumps({"event_id": "e1", "description": "窨井盖被偷了", "channel": "scan"}),
            "{not json",
            json.dumps({"channel": "app"}),
            json.dumps(["a list"]),
            json.dumps({"description": "路灯不亮", "category_hint": 7}),
            json.dumps({"description": "路灯不亮", "category_hint": "01037"}),
        ]
    )
    result = CliRunner().invoke(classify_command, ["-"], input=stdin)
    assert result.exit_code == 0
    out = _lines(result.output)
    assert [row["line"] for row in out] == [1, 2, 3, 4, 5, 6]
    assert out[0]["event_id"] == "e1"
    assert (out[0]["category"], out[0]["severity"], out[0]["level"]) == ("01002", "P1", "network")
    assert "invalid JSON" in str(out[1]["error"])
    assert "description" in str(out[2]["error"])
    assert "object" in str(out[3]["error"])
    assert "category_hint" in str(out[4]["error"])
    assert out[5]["category"] == "01037"
    assert out[5]["departments"] == ["lighting"]


def test_reads_a_file_and_applies_overrides(tmp_path: Path) -> None:
    reports = tmp_path / "reports.jsonl"
    reports.write_text(json.dumps({"description": "路灯不亮"}) + "\n", encoding="utf-8")
    overrides = tmp_path / "city.json"
    overrides.write_text(json.dumps({"01037": {"severity": "P1"}}))
    result = CliRunner().invoke(classify_command, [str(reports), "--overrides", str(overrides)])
    assert _lines(result.output)[0]["severity"] == "P1"


def test_runs_as_a_process() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "civicgrid.cli.classify", "-"],
        input=json.dumps({"description": "消防通道被车堵死了"}) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    row = _lines(completed.stdout)[0]
    assert row["category"] == "09012"
    assert "blocked_fire_lane" in row["hazards"]
