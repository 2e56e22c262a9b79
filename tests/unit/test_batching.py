import threading
import time

import pytest

from workers.batching import MicroBatcher, bulk_priority


def test_concurrent_callers_share_passes_and_get_their_own_results():
    calls: list[list[int]] = []

    def model(items: list[int]) -> list[int]:
        calls.append(list(items))
        time.sleep(0.05)  # a forward pass takes time; callers pile up meanwhile
        return [item * 10 for item in items]

    batcher = MicroBatcher(model, max_items=64, max_wait_s=0.02, name="test")
    results: dict[int, list[int]] = {}

    def caller(k: int) -> None:
        results[k] = batcher([k, k + 1000])

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {k: [k * 10, (k + 1000) * 10] for k in range(20)}
    assert len(calls) < 20  # several callers per forward pass
    assert max(len(c) for c in calls) > 2
    assert batcher.stats.items == 40


def test_a_failing_pass_fails_its_callers_not_the_batcher():
    def model(items: list[int]) -> list[int]:
        if -1 in items:
            raise ValueError("bad item")
        return items

    batcher = MicroBatcher(model, max_items=1, max_wait_s=0.0, name="test-fail")
    with pytest.raises(ValueError):
        batcher([-1])
    assert batcher([7]) == [7]


def test_batches_respect_max_items():
    sizes: list[int] = []

    def model(items):
        sizes.append(len(items))
        time.sleep(0.02)
        return items

    batcher = MicroBatcher(model, max_items=4, max_wait_s=0.05, name="test-max")
    threads = [threading.Thread(target=batcher, args=([k],)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(sizes) <= 4 and sum(sizes) == 16


def _held_model():
    """A model whose passes wait for `release`, recording each pass's items."""
    started, release = threading.Event(), threading.Event()
    order: list[list[str]] = []

    def model(items: list[str]) -> list[str]:
        order.append(list(items))
        started.set()
        release.wait(5)
        return items

    return model, started, release, order


def _identify_then_release(batcher, threads: list[threading.Thread],
                           release: threading.Event) -> None:
    """An interactive call arrives while bulk work waits; then the held pass ends."""
    time.sleep(0.1)
    threads.append(threading.Thread(target=batcher, args=(["identify"],)))
    threads[-1].start()
    time.sleep(0.1)
    release.set()
    for t in threads:
        t.join(5)


def test_interactive_calls_are_batched_before_waiting_bulk_calls():
    """An identify that arrives during a load waits for the pass in progress, not for the
    load's queued images."""
    model, started, release, order = _held_model()
    batcher = MicroBatcher(model, max_items=1, max_wait_s=0.0, name="test-priority")

    def bulk(name: str) -> None:
        with bulk_priority():
            batcher([name])

    threads = [threading.Thread(target=bulk, args=("bulk-0",))]
    threads[0].start()
    assert started.wait(5)  # bulk-0 is in the model; the rest queue behind it
    for name in ("bulk-1", "bulk-2"):
        threads.append(threading.Thread(target=bulk, args=(name,)))
        threads[-1].start()
    _identify_then_release(batcher, threads, release)
    assert order[0] == ["bulk-0"] and order[1] == ["identify"]
    assert sorted(o[0] for o in order[2:]) == ["bulk-1", "bulk-2"]


def test_a_pass_that_serves_interactive_callers_carries_no_bulk_work():
    model, started, release, order = _held_model()
    batcher = MicroBatcher(model, max_items=64, max_wait_s=0.0, name="test-alone")
    threads = [threading.Thread(target=batcher, args=(["first"],))]
    threads[0].start()
    assert started.wait(5)

    def bulk() -> None:
        with bulk_priority():
            batcher([f"photo-{i}" for i in range(32)])

    threads.append(threading.Thread(target=bulk))
    threads[-1].start()
    _identify_then_release(batcher, threads, release)
    assert order[1] == ["identify"]  # alone, though 32 bulk photos were waiting and fit
    assert len(order[2]) == 32
