"""The webhook rules without a network: signatures, the retry schedule, the end state after the
last attempt, and one app's hanging receiver not holding back another's deliveries."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from services.recognition import webhooks
from services.recognition.ports import WebhookEntry
from services.recognition.webhooks import Outcome, Sender, sign, verify, watch_interval


class FakeOutbox:
    """The port's contract in memory (gateway/webhook_outbox.py is the Redis one)."""

    def __init__(self) -> None:
        self.entries: dict[str, WebhookEntry] = {}
        self.due: dict[str, float] = {}

    async def pending(self, app: int, now: float) -> int:
        return sum(1 for e in self.entries.values() if e.app == app and e.job_id in self.due)

    async def defer(self, job_ids: list[str], at: float) -> None:
        for job_id in job_ids:
            self.due[job_id] = at

    async def add(self, entry: WebhookEntry) -> None:
        self.entries[entry.job_id], self.due[entry.job_id] = entry, entry.created

    async def get(self, job_id: str) -> WebhookEntry | None:
        return self.entries.get(job_id)

    async def claim(self, now: float, count: int, lease_until: float) -> list[WebhookEntry]:
        ids = sorted((at, i) for i, at in self.due.items() if at <= now)[:count]
        for _, job_id in ids:
            self.due[job_id] = lease_until
        return [self.entries[job_id] for _, job_id in ids]

    async def reschedule(self, entry: WebhookEntry, at: float) -> None:
        self.entries[entry.job_id], self.due[entry.job_id] = entry, at

    async def close(self, entry: WebhookEntry) -> None:
        self.entries[entry.job_id] = entry
        self.due.pop(entry.job_id, None)


def test_a_signature_checks_only_the_same_body_secret_and_a_recent_time():
    body, now = b'{"job_id":"x"}', time.time()
    signature = sign("s3cret", int(now), body)
    assert signature.startswith("sha256=")
    assert verify("s3cret", str(int(now)), body, signature)
    assert not verify("other", str(int(now)), body, signature)
    assert not verify("s3cret", str(int(now)), body + b" ", signature)
    assert not verify("s3cret", str(int(now) - 1), body, signature)  # the time is signed
    assert not verify("s3cret", str(int(now)), body, signature, now=now + 600)  # a replay


def test_running_jobs_are_looked_at_soon_then_every_few_seconds():
    assert watch_interval(0) == 0.5 and watch_interval(8) == 2.0 and watch_interval(600) == 5.0


def _sender(monkeypatch, outcomes: list[Outcome], attempts: int = 3) -> tuple[Sender, FakeOutbox]:
    outbox = FakeOutbox()
    ctx = SimpleNamespace(settings=SimpleNamespace(webhook_attempts=attempts, url_timeout_s=10))
    sender = Sender(ctx, outbox)

    async def ended(ctx, entry):
        return {"event": "job.ended", "job_id": entry.job_id}

    async def deliver(entry, event):
        return outcomes.pop(0)

    monkeypatch.setattr(webhooks, "job_event", ended)
    monkeypatch.setattr(sender, "deliver", deliver)
    return sender, outbox


async def _run_due(sender: Sender, outbox: FakeOutbox) -> None:
    """One pass with every entry due now (the backoff skipped) and its deliveries finished."""
    for job_id in outbox.due:
        outbox.due[job_id] = 0.0
    await sender.pass_once()
    await asyncio.gather(*sender.tasks)


def test_a_failing_receiver_is_tried_again_then_reported_failed(monkeypatch):
    sender, outbox = _sender(monkeypatch, [Outcome(False, 500, "HTTP 500")] * 3, attempts=3)

    async def scenario() -> list[tuple[str, int]]:
        await outbox.add(WebhookEntry("j1", 1, "ingest", "http://hook", time.time()))
        seen = []
        for _ in range(3):
            await _run_due(sender, outbox)
            entry = await outbox.get("j1")
            seen.append((entry.state, entry.attempts))
        return seen

    seen = asyncio.run(scenario())
    assert seen == [("retrying", 1), ("retrying", 2), ("failed", 3)]
    assert "j1" not in outbox.due  # no longer due
    assert outbox.entries["j1"].last_error == "HTTP 500"


def test_the_first_retry_waits_the_first_backoff(monkeypatch):
    sender, outbox = _sender(monkeypatch, [Outcome(False, error="no answer in 10 s")])

    async def scenario() -> float:
        await outbox.add(WebhookEntry("j1", 1, "operation", "http://hook", time.time()))
        await _run_due(sender, outbox)
        return outbox.due["j1"] - time.time()

    assert webhooks.BACKOFF_S[0] - 1 < asyncio.run(scenario()) <= webhooks.BACKOFF_S[0]


