"""The interleaved benchmark's arithmetic and table, offline (no server is started)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.__main__ import print_table
from bench.interleaved import BOT, RATIOS, SERVERS, ratio_key, rounds_for


def test_rounds_fill_the_duration_and_are_at_least_three() -> None:
    assert rounds_for(75, 3) == 5
    assert rounds_for(150, 3) == 10
    assert rounds_for(10, 3) == 3


def _server(turns_per_s: float) -> dict[str, Any]:
    latency = {"p50": 1.0, "p95": 2.0, "p99": 3.0, "n": 10}
    return {
        "turns_per_s": turns_per_s,
        "errors": 0,
        "peak_rss_mb": 50.0,
        "cpu_ms_per_turn": 1.0,
        "measured_s": 15.5,
        "conversations": 10,
        "latency_ms": {"all": latency, "message": latency, "card submit": latency, "invoke": latency},
    }


def test_the_table_shows_every_server_and_the_ratios_per_round(capsys: pytest.CaptureFixture[str]) -> None:
    speeds = {
        "stock_echo": 50.0,
        "agents_echo": 300.0,
        "raw_aiohttp": 1500.0,
        "project_echo": 800.0,
        BOT: 80.0,
    }
    rounds = [
        {
            "order": list(speeds),
            "turns_per_s": speeds,
            "ratios": {ratio_key(a, b): speeds[a] / speeds[b] for a, b, _ in RATIOS},
        }
    ] * 3
    results: dict[str, Any] = {key: _server(speeds[key]) for key, _, _ in SERVERS}
    results[BOT] |= {
        "cpu_ms_per_conversation": 38.0,
        "cpu_ms_per_conversation_per_round": [37.0, 38.0, 39.0],
        "parked": {"count": 100, "bytes_per_parked": 2048.0, "rss_before_mb": 130.0, "rss_after_mb": 130.2},
    }
    results |= {
        "harness": "interleaved: ...",
        "machine": "test",
        "rounds": rounds,
        "ratios_median": rounds[0]["ratios"],
        "demo_hash": {"ms": 0.002, "kind": "blake2b"},
    }
    print_table(results)
    out = capsys.readouterr().out
    assert "bot / this stack's echo" in out and "0.10" in out  # 80 / 800
    assert "bot / Agents SDK echo" in out and "0.27" in out  # 80 / 300
    assert all(label in out for _, label, _ in SERVERS)
