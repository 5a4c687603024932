"""Full-resolution transfer: quality of the candidate methods, and time/memory on a 24 MP photo.

Not a test. Run from the repository root:

    python benchmarks/transfer_fullres.py                  # all tables + crops into docs/fullres/
    python benchmarks/transfer_fullres.py --quick --json /tmp/t.json --crops /tmp/crops

The shared photos are <= 741 px, so two kinds of "full-resolution" original are used:
* native: the photo itself, edited at a 160 px working size (3-5x smaller, like a 2-2.5k px photo
  at 512) - real sharp edges and real fine detail;
* upscaled: the photo upscaled to 2400x1600 with deterministic film grain added, edited at 512 px
  (4.7x) - fine detail the working image cannot hold, like a noisy high-resolution photo.
A model edit is simulated: the edit is applied to the full-res original (ground truth), that is
downscaled and degraded like the SD VAE degrades it (blur, noise, small colour cast). Each method's
full-res output is compared with the ground truth.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ip2p_core.resolution import to_working  # noqa: E402
from ip2p_core.transfer import transfer_edit  # noqa: E402

PHOTOS = REPO / ".." / "shared" / "images" / "photos"
PHOTO_NAMES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")

# name -> transfer_edit keyword arguments; "reference" means: also pass the VAE round trip of the source
METHODS: dict[str, dict] = {
    "naive upscale": {"method": "upscale"},
    "difference (a)": {"method": "difference", "change_threshold": 0.0},
    "difference + gate": {"method": "difference"},
    "guided, no gate": {"method": "guided", "change_threshold": 0.0},
    "guided + gate (default)": {},
    "default + colour match": {"color_match": 1.0},
    "default + VAE reference": {"reference": True},
}


# ----------------------------------------------------------------------------- synthetic inputs


def add_grain(image: Image.Image, seed: int, sigma: float = 6.0) -> Image.Image:
    """Deterministic luminance grain plus a little chroma noise, like a high-ISO photo."""
    rng = np.random.default_rng(seed)
    h, w = image.height, image.width
    out = np.asarray(image, dtype=np.float32).copy()
    for y0 in range(0, h, 512):  # in strips, so a 24 MP photo does not need 4 float copies
        y1 = min(h, y0 + 512)
        luma = rng.standard_normal((y1 - y0, w, 1), dtype=np.float32) * sigma
        chroma = rng.standard_normal((y1 - y0, w, 3), dtype=np.float32) * (sigma / 3)
        out[y0:y1] += luma + chroma
    np.clip(out, 0, 255, out=out)
    return Image.fromarray((out + 0.5).astype(np.uint8), "RGB")


def make_original(name: str, size: tuple[int, int], seed: int = 0) -> Image.Image:
    photo = Image.open(PHOTOS / name).convert("RGB")
    return add_grain(photo.resize(size, Image.Resampling.LANCZOS), seed)


def vae_like(working: Image.Image, seed: int, *, soft: bool = True, jitter: float = 0.0) -> Image.Image:
    """Roughly what the SD VAE round trip does: softens, garbles fine detail, shifts colours a little.

    The garbling noise depends on ``seed`` only, so the same seed applied to the source gives the
    "VAE reference" (decode(encode(source))) whose residue matches the result's in unchanged areas;
    ``jitter`` adds noise of the sampler, which never lands exactly on the source's latent.
    """
    rng = np.random.default_rng(seed)
    blurred = working.filter(ImageFilter.GaussianBlur(0.8)) if soft else working
    out = np.asarray(blurred, dtype=np.float32).copy()
    out += rng.standard_normal(out.shape, dtype=np.float32) * 2.5
    out = out * np.array([0.98, 1.0, 1.02], np.float32) + np.array([2.0, 0.0, -3.0], np.float32)
    if jitter:
        out += np.random.default_rng(seed + 7919).standard_normal(out.shape, dtype=np.float32) * jitter
    np.clip(out, 0, 255, out=out)
    return Image.fromarray((out + 0.5).astype(np.uint8), "RGB")


def reddish_mask(original: Image.Image) -> np.ndarray:
    """0..1 weight of how red/orange each pixel is: the edit of "make the red things blue".

    Decided per pixel (after a 3x3 blur against the grain), so the edit follows the photo's own
    edges at full resolution, and mixed edge pixels get a partial edit, as a real recolour would.
    """
    blurred = np.asarray(original.filter(ImageFilter.BoxBlur(1)), dtype=np.float32)
    redness = blurred[..., 0] - np.maximum(blurred[..., 1], blurred[..., 2])
    return np.clip((redness - 25.0) / 40.0, 0.0, 1.0)


def disc_mask(size: tuple[int, int]) -> np.ndarray:
    """Antialiased disc: an object the model paints in, whose outline follows nothing in the photo."""
    w, h = size
    big = Image.new("L", (w * 4, h * 4), 0)
    r = min(big.size) * 0.22
    cx, cy = big.width * 0.62, big.height * 0.55
    ImageDraw.Draw(big).ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    return np.asarray(big.resize(size, Image.Resampling.BOX), dtype=np.float32) / 255.0


def _blend(original: Image.Image, edited: np.ndarray, mask: np.ndarray) -> Image.Image:
    o = np.asarray(original, dtype=np.float32)
    out = o + mask[..., None] * (edited - o)
    return Image.fromarray((np.clip(out, 0, 255) + 0.5).astype(np.uint8), "RGB")


def scenario(name: str, original: Image.Image, working_size: tuple[int, int]):
    """(ground truth full-res, 0..1 changed mask or None for global) for one simulated instruction."""
    o = np.asarray(original, dtype=np.float32)
    if name == "no change":
        return original, np.zeros(o.shape[:2], np.float32)
    if name == "recolour region":
        mask = reddish_mask(original)
        return _blend(original, o[..., ::-1], mask), mask
    if name == "darken region":
        mask = reddish_mask(original)
        return _blend(original, o * 0.55, mask), mask
    if name == "new object":
        ww, wh = working_size
        yy, xx = np.mgrid[0:wh, 0:ww].astype(np.float32)
        stripes = 0.5 + 0.5 * np.sin(xx * 2 * np.pi / 14 + yy * 0.2)
        content = np.stack([60 + 150 * stripes, 170 - 60 * stripes, 90 + 0 * stripes], axis=2)
        up = Image.fromarray(content.astype(np.uint8), "RGB").resize(original.size, Image.Resampling.BICUBIC)
        mask = disc_mask(original.size)
        return _blend(original, np.asarray(up, dtype=np.float32), mask), mask
    if name == "subtle warm (global)":
        edited = o + np.array([6.0, 0.0, -6.0], np.float32)
        return _blend(original, edited, np.ones(o.shape[:2], np.float32)), None
    if name == "stylise (global)":
        grey = o.mean(axis=2, keepdims=True)
        edited = 255.0 * (np.clip(grey + 1.5 * (o - grey), 0, 255) / 255.0) ** 0.7
        return _blend(original, edited, np.ones(o.shape[:2], np.float32)), None
    raise ValueError(name)


SCENARIOS = ("no change", "recolour region", "darken region", "new object", "subtle warm (global)", "stylise (global)")


# ----------------------------------------------------------------------------- metrics


def _high_pass(image: Image.Image) -> np.ndarray:
    luma = image.convert("L")
    return np.asarray(luma, dtype=np.float32) - np.asarray(luma.filter(ImageFilter.BoxBlur(2)), dtype=np.float32)


def metrics(out: Image.Image, truth: Image.Image, mask: np.ndarray | None, scale: float) -> dict[str, float]:
    """PSNR; fine-detail correlation; mean abs error away from / on / inside the changed region's edge.

    The edge band is +-1.5 working px around the changed region's outline: where halos show.
    """
    a = np.asarray(out, dtype=np.float32)
    b = np.asarray(truth, dtype=np.float32)
    err = np.abs(a - b).mean(axis=2)
    res = {"psnr": float(10 * np.log10(255.0**2 / max(float(np.mean((a - b) ** 2)), 1e-3)))}
    res["hf_corr"] = float(np.corrcoef(_high_pass(out).ravel(), _high_pass(truth).ravel())[0, 1])
    if mask is not None:
        radius = max(1, int(round(1.5 * scale)))
        spread = np.asarray(
            Image.fromarray((mask > 0.5).astype(np.uint8) * 255, "L").filter(ImageFilter.BoxBlur(radius)),
            dtype=np.float32,
        )
        selections = {
            "mae_unchanged": (spread == 0) & (mask == 0),
            "mae_edge_band": (spread > 0) & (spread < 255),
            "mae_inside": spread == 255,
        }
        for key, sel in selections.items():
            if sel.any():
                res[key] = float(err[sel].mean())
    return res


# ----------------------------------------------------------------------------- quality study


def _run_method(kwargs: dict, original: Image.Image, source: Image.Image, model_out: Image.Image,
                reference: Image.Image) -> Image.Image:
    kwargs = dict(kwargs)
    if kwargs.pop("reference", False):
        kwargs["working_reference"] = reference
    return transfer_edit(original, source, model_out, **kwargs)


def quality_study(configs: list[tuple[str, tuple[int, int] | None, int, bool]], photos: tuple[str, ...]) -> dict:
    """configs: (label, full-res size or None for native, working long side, soft VAE)."""
    summary: dict = {}
    for label, size, long_side, soft in configs:
        runs: dict = {}
        for pi, name in enumerate(photos):
            if size is None:
                original = Image.open(PHOTOS / name).convert("RGB")
            else:
                original = make_original(name, size, seed=pi)
            source = to_working(original, long_side)
            scale = original.width / source.width
            reference = vae_like(source, seed=100 + pi, soft=soft)
            for sname in SCENARIOS:
                truth, mask = scenario(sname, original, source.size)
                if mask is not None and sname != "no change" and (mask > 0.5).mean() < 0.01:
                    continue  # this photo has (almost) nothing red to edit
                model_out = vae_like(to_working(truth, long_side), seed=100 + pi, soft=soft, jitter=1.5)
                for mname, kwargs in METHODS.items():
                    out = _run_method(kwargs, original, source, model_out, reference)
                    runs.setdefault(sname, {}).setdefault(mname, []).append(metrics(out, truth, mask, scale))
        for sname, per_method in runs.items():
            for mname, results in per_method.items():
                keys = sorted({k for r in results for k in r})
                row = {k: float(np.mean([r[k] for r in results if k in r])) for k in keys}
                row["photos"] = len(results)
                summary.setdefault(label, {}).setdefault(sname, {})[mname] = row
    return summary


def _fmt(m: dict, key: str, fmt: str) -> str:
    return format(m[key], fmt) if key in m else "-"


def print_quality(summary: dict) -> None:
    print("Quality vs simulated ground truth, mean over photos. PSNR in dB (higher is better; 'no change'")
    print("capped at 60); HF corr: correlation of the finest detail (< ~2 px) with the truth's; MAE in 8-bit")
    print("levels (lower is better) away from the edit, on its outline (+-1.5 working px: halos), inside it.")
    for label, per_scenario in summary.items():
        print(f"\n== {label}")
        header = f"{'scenario':22} {'method':25} {'PSNR':>6} {'HF corr':>8} {'MAE away':>9} {'MAE edge':>9} {'MAE in':>7}"
        print(header)
        print("-" * len(header))
        for sname, per_method in per_scenario.items():
            for mname, m in per_method.items():
                psnr = min(m["psnr"], 60.0)
                print(
                    f"{sname:22} {mname:25} {psnr:6.2f} {_fmt(m, 'hf_corr', '8.3f'):>8} "
                    f"{_fmt(m, 'mae_unchanged', '9.2f'):>9} {_fmt(m, 'mae_edge_band', '9.2f'):>9} "
                    f"{_fmt(m, 'mae_inside', '7.2f'):>7}"
                )
            print()


# ----------------------------------------------------------------------------- time and memory


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM restarts at exec; ru_maxrss keeps the parent's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(workdir: str, method_name: str, repeats: int) -> None:
    """Runs in a fresh interpreter so the peak memory is this method's own."""
    work = Path(workdir)
    original = Image.open(work / "original.bmp")
    original.load()
    source = Image.open(work / "source.png").convert("RGB")
    result = Image.open(work / "result.png").convert("RGB")
    before = _peak_rss_mb()
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = transfer_edit(original, source, result, **METHODS[method_name])
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert out.size == original.size
        del out
    print(json.dumps({"time_s": min(times), "cpu_s": min(cpu), "rss_before_mb": before, "rss_peak_mb": _peak_rss_mb()}))


