"""The README's configuration table is settings_table() (`facegate settings`): a new or changed
setting shows up there, or this fails."""

from pathlib import Path

import pytest

from shared.settings import settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting_with_its_default(monkeypatch: pytest.MonkeyPatch):
    import os

    for key in [k for k in os.environ if k.startswith("FACEGATE_")]:
        monkeypatch.delenv(key)
    assert settings_table() in README.read_text()
