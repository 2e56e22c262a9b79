import threading
import time

import pytest

from workers.batching import MicroBatcher


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
