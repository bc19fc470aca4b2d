"""The snapshot container: the engine's state as a small JSON header and its large tables as raw arrays.

A snapshot of a large venue is mostly three tables: the positions ``(sub-account, instrument, lots, cost,
entry)``, the sub-accounts' register (texts, bound instruments, flags) and the settlement balance of each
sub-account. As canonical JSON (the text the state hash is taken over, :meth:`Engine.canonical_state
<ramparts.engine.engine.Engine.canonical_state>`) they are a list per row, which a restart parses into a million
Python lists before it can lay them into arrays again (at 1M sub-accounts × 4 positions: 212 MB of text, ~4 s of
parsing, against ~0.3 s for the same tables as arrays). This container keeps them as the arrays they are:

``MAGIC`` · SHA-256 of the body (32 bytes) · ``len(body)`` (8 bytes, little-endian) · zstd(body), and the body is
``len(header)`` (8 bytes, little-endian) · header · the arrays' bytes, one after the other,

where the header is the canonical JSON of ``{"state_hash", "state", "arrays"}``: the state hash the snapshot was
taken at (:meth:`Engine.state_hash`, over the canonical JSON of the whole state), everything of the state but the
three tables (``state``, which a reader completes with the arrays), and each array's name, dtype and shape
(``arrays``; little-endian int64 or uint8 only).

What the digest proves: the body is the bytes the writer wrote (a flipped bit, a truncated blob or a mixed-up row
is refused). That the body is the state of ``state_hash`` rests on the writer, which took both from one engine
at one moment; ``tests/test_snapshot_container.py`` holds the restored engine's canonical state equal to the
snapshotted one over random venues, and a restart replays the journal's tail with every row's effects compared,
which a wrong state would not reproduce. A JSON snapshot (the canonical state itself, zlib-compressed: every
snapshot written before this container) is still read, checked against the journaled hash byte for byte.

The body is compressed with Zstandard at level 1 (pyarrow's codec, one frame). The first containers (``v3``, written
on 7 December 2026 before this one) held zlib(body) at level 1 and no length, and are still read. For the state of
``benchmarks/bench_recovery.py``'s 1M-account venue, packed and unpacked both ways in one process: 40.4 MB against
55.2 MB, packed in 0.57–0.72 s against 1.57 s, unpacked (decompressed, digest checked, header read) in 0.30–0.64 s
against 0.84–0.91 s. The whole body is held once uncompressed while it is packed (~170 MB at 1M accounts).
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Mapping

import numpy as np

from ramparts.engine.events import canonical_json

#: the first bytes of a container (a JSON snapshot starts with zlib's header, 0x78): the one written (zstd) and the
#: first one, still read (zlib)
MAGIC = b"RAMPARTS-STATE\x00v4\n"
MAGIC_ZLIB = b"RAMPARTS-STATE\x00v3\n"
_DIGEST = 32
_LEN = struct.Struct("<Q")
#: the dtypes an array may have (never an object dtype: numpy would not read one from bytes anyway)
_DTYPES = {"<i8": np.dtype("<i8"), "|u1": np.dtype("|u1")}


class ContainerError(ValueError):
    """The blob is not a readable container (the reader words it as a corrupt snapshot)."""


def is_container(blob: bytes) -> bool:
    return bytes(blob[: len(MAGIC)]) in (MAGIC, MAGIC_ZLIB)


def _zstd():
    import pyarrow as pa  # (imported on the first snapshot: the engine alone does not need it)

    return pa.Codec("zstd", compression_level=1)


def pack(state_hash: str, state: dict, arrays: Mapping[str, np.ndarray], *, codec: str = "zstd") -> bytes:
    """The container of ``state`` (JSON-able, sorted on encoding) and ``arrays``, taken at ``state_hash``
    (``codec="zlib"``: the first container's layout, which the tests write to show it is still read)."""
    meta, parts = [], []
    for name, a in arrays.items():
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype)
        if a.dtype.str not in _DTYPES:
            raise TypeError(f"array {name!r}: dtype {a.dtype} is not one a snapshot holds")
        meta.append([name, a.dtype.str, list(a.shape)])
        parts.append(a.data)
    head = canonical_json({"state_hash": state_hash, "state": state, "arrays": meta}).encode()
    if codec == "zstd":
        body = b"".join((_LEN.pack(len(head)), head, *parts))
        return b"".join((MAGIC, hashlib.sha256(body).digest(), _LEN.pack(len(body)), _zstd().compress(body, asbytes=True)))
    if codec != "zlib":
        raise ValueError(f"codec {codec!r}: zstd or zlib")
    digest = hashlib.sha256()
    z = zlib.compressobj(1)
    out = [MAGIC_ZLIB, b""]
    for p in (_LEN.pack(len(head)), head, *parts):
        digest.update(p)
        out.append(z.compress(p))
    out.append(z.flush())
    out[1] = digest.digest()
    return b"".join(out)


