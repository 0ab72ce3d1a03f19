"""An uploaded archive is read from its temporary file only as far as each check needs: never whole into
memory before it is known to be an archive within the limits."""

import io
import struct

import pytest

from tutorbook_gateway.adapters.archive import ArchiveLimits, read_archive
from tutorbook_service.errors import BadRequestError

LIMITS = ArchiveLimits(max_members=64, max_archive_bytes=100_000_000, max_member_bytes=1000, max_total_bytes=2000)
UPLOAD_BYTES = 30_000_000


class CountingFile(io.BytesIO):
    """An upload's temporary file that counts the bytes read out of it."""

    def __init__(self, content: bytes) -> None:
        super().__init__(content)
        self.bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_a_large_upload_that_is_no_archive_is_refused_after_its_first_bytes() -> None:
    upload = CountingFile(b"\0" * UPLOAD_BYTES)
    with pytest.raises(BadRequestError, match=r"must be a \.tar\.gz or a \.zip"):
        read_archive(upload, LIMITS)
    assert upload.bytes_read <= 262


def test_a_large_zip_declaring_too_many_entries_is_refused_from_its_end_record() -> None:
    end_record = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0, 0, 0)
    upload = CountingFile(b"PK" + b"\0" * UPLOAD_BYTES + end_record)
    with pytest.raises(BadRequestError, match="more than 64 members"):
        read_archive(upload, LIMITS)
    assert upload.bytes_read <= 262 + 65_557
