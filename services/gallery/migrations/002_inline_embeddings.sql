-- A vector(512) is 2,056 bytes, just over PostgreSQL's 2 KB TOAST threshold, so by default
-- each embedding is moved out of line and every distance computation first fetches it from the
-- TOAST table. PLAIN keeps it in the row (a face row is about 2.2 KB, well inside a page).
-- Rows written before this migration stay toasted until rewritten (VACUUM FULL faces).
ALTER TABLE faces ALTER COLUMN embedding SET STORAGE PLAIN;