def timing_study(size: tuple[int, int], repeats: int, methods: tuple[str, ...], scenario_name: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        original = make_original("coffee.png", size, seed=7)
        source = to_working(original, 512)
        truth, _ = scenario(scenario_name, original, source.size)
        vae_like(to_working(truth, 512), seed=1).save(Path(tmp) / "result.png")
        source.save(Path(tmp) / "source.png")
        original.save(Path(tmp) / "original.bmp")  # uncompressed: loads fast and without extra copies
        del original, truth
        rows = {}
        for name in methods:
            proc = subprocess.run(
                [sys.executable, __file__, "--_child", tmp, name, "--repeats", str(repeats)],
                capture_output=True, text=True, check=True,
            )
            rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return rows


def print_timing(rows: dict, size: tuple[int, int], scenario_name: str) -> None:
    mp = size[0] * size[1] / 1e6
    print(f"\nFull-res transfer, {size[0]}x{size[1]} ({mp:.0f} MP) photo, edit '{scenario_name}', best of repeats,")
    print("fresh process per method. Wall time depends on what else runs; CPU time does not.")
    header = f"{'method':25} {'wall s':>7} {'CPU s':>6} {'peak RSS MB':>12} {'of which transfer MB':>21}"
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        print(
            f"{name:25} {r['time_s']:7.2f} {r['cpu_s']:6.2f} {r['rss_peak_mb']:12.0f} "
            f"{r['rss_peak_mb'] - r['rss_before_mb']:21.0f}"
        )


# ----------------------------------------------------------------------------- crops for the docs


CROP_BOX = (330, 120, 730, 420)  # 400x300 around the tank, engine, fork and the shelves behind


def write_crops(folder: Path) -> list[str]:
    """100 % crops of "make the red paint blue" on the real motorcycle photo.

    The photo (741x500) is edited at a 160 px working size: it loses as much of its detail to the
    working resolution as a ~2400 px photo edited at 512 px does.
    """
    folder.mkdir(parents=True, exist_ok=True)
    original = Image.open(PHOTOS / "motorcycle_left.png").convert("RGB")
    source = to_working(original, 160)
    truth, _ = scenario("recolour region", original, source.size)
    model_out = vae_like(to_working(truth, 160), seed=3, jitter=1.5)
    outputs = {
        "original": original,
        "naive_upscale": transfer_edit(original, source, model_out, method="upscale"),
        "transfer": transfer_edit(original, source, model_out),
    }
    written = []
    for name, image in outputs.items():
        path = folder / f"motorcycle_{name}_crop.png"
        image.crop(CROP_BOX).save(path, optimize=True)
        written.append(str(path))
    return written


def _parse_size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=_parse_size, default=(6000, 4000), help="timing photo size, WxH")
    parser.add_argument("--quality-size", type=_parse_size, default=(2400, 1600), help="upscaled original, WxH")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="two photos, soft VAE only")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--json", type=Path, help="also write all numbers to this JSON file")
    parser.add_argument("--crops", type=Path, default=REPO / "docs" / "fullres", help="folder for the 100%% crops")
    parser.add_argument("--no-crops", action="store_true")
    parser.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._child:
        _child(args._child[0], args._child[1], args.repeats)
        return 0

    report: dict = {}
    if not args.skip_quality:
        configs = [
            ("native photo @160 px, soft VAE (blur+noise+cast)", None, 160, True),
            ("native photo @160 px, sharp VAE (noise+cast)", None, 160, False),
            (f"upscaled+grain {args.quality_size[0]}x{args.quality_size[1]} @512 px, soft VAE", args.quality_size, 512, True),
        ]
        photos = PHOTO_NAMES
        if args.quick:
            configs, photos = [configs[0], configs[2]], ("coffee.png", "motorcycle_left.png")
        report["quality"] = quality_study(configs, photos)
        print_quality(report["quality"])
    if not args.skip_timing:
        methods = ("naive upscale", "difference + gate", "guided + gate (default)")
        for scenario_name in ("recolour region", "stylise (global)"):
            rows = timing_study(args.size, args.repeats, methods, scenario_name)
            report.setdefault("timing", {})[scenario_name] = rows
            print_timing(rows, args.size, scenario_name)
        report["timing_size"] = list(args.size)
    if not args.no_crops:
        report["crops"] = write_crops(args.crops)
        print("\nCrops written:", *report["crops"], sep="\n  ")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
