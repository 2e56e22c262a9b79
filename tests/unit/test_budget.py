"""The byte budget: big takes wait in turn, small ones pass a big one that waits; a request
body takes what has come of it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from starlette.requests import Request

from gateway.params import BodyHold, read_params
from shared.budget import ByteBudget


def _start(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_small_take_passes_a_big_one_waiting() -> None:
    budget = ByteBudget(800)
    budget.take(600)  # a big decode in progress
    order: list[str] = []
    big = _start(lambda: (budget.take(500), order.append("big")))
    time.sleep(0.05)
    small = _start(lambda: (budget.take(100), order.append("small")))
    small.join(2)
    assert order == ["small"]  # the big one still waits for the first to end
    budget.give(100)
    budget.give(600)
    big.join(2)
    assert order == ["small", "big"]
    assert budget.held == 500


def test_big_takes_are_served_in_turn() -> None:
    budget = ByteBudget(800)
    budget.take(700)
    order: list[int] = []
    first = _start(lambda: (budget.take(600), order.append(1)))
    time.sleep(0.05)
    second = _start(lambda: (budget.take(200), order.append(2)))  # fits after the first only
    time.sleep(0.05)
    assert order == []
    assert not budget.try_take(150)  # a big try does not jump the line either
    budget.give(700)
    first.join(2)
    second.join(2)
    assert order == [1, 2]


def test_more_than_the_whole_budget_is_refused() -> None:
    with pytest.raises(ValueError):
        ByteBudget(100).take(101)


def test_the_idle_hook_gets_the_busy_peak() -> None:
    peaks: list[int] = []
    budget = ByteBudget(100, on_idle=peaks.append)
    with budget.holding(30), budget.holding(50):
        pass
    assert peaks == [80]
    assert budget.peak == 80


def test_a_body_holds_only_the_bytes_that_came_whatever_it_declared():
    """A client that declares 32 MiB and sends 10 bytes holds 10 bytes of the gateway's body
    budget, not 32 MiB: stalled uploads cannot take the budget from the others."""
    budget = ByteBudget(1 << 20)
    hold = BodyHold(budget)
    pieces = [{"type": "http.request", "body": b'{"a": 1}  ', "more_body": False}]

    async def receive():
        return pieces.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/v1/detect", "query_string": b"",
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(32 << 20).encode())]}
    params = asyncio.run(read_params(Request(scope, receive), 64 << 20, hold))
    assert params == {"a": 1}
    assert budget.held == 10
    hold.release()
    assert budget.held == 0
