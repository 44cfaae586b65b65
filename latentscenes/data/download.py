"""Downloading public datasets: resumable HTTP, checked archives, extraction to the SRN layout.

`download_dataset("srn-cars", out)` fetches `cars_train.zip` of Scene Representation
Networks, the ShapeNet car renderings the reference implementation trains on (its
`datasets/scripts/run_me.py` fetches the same Google Drive file with gdown), and extracts
it so that `out` is an SRN root (`out/<scene>/rgb`, `pose`, `intrinsics.txt`).

- The archive goes to `out/.download/<name>.part`; an interrupted transfer continues from
  there with an HTTP Range request (in the same call, up to `attempts` times, or in the
  next call). A server that ignores Range restarts the file from the start.
- Size: the bytes received must be the total the server announced (Content-Length or
  Content-Range). Checksum: a SHA-256 when one is given, and always the CRC-32 of every
  archive member before anything is extracted. A corrupt archive is deleted (the next call
  downloads it afresh) and nothing is extracted.
- Extraction goes to a temporary folder inside `out` and scenes are moved into place only
  once all of them are out, so a failed call leaves no half-written scenes.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from latentscenes.data.srn import is_srn_scene, list_srn_scenes
from latentscenes.errors import DataError

__all__ = ["DATASETS", "RemoteArchive", "download_dataset", "fetch", "extract_srn_archive"]

DOWNLOADS = ".download"
CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteArchive:
    """A dataset archive on the web: where it is and what the file is called."""

    url: str
    filename: str
    description: str


DATASETS = {
    "srn-cars": RemoteArchive(
        url="https://drive.usercontent.google.com/download?id=1bThUNtIHx4xEQyffVBSf82ABDDh2HlFn&export=download&confirm=t",
        filename="cars_train.zip",
        description="ShapeNet cars rendered by Scene Representation Networks (cars_train.zip, the reference's data)",
    ),
}


class Unreachable(DataError):
    """The host could not be contacted at all (no route, no DNS, refused)."""


def download_dataset(
    name: str,
    out: Path,
    url: str | None = None,
    archive: Path | None = None,
    sha256: str | None = None,
    attempts: int = 3,
    timeout: float = 30.0,
    report: Callable[[str], None] = print,
) -> list[Path]:
    """Fetch dataset `name` (from `url`, default its own) or take the local `archive`, check
    it, and extract its scenes into `out` (empty or absent). Returns the scene folders."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: known are {', '.join(sorted(DATASETS))}")
    source = DATASETS[name]
    out = Path(out)
    leftovers = sorted(p.name for p in out.iterdir() if p.name != DOWNLOADS) if out.is_dir() else []
    if leftovers:
        raise DataError(f"{out} is not empty ({', '.join(leftovers[:3])}...): give a new or empty folder")
    downloaded = archive is None
    if downloaded:
        archive = out / DOWNLOADS / source.filename
        report(f"downloading {source.description} to {archive}")
        try:
            fetch(url or source.url, archive, attempts=attempts, timeout=timeout, report=report)
        except Unreachable:
            for folder in (archive.parent, out):  # leave no empty folders behind
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            raise
    try:
        scenes = extract_srn_archive(Path(archive), out, sha256)
    except DataError:
        if downloaded:
            Path(archive).unlink(missing_ok=True)  # the next call downloads it afresh
        raise
    if downloaded:
        shutil.rmtree(out / DOWNLOADS)
    report(f"{len(scenes)} scenes in {out}")
    return scenes


def fetch(
    url: str, target: Path, attempts: int = 3, timeout: float = 30.0, report: Callable[[str], None] = print
) -> Path:
    """Download `url` to `target`, continuing `target.part` with Range requests. Raises
    `Unreachable` when the host cannot be contacted, `DataError` when the transfer keeps
    stopping short (the next call resumes it)."""
    target = Path(target)
    part = target.with_name(target.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file():
        return target
    total = None
    for _ in range(attempts):
        offset = part.stat().st_size if part.is_file() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
                offset, total = _start(response, offset)
                if offset:
                    report(f"resuming at {offset / 2**20:.1f} MB")
                with part.open("r+b" if offset else "wb") as file:
                    file.truncate(offset)
                    file.seek(offset)
                    shutil.copyfileobj(response, file, CHUNK)
        except urllib.error.HTTPError as error:
            if error.code == 416 and part.is_file():  # range past the end: our partial file is stale
                part.unlink()
                continue
            raise DataError(f"{url}: the server answered {error.code} {error.reason}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, (socket.timeout, ConnectionResetError)):
                continue
            raise Unreachable(f"cannot reach {urlsplit(url).hostname} ({error.reason}); fetch the archive "
                              "another way and pass it with --archive FILE") from None
        except (http.client.HTTPException, ConnectionError, TimeoutError):
            continue  # stopped short: resume from what arrived
        size = part.stat().st_size
        if total is None or size == total:
            part.rename(target)
            return target
        if size > total:
            part.unlink()
            raise DataError(f"{url}: received {size} bytes, more than the {total} announced; deleted, run again")
    received = part.stat().st_size if part.is_file() else 0
    of_total = f" of {total}" if total is not None else ""
    raise DataError(
        f"{url}: the transfer stopped at {received}{of_total} bytes {attempts} times; run the command again to resume"
    )


def _start(response: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
    """(where the body starts in the file, the file's total size or None) for a response
    to a request from `offset`."""
    if response.status == 206:
        content_range = response.headers.get("Content-Range", "")  # "bytes START-END/TOTAL"
        try:
            span, whole = content_range.split(" ", 1)[1].split("/")
            start = int(span.split("-")[0])
        except (IndexError, ValueError):
            raise DataError(f"unreadable Content-Range {content_range!r}") from None
        if start != offset:
            raise DataError(f"the server resumed at byte {start}, not {offset} as asked")
        return start, None if whole == "*" else int(whole)
    length = response.headers.get("Content-Length")
    return 0, None if length is None else int(length)


def extract_srn_archive(archive: Path, out: Path, sha256: str | None = None) -> list[Path]:
    """Check `archive` (a zip; `sha256` if given, every member's CRC) and move the SRN scenes
    it holds (at any depth of a single top folder) into `out`. Returns the scene folders."""
    if sha256 is not None:
        digest = _sha256(archive)
        if digest != sha256.lower():
            raise DataError(f"{archive}: SHA-256 is {digest}, expected {sha256.lower()}: the archive is corrupt")
    try:
        with zipfile.ZipFile(archive) as zipped:
            bad = zipped.testzip()
            if bad is not None:
                raise DataError(f"{archive}: member {bad} fails its CRC check: the archive is corrupt")
            for member in zipped.namelist():
                path = PurePosixPath(member)
                if path.is_absolute() or ".." in path.parts:
                    raise DataError(f"{archive}: member {member} would be written outside the dataset folder")
            out.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".extract-", dir=out) as tmp:
                zipped.extractall(tmp)
                scenes = _scene_folders(Path(tmp), archive)
                for scene in scenes:
                    scene.rename(out / scene.name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        raise DataError(f"{archive}: not a readable zip archive ({error})") from None
    return list_srn_scenes(out)


def _scene_folders(root: Path, archive: Path) -> list[Path]:
    while not is_srn_scene(root) and len(children := [p for p in root.iterdir() if p.is_dir()]) == 1:
        root = children[0]
    scenes = list_srn_scenes(root) if root.is_dir() else []
    if not scenes:
        raise DataError(f"{archive}: holds no scenes in the SRN layout (<scene>/rgb, pose, intrinsics.txt)")
    return [root] if scenes == [root] else scenes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
