"""Carry an edit made at working resolution back onto the full-resolution photo.

The model sees a ~512 px copy of the photo (``working_source``, S) and returns ``working_result``
(R) at the same size. Upscaling R throws away every detail finer than a working pixel (on a 24 MP
photo one working pixel covers ~12x12 photo pixels) and keeps the VAE's softening everywhere.
Instead the *change* the model made is carried onto the original O:

    out = O + up(D') + up(A') @ (O - up(S))

* ``D = R - S`` is the edit at working resolution; ``up`` is a bicubic (gains: bilinear) resize.
* ``A`` is the edit's local colour gain: a guided filter fits ``D ~ A @ S + b`` (A a 3x3 matrix)
  in small windows. Applied to the original's detail finer than the working resolution
  (``O - up(S)``), it recolours that detail the way the edit recoloured the working image, and,
  because colour edges are part of that detail, it makes the boundary of a changed region follow
  the photo's own edges instead of a soft halo ~12 photo px wide. Where the model replaced content
  (the fit finds A ~ -identity), the original's detail is removed instead of ghosting through.
* ``D'`` and ``A'``: a soft change mask (from the low-passed change and from what the fit cannot
  explain) decides where the model really changed something. Elsewhere only the low-pass of the
  change is kept (so subtle global colour edits still pass) and A' is 0: the VAE's fine-grained
  softening and noise are dropped and untouched areas keep the original's own fine detail.
* If the engine can give the VAE round trip of the source (decode(encode(S))) as
  ``working_reference``, the mask and the low-pass are measured against it: the VAE's residue and
  colour cast then cancel instead of having to stay under ``change_threshold``.

The working-resolution analysis is plain numpy on ~512 px arrays. The full-resolution pass runs
in strips of rows: Pillow resizes each map horizontally once (C code), numpy interpolates the rows
of a strip, so a 24 MP photo needs roughly one extra copy of itself in memory. The method and its
constants were chosen by measurement, see ``benchmarks/transfer_fullres.py``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import InvalidParameterError

TRANSFER_METHODS = ("guided", "difference", "upscale")
DEFAULT_METHOD = "guided"
# In 8-bit levels. A change whose local size stays below this is treated as VAE residue and not
# carried over (its low-pass still is). Measured on simulated edits: 12 beats 8 by 0.5-5 dB when
# the VAE softens, and loses <= 0.25 dB when it does not; 24 starts to drop real edits. 0 keeps all.
DEFAULT_CHANGE_THRESHOLD = 12.0
# Colour matching is off by default: it removes a global colour cast of the model, but it cannot
# tell that cast from a subtle global edit ("make it a bit warmer"), which it would undo.
DEFAULT_COLOR_MATCH = 0.0

_WINDOW_RADIUS = 3  # working px: 7x7 windows for the guided filter and the change mask
_GUIDE_EPS = 20.0  # 8-bit levels squared; keeps the fitted gain near 0 on flat, noisy areas
_GAIN_LIMIT = 2.0  # bound on each entry of the fitted colour gain; keeps grain from exploding
_STRIP_ROWS = 128  # full-res rows per strip: ~12 MB per float32 plane of a 6000 px wide photo
# Colour matching fits only on pixels the model left (nearly) alone, and only if there are enough.
_MATCH_MAX_DIFFERENCE = 24.0
_MATCH_MIN_FRACTION = 0.25
_MATCH_GAIN_RANGE = (0.8, 1.25)
_MATCH_GAIN_PRIOR = 400.0  # levels^2: a fit over a 20-level spread of colours counts half


# ---------------------------------------------------------------------------------------------
# Small working-resolution filters (numpy; the arrays are ~512x512, so speed is no concern here)


def _window_reduce(x: np.ndarray, radius: int, combine: np.ufunc) -> np.ndarray:
    """``combine`` (np.add, np.maximum) over a (2r+1)^2 window on axes 0 and 1, edges extended;
    separable, one axis after the other (the radii used here are small)."""
    out = x
    for axis in (0, 1):
        size = out.shape[axis]
        pad = [(radius, radius) if a == axis else (0, 0) for a in range(out.ndim)]
        padded = np.pad(out, pad, mode="edge")
        lead = (slice(None),) * axis
        acc = padded[lead + (slice(0, size),)].copy()
        for shift in range(1, 2 * radius + 1):
            combine(acc, padded[lead + (slice(shift, shift + size),)], out=acc)
        out = acc
    return out


def _box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window on axes 0 and 1, edges extended."""
    out = x.astype(np.float32, copy=True)
    if radius <= 0:
        return out
    total = _window_reduce(out, radius, np.add)
    total *= np.float32(1.0 / (2 * radius + 1) ** 2)
    return total


