"""Loading photos into one predictable shape, and saving results with their provenance.

Whatever the file holds (CMYK, 16-bit, palette, greyscale, an ICC profile, an EXIF rotation),
:func:`load_image` returns an upright 8-bit sRGB RGB image plus, kept aside, the alpha channel and
the source EXIF. Everything a user can get wrong (missing, damaged, huge, not an image) is raised
as :class:`ImageLoadError` with one sentence naming the file.

:func:`save_image` picks the format from the extension, writes atomically, never overwrites the
input, and embeds the provenance (see :mod:`ip2p_core.metadata`).
"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageCms, ImageOps, PngImagePlugin, UnidentifiedImageError

from .atomic import atomic_output
from .errors import ImageLoadError, ImageSaveError
from .metadata import (
    EXIF_IFD_POINTER,
    Provenance,
    mark_user_comment_undefined,
    provenance_from_info,
    set_user_comment,
    xmp_packet,
)

DEFAULT_MAX_PIXELS = 100_000_000

EXIF_ORIENTATION = 0x0112
EXIF_SOFTWARE = 0x0131
EXIF_PIXEL_X = 0xA002
EXIF_PIXEL_Y = 0xA003

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
WEBP_MAX_SIDE = 16383
JPEG_MAX_SIDE = 65535
# JPEG stores EXIF and XMP in 64 KiB APP1 segments (less the segment headers).
JPEG_MAX_EXIF_BYTES = 65_000
JPEG_MAX_XMP_BYTES = 65_000

# Raster formats worth opening as photos. Restricting Image.open to these keeps out formats that
# run external programs (EPS via Ghostscript) or are not photos at all.
_OPEN_FORMATS = (
    "PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP", "DIB", "TIFF", "PPM", "TGA",
    "ICO", "AVIF", "JPEG2000", "PCX", "QOI", "SGI", "PSD",
)
_OPEN_FORMATS_FOR_PEOPLE = "PNG, JPEG, WebP, GIF, BMP, TIFF, AVIF, JPEG 2000, TGA or PPM"
_SRGB_DESCRIPTIONS = ("srgb",)


@dataclass
class LoadedImage:
    """A photo ready for editing: upright 8-bit sRGB pixels, with alpha and EXIF kept aside."""

    rgb: Image.Image
    alpha: Image.Image | None = None
    exif: bytes | None = None
    icc_converted: bool = False
    source_mode: str = "RGB"
    format: str | None = None
    path: Path | None = None
    provenance: Provenance | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.size

    def with_alpha(self) -> Image.Image:
        """The RGB image with its alpha channel put back (RGBA), or the RGB image itself."""
        return reapply_alpha(self.rgb, self.alpha)


# --- loading ---------------------------------------------------------------------------------

def load_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file; raises ImageLoadError with a one-sentence reason when it cannot."""
    file_path = Path(path)
    label = f'"{file_path.name or file_path}"'
    try:
        info = os.stat(file_path)
    except FileNotFoundError:
        raise ImageLoadError(f"No file at {file_path}; check the name and folder.") from None
    except PermissionError:
        raise ImageLoadError(f"Cannot open {label}: permission denied; check the file's permissions.") from None
    except OSError as exc:
        raise ImageLoadError(f"Cannot open {file_path}: {_reason(exc)}.") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageLoadError(f"{file_path} is a folder, not an image; choose an image file.")
    if not stat.S_ISREG(info.st_mode):
        # Pipes and devices could block forever or never end; photos are regular files.
        raise ImageLoadError(f"{file_path} is not a regular file; choose an image file.")
    if info.st_size == 0:
        raise ImageLoadError(f"{label} is empty (0 bytes); choose another image.")
    try:
        handle = open(file_path, "rb")
    except OSError as exc:
        raise ImageLoadError(f"Cannot open {label}: {_reason(exc)}.") from exc
    with handle:
        return _load_stream(handle, label, path=file_path, max_pixels=max_pixels)


