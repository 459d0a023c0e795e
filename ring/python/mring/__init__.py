"""mring: zero-copy access to mring ring files from Python.

A ring file (made by the C library, the ``mring`` tool or :func:`create`)
holds a stream of records written by one producer and read by any number
of consumers, in this process or others.

Quick start::

    import mring, numpy as np

    mring.create("/dev/shm/demo.ring", capacity=64 << 20)
    with mring.open("/dev/shm/demo.ring", "producer") as w:
        with w.reserve(16) as buf:          # writable memoryview
            buf[:] = b"0123456789abcdef"    # committed when the block ends
        w.write(b"another record")          # copy in

    with mring.open("/dev/shm/demo.ring", "consumer", name="analysis") as r:
        for rec in r:                       # read-only memoryview, no copy
            a = np.frombuffer(rec, dtype=np.uint8)
            print(r.seq, a.sum())
            del a                           # see "Lifetime" below

Lifetime of records
-------------------
A record handed out by iteration, :meth:`Ring.peek` or
:meth:`Ring.peek_many` points straight into the ring's memory. It is valid
until the next step on the ring (the next record, ``read``, ``seek``,
``release``, ``close``); then the memoryview is released and any use of it
raises ``ValueError``. If something made from it is still alive at that
step -- a numpy array from ``np.frombuffer(rec)``, a slice ``rec[4:]`` --
the step raises ``BufferError`` instead and the ring stays where it is
(the memory stays valid): drop it (``del a``) or copy it (``bytes(rec)``,
``np.array(a)``) before the next step, then call again. A reservation is
valid only inside its ``with`` block. No Python code can read or write
memory the ring has given back: it gets an exception first.

In overwrite mode the producer may overwrite a record while you look at
it; the next step then raises :class:`Lapped` and what you read from it
must be discarded. :meth:`Ring.read` copies and checks, so what it
returns is always intact.

Waiting
-------
Blocking calls release the GIL and wait in slices of at most 100 ms, so
Ctrl-C (KeyboardInterrupt) ends a blocked wait within about 100 ms, and
other threads run meanwhile. A ring handle serves one thread at a time
(a second thread gets RuntimeError); :meth:`Ring.interrupt` from another
thread makes a wait raise :class:`Cancelled`. ``async for rec in ring``
waits on the ring's descriptor in an asyncio event loop.

Errors
------
Every error of the library is an :class:`Error` (a subclass of OSError)
with ``.code`` (the library's negative code), ``.errno`` (for -errno
codes) and the library's message; conditions have their own subclasses
(:class:`Lapped`, :class:`Corrupt`, :class:`Busy`, ...).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import errno as _errno
import os as _os
from typing import Any, Dict, List, NamedTuple, Optional, Union

from . import _mring

__all__ = [
    "create", "open", "inspect", "consumer_add", "consumer_remove",
    "strerror", "Ring", "Reservation", "Where",
    "Error", "Lapped", "Corrupt", "BadMagic", "VersionMismatch",
    "ChecksumMismatch", "Truncated", "Geometry", "RoleError", "NoSlot",
    "SymlinkRefused", "OwnerRefused", "Removed", "Forked", "Busy",
    "WouldBlock", "Timeout", "Cancelled", "NotFound", "Exists",
    "PermissionDenied", "MessageTooLong", "InvalidArgument", "NoSpace",
    "OutOfRange",
]

__version__ = _mring.library_version
library_version: str = _mring.library_version
Reservation = _mring.Reservation

FLAG_RECORDS = _mring.F_RECORDS
FLAG_OVERWRITE = _mring.F_OVERWRITE
FLAG_CRC = _mring.F_CRC
FLAG_TIMESTAMPS = _mring.F_TIMESTAMPS


# ---------------------------------------------------------------- errors

class Error(OSError):
    """An error of the mring library.

    ``code`` is the library's (negative) code, ``errno`` the errno value
    for codes that are -errno (None for mring's own conditions), and the
    message is the library's (``mring_strerror``).
    """

    code: int

    def __init__(self, code: int, message: Optional[str] = None,
                 filename: Optional[str] = None) -> None:
        if message is None:
            message = _mring.strerror(code)
        eno = -code if -1000 < code < 0 else None
        if filename is None:
            super().__init__(eno, message)
        else:
            super().__init__(eno, message, filename)
        self.code = code

    def __str__(self) -> str:
        where = f"{self.filename}: " if self.filename else ""
        return f"{where}{self.strerror} (mring code {self.code})"


class Lapped(Error):
    """The producer overwrote data this consumer had not read (overwrite
    mode, or an observer). ``records_lost`` and ``bytes_lost`` say how much
    since the previous report; reading goes on at the oldest intact data."""

    records_lost: int = 0
    bytes_lost: int = 0


class Corrupt(Error):
    """A record fails its check or the control block is inconsistent.
    The consumer does not move; :meth:`Ring.skip` goes past the damage."""


class BadMagic(Error):
    """Not an mring file."""


class VersionMismatch(Error):
    """Unsupported ring file format version."""


class ChecksumMismatch(Error):
    """The ring header's checksum does not match."""


class Truncated(Error):
    """The ring file is shorter than its header says."""


class Geometry(Error):
    """Ring geometry not usable on this machine."""


class RoleError(Error):
    """Operation not allowed for this handle's role."""


class NoSlot(Error):
    """All consumer slots of the ring are in use."""


class SymlinkRefused(Error):
    """The ring path is a symbolic link (not followed)."""


class OwnerRefused(Error):
    """The ring file belongs to another user (see any_owner=True)."""


class Removed(Error):
    """The ring file was removed or replaced since it was opened."""


class Forked(Error):
    """The handle was opened before fork(): open the ring again."""


class Busy(Error):
    """Another producer, or a consumer of that name, has the ring open."""


class WouldBlock(Error, BlockingIOError):
    """Nothing to read or no room now (timeout=0)."""


class Timeout(Error, TimeoutError):
    """The wait timed out."""


class Cancelled(Error):
    """The wait was cancelled by :meth:`Ring.interrupt`."""


class NotFound(Error, FileNotFoundError):
    """No such ring file or consumer."""


class Exists(Error, FileExistsError):
    """The ring file or consumer exists already."""


class PermissionDenied(Error, PermissionError):
    """Permission denied."""


class MessageTooLong(Error):
    """A record larger than the ring's max_record."""


class InvalidArgument(Error):
    """The library refused an argument (-EINVAL)."""


class NoSpace(Error):
    """The file system is full."""


class OutOfRange(Error):
    """A seek beyond what exists (-ERANGE)."""


_ERRORS: Dict[int, type] = {
    _mring.ELAPPED: Lapped,
    _mring.ECORRUPT: Corrupt,
    _mring.EBADMAGIC: BadMagic,
    _mring.EVERSION: VersionMismatch,
    _mring.ECHECKSUM: ChecksumMismatch,
    _mring.ETRUNCATED: Truncated,
    _mring.EGEOMETRY: Geometry,
    _mring.EROLE: RoleError,
    _mring.ENOSLOT: NoSlot,
    _mring.ESYMLINK: SymlinkRefused,
    _mring.EOWNER: OwnerRefused,
    _mring.EREMOVED: Removed,
    _mring.EFORKED: Forked,
    -_errno.EBUSY: Busy,
    -_errno.EAGAIN: WouldBlock,
    -_errno.ETIMEDOUT: Timeout,
    -_errno.ECANCELED: Cancelled,
    -_errno.ENOENT: NotFound,
    -_errno.EEXIST: Exists,
    -_errno.EACCES: PermissionDenied,
    -_errno.EPERM: PermissionDenied,
    -_errno.EMSGSIZE: MessageTooLong,
    -_errno.EINVAL: InvalidArgument,
    -_errno.ENOSPC: NoSpace,
    -_errno.ERANGE: OutOfRange,
}
_mring._register(_ERRORS, Error)


def strerror(code: int) -> str:
    """The library's message for an error code (MRING_E* or -errno)."""
    return _mring.strerror(code)


# ---------------------------------------------------------------- rings

_ROLES = {"producer": _mring.PRODUCER, "consumer": _mring.CONSUMER}
_STARTS = {"oldest": _mring.START_OLDEST, "newest": _mring.START_NEWEST}
_WHENCE = {"oldest": _mring.SEEK_OLDEST, "newest": _mring.SEEK_NEWEST,
           "pos": _mring.SEEK_POS, "seq": _mring.SEEK_SEQ,
           "time": _mring.SEEK_TIME}


class Where(NamedTuple):
    """Where a handle stands (see :meth:`Ring.tell`)."""

    pos: int
    seq: Optional[int]
    ts: int


def _ns(t: Union[int, _dt.datetime]) -> int:
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            t = t.astimezone()
        delta = t - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return (delta.days * 86400 + delta.seconds) * 10**9 + \
            delta.microseconds * 1000
    if isinstance(t, int) and not isinstance(t, bool):
        return t
    raise TypeError("time: an int (nanoseconds since the epoch) or a "
                    "datetime")


class Ring(_mring.Ring):
    """An open ring: a producer or a consumer handle (see :func:`open`).

    Consumer: iterate (``for rec in ring``) for read-only memoryviews of
    the records, valid until the next step; ``read()`` copies;
    ``peek_many(n)`` gives a batch. Producer: ``with ring.reserve(n) as
    buf`` gives n writable bytes committed at the end of the block;
    ``write(data)`` copies in. Use it as a context manager or call
    ``close()``.
    """

    @property
    def records(self) -> bool:
        """True for a ring of records, False for a byte stream."""
        return bool(self.flags & _mring.F_RECORDS)

    def tell(self) -> Where:
        """Position, record number (None in byte mode or not known yet)
        and timestamp of the record handed out last (consumer) or of the
        next record (producer)."""
        return Where(*self._tell())

    @property
    def seq(self) -> Optional[int]:
        """Number of the current record (the first of a batch)."""
        return self._tell()[1]

    @property
    def ts(self) -> int:
        """Timestamp of the current record (rings with timestamps=True),
        nanoseconds since the epoch; 0 without timestamps."""
        return self._tell()[2]

    @property
    def position(self) -> int:
        """Stream byte position of the current record."""
        return self._tell()[0]

    def seek(self, where: str = "seq", value: Any = None, *,
             seq: Optional[int] = None,
             time: Union[int, _dt.datetime, None] = None,
             pos: Optional[int] = None) -> bool:
        """Move the consumer; the next record is the one found.

        ``seek("oldest")``, ``seek("newest")``, ``seek(seq=N)`` (record
        number), ``seek(time=T)`` (first record stamped at or after T: int
        nanoseconds since the epoch or a datetime), ``seek(pos=P)`` (byte
        position). Returns True when it went where asked, False when that
        was gone and it went to the oldest record still there. Raises
        :class:`OutOfRange` beyond the end (the consumer stays).
        """
        if seq is not None:
            where, value = "seq", seq
        elif time is not None:
            where, value = "time", time
        elif pos is not None:
            where, value = "pos", pos
        if where not in _WHENCE:
            raise ValueError(f"seek: where is one of {sorted(_WHENCE)}")
        if where in ("oldest", "newest"):
            value = 0
        elif value is None:
            raise TypeError(f"seek({where!r}) needs a value")
        if where == "time":
            value = _ns(value)
        return self._seek(_WHENCE[where], int(value))

    def skip(self) -> "tuple[int, Optional[int]]":
        """Move a consumer stopped by :class:`Corrupt` past the damage;
        returns (bytes, records) skipped (records None when unknown)."""
        return self._skip()

    def __aiter__(self) -> "Ring":
        return self

    async def _readable(self) -> None:
        """Wait in the running event loop until the ring's descriptor is
        readable (new data, end of stream, or an interrupt)."""
        loop = asyncio.get_running_loop()
        fd = self.fileno()
        fut = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)
        loop.add_reader(fd, ready)
        try:
            await fut
        finally:
            loop.remove_reader(fd)

    async def __anext__(self) -> memoryview:
        """``async for rec in ring``: wait in the event loop on the ring's
        descriptor, never blocking it. The record follows the same
        lifetime rules as iteration."""
        while True:
            try:
                rec = self.peek(timeout=0)
            except WouldBlock:
                await self._readable()
                continue
            if rec is None:
                raise StopAsyncIteration
            return rec

    async def aread(self) -> bytes:
        """Copy out the next record, waiting in the event loop; b'' at
        end of stream."""
        while True:
            try:
                return self.read(timeout=0)
            except WouldBlock:
                await self._readable()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.role
        return f"<mring.Ring {self.path!r} {state}>"


