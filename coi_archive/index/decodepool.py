"""Decode new originals on every core while the main process writes.

Decoding (MIME parse, dialect rules, compression) is most of an ingest's
CPU time and needs nothing from the catalog, so batches of new copies are
handed to worker processes; the catalog writer stays single-threaded.
Workers are forked, so they inherit the decryptor (keys never travel
through a pipe) and import nothing at start.  Small runs decode in-process:
starting workers costs more than it saves.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from coi_archive.ingest.decode import Decryptor, decode_any
from coi_archive.ingest.dialects.encrypted import with_outer_headers
from coi_archive.ingest.events import Defect, Envelope, Quality
from coi_archive.ingest.safeio import TRUNCATED

from .cores import DECODE_WORKER, cores, start_worker
from .decrypted import Packed, pack
from .envelopes import Stored
from .envelopes import pack as pack_envelope
from .originaldata import Header
from .originaldata import pack as pack_original
from .wire import Facts, sole_copy_facts

#: Below this many new copies in a batch, decode in-process.
PARALLEL_MIN = 64

_worker_decryptor: Decryptor | None = None
#: the packing dictionaries (:mod:`.packing`) of envelopes and originals,
#: known to workers forked after they were set
_worker_dicts: tuple[int | None, int | None] = (None, None)


@dataclass(frozen=True)
class Decoded:
    """What the catalog stores for one new original."""

    message_id: str
    dialect: str
    quality: Quality
    envelope: Stored
    data: bytes
    compression: str
    #: the decrypted inner message, packed (see :mod:`.decrypted`)
    inner: Packed | None = None
    #: the Autocrypt header ``data`` was compressed with (see :mod:`.originaldata`)
    header: Header | None = None
    #: its wire row's facts if it is its Message-ID's only copy (placement
    #: then needs no unpacking of ``envelope``)
    facts: Facts | None = None


class _Opening:
    """A decryptor that remembers the inner bytes it returned, so the
    message the decoder read can be kept without decrypting twice."""

    def __init__(self, decryptor: Decryptor):
        self.decryptor = decryptor
        self.inner: bytes | None = None

    def __call__(self, raw: bytes) -> Any:
        result = self.decryptor(raw)
        self.inner = getattr(result, "inner", result)
        return result

    def __getattr__(self, name: str) -> Any:
        """What else the decryptor offers (the certificates a signed
        message is checked against) is the decryptor's."""
        return getattr(self.decryptor, name)


def decode_opened(raw: bytes, fmt: str, size: int, decryptor: Decryptor | None) -> tuple[Envelope, bytes | None]:
    """:func:`decode_stored`, and the inner message of a copy the
    decryptor opened, exactly as the decoder parsed it (None otherwise)."""
    opening = _Opening(decryptor) if decryptor is not None else None
    env = decode_stored(raw, fmt, size, opening)
    if opening is None or opening.inner is None or env.quality != Quality.DECRYPTED:
        return env, None
    return env, with_outer_headers(raw, opening.inner)


def decode_stored(raw: bytes, fmt: str, size: int, decryptor: Decryptor | None) -> Envelope:
    """Decode a stored copy; ``size`` is its size in the source, larger than
    ``raw`` when only the first bytes were kept (``ingest.safeio`` limits):
    such a copy carries a defect that says so, at every decode."""
    env = decode_any(raw, fmt, decryptor)
    if size > len(raw):
        cut = Defect(TRUNCATED, "ingest.safeio", f"kept the first {len(raw)} of {size} bytes")
        env = replace(env, defects=(*env.defects, cut))
    return env


def decode_one(job: tuple[bytes, str, int]) -> Decoded:
    raw, fmt, size = job
    env, inner = decode_opened(raw, fmt, size, _worker_decryptor)
    envelope_dict, original_dict = _worker_dicts
    packed = pack_original(raw, original_dict)
    return Decoded(
        env.message_id,
        env.dialect,
        env.quality,
        pack_envelope(env, envelope_dict),
        packed.data,
        packed.method,
        pack(inner, original_dict) if inner is not None else None,
        packed.header,
        facts=sole_copy_facts(env, fmt),
    )


class DecodePool:
    """``decode(jobs)`` returns one :class:`Decoded` per job, in order."""

    def __init__(self, decryptor: Decryptor | None, workers: int | None = None):
        self.decryptor = decryptor
        self.workers = workers if workers is not None else cores()
        self._executor: ProcessPoolExecutor | None = None
        self.dicts: tuple[int | None, int | None] = (None, None)
        self._forked_with: tuple[int | None, int | None] = self.dicts

    def use(self, envelope: int | None, original: int | None) -> None:
        """Pack envelopes and originals with these dictionaries (ids of
        :mod:`.packing`, None: zlib) from the next :meth:`submit` on: a
        worker knows a dictionary only if it was forked after it was
        trained, so the workers are started again (once per archive and kind)."""
        self.dicts = (envelope, original)

    def submit(self, jobs: list[tuple[bytes, str, int]]) -> Iterator[Decoded]:
        """Start decoding; the iterator yields results in job order (in
        worker processes the work has begun before it is iterated)."""
        global _worker_decryptor, _worker_dicts
        _worker_decryptor = self.decryptor
        _worker_dicts = self.dicts
        if self.workers < 2 or len(jobs) < PARALLEL_MIN:
            return map(decode_one, jobs)
        if self._executor is not None and self._forked_with != self.dicts:
            self._executor.shutdown(wait=False)  # a batch in flight still completes
            self._executor = None
        if self._executor is None:
            self._forked_with = self.dicts
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=start_worker,
                initargs=(DECODE_WORKER, os.getpid()),
            )
        chunk = max(1, len(jobs) // (self.workers * 4))
        return self._executor.map(decode_one, jobs, chunksize=chunk)

    def decode(self, jobs: list[tuple[bytes, str, int]]) -> list[Decoded]:
        return list(self.submit(jobs))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
