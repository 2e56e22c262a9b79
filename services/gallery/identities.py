"""The identity registry behind Baidu's person/verify: one photo per ID number and app. The only
writer of the `identities` table."""

from __future__ import annotations

import numpy as np
from psycopg_pool import AsyncConnectionPool

from services.gallery.records import Identity, vector_array
from shared.errors import ERRORS, FaceError


class Identities:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def put(self, app: int, id_card_number: str, name: str, vector: np.ndarray,
                  model: int) -> bool:
        """Add or replace a registered identity photo; True when it is new."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "INSERT INTO identities (app_id, id_card_number, name, model, embedding) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (app_id, id_card_number) DO UPDATE "
                "SET name = EXCLUDED.name, model = EXCLUDED.model, "
                "embedding = EXCLUDED.embedding, updated_at = now() RETURNING xmax = 0",
                (app, id_card_number, name, model, np.asarray(vector, np.float32)))).fetchone()
        return bool(row[0])

    async def get(self, app: int, id_card_number: str) -> Identity:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT id_card_number, name, model, embedding FROM identities "
                "WHERE app_id = %s AND id_card_number = %s", (app, id_card_number))).fetchone()
        if row is None:
            raise FaceError(ERRORS.IDENTITY_NOT_FOUND, f"{id_card_number} is not registered")
        return Identity(row[0], row[1], row[2], vector_array(row[3]))

    async def delete(self, app: int, id_card_number: str) -> None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM identities WHERE app_id = %s AND id_card_number = %s",
                (app, id_card_number))
        if not cur.rowcount:
            raise FaceError(ERRORS.IDENTITY_NOT_FOUND, f"{id_card_number} is not registered")
