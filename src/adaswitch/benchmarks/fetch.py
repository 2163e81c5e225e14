"""Download the byte-identical benchmark files of a manifest, each verified against its sha256.

A file is streamed into a temporary file in the destination, hashed on the way, and moved into place
(``os.replace``) only when its size and sha256 match; otherwise the temporary file is removed, so a
failed download leaves nothing behind. A file already in place with the right sha256 is skipped; one
in place with other content is an error, never overwritten. Derived files are reported, not fetched.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from adaswitch import __version__
from adaswitch.benchmarks.sources import RAW_BASE_URL, DataFile
from adaswitch.digest import sha256_of_file

_BLOCK = 1024 * 1024

Outcome = Literal["fetched", "present", "derived", "failed"]


class FetchError(RuntimeError):
    """One file could not be fetched; the message is one line and names the file."""


@dataclass(frozen=True)
class FetchResult:
    file: DataFile
    outcome: Outcome
    message: str


def fetch_file(file: DataFile, dest: Path, base_url: str = RAW_BASE_URL, timeout: float = 60.0) -> Path:
    """Download ``file`` into ``dest/<file.path>`` and return that path (FetchError on any failure)."""
    if not file.fetchable:
        raise FetchError(f"{file.path}: derived by the project's maintainers; it cannot be downloaded")
    target = dest / file.path
    url = file.url(base_url)
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=dest)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            size, digest = _download(url, out, file, timeout)
        if size != file.size or digest != file.sha256:
            raise FetchError(f"{file.path}: download from {url} does not match the manifest "
                             f"(got {size} bytes, sha256 {digest}; expected {file.size} bytes, sha256 "
                             f"{file.sha256}); nothing was written")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _download(url: str, out: BinaryIO, file: DataFile, timeout: float) -> tuple[int, str]:
    """Stream ``url`` into ``out``; (bytes, sha256). Stops early once past the expected size."""
    request = urllib.request.Request(url, headers={"User-Agent": f"adaswitch/{__version__}"})
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
            for block in iter(lambda: response.read(_BLOCK), b""):
                size += len(block)
                if size > file.size:
                    raise FetchError(f"{file.path}: download from {url} is larger than the expected "
                                     f"{file.size} bytes; nothing was written")
                digest.update(block)
                out.write(block)
    except urllib.error.HTTPError as error:
        raise FetchError(f"{file.path}: HTTP {error.code} {error.reason} from {url}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        raise FetchError(f"{file.path}: cannot download {url}: {reason}") from None
    return size, digest.hexdigest()


def derived_note(file: DataFile) -> str:
    """What to do about a derived file: where its upstream is and who made it."""
    return (f"{file.path}: not downloadable: derived by the project's maintainers from "
            f"{file.upstream.reference} ({file.upstream.web_url}): {file.derived}. Get the file "
            f"(sha256 {file.sha256}) from the project's maintainers and put it at <data dir>/{file.path}")


def fetch_all(files: Iterable[DataFile], dest: Path, base_url: str = RAW_BASE_URL,
              timeout: float = 60.0) -> list[FetchResult]:
    """Fetch every fetchable file into ``dest``; one result per file, failures included (no raise)."""
    results = []
    for file in files:
        target = dest / file.path
        if not file.fetchable:
            state = "verified" if target.is_file() and sha256_of_file(target) == file.sha256 else None
            message = f"{file.path}: present and verified" if state else derived_note(file)
            results.append(FetchResult(file, "present" if state else "derived", message))
            continue
        if target.exists():
            if target.is_file() and sha256_of_file(target) == file.sha256:
                results.append(FetchResult(file, "present", f"{file.path}: present and verified"))
            else:
                results.append(FetchResult(file, "failed", f"{file.path}: {target} exists but its sha256 is "
                                                           "not the manifest's; remove it to fetch it again"))
            continue
        try:
            fetch_file(file, dest, base_url, timeout)
        except FetchError as error:
            results.append(FetchResult(file, "failed", str(error)))
        else:
            results.append(FetchResult(file, "fetched", f"{file.path}: fetched and verified from {file.url(base_url)}"))
    return results