def load_image_bytes(data: bytes, name: str = "pasted image", *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an encoded image held in memory (drag and drop, clipboard file data)."""
    label = f'"{name}"'
    if not data:
        raise ImageLoadError(f"{label} is empty; copy or choose the image again.")
    return _load_stream(io.BytesIO(data), label, path=None, max_pixels=max_pixels)


def from_pil(image: Image.Image, name: str = "pasted image", *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Normalise an already decoded PIL image (e.g. from the clipboard) like a loaded file."""
    label = f'"{name}"'
    _check_pixel_limit(image.size, label, max_pixels)
    try:
        image.load()
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad data
        raise _damaged(label, exc) from exc
    return _normalise(image, label, fmt=image.format, path=None)


def _load_stream(stream: IO[bytes], label: str, *, path: Path | None, max_pixels: int) -> LoadedImage:
    image = _open_header(stream, label, max_pixels)
    try:
        # Only the first frame of animations is used; a freshly opened image is already on it.
        image.load()
    except MemoryError:
        raise ImageLoadError(f"{label} is too large to fit in memory; resize it in another program first.") from None
    except Exception as exc:  # noqa: BLE001
        raise _damaged(label, exc) from exc
    return _normalise(image, label, fmt=image.format, path=path)


def _open_header(stream: IO[bytes], label: str, max_pixels: int) -> Image.Image:
    """Open without decoding pixels, refusing huge images from the header's size alone."""
    with warnings.catch_warnings():
        # Pillow warns above its own (global) limit; ours is the one that counts here.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(stream, formats=_open_formats())
        except Image.DecompressionBombError as exc:
            pixels = _pixels_in_message(str(exc))
            raise ImageLoadError(_too_large_message(label, pixels, None, max_pixels)) from None
        except UnidentifiedImageError:
            raise ImageLoadError(
                f"{label} is not an image IP2P Desktop can read; choose a {_OPEN_FORMATS_FOR_PEOPLE} file."
            ) from None
        except Exception as exc:  # noqa: BLE001
            raise _damaged(label, exc) from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{label} has no pixels ({width}x{height}); choose another image.")
    _check_pixel_limit(image.size, label, max_pixels)
    return image


def _open_formats() -> list[str]:
    Image.init()
    return [name for name in _OPEN_FORMATS if name in Image.OPEN]


def _check_pixel_limit(size: tuple[int, int], label: str, max_pixels: int) -> None:
    pixels = size[0] * size[1]
    if pixels > max_pixels:
        raise ImageLoadError(_too_large_message(label, pixels, size, max_pixels))


def _too_large_message(label: str, pixels: int | None, size: tuple[int, int] | None, max_pixels: int) -> str:
    dims = f"{size[0]}x{size[1]}, " if size else ""
    amount = f" ({dims}{_count(pixels)})" if pixels else ""
    return (
        f"{label} is too large to open{amount}; the limit is {_count(max_pixels)}, "
        "so resize it in another program first."
    )


def _count(pixels: int) -> str:
    if pixels >= 1_000_000:
        return f"{pixels / 1_000_000:,.1f} megapixels"
    return f"{pixels:,} pixels"


def _pixels_in_message(message: str) -> int | None:
    found = re.search(r"\((\d+) pixels\)", message)
    return int(found.group(1)) if found else None


def _damaged(label: str, exc: BaseException) -> ImageLoadError:
    if isinstance(exc, MemoryError):
        return ImageLoadError(f"{label} is too large to fit in memory; resize it in another program first.")
    if "truncated" in str(exc).lower():
        return ImageLoadError(f"{label} is incomplete (the file is cut short); copy or export it again.")
    return ImageLoadError(f"{label} is damaged and cannot be read; re-export it or choose another image.")


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc) or type(exc).__name__).rstrip(".").lower()


