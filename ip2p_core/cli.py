"""``ip2p-edit``: edit a photo with one or more instructions from the command line.

Exit codes: 0 success, 2 bad input of any kind (one line on stderr), 130 interrupted, 1 internal
error (one line; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from . import DEFAULT_MODEL_ID, __version__
from .devices import DEVICE_CHOICES, DTYPE_CHOICES
from .errors import EditCancelled, IP2PError, InvalidParameterError
from .params import MAX_RESOLUTION, MIN_RESOLUTION, SCHEDULER_NAMES, EditParams, random_seed

PROG = "ip2p-edit"
OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; we promise a single line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _bounded(kind: type, low: float, high: float | None, unit: str = "") -> Callable[[str], Any]:
    """An argparse type: parse ``kind`` (int or float) and check ``low <= value <= high``."""
    noun = "whole number" if kind is int else "number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a {noun}") from None
        if value != value or value < low:  # NaN, or too small
            bound = f"between {low} and {high}{unit}" if high is not None else f"at least {low}{unit}"
            raise argparse.ArgumentTypeError(f"{value} must be {bound}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{value} must be between {low} and {high}{unit}")
        return value

    return parse


_positive_int = _bounded(int, 1, None)
_seed = _bounded(int, 0, 2**32 - 1)
_scale = _bounded(float, 0.0, 50.0)
_unit = _bounded(float, 0.0, 1.0)
_resolution = _bounded(int, MIN_RESOLUTION, MAX_RESOLUTION, " px")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog=PROG,
        description="Edit a photo with text instructions (InstructPix2Pix), locally.",
        epilog=(
            "examples:\n"
            f"  {PROG} photo.jpg -i 'make it winter' -o winter.jpg\n"
            f"  {PROG} photo.jpg -i 'make it winter' -i 'add a snowman' -o out.png --seed 7\n"
            f"  {PROG} other.jpg --replay winter.png -o other_winter.png"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", help="the photo to edit (PNG, JPEG, WebP, TIFF, ...)")
    parser.add_argument("-i", "--instruction", action="append", default=[], metavar="TEXT",
                        help="what to change; repeat to chain instructions, each on the previous result")
    parser.add_argument("-o", "--output", required=True, metavar="PATH", help="result file: .png, .jpg/.jpeg or .webp")
    parser.add_argument("--model", metavar="ID_OR_PATH", default=None,
                        help=f"hub id, diffusers folder or .safetensors/.ckpt file (default: $IP2P_MODEL or {DEFAULT_MODEL_ID})")
    parser.add_argument("--steps", type=_positive_int, default=20, help="denoising steps (default 20)")
    parser.add_argument("--seed", type=_seed, default=None, help="random seed (default: random, printed)")
    parser.add_argument("--text-guidance", type=_scale, default=7.5, metavar="F", help="how strongly to follow the instruction (7.5)")
    parser.add_argument("--image-guidance", type=_scale, default=1.5, metavar="F", help="how closely to keep the input image (1.5)")
    parser.add_argument("--scheduler", choices=SCHEDULER_NAMES, default="euler_a", help="sampler (default euler_a)")
    parser.add_argument("--resolution", type=_resolution, default=512, metavar="N",
                        help="working resolution of the long side, rounded to multiples of 64 (default 512)")
    parser.add_argument("--output-size", choices=("original", "working"), default="original",
                        help="deliver at the photo's original size (default) or at the working resolution")
    parser.add_argument("--color-match", type=_unit, default=0.0, metavar="F",
                        help="0-1: pull the result's colours back toward the photo's (default 0: off)")
    parser.add_argument("--negative", default="", metavar="TEXT", help="what to steer away from")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default auto)")
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto", help="precision (default: fp16 on GPUs, fp32 on CPU)")
    parser.add_argument("--replay", metavar="SESSION_OR_IMAGE",
                        help="re-run the chain stored in a project (.ip2p), session folder or result image on INPUT")
    parser.add_argument("--new-seeds", action="store_true", help="with --replay: draw new seeds instead of reusing the stored ones")
    parser.add_argument("--overwrite-input", action="store_true", help="allow OUTPUT to be the INPUT file itself")
    parser.add_argument("--max-pixels", type=_positive_int, default=None, metavar="N",
                        help="refuse inputs with more pixels than this (default 100 million)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages, only errors")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and library logs")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _check_output(output: Path, input_path: Path, overwrite_input: bool) -> None:
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidParameterError(
            f"Cannot write '{output.name}': the output must end in {', '.join(OUTPUT_SUFFIXES)}."
        )
    if output.is_dir():
        raise InvalidParameterError(f"The output '{output}' is a folder; give a file name such as {output / 'result.png'}.")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidParameterError(f"The output folder '{folder}' does not exist; create it first or choose another path.")
    if not os.access(folder, os.W_OK):
        raise InvalidParameterError(f"The output folder '{folder}' is not writable; choose another location.")
    if not overwrite_input and output.exists() and input_path.exists() and output.resolve() == input_path.resolve():
        raise InvalidParameterError(
            f"The output would overwrite the input '{input_path.name}'; choose another name (or pass --overwrite-input)."
        )


def _chain_from_args(args: argparse.Namespace) -> list[EditParams]:
    if args.replay:
        from .session import load_chain

        chain = load_chain(Path(args.replay))
        if not chain:
            raise InvalidParameterError(f"'{args.replay}' holds no edits to replay.")
        if args.new_seeds:
            chain = [p.replace(seed=None) for p in chain]
        return [p.validate() for p in chain]
    if not args.instruction:
        raise InvalidParameterError("No instruction given: add -i \"what to change\" (or --replay a saved chain).")
    seed = args.seed if args.seed is not None else random_seed()
    return [
        EditParams(
            instruction=text,
            steps=args.steps,
            text_guidance=args.text_guidance,
            image_guidance=args.image_guidance,
            seed=seed,
            scheduler=args.scheduler,
            resolution=args.resolution,
            negative=args.negative,
            output_size=args.output_size,
            color_match=args.color_match,
        ).validate()
        for text in args.instruction
    ]


class _TerminalProgress:
    """A tqdm bar per instruction on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool, total_edits: int) -> None:
        self.enabled = enabled
        self.total_edits = total_edits
        self._bar: Any = None
        self._index = -1

    def message(self, text: str) -> None:
        if self.enabled:
            print(text, file=sys.stderr, flush=True)

    def __call__(self, index: int, progress: Any) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if index != self._index:
            self.close()
            self._index = index
            label = f"[{index + 1}/{self.total_edits}]" if self.total_edits > 1 else "Editing"
            self._bar = tqdm(total=progress.total, desc=label, unit="step", file=sys.stderr, leave=True,
                             bar_format="{desc} {bar} {n_fmt}/{total_fmt} steps [{elapsed}<{remaining}]")
        self._bar.update(progress.step - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def loading(self, stage: str, fraction: float) -> None:
        """Model-load progress; only the download is long enough to deserve a bar."""
        if not self.enabled or stage != "download":
            return
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=100, desc="Downloading model", unit="%", file=sys.stderr,
                             bar_format="{desc} {bar} {percentage:3.0f}% [{elapsed}<{remaining}]")
        self._bar.update(int(fraction * 100) - self._bar.n)
        if fraction >= 1.0:
            self.close()


