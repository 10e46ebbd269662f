"""Thumbnails of images and stickers, made once and kept on disk.

A chat page shows each picture at most :data:`EDGE` pixels on its longer
side; sending a 4 MB photo for that would make a long chat slow on a phone.
The first request makes the thumbnail with Pillow and keeps it under
``<archive>/cache/thumbs/`` (named by the attachment's content hash, so an
attachment stored twice is thumbnailed once); later requests read the file.
The cache is bounded (:data:`CACHE_BYTES`): when it grows past that, the
oldest thumbnails are removed.  The web UI opens the archive read-only, and
a thumbnail is derived data that can always be made again, so where the
directory cannot be written the thumbnail is simply made each time.

Pillow decodes hostile bytes: only images of the inline types whose bytes
start like one reach it (:func:`present.is_inline_image`), pictures over
:data:`MAX_PIXELS` are not decoded at all (a decompression bomb), and any
decoding error means "no thumbnail" (the caller serves the original)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

#: Longest side of a thumbnail, in pixels (twice the 260 px drawn, for sharp phone screens).
EDGE = 520
#: Images at most this large are served as they are (a thumbnail would save little).
SMALL_BYTES = 96 * 1024
#: Pictures with more pixels than this are not decoded.
MAX_PIXELS = 40_000_000
#: Upper bound of the thumbnail cache on disk.
CACHE_BYTES = 256 * 1024 * 1024


def cache_dir(archive_root: Path) -> Path:
    return archive_root / "cache" / "thumbs"


def thumbnail(archive_root: Path, data: bytes) -> tuple[bytes, str] | None:
    """``(bytes, mime)`` of the thumbnail of image ``data``, from the cache
    or made now; None when the original should be served instead (small,
    animated, or not decodable)."""
    if len(data) <= SMALL_BYTES:
        return None
    key = hashlib.sha256(data).hexdigest()
    folder = cache_dir(archive_root)
    path = folder / f"{key[:2]}/{key}.webp"
    try:
        return path.read_bytes(), "image/webp"
    except OSError:
        pass
    made = _make(data)
    if made is None:
        return None
    _store(folder, path, made)
    return made, "image/webp"


def _make(data: bytes) -> bytes | None:
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as source:
            if source.width * source.height > MAX_PIXELS or getattr(source, "is_animated", False):
                return None
            img = ImageOps.exif_transpose(source)
            img.thumbnail((EDGE, EDGE))
            if img.mode not in ("RGB", "RGBA"):
                img = img.convert("RGBA")
            out = io.BytesIO()
            img.save(out, "WEBP", quality=80, method=4)
            return out.getvalue()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        log.debug("no thumbnail: %s", exc)
        return None


def _store(folder: Path, path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        _trim(folder)
    except OSError as exc:  # a read-only archive: make it again next time
        log.debug("thumbnail not cached: %s", exc)


def _trim(folder: Path, limit: int = CACHE_BYTES) -> None:
    """Remove the oldest thumbnails while the cache is larger than ``limit``."""
    files = [(p.stat().st_mtime, p.stat().st_size, p) for p in folder.glob("*/*.webp")]
    total = sum(size for _t, size, _p in files)
    for _t, size, p in sorted(files):
        if total <= limit:
            break
        p.unlink(missing_ok=True)
        total -= size