def test_a_delivered_event_is_not_due_again(monkeypatch):
    sender, outbox = _sender(monkeypatch, [Outcome(True, 204)])

    async def scenario() -> None:
        await outbox.add(WebhookEntry("j1", 1, "cluster", "http://hook", time.time()))
        await _run_due(sender, outbox)

    asyncio.run(scenario())
    entry = outbox.entries["j1"]
    assert (entry.state, entry.attempts, entry.last_status) == ("delivered", 1, 204)
    assert entry.delivered_at and "j1" not in outbox.due


def test_one_apps_hanging_receiver_does_not_hold_back_another_app(monkeypatch):
    outbox = FakeOutbox()
    sender = Sender(SimpleNamespace(settings=SimpleNamespace(webhook_attempts=3,
                                                             url_timeout_s=10)), outbox)
    release = asyncio.Event()
    delivered: list[str] = []

    async def ended(ctx, entry):
        return {"job_id": entry.job_id}

    async def deliver(entry, event):
        if entry.app == 1:
            await release.wait()  # app 1's receiver hangs
        delivered.append(entry.job_id)
        return Outcome(True, 200)

    monkeypatch.setattr(webhooks, "job_event", ended)
    monkeypatch.setattr(sender, "deliver", deliver)

    async def scenario() -> None:
        now = time.time()
        for n in range(200):  # app 1 queued 200 jobs first
            await outbox.add(WebhookEntry(f"a{n}", 1, "operation", "http://hang", now - 10))
        await outbox.add(WebhookEntry("b0", 2, "operation", "http://ok", now))
        await sender.pass_once()
        await asyncio.sleep(0.05)
        assert sender.in_flight[1] == webhooks.PER_APP  # the rest wait their turn
        assert "b0" in delivered  # in the same pass
        release.set()
        await asyncio.gather(*sender.tasks)

    asyncio.run(scenario())


@pytest.mark.parametrize("state", ["done", "failed", "cancelled"])
def test_an_ingestion_job_that_ended_makes_an_event(state):
    from datetime import UTC, datetime

    job = SimpleNamespace(state=state, error=None if state != "failed" else
                          {"error": "PARAM_INVALID", "detail": "group deleted"},
                          group="g", counts={"enrolled": 2}, total=2, created=2,
                          finished_at=datetime.now(UTC))

    async def ingest_job(ctx, app, job_id):
        return job

    entry = WebhookEntry("j", 1, "ingest", "http://hook", time.time())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(webhooks.catalogue, "ingest_job", ingest_job)
        event = asyncio.run(webhooks.job_event(None, entry))
        job.state = "running"
        assert asyncio.run(webhooks.job_event(None, entry)) is None
    assert event["status"] == state and event["counts"] == {"enrolled": 2}
    assert ("error" in event) == (state == "failed")


def test_an_app_past_its_pending_webhooks_is_refused_before_its_job_is_stored(monkeypatch):
    from shared.errors import ERRORS, FaceError

    outbox = FakeOutbox()
    ctx = SimpleNamespace(webhooks=outbox, settings=SimpleNamespace(webhooks_pending=2))

    async def public(url, settings):
        return None

    monkeypatch.setattr(webhooks, "checked_url", public)

    async def scenario() -> None:
        for n in range(2):
            await webhooks.check_room(ctx, 1, "http://hook")
            await webhooks.watch(ctx, 1, "operation", f"j{n}", "http://hook")
        with pytest.raises(FaceError) as refused:
            await webhooks.check_room(ctx, 1, "http://hook")
        assert refused.value.kind is ERRORS.RATE_LIMIT
        await webhooks.check_room(ctx, 2, "http://hook")  # another app has its own room
        await webhooks.check_room(ctx, 1, None)  # a job without a webhook is not counted
        await outbox.close(outbox.entries["j0"])
        await webhooks.check_room(ctx, 1, "http://hook")  # room again once one is delivered

    asyncio.run(scenario())


def test_a_job_that_never_ends_is_reported_after_the_deadline(monkeypatch):
    outbox = FakeOutbox()
    sender = Sender(SimpleNamespace(settings=SimpleNamespace(webhook_attempts=3,
                                                             url_timeout_s=10)), outbox)

    async def running(ctx, entry):
        return None

    monkeypatch.setattr(webhooks, "job_event", running)

    async def scenario() -> None:
        old = time.time() - webhooks.WATCH_DEADLINE_S - 1
        await outbox.add(WebhookEntry("j1", 1, "ingest", "http://hook", old))
        await outbox.add(WebhookEntry("j2", 1, "ingest", "http://hook", time.time()))
        await _run_due(sender, outbox)

    asyncio.run(scenario())
    assert outbox.entries["j1"].state == "failed" and "j1" not in outbox.due
    assert outbox.entries["j2"].state == "watching" and "j2" in outbox.due