def run(args: argparse.Namespace) -> int:
    from .imageio import load_image, save_image

    input_path = Path(args.input)
    output = Path(args.output)
    _check_output(output, input_path, args.overwrite_input)
    chain = _chain_from_args(args)
    load_kwargs = {"max_pixels": args.max_pixels} if args.max_pixels else {}
    loaded = load_image(input_path, **load_kwargs)

    interactive = sys.stderr is not None and sys.stderr.isatty() and not args.quiet
    progress = _TerminalProgress(interactive, len(chain))

    from .engine import EditEngine
    from .library_noise import disable_load_progress_bars

    if not args.debug:
        disable_load_progress_bars()
    started = time.perf_counter()
    progress.message(f"Loading model {args.model or 'default'} …")
    engine = EditEngine.load(args.model, device=args.device, dtype=args.dtype, progress=progress.loading)
    info = engine.describe()
    progress.message(f"Model ready on {info.device_name} ({info.dtype}) in {time.perf_counter() - started:.1f} s")
    if not args.quiet and args.seed is None and not args.replay:
        print(f"seed: {chain[0].seed}", file=sys.stderr, flush=True)

    try:
        results = engine.edit_chain(loaded.rgb, chain, progress=progress)
    finally:
        progress.close()

    from .chain import chain_provenance

    provenance = chain_provenance(results, prior=loaded.provenance, weights_hash=info.weights_hash)
    final = results[-1]
    written = save_image(
        output,
        final.image,
        alpha=loaded.alpha,
        exif=loaded.exif,
        provenance=provenance,
        protect=() if args.overwrite_input else (input_path,),
    )
    if not args.quiet:
        seeds = ", ".join(str(r.params.seed) for r in results)
        print(f"wrote {written} ({final.image.width}x{final.image.height}, seed {seeds}, "
              f"{time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.debug:
        from .library_noise import quiet_libraries

        quiet_libraries(keep_download_progress=not args.quiet)
    try:
        return run(args)
    except EditCancelled:
        print(f"{PROG}: cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except IP2PError as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug: still one line unless --debug
        if args.debug:
            raise
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        print(f"{PROG}: internal error: {type(exc).__name__}: {first} (rerun with --debug for details)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
