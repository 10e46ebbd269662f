"""Image dimensions, read from the header of an image file.

Delta Chat core records the width and height of every image, GIF and
sticker it receives (``get_filemeta`` in ``src/mimeparser.rs``, from the
header alone) and shows an image of more than
:data:`MAX_PIXELS` pixels, or of unknown size, as a file.  We read the
same facts with Pillow, whose ``Image.open`` parses the header and decodes
no pixel data, so a hostile file costs a few hundred bytes of reading.
What cannot be read (not an image, a header cut short, zero or absurd
dimensions) gives no dimensions and a defect, never an exception.
"""

from __future__ import annotations

import io
import warnings

from . import defects

#: Core's ``MAX_RCVD_IMAGE_PIXELS``: larger images are files, not images.
MAX_PIXELS = 50_000_000


def dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of an image file, or None (with a defect noted)
    when its header cannot be read or states an implausible size."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # the decompression-bomb warning is about decoding, which we never do
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except UnidentifiedImageError:  # its message names a memory address: not a stable detail
        defects.note("UnreadableImage", "images.dimensions", "not an image format Pillow knows")
        return None
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError) as exc:
        # Pillow's format readers report a damaged header in these
        defects.note("UnreadableImage", "images.dimensions", defects.describe(exc))
        return None
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        defects.note("UnreadableImage", "images.dimensions", f"{width}x{height} pixels: not an image to show")
        return None
    return width, height
