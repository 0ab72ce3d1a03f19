"""Reading an uploaded adapter archive (``.tar.gz`` or ``.zip``) safely, into memory, before anything is
stored: no absolute paths, no ``..``, no links or devices, and limits on the archive, on each member and
on the unpacked total (zip bombs). Files may sit at the top level or in one top folder."""

import io
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from tutorbook_common.errors import BadRequestError, PayloadTooLargeError


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

    def take(self, name: str, size: int) -> None:
        """Count a member of the declared ``size``."""
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveError(f"the archive has more than {self.limits.max_members} members", param="file")
        self.grow(name, size)

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


def read_tar(data: bytes, budget: Budget) -> dict[PurePosixPath, bytes]:
    files: dict[PurePosixPath, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for member in archive:
                path = member_path(member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ArchiveError(f"archive member {member.name!r} is a link or a device", param="file")
                budget.take(member.name, member.size)
                extracted = archive.extractfile(member)
                content = extracted.read(budget.limits.max_member_bytes + 1) if extracted else b""
                budget.grow(member.name, max(0, len(content) - member.size))  # a header that lied
                files[path] = content
    except tarfile.TarError as exc:
        raise ArchiveError(f"not a readable tar archive: {exc}", param="file") from exc
    return files


def read_zip(data: bytes, budget: Budget) -> dict[PurePosixPath, bytes]:
    files: dict[PurePosixPath, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                path = member_path(info.filename)
                if info.is_dir():
                    continue
                kind = (info.external_attr >> 16) & 0o170000
                if kind and kind != 0o100000:  # symlinks and devices carry their type in the Unix mode
                    raise ArchiveError(f"archive member {info.filename!r} is a link or a device", param="file")
                budget.take(info.filename, info.file_size)
                with archive.open(info) as member:
                    content = member.read(budget.limits.max_member_bytes + 1)
                budget.grow(info.filename, max(0, len(content) - info.file_size))
                files[path] = content
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"not a readable zip archive: {exc}", param="file") from exc
    return files


def read_archive(data: bytes, limits: ArchiveLimits) -> dict[str, bytes]:
    """The archive's files by name; raises a 4xx naming the problem."""
    if len(data) > limits.max_archive_bytes:
        raise PayloadTooLargeError(f"the archive is larger than {limits.max_archive_bytes} bytes", param="file")
    budget = Budget(limits)
    if data[:2] == b"PK":
        files = read_zip(data, budget)
    elif data[:2] == b"\x1f\x8b" or data[257:262] == b"ustar":
        files = read_tar(data, budget)
    else:
        raise ArchiveError("the upload must be a .tar.gz or a .zip of the adapter folder", param="file")
    if not files:
        raise ArchiveError("the archive is empty", param="file")
    return strip_top_folder(files)