def create(path: Union[str, bytes, _os.PathLike], capacity: int = 0, *,
           records: bool = True, overwrite: bool = False, crc: bool = False,
           timestamps: bool = False, prealloc: bool = False,
           window: int = 0, max_record: int = 0, max_consumers: int = 0,
           mode: int = 0o600) -> None:
    """Create a ring file (it must not exist).

    capacity: data bytes, a multiple of the page size (0: 1 GiB).
    records: framed records (default) or a byte stream. overwrite: a
    flight recorder whose producer never waits. crc: records carry a
    CRC32C. timestamps: records carry a time stamp (seek by time).
    window, max_record, max_consumers: 0 for the library's defaults.
    """
    flags = 0
    if records:
        flags |= _mring.F_RECORDS
    if overwrite:
        flags |= _mring.F_OVERWRITE
    if crc:
        flags |= _mring.F_CRC
    if timestamps:
        flags |= _mring.F_TIMESTAMPS
    if prealloc:
        flags |= _mring.F_PREALLOC
    _mring.create(path, capacity, flags, window, max_record,
                  max_consumers, mode)


def open(path: Union[str, bytes, _os.PathLike], role: str = "consumer",
         name: Optional[str] = None, start: str = "oldest", *,
         readonly: bool = False, any_owner: bool = False,
         prefetch: bool = True, window: int = 0) -> Ring:
    """Open a ring as "producer" or "consumer".

    name: a durable consumer (its position is stored in the ring and it
    holds a back-pressure producer back); None: an observer. start:
    "oldest" or "newest", where a consumer without a stored position
    begins. readonly: a read-only observer. any_owner: accept another
    user's file. prefetch=False: a producer without maintenance thread.
    """
    if role not in _ROLES:
        raise ValueError('role is "producer" or "consumer"')
    if start not in _STARTS:
        raise ValueError('start is "oldest" or "newest"')
    flags = 0
    if readonly:
        flags |= _mring.F_READONLY
    if any_owner:
        flags |= _mring.F_ANY_OWNER
    if not prefetch:
        flags |= _mring.F_NO_PREFETCH
    return Ring(path, _ROLES[role], name, _STARTS[start], flags, window)


