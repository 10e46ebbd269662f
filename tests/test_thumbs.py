"""Thumbnails: bounded in pixels and on disk, made once, never for small,
animated or broken images."""

from __future__ import annotations

import io
import os

from PIL import Image

from coi_archive.webui import thumbs


def _png(width: int, height: int) -> bytes:
    img = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))  # noise: no compression
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_a_big_picture_gets_a_small_cached_thumbnail(tmp_path):
    data = _png(1000, 600)
    made = thumbs.thumbnail(tmp_path, data)
    assert made is not None and made[1] == "image/webp"
    with Image.open(io.BytesIO(made[0])) as img:
        assert max(img.size) == thumbs.EDGE and img.size[0] > img.size[1]
    (cached,) = thumbs.cache_dir(tmp_path).glob("*/*.webp")
    cached.write_bytes(b"from the cache")
    assert thumbs.thumbnail(tmp_path, data) == (b"from the cache", "image/webp")


def test_small_broken_and_huge_pictures_are_served_as_they_are(tmp_path, monkeypatch):
    assert thumbs.thumbnail(tmp_path, _png(40, 40)) is None  # small already
    assert thumbs.thumbnail(tmp_path, b"\x89PNG\r\n\x1a\n" + b"\0" * 200_000) is None  # not decodable
    monkeypatch.setattr(thumbs, "MAX_PIXELS", 1000)
    assert thumbs.thumbnail(tmp_path, _png(200, 200)) is None  # a bomb is never decoded


def test_the_cache_is_trimmed_oldest_first(tmp_path):
    folder = thumbs.cache_dir(tmp_path)
    for i in range(5):
        f = folder / "aa" / f"{i}.webp"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x" * 100)
        os.utime(f, (1000 + i, 1000 + i))
    thumbs._trim(folder, limit=250)
    assert sorted(p.name for p in folder.glob("*/*.webp")) == ["3.webp", "4.webp"]
