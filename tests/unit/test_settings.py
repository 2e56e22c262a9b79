"""Settings are validated once, at start: a wrong value names its variable and what is wrong;
`facegate settings` shows the effective values with secrets masked."""

import os
import subprocess
import sys

import pytest

from shared.settings import SettingsError, load_settings, masked, settings_rows


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch):
    for key in [k for k in os.environ if k.startswith("FACEGATE_")]:
        monkeypatch.delenv(key)


def test_values_are_read_and_typed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FACEGATE_PORT", "9001")
    monkeypatch.setenv("FACEGATE_AUTH", "off")
    monkeypatch.setenv("FACEGATE_URL_ALLOW", "127.0.0.0/8, 10.0.0.0/8")
    monkeypatch.setenv("FACEGATE_LOG_LEVEL", "debug")
    settings = load_settings()
    assert (settings.port, settings.auth, settings.log_level) == (9001, False, "DEBUG")
    assert settings.url_allow == ("127.0.0.0/8", "10.0.0.0/8")
    assert settings.data_dir.is_absolute()


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("FACEGATE_PORT", "eighty", "valid integer"),
    ("FACEGATE_PORT", "70000", "less than or equal to 65535"),
    ("FACEGATE_AUTH", "maybe", "valid boolean"),
    ("FACEGATE_DEVICE", "tpu", "'auto', 'cpu' or 'cuda'"),
    ("FACEGATE_EMBEDDER", "dlib", "'facenet', 'arcface' or 'facenet-m14'"),
    ("FACEGATE_GATE_OCCLUSION", "left_eye=1.5", "from 0 to 1"),
    ("FACEGATE_GATE_OCCLUSION", "ears=0.5", "region one of"),
    ("FACEGATE_URL_ALLOW", "localhost", "not a network"),
    ("FACEGATE_DATABASE_URL", "mysql://x/y", "should match pattern"),
    ("FACEGATE_DETECT_MIN_SCORE", "1.5", "less than or equal to 1"),
    ("FACEGATE_INGEST_MAX_BODY_BYTES", str(2**30), "FACEGATE_BODY_BUDGET_BYTES"),
    ("FACEGATE_TRUSTED_PROXIES", "proxy.example", "FACEGATE_TRUSTED_PROXIES"),
])
def test_a_wrong_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str,
                                          value: str, says: str):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert variable in str(caught.value)
    assert says in str(caught.value)


def test_only_facegate_variables_are_read(monkeypatch: pytest.MonkeyPatch):
    """Platforms set HOST, PORT and the like for themselves: they are not ours."""
    for name, value in (("HOST", "9.9.9.9"), ("PORT", "1234"), ("DEVICE", "cuda"),
                        ("port", "4321"), ("REDIS_URL", "redis://elsewhere:6379/0")):
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (settings.host, settings.port, settings.device) == ("127.0.0.1", 8080, "auto")
    assert settings.redis_url == ""


def test_changed_copies_are_validated_too():
    settings = load_settings()
    assert settings.changed(port=1).port == 1
    with pytest.raises(ValueError):
        settings.changed(port=-1)


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FACEGATE_DATABASE_URL", "postgresql://facegate:hunter2@db:5432/facegate")
    monkeypatch.setenv("FACEGATE_REDIS_URL", "redis://:s3cret@redis:6379/0")
    monkeypatch.setenv("FACEGATE_ADMIN_SECRET", "topsecret")
    shown = dict(settings_rows(load_settings()))
    assert shown["FACEGATE_DATABASE_URL"] == "postgresql://facegate:***@db:5432/facegate"
    assert shown["FACEGATE_REDIS_URL"] == "redis://:***@redis:6379/0"
    assert shown["FACEGATE_ADMIN_SECRET"] == "***"
    assert "hunter2" not in str(shown) and "s3cret" not in str(shown)
    assert masked("redis://redis:6379/0") == "redis://redis:6379/0"  # nothing secret in it


def test_the_command_refuses_a_wrong_value_before_starting():
    env = {**os.environ, "FACEGATE_WORKERS": "-2"}
    done = subprocess.run([sys.executable, "-m", "services.cli.main", "settings"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "FACEGATE_WORKERS='-2'" in done.stderr
    assert "greater than or equal to 0" in done.stderr


def test_a_password_file_goes_into_its_url(monkeypatch: pytest.MonkeyPatch, tmp_path):
    (tmp_path / "redis").write_text("s3cret/+@\n")
    monkeypatch.setenv("FACEGATE_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("FACEGATE_REDIS_PASSWORD_FILE", str(tmp_path / "redis"))
    monkeypatch.setenv("FACEGATE_DATABASE_URL", "postgresql://facegate@db:5432/facegate")
    monkeypatch.setenv("FACEGATE_DATABASE_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "FACEGATE_DATABASE_PASSWORD_FILE" in str(caught.value)
    assert "cannot read" in str(caught.value)
    monkeypatch.delenv("FACEGATE_DATABASE_PASSWORD_FILE")
    settings = load_settings()
    assert settings.redis_url == "redis://:s3cret%2F%2B%40@redis:6379/0"
    assert "s3cret" not in masked(settings.redis_url)
