"""Reading an uploaded adapter archive (``.tar.gz`` or ``.zip``, streamed to a temporary file) safely,
its members into memory, before anything is stored: no absolute paths, no ``..``, no links or devices,
and limits on the archive, on the number of members (folders included), on each member and on the
unpacked total (zip bombs). Everything is bounded before it is read: a tar is decompressed through a
counter (its long-name and PAX headers included), a zip's central directory is sized from its end
record before it is parsed. Files may sit at the top level or in one top folder. Blocking work: call it
in a worker thread."""

import gzip
import io
import struct
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

from tutorbook_service.errors import BadRequestError, PayloadTooLargeError


@dataclass(frozen=True)
class ArchiveLimits:
    max_archive_bytes: int
    max_member_bytes: int
    max_total_bytes: int
    max_members: int = 64


class ArchiveError(BadRequestError):
    code = "invalid_archive"


def member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or "\\" in name:
        raise ArchiveError(f"archive member {name!r} has an absolute or Windows path", param="file")
    if any(part == ".." for part in path.parts):
        raise ArchiveError(f"archive member {name!r} leaves the archive ('..')", param="file")
    return path


def strip_top_folder(files: dict[PurePosixPath, bytes]) -> dict[str, bytes]:
    """Files at the top level, or all inside one top folder: either way, name -> content."""
    tops = {path.parts[0] for path in files}
    nested = all(len(path.parts) > 1 for path in files)
    if nested and len(tops) == 1:
        files = {PurePosixPath(*path.parts[1:]): data for path, data in files.items()}
    deep = [str(path) for path in files if len(path.parts) > 1]
    if deep:
        raise ArchiveError(f"the adapter's files must be at the archive's top level or in one folder: {deep[:3]}")
    return {str(path): data for path, data in files.items()}


class Budget:
    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.total = 0
        self.members = 0

    def count(self) -> None:
        """Count a member (a folder too)."""
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveError(f"the archive has more than {self.limits.max_members} members", param="file")

    def grow(self, name: str, size: int) -> None:
        """Count ``size`` more unpacked bytes of member ``name``."""
        self.total += size
        if size > self.limits.max_member_bytes:
            raise PayloadTooLargeError(
                f"archive member {name!r} unpacks to more than {self.limits.max_member_bytes} bytes", param="file"
            )
        if self.total > self.limits.max_total_bytes:
            raise PayloadTooLargeError(
                f"the archive unpacks to more than {self.limits.max_total_bytes} bytes", param="file"
            )


class BoundedReader(io.RawIOBase):
    """A stream that refuses to give more than ``limit`` bytes: a tar's headers (long names, PAX records)
    are read whole by tarfile, so the decompressed stream itself is what must be bounded."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream, self._left = stream, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(min(len(buffer), self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise PayloadTooLargeError("the archive unpacks to more than its limit allows", param="file")
        buffer[: len(data)] = data
        return len(data)


def read_tar(upload: IO[bytes], compressed: bool, budget: Budget) -> dict[PurePosixPath, bytes]:
    files: dict[PurePosixPath, bytes] = {}
    raw: Any = gzip.GzipFile(fileobj=upload, mode="rb") if compressed else upload
    headers_allowance = 1024 * 1024  # tar headers and padding beside the members' own bytes
    stream = io.BufferedReader(BoundedReader(raw, budget.limits.max_total_bytes + headers_allowance))
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                budget.count()
                path = member_path(member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ArchiveError(f"archive member {member.name!r} is a link or a device", param="file")
                budget.grow(member.name, member.size)
                extracted = archive.extractfile(member)
                content = extracted.read(budget.limits.max_member_bytes + 1) if extracted else b""
                budget.grow(member.name, max(0, len(content) - member.size))  # a header that lied
                files[path] = content
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"not a readable tar archive: {exc}", param="file") from exc
    return files


def zip_entries(archive: IO[bytes], size: int) -> int:
    """How many entries the zip's end-of-central-directory record declares (read before parsing it)."""
    archive.seek(max(0, size - 65_557))
    tail = archive.read()
    archive.seek(0)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(tail):
        raise ArchiveError("not a readable zip archive: no end of central directory", param="file")
    (entries,) = struct.unpack("<H", tail[end + 10 : end + 12])
    return int(entries)


def read_zip(upload: IO[bytes], size: int, budget: Budget) -> dict[PurePosixPath, bytes]:
    files: dict[PurePosixPath, bytes] = {}
    if zip_entries(upload, size) > budget.limits.max_members:  # 0xFFFF (ZIP64) too: no adapter needs it
        raise ArchiveError(f"the archive has more than {budget.limits.max_members} members", param="file")
    try:
        with zipfile.ZipFile(upload) as archive:
            for info in archive.infolist():
                budget.count()
                path = member_path(info.filename)
                if info.is_dir():
                    continue
                kind = (info.external_attr >> 16) & 0o170000
                if kind and kind != 0o100000:  # symlinks and devices carry their type in the Unix mode
                    raise ArchiveError(f"archive member {info.filename!r} is a link or a device", param="file")
                budget.grow(info.filename, info.file_size)
                with archive.open(info) as member:
                    content = member.read(budget.limits.max_member_bytes + 1)
                budget.grow(info.filename, max(0, len(content) - info.file_size))
                files[path] = content
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"not a readable zip archive: {exc}", param="file") from exc
    return files


def read_archive(archive: IO[bytes], limits: ArchiveLimits) -> dict[str, bytes]:
    """The files of the archive in ``archive`` (a seekable file: an upload is streamed to disk, never
    held whole in memory) by name; raises a 4xx naming the problem."""
    size = archive.seek(0, io.SEEK_END)
    if size > limits.max_archive_bytes:
        raise PayloadTooLargeError(f"the archive is larger than {limits.max_archive_bytes} bytes", param="file")
    archive.seek(0)
    head = archive.read(262)
    archive.seek(0)
    budget = Budget(limits)
    if head[:2] == b"PK":
        files = read_zip(archive, size, budget)
    elif head[:2] == b"\x1f\x8b" or head[257:262] == b"ustar":
        files = read_tar(archive, head[:2] == b"\x1f\x8b", budget)
    else:
        raise ArchiveError("the upload must be a .tar.gz or a .zip of the adapter folder", param="file")
    if not files:
        raise ArchiveError("the archive is empty", param="file")
    return strip_top_folder(files)
