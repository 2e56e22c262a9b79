"""Statements used by more than one function of the gallery's repositories."""

from services.gallery.records import GROUP_COLUMNS

LOCK_GROUP = f"SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = %s AND name = %s FOR UPDATE"
FACE_BY_KEY = "SELECT id FROM faces WHERE group_id = %s AND request_key = %s"
INSERT_FACE = ("INSERT INTO faces (app_id, group_id, user_id, model, embedding, box, quality, "
               "tag, image_sha256, request_key, thumbnail, region) "
               "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id")
COPY_USER_FACES = ("INSERT INTO faces (app_id, group_id, user_id, model, embedding, box, quality, "
                   "tag, image_sha256, thumbnail, region) SELECT app_id, %s, user_id, model, "
                   "embedding, box, quality, tag, image_sha256, thumbnail, region FROM faces "
                   "WHERE group_id = %s AND user_id = %s")
COUNT_UP = "UPDATE groups SET face_count = face_count + %s, updated_at = now() WHERE id = %s"

# A large group's own HNSW index. {id} is the group's integer primary key, never client text.
HNSW_INDEX = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS faces_hnsw_g{id} ON faces "
              "USING hnsw (embedding vector_cosine_ops) WHERE group_id = {id}")
MARK_INDEXED = "UPDATE groups SET indexed = true WHERE id = %s"
INDEX_LOCK = 0x494E4458  # "INDX": with the group id, one builder per group at a time
GROUPS_TO_INDEX = "SELECT id FROM groups WHERE NOT indexed AND face_count >= %s"