def _normalise(image: Image.Image, label: str, *, fmt: str | None, path: Path | None) -> LoadedImage:
    source_mode = image.mode
    provenance = _safe_provenance(image)
    image, exif = _upright(image)
    colour, alpha = _split_alpha(image, label)
    colour = _to_8bit(colour)
    rgb, icc_converted = _to_srgb(colour, image.info.get("icc_profile"))
    if alpha is not None and alpha.getextrema() == (255, 255):
        alpha = None  # fully opaque: nothing to keep, and saves stay plain RGB
    # Metadata travels in LoadedImage's fields; stale copies in .info (an old "parameters" text,
    # the source ICC profile) must not leak into files written from these pixels.
    rgb.info = {}
    if alpha is not None:
        alpha.info = {}
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        exif=exif,
        icc_converted=icc_converted,
        source_mode=source_mode,
        format=fmt,
        path=path,
        provenance=provenance,
    )


def _safe_provenance(image: Image.Image) -> Provenance | None:
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - damaged metadata must not stop the photo from opening
        exif = None
    try:
        return provenance_from_info(dict(image.info), exif)
    except Exception:  # noqa: BLE001
        return None


def _upright(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """Apply the EXIF rotation; return the image and its EXIF with Orientation reset to 1."""
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - unreadable EXIF: show the pixels as stored
        return image, None
    orientation = exif.get(EXIF_ORIENTATION)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        try:
            transposed = ImageOps.exif_transpose(image)
        except Exception:  # noqa: BLE001
            transposed = None
        if transposed is not None:
            icc = image.info.get("icc_profile")
            image = transposed
            if icc and "icc_profile" not in image.info:
                image.info["icc_profile"] = icc
    if not len(exif) and not exif.get_ifd(EXIF_IFD_POINTER):
        return image, None
    try:
        # A fresh copy: the caller's image (from_pil) keeps its own EXIF untouched.
        reset = Image.Exif()
        reset.load(exif.tobytes())
        if EXIF_ORIENTATION in reset:
            reset[EXIF_ORIENTATION] = 1
        return image, reset.tobytes()
    except Exception:  # noqa: BLE001 - an EXIF block Pillow cannot rewrite is dropped, not fatal
        return image, None


def _split_alpha(image: Image.Image, label: str) -> tuple[Image.Image, Image.Image | None]:
    """Separate colour from transparency, resolving palettes; colour stays in its own space."""
    mode = image.mode
    if mode == "RGBa":
        image, mode = image.convert("RGBA"), "RGBA"
    elif mode == "La":
        image, mode = image.convert("LA"), "LA"
    if mode in ("RGBA", "LA"):
        bands = image.split()
        colour = image.convert("RGB") if mode == "RGBA" else bands[0]
        return colour, bands[-1]
    if mode == "PA" or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    if mode in ("L", "RGB") and "transparency" in image.info:
        rgba = image.convert("RGBA")
        colour = rgba.convert("RGB") if mode == "RGB" else image.copy()
        colour.info.pop("transparency", None)
        return colour, rgba.getchannel("A")
    if mode == "P":
        return image.convert("RGB"), None
    if mode == "1":
        return image.convert("L"), None
    if mode in ("RGB", "L", "CMYK") or mode.startswith("I") or mode == "F":
        return image, None
    if mode == "LAB":
        try:
            lab = ImageCms.createProfile("LAB")
            return ImageCms.profileToProfile(image, lab, ImageCms.createProfile("sRGB"), outputMode="RGB"), None
        except (ImageCms.PyCMSError, ValueError, OSError):
            pass
    try:
        return image.convert("RGB"), None
    except (ValueError, OSError):
        raise ImageLoadError(
            f"{label} uses a colour mode ({mode}) IP2P Desktop cannot convert; save it as an RGB PNG or JPEG first."
        ) from None


def _to_8bit(image: Image.Image) -> Image.Image:
    """Scale 16/32-bit and float greyscale to 8 bits over their full range (Pillow's convert clips)."""
    mode = image.mode
    if not (mode.startswith("I") or mode == "F"):
        return image
    import numpy as np  # only the rare high-bit-depth files need it

    values = np.asarray(image).astype(np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode.startswith("I;16") or (mode == "I" and low >= 0 and high <= 65535):
        # Pillow holds 16-bit PNG/PGM/TIFF greyscale at full 0..65535 scale.
        scaled = values * (255.0 / 65535.0)
    elif mode == "F" and low >= 0 and high <= 1.0:
        scaled = values * 255.0
    elif mode == "F" and low >= 0 and high <= 255.0:
        scaled = values
    else:
        # Signed or out-of-range data has no standard white point: stretch what is there.
        span = (high - low) or 1.0
        scaled = (values - low) * (255.0 / span)
    grey = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")
    grey.info = dict(image.info)
    return grey


def _to_srgb(colour: Image.Image, icc: bytes | None) -> tuple[Image.Image, bool]:
    """Convert colour managed pixels to sRGB; unprofiled or unusable profiles are taken as sRGB."""
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            space = profile.profile.xcolor_space.strip().upper()
            description = (ImageCms.getProfileDescription(profile) or "").strip().lower()
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            profile = None
        expected = {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK"}.get(colour.mode)
        if profile is not None and space == expected:
            if not (space == "RGB" and description.startswith(_SRGB_DESCRIPTIONS)):
                try:
                    converted = ImageCms.profileToProfile(
                        colour, profile, ImageCms.createProfile("sRGB"), outputMode="RGB"
                    )
                except (ImageCms.PyCMSError, OSError, ValueError):
                    converted = None
                if converted is not None:
                    converted.info.pop("icc_profile", None)
                    return converted, True
    rgb = colour if colour.mode == "RGB" else colour.convert("RGB")
    rgb.info.pop("icc_profile", None)
    return rgb, False


# --- saving ----------------------------------------------------------------------------------

def reapply_alpha(result_rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """Put ``alpha`` back on an edited image, resized to it if the edit changed the size."""
    if alpha is None:
        return result_rgb
    if alpha.mode != "L":
        alpha = alpha.convert("L")
    if alpha.size != result_rgb.size:
        alpha = alpha.resize(result_rgb.size, Image.Resampling.LANCZOS)
    rgba = result_rgb.convert("RGB")
    rgba.putalpha(alpha)
    return rgba


def save_image(
    path: str | os.PathLike[str],
    image: Image.Image | LoadedImage,
    *,
    alpha: Image.Image | None = None,
    exif: bytes | Image.Exif | None = None,
    provenance: Provenance | None = None,
    overwrite: bool = True,
    protect: Iterable[str | os.PathLike[str]] = (),
    quality: int = 95,
) -> Path:
    """Save a result as PNG, JPEG or WebP (chosen by extension) atomically; return the path.

    PNG and WebP keep ``alpha``; JPEG drops it. ``exif`` (the source's) is written with its
    orientation reset to 1; ``provenance`` is embedded as described in :mod:`metadata`. Paths in
    ``protect`` (the inputs) are never overwritten.
    """
    target = Path(path)
    fmt = _save_format(target)
    for protected in protect:
        if _same_file(target, Path(protected)):
            raise ImageSaveError(
                f"Refusing to overwrite the original image {target.name}; choose another file name for the result."
            )
    if target.is_dir():
        raise ImageSaveError(f"Cannot save to {target}: it is a folder; choose a file name.")
    if not overwrite and target.exists():
        raise ImageSaveError(f"{target.name} already exists in {target.parent}; choose another name.")

    if isinstance(image, LoadedImage):
        alpha = image.alpha if alpha is None else alpha
        exif = image.exif if exif is None else exif
        image = image.rgb
    if image.mode in ("RGBA", "LA", "PA") and alpha is None:
        alpha = image.getchannel("A")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    _check_dimensions(rgb.size, fmt, target)

    options: dict[str, Any] = {}
    exif_bytes = _exif_for_output(exif, provenance if fmt != "PNG" else None, rgb.size)
    if fmt == "PNG":
        pixels = reapply_alpha(rgb, alpha)
        options["pnginfo"] = _png_text(provenance)
        if exif_bytes:
            options["exif"] = exif_bytes
    elif fmt == "JPEG":
        pixels = rgb
        if exif_bytes and len(exif_bytes) > JPEG_MAX_EXIF_BYTES:
            # Too big for one APP1 segment (huge maker notes): keep only our provenance.
            exif_bytes = _exif_for_output(None, provenance, rgb.size)
        options.update(quality=int(quality), subsampling=0 if quality >= 90 else 2)
        if exif_bytes:
            options["exif"] = exif_bytes
        if provenance is not None:
            xmp = xmp_packet(provenance)
            if len(xmp) <= JPEG_MAX_XMP_BYTES:
                options["xmp"] = xmp
    else:
        pixels = reapply_alpha(rgb, alpha)
        options.update(quality=int(quality), method=4, lossless=quality >= 100)
        if exif_bytes:
            options["exif"] = exif_bytes
        if provenance is not None:
            options["xmp"] = xmp_packet(provenance)

    with atomic_output(target, what="the image") as temp:
        try:
            pixels.save(temp, format=fmt, **options)
        except (ValueError, TypeError) as exc:
            raise ImageSaveError(f"Cannot save {target.name} as {fmt}: {exc}.") from exc
    return target


def _save_format(target: Path) -> str:
    suffix = target.suffix.lower()
    if suffix not in SAVE_FORMATS:
        shown = f"'{target.suffix}'" if target.suffix else "a name without an extension"
        raise ImageSaveError(
            f"Cannot save as {shown}; choose a file name ending in .png, .jpg, .jpeg or .webp."
        )
    return SAVE_FORMATS[suffix]


def _check_dimensions(size: tuple[int, int], fmt: str, target: Path) -> None:
    limit = WEBP_MAX_SIDE if fmt == "WEBP" else JPEG_MAX_SIDE if fmt == "JPEG" else None
    if limit is not None and max(size) > limit:
        raise ImageSaveError(
            f"{target.name} is {size[0]}x{size[1]}, larger than {fmt} allows ({limit} px a side); save it as PNG."
        )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _png_text(provenance: Provenance | None) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    if provenance is not None and provenance.chain:
        # add_text falls back to UTF-8 iTXt by itself when the text is not Latin-1.
        info.add_text("parameters", provenance.parameters_text())
        info.add_itxt("ip2p", provenance.to_json(), zip=True)
        info.add_text("Software", provenance.app)
    return info


def _exif_for_output(
    source: bytes | Image.Exif | None, provenance: Provenance | None, size: tuple[int, int]
) -> bytes | None:
    """The EXIF to write: the source's (orientation 1, current pixel size) plus provenance."""
    exif = Image.Exif()
    if isinstance(source, Image.Exif):
        source = source.tobytes()
    if source:
        try:
            exif.load(source)
        except Exception:  # noqa: BLE001 - a damaged source EXIF is dropped rather than copied
            exif = Image.Exif()
    has_sub_ifd = EXIF_IFD_POINTER in exif
    if not len(exif) and provenance is None:
        return None
    if EXIF_ORIENTATION in exif:
        exif[EXIF_ORIENTATION] = 1
    if has_sub_ifd:
        sub = exif.get_ifd(EXIF_IFD_POINTER)
        if EXIF_PIXEL_X in sub:
            sub[EXIF_PIXEL_X] = size[0]
        if EXIF_PIXEL_Y in sub:
            sub[EXIF_PIXEL_Y] = size[1]
    if provenance is not None and provenance.chain:
        set_user_comment(exif, provenance.parameters_text())
        exif[EXIF_SOFTWARE] = provenance.app
    try:
        return mark_user_comment_undefined(exif.tobytes())
    except Exception:  # noqa: BLE001
        return None
