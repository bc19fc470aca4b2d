"""The market history that ships with ramparts: where a data file is, that it is intact, and where it came from.

This package owns the lab's data *files* (the loaders that parse them live in
:mod:`ramparts.lab.history`). Beside this module:

* ``crash_windows/``, ``hourly/``, ``daily/``, ``funding/``, ``options/``, ``liquidations/`` and
  ``calibration/``: the real market history the commands and tests read, gzip-compressed;
* ``MANIFEST.json``: one entry per file: its logical ``path`` (the name the code asks for), the
  shipped ``file``, ``sha256`` of the shipped bytes, ``content_sha256`` of the original bytes, the
  ``source`` (public repository @ commit : path) and the ``terms``;
* ``PROVENANCE.md``: the same in prose, with each series' columns, units, range and sanity checks.

Lookup (:func:`data_path`), for a logical path such as ``"crash_windows/2020-03-12_black_thursday.csv.gz"``:

1. ``RAMPARTS_DATA``, when set, names a folder laid out the same way holding a user's own history: a
   file found there wins (as ``name``, ``name.gz`` or ``name`` without ``.gz``). If that folder has a
   ``SHA256SUMS`` file (``sha256  ./relative/path`` lines, as ``sha256sum`` writes) the file is
   checked against it.
2. Otherwise the file shipped in this package, whose SHA-256 is checked against the manifest the
   first time a process opens it (a corrupt or altered installation is refused, never read).
3. A file whose terms do not allow shipping it (the manifest's ``shipped: false``) is looked for in
   the download cache (``RAMPARTS_CACHE``, else ``$XDG_CACHE_HOME/ramparts/data``, else
   ``~/.cache/ramparts/data``), where :func:`fetch` (``ramparts data fetch``) puts it after checking
   the SHA-256 of what it downloaded.

Nothing is ever looked for outside these three places: a fresh clone needs nothing beside itself.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ramparts.errors import DataError

__all__ = [
    "PACKAGE_DIR",
    "DataFile",
    "cache_dir",
    "data_path",
    "fetch",
    "known",
    "manifest",
    "override_dir",
    "status",
    "verify_all",
]

#: The folder of the shipped files (this package).
PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DataFile:
    """One manifest entry.

    Attributes
    ----------
    path : str
        The logical name, relative to the data folder (what :func:`data_path` is asked for).
    file : str
        The shipped file's name relative to :data:`PACKAGE_DIR` (or, for a file that is not shipped,
        the name of the download).
    shipped : bool
        Whether the package holds the file (``False``: :func:`fetch` downloads it from ``url``).
    sha256 : str or None
        SHA-256 of the shipped bytes.
    content_sha256 : str
        SHA-256 of the original file's bytes (decompressed).
    description, source, terms : str
        What the file holds; public repository @ commit : path; the terms it is used under.
    bytes, content_bytes : int
        Shipped and original sizes.
    url : str or None
        Where :func:`fetch` downloads a file that is not shipped.
    """

    path: str
    file: str
    shipped: bool
    content_sha256: str
    description: str
    source: str
    terms: str
    content_bytes: int
    sha256: str | None = None
    bytes: int = 0
    url: str | None = None

    @property
    def folder(self) -> str:
        """The first path component (``crash_windows``, ``hourly``, ...)."""
        return self.path.split("/", 1)[0]


@lru_cache(maxsize=1)
def manifest() -> dict[str, DataFile]:
    """The manifest, keyed by logical path."""
    raw = json.loads((PACKAGE_DIR / "MANIFEST.json").read_text(encoding="utf-8"))
    fields = set(DataFile.__dataclass_fields__)
    return {e["path"]: DataFile(**{k: v for k, v in e.items() if k in fields}) for e in raw["files"]}


def override_dir() -> Path | None:
    """The folder named by ``RAMPARTS_DATA``, or ``None`` when it is unset.

    Raises
    ------
    DataError
        If ``RAMPARTS_DATA`` is set but names no folder.
    """
    env = os.environ.get("RAMPARTS_DATA")
    if not env:
        return None
    d = Path(env).expanduser()
    if not d.is_dir():
        raise DataError(f"RAMPARTS_DATA={env!r} is not a folder (unset it to use the data that ships with ramparts)")
    return d


def cache_dir() -> Path:
    """Where :func:`fetch` keeps the files that are downloaded rather than shipped."""
    env = os.environ.get("RAMPARTS_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ramparts" / "data"


def _normalise(rel: str | os.PathLike[str]) -> str:
    s = Path(rel).as_posix()
    while s.startswith("./"):
        s = s[2:]
    return s


def _variants(name: str) -> list[str]:
    out = [name]
    out.append(name[:-3] if name.endswith(".gz") else name + ".gz")
    return out


def _entry(name: str) -> DataFile | None:
    m = manifest()
    for v in _variants(name):
        if v in m:
            return m[v]
    for e in m.values():  # asked for by the shipped name
        if e.file == name:
            return e
    return None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}


def _checked(path: Path, expected: str, *, content: bool = False) -> Path:
    """``path`` once its SHA-256 (of the bytes, or of the decompressed bytes) equals ``expected``."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    got = _VERIFIED.get(key)
    if got is None:
        if content and path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                got = hashlib.sha256(f.read()).hexdigest()
        else:
            got = _sha256_file(path)
        _VERIFIED[key] = got
    if got != expected:
        raise DataError(f"{path}: corrupt or altered data file (SHA-256 {got[:16]}…, expected {expected[:16]}…); "
                        f"reinstall ramparts, or run `ramparts data verify` to see every file's state")
    return path


