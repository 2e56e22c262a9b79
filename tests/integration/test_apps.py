"""The `facegate app` command against the real database, and the gateway honouring it."""

import json
import os
import subprocess
import sys
import time

import httpx


def _cli(stack, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FACEGATE_DATABASE_URL": stack.database_url}
    return subprocess.run([sys.executable, "-m", "services.cli.main", "app", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def _query(stack, key: str, secret: str) -> int:
    return httpx.post(f"{stack.base_url}/face/clustering/group/query",
                      data={"type": "queryByPage", "pageNumber": 1, "pageSize": 5},
                      headers={"app_id": key, "app_secret": secret}).json()["result"]


def test_app_create_list_rotate_revoke(stack):
    made = _cli(stack, "create", "cli-app", "--qps", "50")
    assert made.returncode == 0, made.stderr
    creds = json.loads(made.stdout)
    assert creds["qps"] == 50 and len(creds["secret"]) >= 40
    assert _query(stack, creds["api_key"], creds["secret"]) == 0
    assert _query(stack, "cli-app", creds["secret"]) == 0  # CloudWalk's app_id may be the name
    listed = _cli(stack, "list").stdout
    assert "cli-app" in listed and creds["api_key"] in listed and "active" in listed
    assert creds["secret"] not in listed  # only a hash is stored
    rotated = json.loads(_cli(stack, "rotate", "cli-app").stdout)
    assert rotated["api_key"] == creds["api_key"] and rotated["secret"] != creds["secret"]
    time.sleep(5.5)  # gateways re-read an app within 5 s
    assert _query(stack, creds["api_key"], creds["secret"]) == 4096
    assert _query(stack, creds["api_key"], rotated["secret"]) == 0
    assert _cli(stack, "revoke", "cli-app").returncode == 0
    time.sleep(5.5)
    assert _query(stack, creds["api_key"], rotated["secret"]) == 4096
    assert _cli(stack, "create", "cli-app").returncode != 0  # names stay unique
