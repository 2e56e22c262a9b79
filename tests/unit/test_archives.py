"""Ingestion archives read within their budget: bombs of every kind refused before they
inflate past a limit, ordinary archives read whole (no service needed; small limits)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile

import pytest

from gateway.dialects.native.archives import ArchiveLimits, archive_files
from shared.errors import FaceError

MiB = 2**20
LIMITS = ArchiveLimits(entry_bytes=4 * MiB, total_bytes=10 * MiB, entries=50, ratio=100)


def _noise(size: int, seed: int = 0) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar(files: dict[str, bytes], compress=None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return compress(raw) if compress else raw


def _refused(data: bytes, words: str, limits: ArchiveLimits = LIMITS) -> None:
    with pytest.raises(FaceError) as caught:
        list(archive_files(data, limits))
    assert caught.value.kind.name == "PARAM_INVALID"
    assert words in caught.value.detail, caught.value.detail


@pytest.mark.parametrize("compress", [None, gzip.compress, bz2.compress, lzma.compress])
def test_ordinary_archives_are_read_whole(compress):
    files = {f"p/{k}.jpg": _noise(MiB, k) for k in range(3)}
    assert dict(archive_files(_tar(files, compress), LIMITS)) == files
    assert dict(archive_files(_zip(files), LIMITS)) == files


def test_a_zip_entry_that_inflates_past_the_entry_limit_is_refused():
    _refused(_zip({"a.jpg": bytes(8 * MiB)}), "FACEGATE_ARCHIVE_MAX_ENTRY_BYTES")


def test_a_zip_entry_that_lies_about_its_size_is_still_cut_off():
    honest = _zip({"a.jpg": bytes(8 * MiB)})
    # the central directory and local header say 1 MiB; the stream holds 8 MiB of zeros
    lying = honest.replace((8 * MiB).to_bytes(4, "little"), MiB.to_bytes(4, "little"))
    with pytest.raises(FaceError):  # zipfile stops at the stated size and the CRC fails
        list(archive_files(lying, ArchiveLimits(4 * MiB, 10 * MiB, 50, 10_000)))


def test_an_entry_within_the_size_limit_but_far_too_compressible_is_a_bomb():
    _refused(_zip({"a.jpg": bytes(3 * MiB)}), "FACEGATE_ARCHIVE_MAX_RATIO")


def test_a_gzip_tar_bomb_is_refused_by_its_header_before_inflating():
    bomb = _tar({"a.jpg": bytes(8 * MiB)}, gzip.compress)
    _refused(bomb, "would inflate", ArchiveLimits(4 * MiB, 10 * MiB, 50, 10**6))
    _refused(bomb, "FACEGATE_ARCHIVE_MAX_RATIO")  # and by its ratio, whichever comes first


def test_a_tar_whose_headers_inflate_past_a_file_limit_is_refused():
    # a pax header (a long name) tarfile would read whole into memory
    name = _noise(6 * MiB).hex()  # 12 MiB: past the 4 MiB limit and the read-ahead slack
    _refused(_tar({name: b"tiny"}, gzip.compress), "headers or skipped records")


def test_many_small_files_add_up_to_the_total_limit():
    files = {f"{k}.jpg": _noise(3 * MiB, k) for k in range(4)}
    _refused(_zip(files), "FACEGATE_ARCHIVE_MAX_BYTES")
    _refused(_tar(files), "FACEGATE_ARCHIVE_MAX_BYTES")


def test_entries_are_counted_from_the_end_record_before_the_directory_is_read():
    _refused(_zip({f"{k}.jpg": b"" for k in range(60)}), "60 entries")
    _refused(_tar({f"{k}.jpg": b"" for k in range(60)}), "FACEGATE_ARCHIVE_MAX_ENTRIES")


def test_damaged_archives_are_parameter_errors():
    _refused(_zip({"a.jpg": _noise(MiB)})[:-200], "zip")
    _refused(gzip.compress(b"not a tar at all" * 100), "not a tar")