def _max_filter(x: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a (2r+1)^2 window of a 2-D array, edges extended."""
    return _window_reduce(x, radius, np.maximum)


def _ramp(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip((x - low) / (high - low), 0.0, 1.0)


def _as_rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Colour matching


def _match_colors_array(result: np.ndarray, reference: np.ndarray, strength: float) -> np.ndarray:
    """``result`` with a global per-channel gain/offset cast (relative to ``reference``) removed."""
    change = np.abs(_box_mean(result - reference, _WINDOW_RADIUS)).max(axis=2)
    inliers = change < _MATCH_MAX_DIFFERENCE
    if inliers.mean() < _MATCH_MIN_FRACTION or strength <= 0.0:
        return result
    corrected = result.copy()
    for c in range(3):
        ref = reference[..., c][inliers].astype(np.float64)
        res = result[..., c][inliers].astype(np.float64)
        keep = np.ones(ref.shape, dtype=bool)
        for _ in range(2):  # refit once without the pixels the first fit explains worst
            mean_ref, mean_res = ref[keep].mean(), res[keep].mean()
            cov = np.mean((ref[keep] - mean_ref) * (res[keep] - mean_res))
            var = np.var(ref[keep])
            # Pulled toward gain 1: on a narrow range of colours the slope is mostly noise.
            gain = float(np.clip((cov + _MATCH_GAIN_PRIOR) / (var + _MATCH_GAIN_PRIOR), *_MATCH_GAIN_RANGE))
            offset = float(mean_res - gain * mean_ref)
            residual = np.abs(res - (gain * ref + offset))
            keep = residual <= max(3.0 * float(np.median(residual)), 1.0)
        matched = (result[..., c] - offset) / gain
        corrected[..., c] = result[..., c] + strength * (matched - result[..., c])
    return np.clip(corrected, 0.0, 255.0, out=corrected)


def match_colors(result: Image.Image, reference: Image.Image, *, strength: float = 1.0) -> Image.Image:
    """``result`` with the model's global colour cast toward ``reference`` removed.

    Fits ``result ~ gain * reference + offset`` per channel on the pixels the edit left nearly
    unchanged (local difference under 24 levels) and inverts it on the whole image. ``strength``
    blends between no correction (0) and full correction (1). If fewer than a quarter of the pixels
    are unchanged the edit is global and nothing is matched. Caveat: a subtle global edit (a slight
    warm tint) looks exactly like a cast and is undone, which is why transfer uses it only on request.
    """
    if not 0.0 <= float(strength) <= 1.0:
        raise InvalidParameterError(f"Colour matching strength must be between 0 and 1 (got {strength}).")
    if result.size != reference.size:
        raise InvalidParameterError(
            f"Cannot match colours of a {result.width}x{result.height} image to a "
            f"{reference.width}x{reference.height} one; they must be the same size."
        )
    res = _as_rgb_array(result)
    ref = _as_rgb_array(reference)
    out = _match_colors_array(res, ref, float(strength))
    return Image.fromarray((out + 0.5).astype(np.uint8), "RGB")


# ---------------------------------------------------------------------------------------------
# Working-resolution analysis of the edit


def _gain_and_residual(diff: np.ndarray, guide: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Guided-filter fit ``diff ~ A @ guide + b`` in small windows (He et al., colour guide).

    ``diff`` and ``guide`` are (h, w, 3). Returns the window-averaged gain A, (h, w, 3, 3) with
    ``A[..., c, j]`` the effect of guide channel j on output channel c, and what the fit leaves
    unexplained, ``diff - fit``: new structure the model painted in. The 3x3 algebra is written
    out on whole planes, which is an order of magnitude faster than numpy's batched linalg here.
    """
    r = _WINDOW_RADIUS
    g = [guide[..., j] for j in range(3)]
    d = [diff[..., c] for c in range(3)]
    mean_g = _box_mean(guide, r)
    mean_d = _box_mean(diff, r)
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    second = _box_mean(np.stack([g[j] * g[k] for j, k in pairs], axis=2), r)
    cov_gg = {}
    for n, (j, k) in enumerate(pairs):
        cov = (second[..., n] - mean_g[..., j] * mean_g[..., k]).astype(np.float64)
        cov_gg[j, k] = cov_gg[k, j] = cov + (_GUIDE_EPS if j == k else 0.0)
    inverse = _inverse_sym3(cov_gg)
    cross = _box_mean(np.stack([d[c] * g[k] for c in range(3) for k in range(3)], axis=2), r)
    gain = np.empty(diff.shape[:2] + (3, 3), dtype=np.float32)
    offset = np.empty_like(diff)
    for c in range(3):
        cov_dg = [cross[..., 3 * c + k] - mean_d[..., c] * mean_g[..., k] for k in range(3)]
        for j in range(3):
            gain[..., c, j] = sum(cov_dg[k] * inverse[k, j] for k in range(3))
        np.clip(gain[..., c, :], -_GAIN_LIMIT, _GAIN_LIMIT, out=gain[..., c, :])
        offset[..., c] = mean_d[..., c] - sum(gain[..., c, j] * mean_g[..., j] for j in range(3))
    mean_gain = _box_mean(gain.reshape(diff.shape[:2] + (9,)), r).reshape(gain.shape)
    fit = _box_mean(offset, r)
    for c in range(3):
        for j in range(3):
            fit[..., c] += mean_gain[..., c, j] * g[j]
    return mean_gain, diff - fit


def _inverse_sym3(m: dict[tuple[int, int], np.ndarray]) -> dict[tuple[int, int], np.ndarray]:
    """Entry-wise inverse of symmetric positive-definite 3x3 matrices given as planes ``m[j, k]``.

    By cofactors, in float64: the determinants of covariances in 8-bit levels span 1e3..1e13.
    """
    a, b, c, d, e, f = m[0, 0], m[0, 1], m[0, 2], m[1, 1], m[1, 2], m[2, 2]
    cof = {
        (0, 0): d * f - e * e, (0, 1): c * e - b * f, (0, 2): b * e - c * d,
        (1, 1): a * f - c * c, (1, 2): b * c - a * e, (2, 2): a * d - b * b,
    }
    inv_det = 1.0 / (a * cof[0, 0] + b * cof[0, 1] + c * cof[0, 2])
    out = {}
    for (j, k), value in cof.items():
        out[j, k] = out[k, j] = (value * inv_det).astype(np.float32)
    return out


def _change_mask(diff: np.ndarray, residual: np.ndarray, threshold: float) -> np.ndarray:
    """Soft 0..1 map of where the model changed the image (working resolution)."""
    r = _WINDOW_RADIUS
    colour_change = np.abs(_box_mean(diff, r)).max(axis=2)
    new_structure = np.sqrt(_box_mean((residual * residual).mean(axis=2), r))
    mask = np.maximum(
        _ramp(colour_change, threshold, 2 * threshold), _ramp(new_structure, threshold, 2 * threshold)
    )
    # Grow a little so the soft rim of a changed region (where |D| falls off) is carried whole.
    return _box_mean(_max_filter(mask, r), r)


# ---------------------------------------------------------------------------------------------
# Full-resolution assembly


def _cubic_weight(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, the one Pillow's BICUBIC uses."""
    x = np.abs(x)
    a = -0.5
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return np.where(x <= 1.0, near, np.where(x < 2.0, far, 0.0))


class _MapUpsampler:
    """Working-resolution maps (n, h, w) resized to (W, H), handed out a strip of rows at a time.

    Enlarging: Pillow resizes every map horizontally once (n x h x W floats, C code). The rows of a
    strip are then interpolated in numpy from 2 (linear) or 4 (cubic) of those rows; full-res rows
    that share the same working rows are done together as one broadcast operation. When the photo
    is not taller than the working image, Pillow resizes each strip itself (antialiased).
    """

    def __init__(self, maps: np.ndarray, size: tuple[int, int], cubic: bool) -> None:
        n, h, w = maps.shape
        width, height = size
        self._n, self._h, self._size = n, h, size
        self._filter = Image.Resampling.BICUBIC if cubic else Image.Resampling.BILINEAR
        planes = [Image.fromarray(np.ascontiguousarray(maps[i], dtype=np.float32), "F") for i in range(n)]
        if height <= h:
            self._planes, self._rows = planes, None
            return
        self._planes = []
        self._rows = np.stack([np.asarray(p.resize((width, h), self._filter)) for p in planes])
        v = (np.arange(height, dtype=np.float64) + 0.5) * (h / height) - 0.5
        base = np.floor(v)
        self._offsets = np.arange(-1, 3) if cubic else np.arange(0, 2)
        distance = v[:, None] - (base[:, None] + self._offsets[None, :])
        weight = _cubic_weight(distance) if cubic else 1.0 - np.abs(distance)
        self._weight = (weight / weight.sum(axis=1, keepdims=True)).astype(np.float32)
        self._base = base.astype(np.intp)
        # Runs of full-res rows with the same base working row: [start, end) for each run.
        cuts = np.flatnonzero(np.diff(self._base)) + 1
        self._run_start = np.concatenate([[0], cuts])
        self._run_end = np.concatenate([cuts, [height]])

    def rows(self, y0: int, y1: int, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
        """Rows ``y0:y1`` of every map at full resolution, written into ``out`` (n, y1 - y0, W).

        ``scratch`` has the same shape; both are reused across strips, because fresh arrays of this
        size cost more in page faults than the arithmetic does.
        """
        width = self._size[0]
        if self._rows is None:
            h = float(self._planes[0].height)
            scale = h / self._size[1]
            box = (0.0, min(y0 * scale, h), float(self._planes[0].width), min(y1 * scale, h))
            for i, plane in enumerate(self._planes):
                out[i] = np.asarray(plane.resize((width, y1 - y0), self._filter, box=box))
            return out
        first = int(np.searchsorted(self._run_end, y0, side="right"))
        for run in range(first, len(self._run_start)):
            a, b = max(y0, int(self._run_start[run])), min(y1, int(self._run_end[run]))
            if a >= y1:
                break
            taps = np.clip(self._base[a] + self._offsets, 0, self._h - 1)
            weight = self._weight[a:b]
            dst, tmp = out[:, a - y0 : b - y0], scratch[:, a - y0 : b - y0]
            np.multiply(self._rows[:, taps[0], None, :], weight[None, :, 0, None], out=dst)
            for t in range(1, len(taps)):
                np.multiply(self._rows[:, taps[t], None, :], weight[None, :, t, None], out=tmp)
                dst += tmp
        return out

    def rows_needed(self, y0: int, y1: int) -> tuple[int, int]:
        """Working rows that contribute to full-res rows ``y0:y1`` (a slightly generous range)."""
        scale = self._h / self._size[1]
        return max(0, int(np.floor(y0 * scale)) - 2), min(self._h, int(np.ceil(y1 * scale)) + 2)


def _validate(
    original: Image.Image,
    working_source: Image.Image,
    working_result: Image.Image,
    working_reference: Image.Image | None,
    method: str,
    change_threshold: float,
    color_match: float,
) -> None:
    if method not in TRANSFER_METHODS:
        raise InvalidParameterError(
            f"Unknown transfer method '{method}'; choose one of: {', '.join(TRANSFER_METHODS)}."
        )
    if working_source.size != working_result.size:
        raise InvalidParameterError(
            f"The model result is {working_result.width}x{working_result.height} px but its input was "
            f"{working_source.width}x{working_source.height} px; they must be the same size."
        )
    if working_reference is not None and working_reference.size != working_source.size:
        raise InvalidParameterError(
            f"The VAE reference is {working_reference.width}x{working_reference.height} px but the working "
            f"image is {working_source.width}x{working_source.height} px; they must be the same size."
        )
    if original.width < 1 or original.height < 1:
        raise InvalidParameterError(
            f"The original image is {original.width}x{original.height} px; it must be at least 1x1 px."
        )
    if not float(change_threshold) >= 0.0:
        raise InvalidParameterError(f"The change threshold must be 0 or more (got {change_threshold}).")
    if not 0.0 <= float(color_match) <= 1.0:
        raise InvalidParameterError(f"Colour matching strength must be between 0 and 1 (got {color_match}).")


def transfer_edit(
    original: Image.Image,
    working_source: Image.Image,
    working_result: Image.Image,
    *,
    method: str = DEFAULT_METHOD,
    change_threshold: float = DEFAULT_CHANGE_THRESHOLD,
    color_match: float = DEFAULT_COLOR_MATCH,
    working_reference: Image.Image | None = None,
) -> Image.Image:
    """The edit ``working_source -> working_result`` applied to ``original``, at ``original``'s size.

    ``method``: "guided" (default: edges follow the photo's, fine detail kept and recoloured with
    the edit), "difference" (adds the upsampled change; soft edges, ghosts of replaced content) or
    "upscale" (plain Lanczos upscale of the result, for comparison).
    ``change_threshold`` (8-bit levels): fine-grained changes smaller than this are treated as the
    model's VAE residue and dropped, so untouched areas keep the original's detail; 0 keeps all.
    ``color_match`` (0..1): strength of :func:`match_colors` applied to the result first (0 = off).
    ``working_reference``: optional ``working_source`` after the model's own VAE round trip
    (decode(encode(source))). Changes are then measured against it, so the VAE's softening and
    colour cast cancel out and only what the instruction changed is transferred.
    An edit that changed nothing (``working_result == working_source``) returns ``original`` exactly.
    """
    _validate(
        original, working_source, working_result, working_reference, method, change_threshold, color_match
    )
    if original.mode != "RGB":
        original = original.convert("RGB")
    if method == "upscale":
        result = working_result.convert("RGB") if working_result.mode != "RGB" else working_result
        return result.resize(original.size, Image.Resampling.LANCZOS)

    source = _as_rgb_array(working_source)
    result = _as_rgb_array(working_result)
    if np.array_equal(result, source):
        return original.copy()  # nothing was edited: nothing to analyse
    reference = source if working_reference is None else _as_rgb_array(working_reference)
    if color_match > 0.0:
        result = _match_colors_array(result, reference, float(color_match))
    diff = result - source
    gain, residual = _gain_and_residual(diff, source)
    if change_threshold > 0.0:
        if working_reference is None:
            change, change_residual = diff, residual
        else:
            change = result - reference
            change_residual = _gain_and_residual(change, reference)[1]
        mask = _change_mask(change, change_residual, float(change_threshold))[..., None]
        # Where unchanged keep only the low-pass of the change (colour/tone), never its fine grain.
        smooth = _box_mean(_box_mean(change, _WINDOW_RADIUS), _WINDOW_RADIUS)
        diff = smooth + mask * (diff - smooth)
        gain *= mask[..., None]
        del change, change_residual, smooth, mask
    del result, residual, reference
    if not diff.any():
        return original.copy()
    return _assemble(original, diff, source, gain if method == "guided" else None)


def _assemble(
    original: Image.Image, diff: np.ndarray, source: np.ndarray, gain: np.ndarray | None
) -> Image.Image:
    """``original + up(diff) + up(gain) @ (original - up(source))``, strip by strip, as 8-bit RGB.

    Computed as ``original + up(diff - gain @ source) + up(gain) @ original`` (the fast guided
    filter's form), which needs 3 instead of 6 cubic maps; the two differ only by interpolation.
    """
    width, height = original.size
    if gain is not None and not gain.any():
        gain = None
    offset = diff if gain is None else diff - np.einsum("hwcj,hwj->hwc", gain, source)
    offsets = _MapUpsampler(np.moveaxis(offset, 2, 0), original.size, cubic=True)
    if gain is not None:
        gain_planes = np.moveaxis(gain.reshape(gain.shape[:2] + (9,)), 2, 0)
        gains = _MapUpsampler(gain_planes, original.size, cubic=False)
        gain_rows = np.abs(gain).reshape(gain.shape[0], -1).max(axis=1) > 0.0
    pixels = np.asarray(original)
    out = np.empty((height, width, 3), dtype=np.uint8)
    strip_rows = min(_STRIP_ROWS, height)
    planes_buf = np.empty((3, strip_rows, width), dtype=np.float32)
    result_buf = np.empty_like(planes_buf)
    scratch_buf = np.empty((9 if gain is not None else 3, strip_rows, width), dtype=np.float32)
    gain_buf = np.empty((9, strip_rows, width), dtype=np.float32) if gain is not None else None
    for y0 in range(0, height, strip_rows):
        y1 = min(height, y0 + strip_rows)
        n = y1 - y0
        planes = planes_buf[:, :n]
        np.copyto(planes, np.moveaxis(pixels[y0:y1], 2, 0))  # (3, rows, W) float32
        result = offsets.rows(y0, y1, result_buf[:, :n], scratch_buf[:3, :n])
        result += planes
        if gain is not None and gain_rows[slice(*gains.rows_needed(y0, y1))].any():
            g = gains.rows(y0, y1, gain_buf[:, :n], scratch_buf[:, :n]).reshape((3, 3, n, width))
            g *= planes[None]  # g[c, j]: gain of input channel j on output channel c, times that channel
            for j in range(3):
                result += g[:, j]
        np.clip(result, 0.0, 255.0, out=result)
        result += 0.5  # the float -> uint8 cast truncates; this makes it round to nearest
        for c in range(3):
            out[y0:y1, :, c] = result[c]
    return Image.fromarray(out, "RGB")
