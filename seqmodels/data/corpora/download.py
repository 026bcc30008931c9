"""Opt-in downloads, verified by checksum, into the cache folder.

Only ever called when a corpus is built with ``download=True``; tests never download (the
machines have no network). A file is fetched to a temporary name beside its destination, its
SHA-256 (or, where only that is published, its git blob id) is checked, and only then is it
renamed into place. A mismatch deletes the download and raises.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..cache import resolve_cache_dir


@dataclass(frozen=True)
class Remote:
    """One public file: where to fetch it, the local name, and its checksum."""

    url: str
    filename: str
    sha256: str | None = None
    git_blob_sha1: str | None = None

    def __post_init__(self) -> None:
        if not self.sha256 and not self.git_blob_sha1:
            raise ValueError(f"{self.filename}: a Remote needs sha256 or git_blob_sha1 to verify the download")


def git_blob_sha1(path: Path) -> str:
    """``git hash-object path``: SHA-1 of ``b"blob <size>\\0" + content``."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, remote: Remote) -> None:
    """Raise ``ValueError`` unless ``path`` has ``remote``'s checksum(s)."""
    if remote.sha256:
        got = sha256_file(path)
        if got != remote.sha256:
            raise ValueError(f"{remote.url}: sha256 {got} does not match the expected {remote.sha256}")
    if remote.git_blob_sha1:
        got = git_blob_sha1(path)
        if got != remote.git_blob_sha1:
            raise ValueError(f"{remote.url}: git blob id {got} does not match the expected {remote.git_blob_sha1}")


def fetch(remote: Remote, folder: Path, timeout: float = 60.0) -> Path:
    """``folder/remote.filename``, downloaded and verified unless already there and valid."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / remote.filename
    if dest.is_file():
        verify(dest, remote)
        return dest
    fd, tmp = tempfile.mkstemp(prefix=f".{remote.filename}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=timeout) as response:  # noqa: S310
            shutil.copyfileobj(response, out, 1 << 20)
        verify(Path(tmp), remote)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dest


def download_corpus(name: str, remotes: list[Remote], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Fetch every file of a corpus into ``<cache>/downloads/<name>/`` and return that folder."""
    folder = resolve_cache_dir(cache_dir) / "downloads" / name
    for remote in remotes:
        fetch(remote, folder)
    return folder
