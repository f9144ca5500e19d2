"""Image files of the site, named by their content so an image shared by submissions is written once."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

JPEG_QUALITY = 88
MASK_RGBA = (20, 200, 60, 115)


class Assets:
    """Writes images under ``<site>/assets/`` and returns their paths relative to the site root."""

    def __init__(self, site: Path) -> None:
        self.folder = site / "assets"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written = 0

    def _write(self, data: bytes, suffix: str) -> str:
        name = f"{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
        path = self.folder / name
        if not path.exists():
            path.write_bytes(data)
            self.written += 1
        return f"assets/{name}"

    def image(self, array: np.ndarray) -> str:
        """An RGB (or grey) image as JPEG: photos and renders, small enough for thousands of pages."""
        image = Image.fromarray(_as_uint8(array))
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
        return self._write(buffer.getvalue(), ".jpg")

    def mask(self, mask: np.ndarray) -> str:
        """A boolean mask as a translucent PNG to lay over its image (transparent outside the mask)."""
        rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
        rgba[mask.astype(bool)] = MASK_RGBA
        buffer = io.BytesIO()
        Image.fromarray(rgba).save(buffer, format="PNG", optimize=True)
        return self._write(buffer.getvalue(), ".png")


def _as_uint8(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    finite = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(finite.min()), float(finite.max())
    scaled = (finite - low) / (high - low) if high > low else np.zeros_like(finite)
    return (scaled * 255).astype(np.uint8)
