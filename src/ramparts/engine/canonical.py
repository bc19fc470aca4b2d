"""The canonical state's text, written fast: its large integer tables by a compiled kernel, spliced into the
canonical JSON of the rest.

The state hash is the SHA-256 of ``canonical_json(state_dict())`` (:func:`ramparts.engine.events.canonical_json`:
sorted keys, no whitespace, ASCII). At a million sub-accounts × 4 positions, building that dict's tables as Python
lists (a list per position, an int object per number) and encoding them costs ~10 s. The same bytes come out of:

* (and :func:`int_list`, one list of integers: a ``TradeBatch``'s columns in its journal row)
* the canonical JSON of the state without its three tables, each replaced by a marker string (:func:`splice`);
* each table's text written directly: the positions ``[[sub,instr,lots,cost,entry],…]`` and the sub-accounts'
  settlement cash ``["USDC",sub,amount]`` by :func:`int_rows` (a numba kernel writing decimal digits into a byte
  buffer: ``json`` writes an int as ``str(int)`` does), the sub-accounts' rows ``[text,mode,instrument,system]``
  by a comprehension using ``json``'s own string escaper.

:func:`int_rows_reference` is the plain twin (``json.dumps`` of the rows). ``tests/test_canonical_text.py`` holds
the kernel equal to it on random and extreme integers, and the whole text equal to ``canonical_json(state_dict())``
over random venues of every kind.
"""

from __future__ import annotations

import json

import numpy as np

from ramparts.compiled import njit
from ramparts.engine.events import json_string


@njit(cache=True)
def _digits(v: np.int64, out: np.ndarray, at: int) -> int:
    """Write ``str(v)`` into ``out[at:]``; returns the position after it."""
    if v == 0:
        out[at] = 48
        return at + 1
    ten = np.uint64(10)
    # |v| as unsigned (all arithmetic below in uint64), so that the smallest int64 has a magnitude too
    if v < 0:
        u = np.uint64(-(v + 1)) + np.uint64(1)
        out[at] = 45  # '-'
        at += 1
    else:
        u = np.uint64(v)
    n = 0
    t = u
    while t != np.uint64(0):
        t = t // ten
        n += 1
    p = at + n - 1
    while u != np.uint64(0):
        out[p] = np.uint8(np.uint64(48) + u % ten)
        u = u // ten
        p -= 1
    return at + n


@njit(cache=True)
def _int_rows(table: np.ndarray, prefix: np.ndarray) -> np.ndarray:
    n, m = table.shape
    cap = n * (2 + prefix.size + m * 21) + 1
    out = np.empty(cap, dtype=np.uint8)
    at = 0
    for r in range(n):
        if r:
            out[at] = 44  # ','
            at += 1
        out[at] = 91  # '['
        at += 1
        for j in range(prefix.size):
            out[at] = prefix[j]
            at += 1
        for c in range(m):
            if c:
                out[at] = 44
                at += 1
            at = _digits(table[r, c], out, at)
        out[at] = 93  # ']'
        at += 1
    return out[:at]


@njit(cache=True)
def _int_list(values: np.ndarray) -> np.ndarray:
    out = np.empty(values.size * 21 + 2, dtype=np.uint8)
    out[0] = 91  # '['
    at = 1
    for k in range(values.size):
        if k:
            out[at] = 44  # ','
            at += 1
        at = _digits(values[k], out, at)
    out[at] = 93  # ']'
    return out[: at + 1]


def int_list(values) -> str:
    """The canonical JSON of a list of int64 integers (``[1,-2,3]``), written by the kernel: ``TradeBatch``'s columns
    in its journal row (:func:`ramparts.engine.events.encode_event`; ``json`` writes an int as ``str(int)``, ~60 ns
    each)."""
    return _int_list(np.asarray(values, dtype=np.int64)).tobytes().decode("ascii")


def int_rows(table: np.ndarray, prefix: bytes = b"") -> bytes:
    """The canonical JSON of ``[[*prefix, *row] for row in table]`` without its outer brackets: ``prefix`` is the
    text of the leading JSON values with their comma (``b'"USDC",'``), ``table`` an int64 ``(n, m)`` array."""
    table = np.ascontiguousarray(table, dtype=np.int64)
    if table.ndim != 2:
        raise ValueError("int_rows takes a table of rows")
    if not table.shape[0]:
        return b""
    if not table.shape[1]:
        raise ValueError("rows of no column")
    return _int_rows(table, np.frombuffer(prefix, dtype=np.uint8)).tobytes()


def int_rows_reference(table: np.ndarray, prefix: list | None = None) -> bytes:
    """The plain twin of :func:`int_rows`: ``json.dumps`` of the rows (``prefix`` as the leading values)."""
    rows = [[*(prefix or []), *r] for r in np.asarray(table, dtype=np.int64).tolist()]
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=True)[1:-1].encode()


def sub_rows(names: list[str], instruments, flags: bytes, modes: list[str]) -> bytes:
    """The canonical JSON of the sub-accounts' rows ``[text, mode, instrument or null, system]`` without the outer
    brackets (``modes``: the mode texts by flag position)."""
    texts = [f'"{m}"' for m in modes]
    return ",".join([f"[{json_string(n)},{texts[f & 3]},{'null' if i < 0 else i},{'true' if f & 4 else 'false'}]"
                     for n, i, f in zip(names, instruments, flags, strict=True)]).encode()


def splice(header_text: str, parts: dict[str, bytes]) -> bytes:
    """``header_text`` (canonical JSON holding each of ``parts``' keys as a marker string, see :func:`marker`) with
    each marker replaced by ``[`` + its part + ``]``. A marker found other than exactly once raises ``ValueError``."""
    out = header_text.encode()
    for name, body in parts.items():
        quoted = json_string(marker(name)).encode()
        at = out.find(quoted)
        if at < 0 or out.find(quoted, at + 1) >= 0:
            raise ValueError(f"the marker of {name!r} is not in the header exactly once")
        out = b"".join((out[:at], b"[", body, b"]", out[at + len(quoted):]))
    return out


def marker(name: str) -> str:
    """The string standing for table ``name`` in the header (no event can store a NUL in a kept text)."""
    return f"\x00ramparts-table:{name}\x00"


__all__ = ["int_rows", "int_rows_reference", "marker", "splice", "sub_rows"]
