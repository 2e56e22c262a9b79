"""The forms an ingestion request may take, each turned into items (the core's NewItem):

- JSON `{"items": [{"image" | "image_url", "tag", "key", "person_id"}, ...]}`, or
  `{"urls": [...]}`
- JSON lines (`application/x-ndjson`): one item object per line
- a CSV of URLs (`text/csv`): a header naming `url` and optionally `tag`, `key` and
  `person_id`
- a tar (plain, gzip, bzip2 or xz) or zip of photos: the request body (`application/x-tar`,
  `application/gzip`, `application/zip`), or the `archive` part of a multipart form with an
  optional `manifest` part, a CSV with `file` and optionally `tag`, `key` and `person_id`
  (the group's person the face joins). A photo's tag
  defaults to its path in the archive (cut to 128 bytes). Archives are read within the limits
  of archives.py.

Only cheap checks run here: inline images are base64-decoded and their headers probed (a
non-image becomes a `bad_image` outcome at once); URLs are checked for their scheme and
fetched later by the workers. An item's key defaults to the SHA-256 of its image, or of
"url:" and its URL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from gateway.contract import Fields
from gateway.dialects.native.archives import ArchiveLimits, archive_files
from services.recognition import persons
from services.recognition.catalogue import MAX_TAG_BYTES, NewItem
from shared.errors import ERRORS, FaceError
from shared.images import PHOTO_SUFFIXES, SizeLimit, b64decode, content_key, probe, url_key
from shared.urlfetch import url_target

MAX_KEY_CHARS = 256


def _invalid(message: str) -> FaceError:
    return FaceError(ERRORS.PARAM_INVALID, message)


def _key(given: object, index: int) -> str | None:
    if given in (None, ""):
        return None
    key = str(given)
    if len(key) > MAX_KEY_CHARS or "\x00" in key:
        raise _invalid(f"item {index}: key must be at most {MAX_KEY_CHARS} characters")
    return key


def _tag(given: object, index: int) -> str:
    tag = "" if given is None else str(given)
    if len(tag.encode()) > MAX_TAG_BYTES or "\x00" in tag:
        raise _invalid(f"item {index}: tag is over {MAX_TAG_BYTES} bytes")
    return tag


def _person(given: object, index: int) -> str | None:
    """An item's person_id (the group's person its face joins), checked by the core's rule;
    that the group has it is checked when the job is submitted."""
    if given in (None, ""):
        return None
    return persons.person_id(str(given), f"item {index}: person_id")


def inline_item(data: bytes | None, error: FaceError | None, tag: str, key: str | None,
                person: str | None = None) -> NewItem:
    """A photo sent in the request (probed by items_from, once the items are known)."""
    key = key or content_key(data or b"")
    if error is not None:
        return NewItem(key, tag, status="bad_image", error=error.to_dict(), person=person)
    return NewItem(key, tag, image=data, person=person)


def url_item(url: str, tag: str, key: str | None, person: str | None = None) -> NewItem:
    url = url.strip()
    key = key or url_key(url)
    try:
        url_target(url)  # its scheme, host and port; the addresses are checked when fetched
    except FaceError as exc:
        return NewItem(key, tag, status="bad_image", error=exc.to_dict(), person=person)
    return NewItem(key, tag, url=url, person=person)


def _object_item(item: object, index: int) -> NewItem:
    if not isinstance(item, dict):
        raise _invalid(f"item {index} must be an object")
    tag, key = _tag(item.get("tag"), index), _key(item.get("key"), index)
    person = _person(item.get("person_id"), index)
    image, url = item.get("image"), item.get("image_url")
    if isinstance(image, str) and image.strip():
        try:
            return inline_item(b64decode(image), None, tag, key, person)
        except FaceError as exc:
            return inline_item(None, exc, tag, key, person)
    if isinstance(url, str) and url.strip():
        return url_item(url, tag, key, person)
    return inline_item(None, FaceError(ERRORS.PARAM_MISSING, "image or image_url is required"),
                       tag, key, person)


def _csv_rows(data: bytes, what: str) -> list[dict[str, str]]:
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _invalid(f"{what} is not a UTF-8 CSV: {exc}") from None
    return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            for row in rows]


def _url_csv(data: bytes) -> Iterator[NewItem]:
    rows = _csv_rows(data, "the CSV")
    if rows and "url" not in rows[0]:
        raise _invalid("the CSV needs a header with a `url` column (and optionally tag, key, "
                       "person_id)")
    for index, row in enumerate(rows):
        yield url_item(row["url"], _tag(row.get("tag"), index), _key(row.get("key"), index),
                       _person(row.get("person_id"), index))


def _json_lines(data: bytes) -> Iterator[NewItem]:
    for index, line in enumerate(line for line in data.splitlines() if line.strip()):
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            raise _invalid(f"line {index + 1} is not a JSON object") from None
        yield _object_item(item, index)


def _archive(data: bytes, manifest: bytes | None, limits: ArchiveLimits) -> Iterator[NewItem]:
    listed: dict[str, dict[str, str]] | None = None
    if manifest:
        rows = _csv_rows(manifest, "manifest")
        if rows and "file" not in rows[0]:
            raise _invalid("manifest needs a header with a `file` column (and tag, key, "
                           "person_id)")
        listed = {row["file"]: row for row in rows}
    index = 0
    for path, content in archive_files(data, limits):
        name = path.rsplit("/", 1)[-1]
        if listed is None and (name.startswith(".") or not name.lower().endswith(
                PHOTO_SUFFIXES)):
            continue  # without a manifest, photos are the files named like photos
        if listed is not None and path not in listed:
            continue
        row = (listed or {}).get(path, {})
        tag = row.get("tag") or path.encode()[:MAX_TAG_BYTES].decode("utf-8", "ignore")
        yield inline_item(content, None, _tag(tag, index), _key(row.get("key"), index),
                          _person(row.get("person_id"), index))
        index += 1


def _probed(item: NewItem, size: SizeLimit) -> NewItem:
    """A photo that is no image, or too large, is judged at once (bad_image)."""
    if item.image is None:
        return item
    try:
        probe(item.image, size)
    except FaceError as exc:
        return NewItem(item.key, item.tag, status="bad_image", error=exc.to_dict(),
                       person=item.person)
    return item


class BulkInput(Fields):
    """The parameters of an ingestion request: one of its forms (the module's docstring)."""

    items: list[Any] | str | None = Field(None, description='JSON: [{"image" | "image_url", '
                                          '"tag", "key", "person_id"}, ...]')
    urls: list[str] | str | None = Field(None, description="JSON: a list of image URLs")
    archive: bytes | None = Field(None, description="multipart: a tar, tar.gz or zip of "
                                  "photos")
    manifest: bytes | None = Field(None, description="multipart: a CSV with file, tag, key, "
                                   "person_id")
    body: bytes | None = Field(None, exclude=True)  # a raw body: archive, JSON lines or CSV


def _listed(value: list | str, refusal: str) -> list:
    """A JSON list, sent as one or as its text (a form field)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, list):
        raise _invalid(refusal)
    return value


def items_from(params: BulkInput, content_type: str, limit: int, size: SizeLimit,
               archive: ArchiveLimits) -> Iterator[NewItem]:
    """The request's items (at least one, at most `limit`), in order, each photo's header
    checked against `size`, an archive read within `archive`'s limits. Lazily: an archive's
    photos are read one at a time as the caller takes them (a refusal can come mid-way: the
    caller stores nothing until the end)."""
    body = params.body
    if params.archive:
        found = _archive(params.archive, params.manifest or None, archive)
    elif body and content_type in ("application/x-ndjson", "application/jsonl"):
        found = _json_lines(body)
    elif body and content_type == "text/csv":
        found = _url_csv(body)
    elif body:
        found = _archive(body, None, archive)
    elif params.items is not None:
        listed = _listed(params.items, "items must be a JSON list")
        found = (_object_item(item, index) for index, item in enumerate(listed))
    elif params.urls is not None:
        listed = _listed(params.urls, "urls must be a JSON list of strings")
        if not all(isinstance(u, str) for u in listed):
            raise _invalid("urls must be a JSON list of strings")
        found = (url_item(url, "", None) for url in listed)
    else:
        raise FaceError(ERRORS.PARAM_MISSING, "items, urls, an archive, JSON lines or a CSV of "
                                              "URLs is required")
    return _counted(found, limit, size)


def _counted(found: Iterator[NewItem], limit: int, size: SizeLimit) -> Iterator[NewItem]:
    count = 0
    for item in found:
        count += 1
        if count > limit:
            raise _invalid(f"at most {limit} items per request (FACEGATE_INGEST_MAX_ITEMS); "
                           "split the load into several jobs")
        yield _probed(item, size)
    if not count:
        raise FaceError(ERRORS.PARAM_MISSING, "no items (an archive needs photos named "
                                              "*.jpg, *.png, ... or a manifest)")
