"""Working resolution: the size the model sees, and the way back to the photo's own aspect ratio.

InstructPix2Pix was trained at 256-512 px and produces good edits only near that scale, while photos
are 12-50 MP. The model therefore edits a downscaled copy; :mod:`ip2p_core.transfer` carries the edit
back to full size. Like the original InstructPix2Pix app we scale the long side to the requested
resolution and make both sides multiples of 64 (the UNet downsamples by 8 and its attention blocks
work best on multiples of 64), but we never crop: the small distortion from rounding is undone when
the result is mapped back, whereas a crop would lose part of the user's photo.
"""

from __future__ import annotations

from PIL import Image

from .errors import InvalidParameterError

SIZE_MULTIPLE = 64
# Below 64 px the UNet's 8x-downsampled latent would be 8x8 or less: nothing useful survives.
MIN_LONG_SIDE = 64
# Guards against absurd requests only; EditParams.validate holds the user-facing range.
MAX_LONG_SIDE = 8192
# Pillow's two-step downscale (box reduce, then Lanczos on >= 3x the target) is ~4x faster than a
# plain Lanczos on a 24 MP photo and visually identical at this gap.
_REDUCING_GAP = 3.0


def _check_size(width: int, height: int) -> None:
    if int(width) < 1 or int(height) < 1:
        raise InvalidParameterError(f"The image is {width}x{height} px; it must be at least 1x1 px.")


def _check_long_side(long_side: int) -> None:
    if not MIN_LONG_SIDE <= int(long_side) <= MAX_LONG_SIDE:
        raise InvalidParameterError(
            f"Working resolution must be between {MIN_LONG_SIDE} and {MAX_LONG_SIDE} px (got {long_side})."
        )


def _round_to_multiple(value: float) -> int:
    return max(SIZE_MULTIPLE, int(round(value / SIZE_MULTIPLE)) * SIZE_MULTIPLE)


def working_size(width: int, height: int, long_side: int = 512) -> tuple[int, int]:
    """The (width, height) the model works at for a ``width`` x ``height`` photo.

    The long side becomes ``long_side`` rounded to the nearest multiple of 64 and the short side
    keeps the aspect ratio, rounded to the nearest multiple of 64 but never below 64. Small photos
    are scaled *up* (the model is poor far below its training size). Aspect ratios beyond
    ``long : 64`` (e.g. 8:1 at 512 px, a 16000x300 panorama) are stretched to a 64 px short side;
    the result is squeezed back when delivered, so no aspect ratio is refused.
    """
    _check_size(width, height)
    _check_long_side(long_side)
    long_target = _round_to_multiple(long_side)
    long_orig, short_orig = max(width, height), min(width, height)
    short_target = _round_to_multiple(short_orig * long_target / long_orig)
    if width >= height:
        return long_target, short_target
    return short_target, long_target


def to_working(image: Image.Image, long_side: int = 512) -> Image.Image:
    """The RGB copy of ``image`` the model edits: resized (not cropped) to :func:`working_size`."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    size = working_size(image.width, image.height, long_side)
    if size == image.size:
        return image.copy()
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)


def aspect_size(original_size: tuple[int, int], long_side: int = 512) -> tuple[int, int]:
    """``original_size`` scaled so its long side is exactly ``long_side`` (each side at least 1 px)."""
    width, height = original_size
    _check_size(width, height)
    _check_long_side(long_side)
    scale = int(long_side) / max(width, height)
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def working_result_at_aspect(
    result: Image.Image, original_size: tuple[int, int], long_side: int = 512
) -> Image.Image:
    """The model's ``result`` for output size "working": the photo's own aspect ratio, long side ``long_side``.

    This undoes the stretch introduced by rounding to multiples of 64 in :func:`working_size`.
    """
    size = aspect_size(original_size, long_side)
    if result.mode != "RGB":
        result = result.convert("RGB")
    if size == result.size:
        return result.copy()
    return result.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)