def _body(view: memoryview) -> memoryview:
    """The decompressed body of a container (``view``: the whole blob), checked against its digest."""
    digest = bytes(view[len(MAGIC): len(MAGIC) + _DIGEST])
    if bytes(view[: len(MAGIC)]) == MAGIC:
        start = len(MAGIC) + _DIGEST + _LEN.size
        if len(view) < start:
            raise ContainerError("the body is cut short, or bytes follow it")
        (n,) = _LEN.unpack_from(view, len(MAGIC) + _DIGEST)
        try:
            body = memoryview(_zstd().decompress(view[start:], decompressed_size=n))
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors (OSError, ArrowException): not a body it wrote
            raise ContainerError(f"the body does not decompress to its length: {exc}") from None
    else:
        z = zlib.decompressobj()
        try:
            body = memoryview(z.decompress(view[len(MAGIC) + _DIGEST:]))
        except zlib.error as exc:
            raise ContainerError(f"the body does not decompress: {exc}") from None
        if not z.eof or z.unused_data:
            raise ContainerError("the body is cut short, or bytes follow it")
    if hashlib.sha256(body).digest() != digest:
        raise ContainerError("the body does not match its digest")
    return body


def unpack(blob: bytes) -> tuple[str, dict, dict[str, np.ndarray]]:
    """``(state_hash, state, arrays)`` of a container; anything off raises :class:`ContainerError`. The arrays are
    read-only views of the decompressed body."""
    if not is_container(blob):
        raise ContainerError("not a snapshot container")
    body = _body(memoryview(blob))
    try:
        (n,) = _LEN.unpack_from(body, 0)
        head = json.loads(bytes(body[_LEN.size: _LEN.size + n]))
        state_hash, state, meta = head["state_hash"], head["state"], head["arrays"]
        if not isinstance(state_hash, str) or not isinstance(state, dict):
            raise ContainerError("the header holds no state hash and state")
        off, arrays = _LEN.size + n, {}
        for name, dtype, shape in meta:
            dt = _DTYPES[dtype]
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if count < 0 or off + count * dt.itemsize > len(body) or name in arrays:
                raise ContainerError(f"array {name!r} does not fit the body")
            arrays[name] = np.frombuffer(body, dtype=dt, count=count, offset=off).reshape(shape)
            off += count * dt.itemsize
    except ContainerError:
        raise
    except (KeyError, TypeError, ValueError, struct.error) as exc:  # a body the writer did not write
        raise ContainerError(f"the header does not parse: {exc!r}") from None
    if off != len(body):
        raise ContainerError("bytes after the last array")
    return state_hash, state, arrays


def peek_state(blob: bytes) -> dict | None:
    """The header's ``state`` (the version, for a message), decompressing no more than the header; ``None`` if it
    cannot be read."""
    try:
        view = memoryview(blob)
        if bytes(view[: len(MAGIC)]) == MAGIC:
            import pyarrow as pa

            stream = pa.CompressedInputStream(pa.BufferReader(pa.py_buffer(view[len(MAGIC) + _DIGEST + _LEN.size:])), "zstd")
            (n,) = _LEN.unpack(stream.read(_LEN.size))
            return json.loads(stream.read(n))["state"]
        z = zlib.decompressobj()
        start = bytes(z.decompress(view[len(MAGIC) + _DIGEST:], _LEN.size))
        (n,) = _LEN.unpack(start)
        return json.loads(z.decompress(z.unconsumed_tail, n))["state"]
    except Exception:  # noqa: BLE001 - unreadable: the caller says so
        return None


__all__ = ["MAGIC", "MAGIC_ZLIB", "ContainerError", "is_container", "pack", "peek_state", "unpack"]
