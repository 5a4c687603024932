"""Project files (``.ip2p``): a whole session in one zip.

Members, in this order: ``manifest.json`` (the session manifest with ``format: ip2p-project``),
``original.png``, ``nodes/<id>.png``, ``thumbs/<id>.png``. PNGs are stored, not deflated (they
are compressed already). The manifest comes first so that a truncated file (an interrupted
copy) still says which edits it should hold; reading falls back to scanning the local file
headers when the zip's central directory at the end is gone.

Member names are never taken from the file: they are derived from validated node ids, so a
crafted project cannot write outside the session folder.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import __version__
from ..atomic import atomic_output
from ..errors import ProjectFileError
from .store import FORMAT_VERSION, MANIFEST_NAME, NewerFormatError, check_format, file_sha256

PROJECT_FORMAT = "ip2p-project"
PROJECT_SUFFIX = ".ip2p"
_KNOWN_FORMATS = {PROJECT_FORMAT, "ip2p-session"}
_MAX_MANIFEST_BYTES = 64 << 20
_COPY_BLOCK = 1 << 20


def write_project(path: Path, manifest: dict[str, Any], files: list[tuple[str, Path]]) -> None:
    """Write the project atomically: either the complete new file is in place or the old one is.

    Raises ImageSaveError with a plain sentence (disk full, read-only folder, ...).
    """
    path = Path(path)
    body = dict(manifest, format=PROJECT_FORMAT, format_version=FORMAT_VERSION, app=f"IP2P Desktop {__version__}")
    body["saved"] = time.time()
    encoded = json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
    with atomic_output(path, what="the project") as temp:
        with zipfile.ZipFile(temp, "w", allowZip64=True, strict_timestamps=False) as archive:
            archive.writestr(MANIFEST_NAME, encoded, compress_type=zipfile.ZIP_DEFLATED)
            for member, source in files:
                archive.write(source, member, compress_type=zipfile.ZIP_STORED)


# --- reading -----------------------------------------------------------------------------------


@dataclass
class _LocalEntry:
    name: str
    method: int
    data_offset: int
    compressed_size: int
    crc: int


class _Archive:
    """Members of a project, through zipfile when intact, else through local-header scanning."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.salvaged = False
        self._zip: zipfile.ZipFile | None = None
        self._local: dict[str, _LocalEntry] = {}
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError as exc:
            raise ProjectFileError(f"The project file {path} does not exist.") from exc
        except IsADirectoryError as exc:
            raise ProjectFileError(f"{path} is a folder, not a project file; choose an .ip2p file.") from exc
        except PermissionError as exc:
            raise ProjectFileError(f"Cannot read the project file {path}: permission denied.") from exc
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            self.salvaged = True
            self._local = {entry.name: entry for entry in _scan_local_headers(path)}
            if not self._local:
                raise ProjectFileError(
                    f"{path.name} is not an IP2P project file or is too damaged to open."
                ) from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> "_Archive":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def names(self) -> set[str]:
        if self._zip is not None:
            return set(self._zip.namelist())
        return set(self._local)

    def read_small(self, name: str, limit: int = _MAX_MANIFEST_BYTES) -> bytes | None:
        """A member's bytes, or None when it is missing, damaged or larger than ``limit``."""
        chunks: list[bytes] = []
        total = 0
        try:
            for block in self._blocks(name):
                total += len(block)
                if total > limit:
                    return None
                chunks.append(block)
        except (KeyError, OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError):
            return None
        return b"".join(chunks)

    def extract(self, name: str, destination: Path) -> bool:
        """Copy a member to ``destination`` (atomically); False when it is missing or damaged."""
        try:
            with atomic_output(destination, what="the opened project's image") as temp:
                with open(temp, "wb") as out:
                    for block in self._blocks(name):
                        out.write(block)
        except (KeyError, ValueError, zipfile.BadZipFile, zlib.error, EOFError, _DamagedMember):
            return False
        return True

    def _blocks(self, name: str) -> Iterator[bytes]:
        # zipfile checks the CRC when the member is read to its end; a mismatch raises BadZipFile.
        if self._zip is not None:
            with self._zip.open(name) as member:
                while block := member.read(_COPY_BLOCK):
                    yield block
            return
        yield from _read_local(self.path, self._local[name])


class _DamagedMember(ValueError):
    pass


_LOCAL_SIGNATURE = b"PK\x03\x04"
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")


