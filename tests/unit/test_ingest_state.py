"""`facegate ingest`'s resume file: what an accepted job carried is skipped next time, a file
changed since is sent again, and a broken or foreign state file costs a re-upload, never a
wrong skip."""

from __future__ import annotations

from pathlib import Path

from services.cli.ingest import _size
from services.cli.ingest_state import IngestState, default_state_path, item_id


def test_recorded_items_survive_a_restart(tmp_path):
    state = IngestState(tmp_path / "s.json")
    state.record("job-1", [item_id("a.jpg", 10, 1), item_id("b.jpg", 20, 2)])
    again = IngestState.load(tmp_path / "s.json")
    assert again.submitted() == {item_id("a.jpg", 10, 1), item_id("b.jpg", 20, 2)}
    assert item_id("a.jpg", 11, 1) not in again.submitted()  # changed since: sent again
    again.forget("job-1")
    assert IngestState.load(tmp_path / "s.json").submitted() == set()


def test_a_broken_state_file_is_an_empty_state(tmp_path):
    path = tmp_path / "s.json"
    for text in ("{not json", '{"version": 99, "jobs": {"j": ["x"]}}', "[]"):
        path.write_text(text)
        assert IngestState.load(path).submitted() == set()


def test_each_server_group_and_folder_has_its_own_state(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    one = default_state_path("http://127.0.0.1:8080", "g", Path("/photos"))
    assert one.parent == tmp_path / "facegate"
    assert one != default_state_path("http://127.0.0.1:8080", "h", Path("/photos"))
    assert one != default_state_path("http://10.0.0.2:8080", "g", Path("/photos"))
    assert one != default_state_path("http://127.0.0.1:8080", "g", Path("/other"))


def test_body_sizes_read_as_people_write_them():
    assert _size("200MiB") == 200 * 2**20 and _size("12MB") == 12 * 10**6
    assert _size("1048576") == 2**20 and _size("1 gib") == 2**30
