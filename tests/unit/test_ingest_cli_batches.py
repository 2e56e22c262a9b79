"""`facegate ingest` splits a folder into jobs by count and by bytes, under the server's body
limit, each with the --quality level asked for."""

from pathlib import Path

from services.cli.ingest import _photo_batches, _send_lines, _send_photos
from services.cli.ingest_state import IngestState


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


class _Recorder:
    """The two bulk calls `facegate ingest` makes, each answering a new job."""

    def __init__(self) -> None:
        self.levels: list[tuple[str, str | None]] = []

    def bulk_archive(self, group, archive, manifest, *, quality=None) -> dict:
        self.levels.append(("archive", quality))
        return {"job_id": f"j{len(self.levels)}"}

    def bulk_lines(self, group, body, content_type, *, quality=None) -> dict:
        self.levels.append(("lines", quality))
        return {"job_id": f"j{len(self.levels)}"}


def test_the_quality_level_goes_with_every_job(tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(3):
        (photos / f"{k}.jpg").write_bytes(bytes(10))
    urls = tmp_path / "urls.csv"
    urls.write_text("url\nhttps://photos.test/a.jpg\nhttps://photos.test/b.jpg\n")
    client = _Recorder()
    state = IngestState(tmp_path / "state.json")
    _send_photos(client, photos, "g", 2, 10**9, state, "lenient")
    _send_lines(client, urls, "g", 1, state, "none")
    _send_lines(client, urls, "g", 5, IngestState(tmp_path / "other.json"))
    assert client.levels == [("archive", "lenient")] * 2 + [("lines", "none")] * 2 + [
        ("lines", None)]  # left out: the group's default, else the server's