def inspect(path: Union[str, bytes, _os.PathLike]) -> Dict[str, Any]:
    """Describe a ring file without joining it, as a dict with the names
    and layout of ``mring info --json``."""
    raw = _mring.inspect(path)
    f = raw["flags"]
    cap = raw["capacity"]
    overwrite = bool(f & _mring.F_OVERWRITE)
    head, tail = raw["head"], raw["tail"]

    def blocking(c: Dict[str, Any]) -> bool:
        if overwrite or not raw["producer_alive"] or not c["durable"]:
            return False
        return max(head - c["position"], 0) > cap - raw["max_record"]

    cons: List[Dict[str, Any]] = []
    for c in raw["consumer_slots"]:
        lag = max(head - c["position"], 0)
        cons.append({
            "name": c["name"] if c["durable"] else None,
            "durable": c["durable"], "position": c["position"],
            "lag": lag, "lag_ratio": lag / cap if cap else 0.0,
            "lapped": c["position"] < tail, "alive": c["alive"],
            "pid": c["pid"], "blocking": blocking(c),
        })
    cache = raw["cache_bytes"]
    return {
        "file": _os.fsdecode(path),
        "format_version": raw["format_version"],
        "mode": "records" if f & _mring.F_RECORDS else "bytes",
        "policy": "overwrite" if overwrite else "back-pressure",
        "records": bool(f & _mring.F_RECORDS), "overwrite": overwrite,
        "crc": bool(f & _mring.F_CRC),
        "timestamps": bool(f & _mring.F_TIMESTAMPS),
        "capacity": cap, "window": raw["window"],
        "max_record": raw["max_record"],
        "data_offset": raw["data_offset"], "file_size": raw["file_size"],
        "created_ns": raw["created_ns"], "head": head, "tail": tail,
        "synced": raw["synced"], "used": head - tail,
        "cache_bytes": None if cache == 2**64 - 1 else cache,
        "producer": {
            "pid": raw["producer_pid"],
            "alive": bool(raw["producer_alive"]),
            "blocked_by": [c["name"] for c in cons if c["blocking"]],
        },
        "eof": bool(raw["eof"]), "max_consumers": raw["max_consumers"],
        "consumers": cons,
    }


def consumer_add(path: Union[str, bytes, _os.PathLike], name: str,
                 start: str = "oldest") -> None:
    """Register the durable consumer ``name`` without opening the ring."""
    _mring.consumer_add(path, name, _STARTS[start])


def consumer_remove(path: Union[str, bytes, _os.PathLike],
                    name: str) -> None:
    """Detach the durable consumer ``name`` so it no longer holds the
    producer back."""
    _mring.consumer_remove(path, name)