@lru_cache(maxsize=8)
def _override_sums(folder: str, mtime_ns: int) -> dict[str, str]:
    sums: dict[str, str] = {}
    try:
        text = (Path(folder) / "SHA256SUMS").read_text(encoding="utf-8")
    except OSError:
        return sums
    for line in text.splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2:
            sums[parts[1].lstrip("*").removeprefix("./")] = parts[0].lower()
    return sums


def _from_override(folder: Path, name: str) -> Path | None:
    for v in _variants(name):
        p = folder / v
        if p.is_file():
            sums_file = folder / "SHA256SUMS"
            if sums_file.is_file():
                sums = _override_sums(str(folder), sums_file.stat().st_mtime_ns)
                if v in sums:
                    _checked(p, sums[v])
            return p
    return None


def data_path(rel: str | os.PathLike[str]) -> Path:
    """The verified path of a data file, by its logical name (see the module docstring for the order).

    Parameters
    ----------
    rel : str or os.PathLike
        A path relative to the data folder, e.g. ``"hourly/binance_spot_BTCUSDT_1h_2017-2022.csv.gz"``;
        ``.gz`` may be given or left off.

    Raises
    ------
    DataError
        The file is unknown, corrupt, or must be downloaded first (the message says how).
    """
    name = _normalise(rel)
    folder = override_dir()
    if folder is not None:
        found = _from_override(folder, name)
        if found is not None:
            return found
    entry = _entry(name)
    if entry is None:
        where = f" or in RAMPARTS_DATA={str(folder)!r}" if folder is not None else ""
        raise DataError(f"no such data file {name!r} in the data that ships with ramparts{where} "
                        f"(`ramparts data list` shows what is installed)")
    if entry.shipped:
        p = PACKAGE_DIR / entry.file
        if not p.is_file():
            raise DataError(f"{p}: missing from the installation; reinstall ramparts")
        return _checked(p, entry.sha256 or "")
    p = cache_dir() / (entry.file + ".gz")
    if not p.is_file():
        raise DataError(f"{entry.path} is not shipped with ramparts ({entry.terms}); "
                        f"download it once with `ramparts data fetch {entry.path}`")
    return _checked(p, entry.content_sha256, content=True)


def known(rel: str | os.PathLike[str]) -> bool:
    """Whether ``rel`` names a data file (in ``RAMPARTS_DATA`` or the manifest), without opening it.

    Raises
    ------
    DataError
        If ``RAMPARTS_DATA`` is set but names no folder.
    """
    name = _normalise(rel)
    folder = override_dir()
    if folder is not None and any((folder / v).is_file() for v in _variants(name)):
        return True
    return _entry(name) is not None


def status(entry: DataFile) -> tuple[str, Path | None]:
    """``(state, path)`` of one file: ``"ok"``, ``"corrupt: …"``, ``"missing"`` or ``"not fetched"``."""
    p = PACKAGE_DIR / entry.file if entry.shipped else cache_dir() / (entry.file + ".gz")
    if not p.is_file():
        return ("missing" if entry.shipped else "not fetched"), None
    try:
        if entry.shipped:
            _checked(p, entry.sha256 or "")
        else:
            _checked(p, entry.content_sha256, content=True)
    except DataError:
        return "corrupt", p
    return "ok", p


def verify_all() -> list[tuple[DataFile, str]]:
    """Every manifest entry with its state (see :func:`status`), hashing each file afresh."""
    _VERIFIED.clear()
    return [(e, status(e)[0]) for e in manifest().values()]


Opener = Callable[[str], bytes]


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as r:  # noqa: S310 - https addresses from the manifest
        return r.read()


def fetch(rel: str, *, opener: Opener | None = None, force: bool = False) -> Path:
    """Download a file that is not shipped, check its SHA-256, and keep it (gzip) in :func:`cache_dir`.

    Parameters
    ----------
    rel : str
        The logical path (``ramparts data list`` names them).
    opener : callable, optional
        ``url -> bytes``; default an HTTPS download (the tests pass a local one).
    force : bool
        Download again even when an intact copy is cached.

    Returns
    -------
    pathlib.Path
        The cached file.

    Raises
    ------
    DataError
        Unknown name, a shipped file (nothing to fetch), a failed download, or a hash that differs from
        the manifest (nothing is written then).
    """
    name = _normalise(rel)
    entry = _entry(name)
    if entry is None:
        raise DataError(f"no such data file {name!r} (`ramparts data list` shows the names)")
    if entry.shipped:
        raise DataError(f"{entry.path} ships with ramparts; there is nothing to fetch")
    dest = cache_dir() / (entry.file + ".gz")
    if dest.is_file() and not force and status(entry)[0] == "ok":
        return dest
    try:
        body = (opener or _download)(entry.url or "")
    except Exception as exc:  # urllib raises URLError, HTTPError, TimeoutError, ValueError...
        raise DataError(f"cannot download {entry.path} from {entry.url}: {exc}") from None
    got = hashlib.sha256(body).hexdigest()
    if got != entry.content_sha256:
        raise DataError(f"the download of {entry.path} from {entry.url} does not match its published SHA-256 "
                        f"(got {got[:16]}…, expected {entry.content_sha256[:16]}…); nothing was written")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".fetch-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(gzip.compress(body, compresslevel=9, mtime=0))
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
