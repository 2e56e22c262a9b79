"""`facegate secrets DIR`: the deployment's passwords, made on first start and kept.

compose.yaml runs this once before anything else, into a volume only its own services mount,
so a stack never runs with a known password and the quick start stays one command. What it
makes (an existing file is never rewritten: a restart keeps the passwords):

- postgres_password: the PostgreSQL superuser's, read by the postgres container only
  (POSTGRES_PASSWORD_FILE; owner 999, the official image's postgres user, mode 0400);
- database_password: the `facegate` role's, the least-privileged role the gateway and the
  workers connect as (deploy/postgres/facegate-role.sh creates it);
- redis_password and redis.conf: Redis's password (FACEGATE_REDIS_PASSWORD_FILE for the
  gateway and workers) and the server's configuration (requirepass, a memory bound with
  noeviction, the append-only file), which the redis container reads.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

POSTGRES_UID = 999  # the postgres user of the official postgres / pgvector images

REDIS_CONF = """\
# made by `facegate secrets` on first start; FACEGATE_REDIS_MAXMEMORY sets the bound
requirepass {password}
maxmemory {maxmemory}
maxmemory-policy noeviction
appendonly yes
dir /data
"""


def _write(path: Path, text: str, mode: int, owner: int | None = None) -> None:
    if path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, mode)  # the umask may have narrowed it
    if owner is not None and os.geteuid() == 0:
        os.chown(path, owner, owner)


def ensure(directory: Path, redis_maxmemory: str = "1gb") -> list[str]:
    """Makes the missing files in `directory`; the names of those it made."""
    directory.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in directory.iterdir()}
    _write(directory / "postgres_password", secrets.token_hex(24), 0o400, POSTGRES_UID)
    # read by the services running as other users (the gateway's and worker's 65534, Redis's
    # 999): the volume is mounted into this stack's own containers only
    _write(directory / "database_password", secrets.token_hex(24), 0o444)
    _write(directory / "redis_password", secrets.token_hex(24), 0o444)
    password = (directory / "redis_password").read_text().strip()
    _write(directory / "redis.conf",
           REDIS_CONF.format(password=password, maxmemory=redis_maxmemory), 0o444)
    return sorted({p.name for p in directory.iterdir()} - before)
