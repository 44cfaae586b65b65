"""Mesh sources from Debian packages: fetched once with apt into a cache, only the folders used.

``fetch_package`` runs ``apt-get download PACKAGE`` in the cache folder and extracts the
given members with ``dpkg-deb --fsys-tarfile PACKAGE.deb | tar -x MEMBERS``, then deletes
the ``.deb``. A ``.complete`` file holding the ``.deb``'s name marks a finished extraction
(sources record it in meta.json); a ``.deb`` already in the folder is used without a download.
A source's `DebianTree` says which package, folders and option are its own (TORCS, FlightGear).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from latentscenes.errors import DataError

COMPLETE = ".complete"


def cache_dir() -> Path:
    """``$LATENTSCENES_CACHE`` or ``~/.cache/latentscenes``."""
    return Path(os.environ.get("LATENTSCENES_CACHE") or Path.home() / ".cache" / "latentscenes")


def fetch_package(package: str, folder: Path, members: list[str], size: str, how_to_get: str) -> None:
    """Download `package` with apt into `folder` and extract `members` (paths inside the package,
    e.g. ``usr/share/games/torcs/cars``) below `folder` (once). `size` (e.g. "about 330 MB") is
    printed before the download; `how_to_get` ends every error message."""
    if all((folder / member).exists() for member in members) and (folder / COMPLETE).is_file():
        return
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise DataError(f"cannot fetch {package}: apt-get/dpkg-deb are not available here; {how_to_get}")
    folder.mkdir(parents=True, exist_ok=True)
    debs = sorted(folder.glob(f"{package}_*.deb"))
    if not debs:
        print(f"downloading {package} ({size}) into {folder} with apt-get download ...", flush=True)
        result = subprocess.run(["apt-get", "download", package], cwd=folder, capture_output=True, text=True,
                                check=False)
        debs = sorted(folder.glob(f"{package}_*.deb"))
        if result.returncode != 0 or not debs:
            message = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no .deb appeared"]
            raise DataError(
                f"`apt-get download {package}` failed in {folder}: {message[0]} "
                f"(try `sudo apt-get update` first); or {how_to_get}"
            )
    deb = debs[-1]
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=folder))
    tops = sorted({Path(member).parts[0] for member in members})
    try:
        paths = " ".join(_quote(f"./{member}") for member in members)
        command = f"dpkg-deb --fsys-tarfile {_quote(deb)} | tar -x -C {_quote(staging)} {paths}"
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            detail = result.stderr.strip()[-300:]
            names = ", ".join(Path(member).name + "/" for member in members)
            raise DataError(f"{deb}: extracting {names} failed: {detail}; {how_to_get}")
        for top in tops:
            if (folder / top).exists():
                shutil.rmtree(folder / top)
            os.replace(staging / top, folder / top)
        (folder / COMPLETE).write_text(deb.name + "\n")
        deb.unlink()  # only the extracted members are kept
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve_package_root(
    root: str | Path | None, option: str, tree: Path, marker: Path, fetch, how_to_get: str
) -> Path:
    """The folder holding `marker`: `root` or its `tree` below it (an extracted ``.deb``); with no
    `root`, `fetch()` (the cached package tree, fetched with apt on first use). A `root` without
    either is refused in one line naming `option`."""
    if root is None:
        return fetch()
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"{option} {root} does not exist; {how_to_get}")
    for candidate in (root, root / tree):
        if (candidate / marker).is_dir():
            return candidate
    raise DataError(f"{option} {root} holds no {marker}/ folder (nor {tree / marker}); {how_to_get}")


@dataclass(frozen=True)
class DebianTree:
    """A source's tree inside a Debian package, and how a user names or gets it."""

    package: str  # e.g. "torcs-data"
    tree: Path  # the source's root inside the package, e.g. usr/share/games/torcs
    members: tuple[Path, ...]  # the folders below `tree` that are extracted; the first marks a tree
    cache: str  # the folder below `cache_dir()` the package is fetched into
    option: str  # the command-line option that names a tree, e.g. "--torcs-root"
    size: str  # printed before the download, e.g. "about 330 MB"
    how_to_get: str  # ends every error message

    def resolve(self, root: str | Path | None) -> Path:
        """The folder holding the first member: `root` or its `tree` below it; with no `root`, the
        cached package tree (fetched with apt on first use)."""
        return resolve_package_root(root, self.option, self.tree, self.members[0],
                                    lambda: self.fetch(cache_dir() / self.cache), self.how_to_get)

    def fetch(self, folder: Path) -> Path:
        """Download the package with apt into `folder` and extract the members there (once)."""
        members = [(self.tree / member).as_posix() for member in self.members]
        fetch_package(self.package, folder, members, self.size, self.how_to_get)
        return folder / self.tree

    def package_name(self, root: Path) -> str:
        """The ``.deb`` that `fetch` extracted `root` from (the folder above `tree`), else the package."""
        above = len(self.tree.parts) - 1
        fetched = fetched_deb(root.parents[above]) if len(root.parents) > above else None
        return fetched or self.package


def fetched_deb(folder: Path) -> str | None:
    """The name of the ``.deb`` that `fetch_package` extracted into `folder`, if any."""
    marker = folder / COMPLETE
    return marker.read_text().strip() if marker.is_file() else None


def _quote(path: str | Path) -> str:
    return shlex.quote(str(path))
