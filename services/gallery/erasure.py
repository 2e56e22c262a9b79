"""What deleting a face erases besides its row: the one place for that rule.

A face's row holds its embedding, box, tag, image digest, thumbnail, stored region and
idempotency key; deleting the row drops all of them, and its cluster memberships go by
cascade. What refers to a face from elsewhere, and would outlive it, is erased here, in the
deleting transaction, by the repositories' delete paths (faces.py: one face, a user's faces in
a group, a whole group):

- ingestion items (ingest_items): the item that enrolled the face, or found it again by its
  key, keeps its place in its job (index, status, outcome counts: a job's report stays true to
  what it did) but loses what identified the photo: its key, tag and URL (its image bytes were
  already dropped when the item was done), and its face id.
- clusters: a cluster left with no face loses its row, and with it the name it was given; a
  cluster that lost its representative gets another of its faces as one (so rows with no
  representative never pile up).

Redis holds no face: a synchronous call's result (which carries embeddings and thumbnails) is
deleted by the gateway once read, and one nobody reads expires within CALL_RESULT_KEEP_S
(workers/celery_app.py); ingestion and clustering tasks carry only references. A job's own
result (POST /v1/jobs) is the caller's answer about the photo they sent, and stays readable for
FACEGATE_RESULT_TTL whatever the gallery deletes.

Not reached from here: PostgreSQL keeps a deleted row's bytes in its data files until VACUUM
reuses the space, in its write-ahead log until the segment is recycled, and in any backup;
Redis in its append-only file until it is rewritten. Those are the operator's retention.
"""

from __future__ import annotations

# An enrolled item's link to its face, and what named the photo, go; its outcome stays.
_ERASE_ITEMS = ("UPDATE ingest_items SET key = NULL, tag = '', url = NULL, image = NULL, "
                "face_id = NULL WHERE face_id = ANY(%s)")
# The same for every enrolled item of a group's jobs (the group is going, and its faces).
_ERASE_GROUP_ITEMS = ("UPDATE ingest_items i SET key = NULL, tag = '', url = NULL, "
                      "image = NULL, face_id = NULL FROM ingest_jobs j WHERE j.id = i.job_id "
                      "AND j.app_id = %s AND j.group_name = %s AND i.face_id IS NOT NULL")
# Clusters whose representative was deleted (ON DELETE SET NULL) take their smallest face
# left; those with none left (still NULL) go, with their name.
_NEW_REPRESENTATIVES = (
    "UPDATE clusters k SET representative = (SELECT min(c.face_id) FROM face_clusters c "
    "WHERE c.run_id = k.run_id AND c.cluster = k.cluster) WHERE k.representative IS NULL")
_EMPTIED_CLUSTERS = "DELETE FROM clusters WHERE representative IS NULL"


async def erase_face_traces(conn, face_ids: list[int]) -> None:
    """After the faces' rows are deleted, in the same transaction: their ingestion items
    anonymised and the clusters they emptied gone."""
    if not face_ids:
        return
    await conn.execute(_ERASE_ITEMS, (face_ids,))
    await _tidy_clusters(conn)


def erase_face_traces_sync(conn, face_ids: list[int]) -> None:
    """erase_face_traces on a synchronous connection (the re-embedding swap's)."""
    if not face_ids:
        return
    conn.execute(_ERASE_ITEMS, (face_ids,))
    conn.execute(_NEW_REPRESENTATIVES)
    conn.execute(_EMPTIED_CLUSTERS)


async def group_members(conn, app: int, group: str) -> list[int]:
    """The users rows (persons) of a group, read before it is deleted."""
    rows = await (await conn.execute(
        "SELECT gu.user_id FROM group_users gu JOIN groups g ON g.id = gu.group_id "
        "WHERE g.app_id = %s AND g.name = %s", (app, group))).fetchall()
    return [row[0] for row in rows]


async def erase_group_traces(conn, app: int, group: str, members: list[int]) -> None:
    """After a group's row (and by cascade its faces, clusterings and memberships) is
    deleted, in the same transaction: the enrolled items of its ingestion jobs anonymised,
    and its persons (`members`, group_members) that are in no other group gone, with their
    ids and names."""
    await conn.execute(_ERASE_GROUP_ITEMS, (app, group))
    await drop_unheld_persons(conn, members)


async def drop_unheld_persons(conn, user_ids: list[int]) -> None:
    """Those persons (users rows) that are in no group any more go. Their rows are locked
    first: a call adding one to a group holds its row until it commits (users.claim_user),
    so the DELETE, whose snapshot is taken after the lock, sees that membership and keeps
    the person; a call that comes after finds no row and makes a new one. A group's deletion
    locks every member's row this way, in one statement, until it commits."""
    if not user_ids:
        return
    await conn.execute("SELECT id FROM users WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                       (user_ids,))
    await conn.execute("DELETE FROM users u WHERE id = ANY(%s) AND NOT EXISTS "
                       "(SELECT 1 FROM group_users WHERE user_id = u.id)", (user_ids,))


async def _tidy_clusters(conn) -> None:
    # Only rows whose representative is NULL are read (clusters_representative indexes them):
    # the ones this transaction's deletions left, and any a clustering saved after a face it
    # had snapshotted was deleted.
    await conn.execute(_NEW_REPRESENTATIVES)
    await conn.execute(_EMPTIED_CLUSTERS)
