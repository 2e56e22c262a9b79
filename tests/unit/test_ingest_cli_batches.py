"""`facegate ingest` splits a folder into jobs by count and by bytes, under the server's body
limit."""

from pathlib import Path

from services.cli.ingest import _photo_batches


def test_photos_are_split_by_count_and_by_bytes(tmp_path: Path):
    files = []
    for k, size in enumerate([600, 600, 600, 100, 5000, 100]):
        path = tmp_path / f"{k}.jpg"
        path.write_bytes(bytes(size))
        files.append(path)
    batches = [[p.name for p in batch] for batch in _photo_batches(files, 3, body_bytes=4000)]
    # each photo weighs its size + 1024 (the tar's headers): 1624, 1624 fill 4000 before 600
    assert batches == [["0.jpg", "1.jpg"], ["2.jpg", "3.jpg"], ["4.jpg"], ["5.jpg"]]
    assert [len(b) for b in _photo_batches(files, 2, body_bytes=10**9)] == [2, 2, 2]
