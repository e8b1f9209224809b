"""Read any supported file (PNG, JPEG, DICOM) by its content, never by its extension.

    load_image(path) -> LoadedImage   or raises InputError with a readable reason
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.inference.io.dicom import load_dicom
from app.inference.errors import InputError
from app.inference.io.image import LoadedImage, chroma_measures, stretch_to_unit
from app.inference.limits import MAX_FILE_BYTES, MAX_PIXELS, MAX_SIDE, MIN_SIDE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
DICOM_MAGIC_OFFSET = 128

# Pillow's own bomb guard, aligned with ours (it raises DecompressionBombError beyond 2x this).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def sniff(head: bytes) -> str | None:
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if head[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == b"DICM":
        return "dicom"
    return None


def _describe_unknown(head: bytes) -> str:
    known = {
        b"%PDF": "a PDF document",
        b"PK\x03\x04": "a ZIP archive (or Office document)",
        b"GIF8": "a GIF image",
        b"BM": "a BMP image",
        b"II*\x00": "a TIFF image",
        b"MM\x00*": "a TIFF image",
        b"RIFF": "a RIFF file (WebP, WAV or AVI)",
        b"\x7fELF": "a program",
        b"MZ": "a Windows program",
    }
    for magic, what in known.items():
        if head.startswith(magic):
            return what
    if head.lstrip().startswith((b"<", b"{")):
        return "a text/HTML/JSON document"
    return "not a PNG, JPEG or DICOM image"


def load_image(path: str | Path) -> LoadedImage:
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(DICOM_MAGIC_OFFSET + 4)
    except OSError as exc:
        raise InputError(f"The file cannot be opened ({exc.strerror or exc}).") from exc
    if size == 0:
        raise InputError("The file is empty (0 bytes).")
    if size > MAX_FILE_BYTES:
        raise InputError(f"The file is {size / 2**20:.0f} MB, larger than any radiograph this app accepts.")

    kind = sniff(head)
    if kind == "dicom":
        image = load_dicom(path)
    elif kind in ("png", "jpeg"):
        image = _load_raster(path, kind)
    else:
        # DICOM without the 128-byte preamble exists in the wild; pydicom can still read it.
        try:
            image = load_dicom(path)
        except InputError:
            raise InputError(f"This file is {_describe_unknown(head)}. Supported are PNG, JPEG and DICOM.") from None
    if min(image.width, image.height) < MIN_SIDE:
        raise InputError(f"The image is only {image.width}x{image.height} pixels, too small to assess.")
    return image


def _load_raster(path: Path, kind: str) -> LoadedImage:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
                    raise InputError(f"The image is {width}x{height} pixels, larger than any radiograph this app accepts.")
                if getattr(img, "n_frames", 1) > 1:
                    raise InputError("The file holds an animation or several images; a radiograph is a single image.")
                img.load()
                notes: list[str] = []
                orientation = img.getexif().get(0x0112, 1)
                if orientation not in (0, 1):
                    img = ImageOps.exif_transpose(img)
                    notes.append(f"EXIF orientation {orientation} applied")
                return _to_loaded(img, kind, notes)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError("The image declares an enormous size (a decompression bomb) and was refused.") from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"The file looks like {kind.upper()} but cannot be decoded.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"The {kind.upper()} file is truncated or damaged and cannot be decoded.") from exc


def _to_loaded(img: Image.Image, kind: str, notes: list[str]) -> LoadedImage:
    mode = img.mode
    colourfulness = coloured_fraction = 0.0
    bits = 8
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(img, dtype=np.float32)
        bits = 16 if mode.startswith("I;16") or float(values.max()) < 65536 else 32
        pixels = stretch_to_unit(values)
        notes.append(f"{bits}-bit values scaled to the image's own range")
    else:
        if mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            mode = img.mode
        if mode in ("RGBA", "LA", "PA"):
            background = Image.new("RGBA", img.size, (0, 0, 0, 255))
            img = Image.alpha_composite(background, img.convert("RGBA")).convert("RGB")
            notes.append("transparency flattened onto black")
            mode = "RGB"
        if mode in ("CMYK", "YCbCr", "LAB", "HSV", "1"):
            img = img.convert("RGB" if mode != "1" else "L")
            mode = img.mode
        if mode == "RGB":
            rgb = np.asarray(img, dtype=np.float32) / 255.0
            colourfulness, coloured_fraction = chroma_measures(rgb)
            gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            pixels = np.clip(gray, 0.0, 1.0).astype(np.float32)
        elif mode == "L":
            pixels = np.asarray(img, dtype=np.float32) / 255.0
        else:
            raise InputError(f"Unsupported pixel format {mode!r}.")
    return LoadedImage(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        source_format=kind,
        bits=bits,
        colourfulness=colourfulness,
        coloured_fraction=coloured_fraction,
        notes=notes,
    )
