-- Thumbnails (issue 16): a small JPEG of each enrolled face (upright, square, with a margin),
-- made by the worker at enrolment so a gallery can be reviewed by eye in the console.
-- NULL where thumbnails are off (FACEGATE_THUMBNAIL_SIZE=0) or the face predates them.
ALTER TABLE faces ADD COLUMN IF NOT EXISTS thumbnail bytea;
