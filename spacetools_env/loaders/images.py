"""The one place benchmark images are opened: a pixel budget checked from the header, then decoded.

Every loader's images go through :func:`open_image` (:func:`image_array`): RGB pictures, masks, depth PNGs, BOP's
``rgb``/``depth``/``mask_visib`` files and images embedded in parquet cells or data URIs. PIL's
``Image.open`` reads only the header, so the size is checked before a pixel is decoded:

- against the **pixel budget**, :data:`MAX_IMAGE_PIXELS` (40 million pixels: 120 MB as RGB; the
  largest published benchmark image is far below it), overridable with
  ``$SPACETOOLS_MAX_IMAGE_PIXELS`` (read at each call, so eval workers inherit it). A 42 KB PNG
  can declare 13000x13000 pixels and decode to 2.4 GB; it is refused from its 33-byte header;
- against the size the caller expects (a mask or depth map must match its RGB image), so a
  mismatched file is refused, and named, before it is decoded.

A truncated or corrupt image is an error, never a partly black picture: PIL's
``ImageFile.LOAD_TRUNCATED_IMAGES`` is held off while an image is decoded here, even when another
library switched it on. Every problem is a :class:`~spacetools_env.loaders.errors.RowError`
naming the image (its file when it has one), the size and the budget; the loader adds the
benchmark file, the row and the fix.
"""

from __future__ import annotations

import io
import os
import re
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from spacetools_env.loaders.errors import RowError

MAX_IMAGE_PIXELS = 40_000_000
"""Default pixel budget (width x height) of one benchmark image; ``$SPACETOOLS_MAX_IMAGE_PIXELS`` overrides it."""
PIXEL_BUDGET_ENV = "SPACETOOLS_MAX_IMAGE_PIXELS"
_TRUNCATION_LOCK = threading.Lock()
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError,
                  Image.DecompressionBombError)  # what PIL's decoders raise on hostile bytes


def pixel_budget() -> int:
    """The pixel budget in force: ``$SPACETOOLS_MAX_IMAGE_PIXELS``, else :data:`MAX_IMAGE_PIXELS`.

    Raises:
        ValueError: the variable is set but is not a positive integer.
    """
    text = os.environ.get(PIXEL_BUDGET_ENV, "").strip()
    if not text:
        return MAX_IMAGE_PIXELS
    if not text.isdigit() or len(text) > 15 or int(text) < 1:
        raise ValueError(f"${PIXEL_BUDGET_ENV} must be a positive number of pixels such as 60000000, got {text!r}")
    return int(text)


def _budget_error(column: str, name: str, size: tuple[int, int] | str, budget: int) -> RowError:
    expected = (f"an image of at most {budget:,} pixels (the pixel budget; if this image is genuine, "
                f"raise it with {PIXEL_BUDGET_ENV}=<pixels>)")
    if isinstance(size, str):
        return RowError(column, expected, f"{name}: {size}")
    width, height = size
    return RowError(column, expected, f"{name}: {width}x{height} = {width * height:,} pixels")


def _unreadable(name: str, exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):  # its message shows the BytesIO's address: say it plainly
        exc = UnidentifiedImageError("not a known image format")
    return f"{name} that are no readable image ({exc})" if name.endswith(" bytes") else (
        f"{name}, which is no readable image ({exc})")


def _header(source: bytes | Path, column: str, name: str, what: str) -> Image.Image:
    """The image with only its header read (nothing decoded)."""
    with warnings.catch_warnings():
        # The budget below is ours; PIL's warning for images over its own limit would only repeat it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        except Image.DecompressionBombError as exc:  # over twice PIL's own limit: far over any budget
            pixels = re.search(r"\((\d+) pixels\)", str(exc))  # PIL names the size, not the dimensions
            size = f"{int(pixels.group(1)):,} pixels" if pixels else str(exc)
            raise _budget_error(column, name, size, min(pixel_budget(), 2 * (Image.MAX_IMAGE_PIXELS or 0))) from None
        except FileNotFoundError:
            raise RowError(column, "an existing image file", f"missing {name}") from None
        except _DECODE_ERRORS as exc:
            raise RowError(column, what, _unreadable(name, exc)) from None


def _name(source: bytes | Path) -> str:
    return f"{len(source)} bytes" if isinstance(source, bytes) else f"file {source}"


def image_size(source: bytes | Path, column: str) -> tuple[int, int]:
    """(width, height) from the header alone, within the pixel budget; nothing is decoded.

    Raises:
        RowError: not an image, or over the pixel budget.
    """
    name = _name(source)
    with _header(source, column, name, "an image file (PNG, JPEG, ...)") as image:
        size = (int(image.width), int(image.height))
    budget = pixel_budget()
    if size[0] * size[1] > budget:
        raise _budget_error(column, name, size, budget)
    return size


def open_image(
    source: bytes | Path, column: str, expected_size: tuple[int, int] | None = None,
    what: str = "an image file (PNG, JPEG, ...)",
) -> Image.Image:
    """The decoded image of ``source`` (encoded bytes, or a file), its size checked before decoding.

    Args:
        source: The encoded image, or the path of an image file.
        column: The field the image is in (for the error).
        expected_size: (width, height) the image must have (a mask or depth map: its RGB's size).
        what: What the field holds, for the error (``"a PNG mask"``).

    Raises:
        RowError: not an image, truncated or corrupt, over the pixel budget, or not ``expected_size``.
    """
    name = _name(source)
    image = _header(source, column, name, what)
    try:
        size = (int(image.width), int(image.height))
        budget = pixel_budget()
        if size[0] * size[1] > budget:
            raise _budget_error(column, name, size, budget)
        if expected_size is not None and size != tuple(expected_size):
            width, height = expected_size
            raise RowError(column, f"a {width}x{height} image (the size of the RGB image it belongs to)",
                           f"{name}: {size[0]}x{size[1]}")
        try:
            _load_untruncated(image)
        except _DECODE_ERRORS as exc:
            raise RowError(column, f"{what}, complete and readable", _unreadable(name, exc)) from None
    except BaseException:
        image.close()
        raise
    return image


def _load_untruncated(image: Image.Image) -> None:
    """``image.load()`` with PIL's truncated-image tolerance off (a cut file raises, never pads black)."""
    if not ImageFile.LOAD_TRUNCATED_IMAGES:
        image.load()
        return
    with _TRUNCATION_LOCK:  # another library turned it on process-wide: off for this decode only
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            image.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = True


def image_array(
    source: bytes | Path, column: str, expected_size: tuple[int, int] | None = None, *, rgb: bool = False,
    what: str = "an image file (PNG, JPEG, ...)",
) -> np.ndarray:
    """:func:`open_image` as a read-only array (HxWx3 uint8 when ``rgb``, else the stored values), file closed.

    Raises:
        RowError: as :func:`open_image`.
    """
    with open_image(source, column, expected_size, what) as image:
        array = np.asarray(image.convert("RGB") if rgb else image)
    array = np.ascontiguousarray(array)
    array.flags.writeable = False  # items are cached and shared: nobody may draw on them
    return array
