"""Loading every kind of photo a user may pick, and saving results with provenance."""

from __future__ import annotations

import errno
import io
import os
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops

from ip2p_core.errors import ImageLoadError, ImageSaveError
from ip2p_core.imageio import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    from_pil,
    load_image,
    load_image_bytes,
    reapply_alpha,
    save_image,
)
from ip2p_core.metadata import (
    ChainStep,
    Provenance,
    get_user_comment,
    parse_parameters_text,
    provenance_from_xmp,
    read_provenance,
)
from ip2p_core.params import EditParams

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "images"
ODD = SHARED / "odd"
PHOTOS = SHARED / "photos"
needs_shared = pytest.mark.skipif(not ODD.is_dir(), reason="shared test images (../shared/images) not present")

ORIENTATION, MAKE, SOFTWARE = 0x0112, 0x010F, 0x0131
EXIF_IFD, DATE_ORIGINAL, PIXEL_X, PIXEL_Y = 0x8769, 0x9003, 0xA002, 0xA003


# --- helpers -----------------------------------------------------------------------------

def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int32)


def _mean_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(_array(a) - _array(b)).mean())


def _png16(width: int, height: int, colour_type: int, samples: np.ndarray) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot save 16-bit RGB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = samples.astype(">u2").reshape(height, -1)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _swapped_primaries_profile() -> bytes:
    """A minimal ICC v2 RGB profile whose red and green primaries are sRGB's green and red.

    Pure red stored under this profile *is* green, so a loader that honours the profile must
    turn it green; one that ignores it leaves it red.
    """

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    text = b"swapped test profile\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.3851, 0.7169, 0.0971)),  # sRGB green
        (b"gXYZ", xyz(0.4361, 0.2225, 0.0139)),  # sRGB red
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size) + b"\0\0\0\0" + b"\x02\x10\x00\x00" + b"mntr" + b"RGB " + b"XYZ "
        + b"\0" * 12 + b"acsp" + b"\0" * 24 + b"\0\0\0\0" + s15(0.9642) + s15(1.0) + s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def _camera_jpeg(path: Path, size: tuple[int, int], orientation: int) -> Image.Image:
    """A JPEG like a phone's: stored sideways, with camera EXIF; returns the stored pixels."""
    stored = Image.new("RGB", size, (20, 40, 200))
    stored.paste((230, 30, 30), (0, 0, size[0] // 4, size[1] // 4))  # red marks the stored top-left
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "TestCam"
    exif[EXIF_IFD] = {DATE_ORIGINAL: "2024:01:02 03:04:05", PIXEL_X: size[0], PIXEL_Y: size[1]}
    stored.save(path, quality=95, exif=exif.tobytes())
    return stored


def _provenance() -> Provenance:
    chain = [
        ChainStep.from_params(EditParams("make it winter", seed=11), 512, 384, "timbrooks/instruct-pix2pix"),
        ChainStep.from_params(EditParams("añade nieve ❄", seed=22, negative="blur"), 512, 384, "timbrooks/instruct-pix2pix"),
    ]
    return Provenance(chain=chain)


def _single_line_naming(err: pytest.ExceptionInfo[ImageLoadError], name: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    assert name in message


# --- every odd file ----------------------------------------------------------------------

ODD_EXPECTED = {
    # name: (size, source mode, has alpha) -- or an exception snippet when it must be refused
    "hopper.gif": ((128, 128), "P", False),
    "hopper.webp": ((128, 128), "RGB", False),
    "hopper_16bit.pgm": ((128, 128), "I", False),
    "hopper_gray.jpg": ((128, 128), "L", False),
    "hopper_orientation_6.jpg": ((128, 128), "RGB", False),
    "icc_profile.png": ((57, 57), "RGBA", False),  # alpha fully opaque, so none is kept
    "p_trns_single.png": ((64, 64), "P", True),
    "pil123rgba.png": ((162, 150), "RGBA", True),
    "pil_sample_cmyk.jpg": ((100, 100), "CMYK", False),
    "tiff_16bit_RGB_target.png": ((100, 40), "RGB", False),
    "uncompressed_la.png": ((128, 128), "LA", True),
    "broken.png": "not an image",
    "truncated_jpeg.jpg": "incomplete",
    "decompression_bomb.gif": "too large",
}


@needs_shared
def test_every_odd_file_is_covered() -> None:
    assert sorted(p.name for p in ODD.iterdir()) == sorted(ODD_EXPECTED)


@needs_shared
@pytest.mark.parametrize("name", sorted(ODD_EXPECTED))
def test_odd_file_loads_as_upright_8bit_rgb_or_is_refused(name: str) -> None:
    expected = ODD_EXPECTED[name]
    if isinstance(expected, str):
        start = time.perf_counter()
        with pytest.raises(ImageLoadError, match=expected) as err:
            load_image(ODD / name)
        assert time.perf_counter() - start < 5
        _single_line_naming(err, name)
        return
    size, mode, has_alpha = expected
    loaded = load_image(ODD / name)
    assert loaded.rgb.mode == "RGB"
    assert loaded.size == size
    assert loaded.source_mode == mode
    assert loaded.path == ODD / name
    assert (loaded.alpha is not None) == has_alpha
    if loaded.alpha is not None:
        assert loaded.alpha.mode == "L" and loaded.alpha.size == size
    low, high = zip(*loaded.rgb.getextrema())
    assert max(high) > 100 and min(low) < 100, "image collapsed to one end of the range"


@needs_shared
def test_orientation_6_is_turned_upright() -> None:
    upright = load_image(ODD / "hopper.webp").rgb
    loaded = load_image(ODD / "hopper_orientation_6.jpg")
    stored = Image.open(ODD / "hopper_orientation_6.jpg").convert("RGB")
    assert _mean_diff(loaded.rgb, upright) < 12
    assert _mean_diff(stored, upright) > 40
    assert loaded.exif is not None
    exif = Image.Exif()
    exif.load(loaded.exif)
    assert exif[ORIENTATION] == 1


@pytest.mark.parametrize(("orientation", "upright_size"), [(6, (40, 60)), (8, (40, 60)), (3, (60, 40))])
def test_camera_orientation_gives_upright_size_and_keeps_other_exif(
    tmp_path: Path, orientation: int, upright_size: tuple[int, int]
) -> None:
    path = tmp_path / "phone.jpg"
    stored = _camera_jpeg(path, (60, 40), orientation)
    loaded = load_image(path)
    assert loaded.size == upright_size
    expected = {6: Image.Transpose.ROTATE_270, 8: Image.Transpose.ROTATE_90, 3: Image.Transpose.ROTATE_180}
    assert _mean_diff(loaded.rgb, stored.transpose(expected[orientation])) < 6
    exif = Image.Exif()
    exif.load(loaded.exif)
    assert exif[ORIENTATION] == 1
    assert exif[MAKE] == "TestCam"
    assert exif.get_ifd(EXIF_IFD)[DATE_ORIGINAL] == "2024:01:02 03:04:05"


@needs_shared
def test_cmyk_colours_are_plausible() -> None:
    # The sample has a red patch top-left on a black background.
    rgb = load_image(ODD / "pil_sample_cmyk.jpg").rgb
    r, g, b = rgb.getpixel((3, 3))
    assert r > 200 and g < 60 and b < 60
    assert max(rgb.getpixel((95, 95))) < 40


@needs_shared
def test_16bit_grey_is_scaled_not_clipped() -> None:
    loaded = load_image(ODD / "hopper_16bit.pgm")
    grey = load_image(ODD / "hopper_gray.jpg").rgb
    assert _mean_diff(loaded.rgb, grey) < 3
    assert len(np.unique(np.asarray(loaded.rgb)[..., 0])) > 150


@needs_shared
def test_tiff_16bit_rgb_target_keeps_its_tones() -> None:
    # Despite its name this file is stored as 8-bit RGB; it must come through unchanged.
    loaded = load_image(ODD / "tiff_16bit_RGB_target.png")
    raw = Image.open(ODD / "tiff_16bit_RGB_target.png").convert("RGB")
    assert _mean_diff(loaded.rgb, raw) == 0
    assert max(high for _, high in loaded.rgb.getextrema()) < 200


def test_16bit_png_grey_and_rgb_scale_to_8bit(tmp_path: Path) -> None:
    grey = np.array([[65535, 32768, 2570, 0]])
    loaded = load_image_bytes(_png16(4, 1, 0, grey), "grey16.png")
    assert [loaded.rgb.getpixel((x, 0))[0] for x in range(4)] == [255, 128, 10, 0]
    rgb = np.array([[[65535, 32768, 2570], [0, 65535, 0]]])
    loaded = load_image_bytes(_png16(2, 1, 2, rgb), "rgb16.png")
    assert loaded.rgb.getpixel((0, 0)) == pytest.approx((255, 128, 10), abs=1)
    assert loaded.rgb.getpixel((1, 0)) == (0, 255, 0)
    rgba = np.array([[[65535, 0, 0, 32768]]])
    loaded = load_image_bytes(_png16(1, 1, 6, rgba), "rgba16.png")
    assert loaded.alpha is not None and loaded.alpha.getpixel((0, 0)) == pytest.approx(128, abs=1)


def test_float_and_32bit_images_are_scaled() -> None:
    ramp = np.linspace(0.0, 1.0, 256, dtype=np.float32).reshape(1, 256)
    loaded = from_pil(Image.fromarray(ramp, "F"))
    assert loaded.rgb.getpixel((0, 0)) == (0, 0, 0)
    assert loaded.rgb.getpixel((255, 0)) == (255, 255, 255)
    assert loaded.rgb.getpixel((128, 0))[0] == pytest.approx(128, abs=1)
    signed = Image.fromarray(np.array([[-1000, 0, 1000]], dtype=np.int32), "I")
    assert [from_pil(signed).rgb.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


@needs_shared
def test_alpha_and_palette_transparency_are_kept_aside() -> None:
    for name in ("pil123rgba.png", "uncompressed_la.png", "p_trns_single.png"):
        loaded = load_image(ODD / name)
        reference = Image.open(ODD / name).convert("RGBA").getchannel("A")
        assert loaded.alpha is not None
        assert _mean_diff(loaded.alpha, reference) == 0, name
        assert loaded.alpha.getextrema() == (0, 255), name
    la = load_image(ODD / "uncompressed_la.png").rgb
    r, g, b = la.split()
    assert ImageChops.difference(r, g).getbbox() is None and ImageChops.difference(g, b).getbbox() is None


@needs_shared
def test_srgb_tagged_image_is_left_alone() -> None:
    loaded = load_image(ODD / "icc_profile.png")
    raw = Image.open(ODD / "icc_profile.png").convert("RGB")
    assert not loaded.icc_converted
    assert _mean_diff(loaded.rgb, raw) == 0


def test_icc_profile_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "tagged.png"
    Image.new("RGB", (4, 4), (255, 0, 0)).save(path, icc_profile=_swapped_primaries_profile())
    loaded = load_image(path)
    assert loaded.icc_converted
    r, g, b = loaded.rgb.getpixel((1, 1))
    assert r < 30 and g > 225 and b < 30


def test_unusable_icc_profile_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "badicc.png"
    Image.new("RGB", (4, 4), (10, 200, 30)).save(path, icc_profile=b"not a profile at all" * 10)
    loaded = load_image(path)
    assert not loaded.icc_converted
    assert loaded.rgb.getpixel((0, 0)) == (10, 200, 30)


@needs_shared
def test_adobe_rgb_photo_is_converted_to_srgb() -> None:
    loaded = load_image(PHOTOS / "rocket.jpg")
    raw = Image.open(PHOTOS / "rocket.jpg").convert("RGB")
    assert loaded.icc_converted
    assert 0.3 < _mean_diff(loaded.rgb, raw) < 20


def test_animations_give_their_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    for ext in ("gif", "webp"):
        path = tmp_path / f"anim.{ext}"
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
        r, g, b = load_image(path).rgb.getpixel((8, 8))
        assert r > 200 and g < 50 and b < 50, ext


# --- photos ------------------------------------------------------------------------------

PHOTO_SIZES = {
    "astronaut.png": (512, 512),
    "chelsea.png": (451, 300),
    "coffee.png": (600, 400),
    "rocket.jpg": (640, 427),
    "motorcycle_left.png": (741, 500),
}


@needs_shared
def test_every_photo_is_covered() -> None:
    assert sorted(p.name for p in PHOTOS.iterdir()) == sorted(PHOTO_SIZES)


@needs_shared
@pytest.mark.parametrize("name", sorted(PHOTO_SIZES))
def test_photo_loads(name: str) -> None:
    loaded = load_image(PHOTOS / name)
    assert loaded.size == PHOTO_SIZES[name]
    assert loaded.rgb.mode == "RGB" and loaded.alpha is None
    assert loaded.format == ("JPEG" if name.endswith(".jpg") else "PNG")
    assert loaded.provenance is None


# --- refusals ----------------------------------------------------------------------------

@needs_shared
def test_small_pixel_limit_refuses_a_normal_photo() -> None:
    with pytest.raises(ImageLoadError, match="too large") as err:
        load_image(PHOTOS / "astronaut.png", max_pixels=100_000)
    _single_line_naming(err, "astronaut.png")
    assert "512x512" in str(err.value)
    assert load_image(PHOTOS / "astronaut.png", max_pixels=512 * 512).size == (512, 512)


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(path)

    def never(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", never)
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(path, max_pixels=10_000)


def test_header_between_pillow_warning_and_our_limit_is_not_refused_as_too_large() -> None:
    # 95 MP is over Pillow's own warning threshold but under ours; the file is then cut short.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 10_000, 9_500, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 999)) + chunk(b"IEND", b"")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageLoadError, match="incomplete|damaged"):
            load_image_bytes(data, "claims95mp.png")


def test_default_limit_does_not_touch_pillow_global() -> None:
    before = Image.MAX_IMAGE_PIXELS
    load_image_bytes(_png16(2, 2, 0, np.zeros((2, 2))), "tiny.png", max_pixels=1_000)
    assert Image.MAX_IMAGE_PIXELS == before
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_missing_file_folder_empty_and_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="No file") as err:
        load_image(tmp_path / "nope.jpg")
    _single_line_naming(err, "nope.jpg")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty") as err:
        load_image(tmp_path / "empty.png")
    _single_line_naming(err, "empty.png")
    (tmp_path / "notes.jpg").write_text("these are not pixels\n" * 50)
    with pytest.raises(ImageLoadError, match="not an image") as err:
        load_image(tmp_path / "notes.jpg")
    _single_line_naming(err, "notes.jpg")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX-only")
def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image(fifo)


def test_eps_is_not_handed_to_ghostscript(tmp_path: Path) -> None:
    path = tmp_path / "doc.eps"
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(path)


@needs_shared
def test_damaged_bytes_in_memory() -> None:
    data = (PHOTOS / "rocket.jpg").read_bytes()
    with pytest.raises(ImageLoadError, match="incomplete") as err:
        load_image_bytes(data[: len(data) // 3], "clip.jpg")
    _single_line_naming(err, "clip.jpg")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image_bytes(b"")
    assert load_image_bytes(data, "rocket.jpg").size == (640, 427)


def test_from_pil_applies_orientation_without_changing_the_callers_image(tmp_path: Path) -> None:
    path = tmp_path / "phone.jpg"
    _camera_jpeg(path, (60, 40), 6)
    with Image.open(path) as pasted:
        pasted.load()
        loaded = from_pil(pasted)
        assert pasted.getexif()[ORIENTATION] == 6
    assert loaded.size == (40, 60)
    exif = Image.Exif()
    exif.load(loaded.exif)
    assert exif[ORIENTATION] == 1


def test_from_pil_keeps_alpha_aside_and_applies_limit() -> None:
    rgba = Image.new("RGBA", (10, 6), (1, 2, 3, 0))
    rgba.paste((9, 8, 7, 255), (0, 0, 5, 6))
    loaded = from_pil(rgba)
    assert loaded.rgb.mode == "RGB" and loaded.size == (10, 6)
    assert loaded.alpha is not None and loaded.alpha.getextrema() == (0, 255)
    assert loaded.path is None
    with pytest.raises(ImageLoadError, match="too large"):
        from_pil(rgba, "clipboard", max_pixels=20)


# --- saving ------------------------------------------------------------------------------

@pytest.mark.parametrize("ext", ["png", "jpg", "jpeg", "webp"])
def test_save_round_trip_keeps_provenance_and_exif(tmp_path: Path, ext: str) -> None:
    source = tmp_path / "phone.jpg"
    _camera_jpeg(source, (60, 40), 6)
    loaded = load_image(source)
    result = loaded.rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)  # stands in for an edit
    prov = _provenance()
    out = save_image(tmp_path / f"result.{ext}", result, exif=loaded.exif, provenance=prov, protect=[source])
    assert out == tmp_path / f"result.{ext}"

    again = load_image(out)
    assert again.size == (40, 60), "saved pixels must be upright with orientation 1"
    assert _mean_diff(again.rgb, result) < 6
    assert again.provenance == prov
    assert read_provenance(out) == prov
    exif = Image.Exif()
    exif.load(again.exif)
    assert exif[ORIENTATION] == 1
    assert exif[MAKE] == "TestCam"
    sub = exif.get_ifd(EXIF_IFD)
    assert sub[DATE_ORIGINAL] == "2024:01:02 03:04:05"
    assert (sub[PIXEL_X], sub[PIXEL_Y]) == (40, 60)
    with Image.open(out) as image:
        if ext == "png":
            assert image.info["parameters"] == prov.parameters_text()
        else:
            comment = get_user_comment(image.getexif())
            assert comment is not None
            assert parse_parameters_text(comment).instruction == prov.last.instruction
            assert provenance_from_xmp(image.info["xmp"]) == prov
            raw = image.info["exif"]
            entry = b"\x86\x92\x07\x00" if b"II*\x00" in raw[:10] else b"\x92\x86\x00\x07"
            assert entry in raw, "UserComment must be typed UNDEFINED (7)"
            assert image.getexif()[SOFTWARE] == prov.app
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["phone.jpg", f"result.{ext}"])


@pytest.mark.parametrize("ext", ["png", "webp"])
def test_alpha_round_trip(tmp_path: Path, ext: str) -> None:
    rgb = Image.new("RGB", (32, 24), (200, 100, 50))
    alpha = Image.linear_gradient("L").resize((32, 24))
    out = save_image(tmp_path / f"a.{ext}", rgb, alpha=alpha)
    again = load_image(out)
    assert again.alpha is not None
    assert _mean_diff(again.alpha, alpha) == 0
    assert _mean_diff(again.rgb, rgb) < 3


def test_jpeg_drops_alpha(tmp_path: Path) -> None:
    out = save_image(tmp_path / "a.jpg", Image.new("RGB", (8, 8), "white"), alpha=Image.new("L", (8, 8), 0))
    with Image.open(out) as image:
        assert image.mode == "RGB"


def test_save_accepts_a_loaded_image_with_its_alpha(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (8, 8), (5, 6, 7, 128))
    out = save_image(tmp_path / "copy.png", from_pil(rgba))
    again = load_image(out)
    assert again.alpha is not None and again.alpha.getpixel((0, 0)) == 128


def test_reapply_alpha_resizes_to_the_result() -> None:
    alpha = Image.new("L", (10, 10), 0)
    alpha.paste(255, (0, 0, 5, 10))
    merged = reapply_alpha(Image.new("RGB", (20, 20), "red"), alpha)
    assert merged.mode == "RGBA" and merged.size == (20, 20)
    assert merged.getpixel((2, 10))[3] == 255 and merged.getpixel((17, 10))[3] == 0
    plain = Image.new("RGB", (4, 4))
    assert reapply_alpha(plain, None) is plain
    assert LoadedImage(rgb=plain).with_alpha() is plain


def test_never_overwrites_a_protected_input(tmp_path: Path) -> None:
    source = tmp_path / "input.png"
    Image.new("RGB", (8, 8), "blue").save(source)
    before = source.read_bytes()
    other_spelling = tmp_path / "sub" / ".." / "input.png"
    (tmp_path / "sub").mkdir()
    for target in (source, other_spelling, str(source)):
        with pytest.raises(ImageSaveError, match="original") as err:
            save_image(target, Image.new("RGB", (8, 8), "red"), protect=[source])
        assert "\n" not in str(err.value)
    assert source.read_bytes() == before


def test_overwrite_false_refuses_existing(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"keep")
    with pytest.raises(ImageSaveError, match="already exists"):
        save_image(target, Image.new("RGB", (4, 4)), overwrite=False)
    assert target.read_bytes() == b"keep"
    save_image(target, Image.new("RGB", (4, 4)))
    assert target.read_bytes() != b"keep"


@pytest.mark.parametrize("name", ["out.bmp", "out.tiff", "out"])
def test_unsupported_extension_lists_supported_ones(tmp_path: Path, name: str) -> None:
    with pytest.raises(ImageSaveError) as err:
        save_image(tmp_path / name, Image.new("RGB", (4, 4)))
    for ext in (".png", ".jpg", ".jpeg", ".webp"):
        assert ext in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_uppercase_extension_is_fine(tmp_path: Path) -> None:
    out = save_image(tmp_path / "OUT.JPG", Image.new("RGB", (4, 4)))
    with Image.open(out) as image:
        assert image.format == "JPEG"


def test_read_only_or_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageSaveError, match="does not exist"):
        save_image(tmp_path / "missing" / "out.png", Image.new("RGB", (4, 4)))
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(ImageSaveError, match="not a folder"):
        save_image(blocker / "out.png", Image.new("RGB", (4, 4)))


@pytest.mark.parametrize(("code", "words"), [(errno.EROFS, "read-only"), (errno.ENOSPC, "disk space")])
def test_failed_save_leaves_previous_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    target = tmp_path / "result.jpg"
    target.write_bytes(b"previous result")

    def refuse(src: str, dst: str) -> None:
        raise OSError(code, os.strerror(code), str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ImageSaveError, match=words):
        save_image(target, Image.new("RGB", (16, 16)), provenance=_provenance())
    assert target.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["result.jpg"]


def test_disk_full_while_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "result.png"
    target.write_bytes(b"previous result")
    real_save = Image.Image.save

    def full_disk(self: Image.Image, fp, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_save(self, fp, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(ImageSaveError, match="Not enough disk space"):
        save_image(target, Image.new("RGB", (16, 16)))
    assert target.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]


def test_webp_size_limit_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ImageSaveError, match="PNG"):
        save_image(tmp_path / "wide.webp", Image.new("RGB", (16400, 1)))
    assert list(tmp_path.iterdir()) == []


def test_other_tools_png_gives_last_step_on_load(tmp_path: Path) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a red boat\nSteps: 15, Sampler: UniPC, CFG scale: 6, Seed: 5, Size: 512x512")
    path = tmp_path / "a1111.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    loaded = load_image(path)
    assert loaded.provenance is not None
    assert loaded.provenance.last.to_params().scheduler == "unipc"


def test_pasted_png_bytes_round_trip() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (7, 5), (1, 2, 3)).save(buffer, format="PNG")
    loaded = load_image_bytes(buffer.getvalue())
    assert loaded.size == (7, 5) and loaded.path is None and loaded.format == "PNG"
