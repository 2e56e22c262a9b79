"""Reading an ingestion archive (zip, tar, tar.gz, tar.bz2, tar.xz) within a budget.

Every file is inflated in chunks and counted as it comes, never trusted by its header: a file
over FACEGATE_ARCHIVE_MAX_ENTRY_BYTES, an archive over FACEGATE_ARCHIVE_MAX_BYTES inflated or
FACEGATE_ARCHIVE_MAX_ENTRIES entries, or a file (a compressed tar: the stream so far) that
inflates more than FACEGATE_ARCHIVE_MAX_RATIO times its compressed size is refused with
PARAM_INVALID, and the caller stores nothing. Memory: the archive's bytes, and one file at a
time. Compressed tars are inflated here, under the same count, so tarfile's own reads (a pax
header, a long name) cannot ask for more than a file may hold. The caller runs this off the
event loop (gateway/dialects/native/ingest.py).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from shared.errors import ERRORS, FaceError
from shared.settings import Settings

CHUNK = 1 << 20
RATIO_FROM = 1 << 20  # inflation ratios are judged once this much has come out (headers,
# padding and tiny files compress far better than photos and hold nothing)
_COMPRESSED = ((b"\x1f\x8b", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),
               (b"BZh", bz2.BZ2File), (b"\xfd7zXZ\x00", lzma.LZMAFile))


@dataclass(frozen=True)
class ArchiveLimits:
    entry_bytes: int
    total_bytes: int
    entries: int
    ratio: int

    @classmethod
    def of(cls, settings: Settings) -> ArchiveLimits:
        return cls(settings.archive_max_entry_bytes, settings.archive_max_bytes,
                   settings.archive_max_entries, settings.archive_max_ratio)


def _refused(message: str) -> FaceError:
    return FaceError(ERRORS.PARAM_INVALID, f"archive refused: {message}; nothing was stored")


class _Meter:
    """The archive's inflated bytes and entries so far, against the limits."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.inflated = 0
        self.entries = 0

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.entries:
            raise _refused(f"more than {self.limits.entries} entries "
                           "(FACEGATE_ARCHIVE_MAX_ENTRIES)")

    def grow(self, size: int) -> None:
        self.inflated += size
        if self.inflated > self.limits.total_bytes:
            raise _refused(f"it inflates to more than {self.limits.total_bytes} bytes "
                           "(FACEGATE_ARCHIVE_MAX_BYTES)")

    def ratio(self, inflated: int, compressed: int, what: str) -> None:
        if inflated >= RATIO_FROM and inflated > self.limits.ratio * max(compressed, 1):
            raise _refused(f"{what} inflates more than {self.limits.ratio} times its "
                           "compressed size (FACEGATE_ARCHIVE_MAX_RATIO): a decompression bomb")


def _read_file(stream: io.BufferedIOBase, name: str, meter: _Meter,
               compressed: int | None = None) -> bytes:
    """One file's bytes, read a chunk at a time; past the file's budget it is refused."""
    limit = meter.limits.entry_bytes
    chunks, size = [], 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise _refused(f"{name} inflates to more than {limit} bytes "
                           "(FACEGATE_ARCHIVE_MAX_ENTRY_BYTES)")
        meter.grow(len(chunk))
        if compressed is not None:
            meter.ratio(size, compressed, name)
        chunks.append(chunk)
    return b"".join(chunks)


def _zip_entries(data: bytes) -> int:
    """The entry count a zip's end record states (0 when there is none to read)."""
    try:
        end = zipfile._EndRecData(io.BytesIO(data))  # the record zipfile itself reads first
    except (OSError, ValueError, struct.error):
        return 0
    return int(end[zipfile._ECD_ENTRIES_TOTAL]) if end else 0


def _zip_files(data: bytes, meter: _Meter) -> Iterator[tuple[str, bytes]]:
    # The entry count from the end record, before zipfile reads the whole central directory
    # into objects (a small body can list millions of entries).
    declared = _zip_entries(data)
    if declared > meter.limits.entries:
        raise _refused(f"{declared} entries, more than {meter.limits.entries} "
                       "(FACEGATE_ARCHIVE_MAX_ENTRIES)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise FaceError(ERRORS.PARAM_INVALID, f"archive is not a readable zip: {exc}") from None
    with archive:
        for info in archive.infolist():
            meter.entry()
            if info.is_dir():
                continue
            if info.file_size > meter.limits.entry_bytes:  # said before inflating; checked after
                raise _refused(f"{info.filename} would inflate to {info.file_size} bytes "
                               "(FACEGATE_ARCHIVE_MAX_ENTRY_BYTES)")
            try:
                with archive.open(info) as stream:
                    yield info.filename, _read_file(stream, info.filename, meter,
                                                    info.compress_size)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError,
                    OSError, ValueError) as exc:  # a damaged, encrypted or odd entry
                raise FaceError(ERRORS.PARAM_INVALID,
                                f"archive entry {info.filename} is unreadable: {exc}") from None


class _Inflated(io.RawIOBase):
    """A compressed tar's inflated bytes, counted as they come out: the stream may not run
    ahead of the files read from it by more than a file may hold (tarfile's own reads of pax
    headers, long names and skipped members go through here too), nor pass the archive's
    total, nor inflate more than the ratio allows over the compressed bytes consumed."""

    def __init__(self, raw: io.BytesIO, opener, meter: _Meter) -> None:
        self.raw = raw
        self.inner = opener(raw)
        self.meter = meter
        self.out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        limits = self.meter.limits
        if len(buffer) > limits.entry_bytes + CHUNK:
            raise _refused(f"a record of {len(buffer)} bytes "
                           "(FACEGATE_ARCHIVE_MAX_ENTRY_BYTES)")
        data = self.inner.read(len(buffer))
        self.out += len(data)
        if self.out - self.meter.inflated > limits.entry_bytes + 4 * CHUNK:
            raise _refused("headers or skipped records inflate to more than "
                           f"{limits.entry_bytes} bytes (FACEGATE_ARCHIVE_MAX_ENTRY_BYTES)")
        self.meter.ratio(self.out, self.raw.tell(), "the compressed tar")
        buffer[:len(data)] = data
        return len(data)


def _tar_files(data: bytes, meter: _Meter) -> Iterator[tuple[str, bytes]]:
    raw = io.BytesIO(data)
    stream: io.BufferedIOBase = raw
    for magic, opener in _COMPRESSED:
        if data.startswith(magic):
            stream = io.BufferedReader(_Inflated(raw, opener, meter), CHUNK)
            break
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                meter.entry()
                if not member.isfile():
                    continue
                if member.size > meter.limits.entry_bytes:
                    raise _refused(f"{member.name} would inflate to {member.size} bytes "
                                   "(FACEGATE_ARCHIVE_MAX_ENTRY_BYTES)")
                yield member.name, _read_file(archive.extractfile(member), member.name, meter)
    except FaceError:
        raise
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error, ValueError) as exc:
        raise FaceError(ERRORS.PARAM_INVALID,
                        f"archive is not a tar, tar.gz, tar.bz2, tar.xz or zip: {exc}") from None


def archive_files(data: bytes, limits: ArchiveLimits) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of each regular file, in archive order, within `limits`; FaceError
    (PARAM_INVALID) for an archive that is none, is damaged or passes a limit."""
    meter = _Meter(limits)
    if zipfile.is_zipfile(io.BytesIO(data)):
        yield from _zip_files(data, meter)
    else:
        yield from _tar_files(data, meter)