def _scan_local_headers(path: Path) -> Iterator[_LocalEntry]:
    """Walk the local file headers from the start of the file (central directory not needed)."""
    try:
        handle = open(path, "rb")
    except OSError:
        return
    with handle:
        size = os.fstat(handle.fileno()).st_size
        offset = 0
        while offset + _LOCAL_HEADER.size <= size:
            handle.seek(offset)
            header = handle.read(_LOCAL_HEADER.size)
            if len(header) < _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
                return
            (_, _, flags, method, _, _, crc, csize, _, name_len, extra_len) = _LOCAL_HEADER.unpack(header)
            raw_name = handle.read(name_len)
            extra = handle.read(extra_len)
            if csize == 0xFFFFFFFF:
                csize = _zip64_compressed_size(extra, csize)
            data_offset = offset + _LOCAL_HEADER.size + name_len + extra_len
            if flags & 0x08:
                # Sizes live in a trailing data descriptor; we never write those, so stop here.
                return
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
            if data_offset + csize <= size:
                yield _LocalEntry(name, method, data_offset, csize, crc)
            offset = data_offset + csize


def _zip64_compressed_size(extra: bytes, fallback: int) -> int:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 0x0001 and length >= 16:
            return struct.unpack_from("<Q", extra, pos + 12)[0]
        pos += 4 + length
    return fallback


def _read_local(path: Path, entry: _LocalEntry) -> Iterator[bytes]:
    if entry.method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _DamagedMember(entry.name)
    inflater = zlib.decompressobj(-15) if entry.method == zipfile.ZIP_DEFLATED else None
    crc = 0
    with open(path, "rb") as handle:
        handle.seek(entry.data_offset)
        left = entry.compressed_size
        while left > 0:
            block = handle.read(min(_COPY_BLOCK, left))
            if not block:
                raise _DamagedMember(entry.name)
            left -= len(block)
            if inflater is not None:
                block = inflater.decompress(block)
            crc = zlib.crc32(block, crc)
            yield block
        if inflater is not None:
            tail = inflater.flush()
            crc = zlib.crc32(tail, crc)
            yield tail
    if crc != entry.crc:
        raise _DamagedMember(entry.name)


@dataclass
class ProjectContents:
    """What :func:`read_project` found: the manifest and the member names that were intact."""

    manifest: dict[str, Any] | None
    extracted: set[str] = field(default_factory=set)
    salvaged: bool = False
    warnings: list[str] = field(default_factory=list)


def read_manifest(path: Path) -> dict[str, Any]:
    """Only the manifest of a project (for replaying its chain); ProjectFileError if unusable."""
    path = Path(path)
    with _Archive(path) as archive:
        manifest = _parse_manifest(archive, path)
    if manifest is None:
        raise ProjectFileError(
            f"The edit history in {path.name} is damaged; open the project in IP2P Desktop to recover its images."
        )
    return manifest


def _parse_manifest(archive: _Archive, path: Path) -> dict[str, Any] | None:
    raw = archive.read_small(MANIFEST_NAME)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if data.get("format") not in _KNOWN_FORMATS:
        raise ProjectFileError(f"{path.name} is not an IP2P project file.")
    try:
        check_format(data, f"project {path.name}")
    except NewerFormatError:
        raise
    except ProjectFileError:
        return None  # damaged: the caller rebuilds the history from the images
    return data


def read_project(
    path: Path,
    destination: Path,
    wanted: Callable[[dict[str, Any] | None, set[str]], list[tuple[str, str]]],
) -> ProjectContents:
    """Extract a project's members into ``destination``.

    ``wanted(manifest, member_names)`` returns ``(member, sha256)`` pairs to extract (the session
    layer decides, from validated node ids); a member is kept only if it reads back with a good
    CRC and, when given, the same sha256. Raises ProjectFileError for files that are not projects
    or come from a newer version; anything else damaged is reported in ``warnings``.
    """
    path = Path(path)
    with _Archive(path) as archive:
        manifest = _parse_manifest(archive, path)
        contents = ProjectContents(manifest=manifest, salvaged=archive.salvaged)
        if archive.salvaged:
            contents.warnings.append(f"{path.name} is damaged (incomplete or cut short); opened what was intact.")
        if manifest is None:
            contents.warnings.append(
                f"The edit history in {path.name} was unreadable; it was rebuilt from the images inside."
            )
        for member, sha256 in wanted(manifest, archive.names()):
            target = destination / member
            target.parent.mkdir(parents=True, exist_ok=True)
            ok = archive.extract(member, target)
            if ok and sha256 and file_sha256(target) != sha256:
                ok = False
                target.unlink(missing_ok=True)
            if ok:
                contents.extracted.add(member)
    return contents


def is_project_file(path: Path) -> bool:
    """Whether ``path`` looks like a project (by name, or a zip holding our manifest)."""
    path = Path(path)
    if path.suffix.lower() == PROJECT_SUFFIX:
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == _LOCAL_SIGNATURE
    except OSError:
        return False
