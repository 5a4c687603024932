"""The benchmark suite: our engine against the stock diffusers pipeline, chains, start-up, UI.

    python benchmarks/run.py [--quick|--full] [--device cpu|cuda] [--json PATH] [--record]

--quick (default): 256² on the CPU, 4 steps, one alternating round (about a minute on 2 cores
plus model build); --full: 256², 512², 768², more rounds, session memory, start-up with a
full-size model folder. On CUDA: 512² (and 768² with --full), 20 steps, plus the GPU variants.
``--record`` prepends the results to benchmarks/RESULTS.md (newest first). See README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS.parent
SECTIONS = ("compare", "rerun", "chain", "session", "startup", "gpu")


@dataclass
class Plan:
    suite: str
    device: str
    dtype: str
    sizes: list[int]
    steps: int
    repeats: dict[int, int]
    chain_model: str  # "tiny" or "full"
    chain_steps: int
    chain_resolution: int
    session_memory: bool
    startup_repeats: int
    startup_model: str  # "tiny" or "full"
    startup_resolution: int
    startup_steps: int
    sections: list[str] = field(default_factory=lambda: list(SECTIONS))


def make_plan(args: argparse.Namespace) -> Plan:
    full = args.full
    if args.device == "cuda":
        sizes = [512, 768] if full else [512]
        plan = Plan("full" if full else "quick", "cuda", args.dtype or "fp16", sizes, 20, {s: 5 if full else 3 for s in sizes},
                    "full", 20, 512, full, 7 if full else 3, "full" if full else "tiny", 512, 20)
    else:
        sizes = [256, 512, 768] if full else [256]
        repeats = {256: 3, 512: 2, 768: 1} if full else {256: 1}
        plan = Plan("full" if full else "quick", "cpu", args.dtype or "fp32", sizes, 4, repeats,
                    "full" if full else "tiny", 2 if full else 4, 256, full, 7 if full else 3,
                    "full" if full else "tiny", 256, 2 if full else 4)
    if args.sizes:
        plan.sizes = [int(s) for s in args.sizes.split(",")]
        plan.repeats = {s: plan.repeats.get(s, 1) for s in plan.sizes}
    if args.steps:
        plan.steps = args.steps
    if args.repeats:
        plan.repeats = {s: args.repeats for s in plan.sizes}
    if args.sections:
        plan.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
        unknown = set(plan.sections) - set(SECTIONS)
        if unknown:
            raise SystemExit(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    if plan.device != "cuda" and "gpu" in plan.sections:
        plan.sections.remove("gpu")
    if not plan.session_memory and "session" in plan.sections and not args.sections:
        plan.sections.remove("session")
    return plan


def log(message: str) -> None:
    print(message, flush=True)


def _save_full_model(model: Any, stock: Any, folder: Path) -> Path:
    """The random full-size model as a diffusers folder (for the app's real loading path)."""
    from _engine_vs_stock import set_layout
    from _sd15_model import RESOURCES

    set_layout(model, False)  # safetensors wants contiguous (NCHW) tensors
    stock.save_pretrained(folder, safe_serialization=True)
    tokenizer = RESOURCES / "tokenizer"
    if tokenizer.is_dir():
        shutil.rmtree(folder / "tokenizer", ignore_errors=True)
        shutil.copytree(tokenizer, folder / "tokenizer")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="256² on CPU, 4 steps, one round (default)")
    mode.add_argument("--full", action="store_true", help="all sizes, more rounds, every section")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), help="default: fp32 on CPU, fp16 on CUDA")
    parser.add_argument("--json", metavar="PATH", help="write all figures as JSON here")
    parser.add_argument("--record", action="store_true", help="prepend the results to benchmarks/RESULTS.md")
    parser.add_argument("--sizes", help="comma-separated working sizes, overriding the suite's")
    parser.add_argument("--steps", type=int, help="denoising steps, overriding the suite's")
    parser.add_argument("--repeats", type=int, help="alternating rounds per size, overriding the suite's")
    parser.add_argument("--sections", help=f"comma-separated subset of: {', '.join(SECTIONS)}")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sys.path[:0] = [str(REPO_ROOT), str(BENCHMARKS)]
    from ip2p_core.library_noise import disable_load_progress_bars, quiet_libraries

    quiet_libraries(keep_download_progress=False)
    plan = make_plan(args)
    suite_started = time.perf_counter()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    disable_load_progress_bars()

    from _machine import load_average, machine_info
    from _report import format_markdown, format_text

    results: dict[str, Any] = {
        "suite": plan.suite,
        "command": "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "machine": machine_info(plan.device),
        "plan": {k: v for k, v in plan.__dict__.items()},
    }
    log(f"IP2P benchmark, {plan.suite} suite on {plan.device}: sections {', '.join(plan.sections)}")

    needs_full_model = bool({"compare", "rerun", "gpu"} & set(plan.sections)) or (
        "startup" in plan.sections and plan.startup_model == "full")
    contestants = model = None
    if needs_full_model:
        from _engine_vs_stock import make_contestants
        from _sd15_model import build_sd15_model

        log("building the SD-1.5-shaped model with random weights ...")
        model = build_sd15_model()
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[plan.dtype]
        if plan.device != "cpu" or dtype != torch.float32:
            for module in (model.unet, model.vae, model.text_encoder):
                module.to(device=plan.device, dtype=dtype)
        results["model"] = {
            "parameters_m": model.parameter_count() / 1e6,
            "config_source": model.config_source,
            "build_s": model.build_seconds,
            "dtype": plan.dtype,
        }
        log(f"  {model.parameter_count() / 1e6:.0f} M parameters ({model.config_source}) in {model.build_seconds:.1f} s")
        started = time.perf_counter()
        contestants = make_contestants(model, plan.device, plan.dtype)
        results["model"]["engine_init_s"] = time.perf_counter() - started  # includes the one-off conv prepack
        results["model"]["engine_channels_last"] = contestants.engine_channels_last
        results["model"]["engine_conv_prepack"] = bool(getattr(contestants.engine, "prepacked_convs", False))
        log(f"  engine ready in {results['model']['engine_init_s']:.1f} s (channels-last "
            f"{results['model']['engine_channels_last']}, conv prepack {results['model']['engine_conv_prepack']})")

    if "compare" in plan.sections:
        from _engine_vs_stock import compare_at_size, warm_up

        log(f"engine vs stock: sizes {plan.sizes}, {plan.steps} steps, rounds {plan.repeats}")
        warm_up(contestants, plan.sizes[0], args.seed, log)
        by_size: dict[int, Any] = {}
        for size in plan.sizes:
            by_size[size] = compare_at_size(contestants, size, plan.steps, plan.repeats[size], args.seed, log)
        headline = 512 if 512 in by_size else plan.sizes[0]
        results["engine_vs_stock"] = {
            "default": by_size[headline]["settings"]["default"]["ratio"],
            "image_guidance_1": by_size[headline]["settings"]["image_guidance_1"]["ratio"],
            "headline_size": headline,
            "repeats_by_size": {s: plan.repeats[s] for s in plan.sizes},
            "steps": plan.steps,
            "by_size": by_size,
        }

    if "rerun" in plan.sections:
        from _engine_vs_stock import preview_cost, rerun_with_new_seed

        results["rerun"] = rerun_with_new_seed(contestants, plan.sizes[0], 1, args.seed)
        results["preview"] = preview_cost(max(plan.sizes))
        log(f"re-run with a new seed: cache hits {results['rerun']['rerun_cache_hits']}, saved {results['rerun']['saved_s']:.2f} s")

    if "gpu" in plan.sections:
        from _gpu import gpu_variants

        log("GPU variants ...")
        results["gpu"] = gpu_variants(contestants, 512, plan.steps, 3, args.seed, log)

    with tempfile.TemporaryDirectory(prefix="ip2p-bench-") as tmp:
        startup_model_dir = None
        if "startup" in plan.sections:
            if plan.startup_model == "full" and contestants is not None:
                log("writing the full-size model folder for the app start-up run ...")
                started = time.perf_counter()
                startup_model_dir = _save_full_model(contestants.model, contestants.stock, Path(tmp) / "sd15-random")
                log(f"  written in {time.perf_counter() - started:.0f} s")
                results["startup_model"] = "full-size random model folder"
            else:
                from ip2p_core.tiny_model import write_tiny_model

                startup_model_dir = write_tiny_model(Path(tmp) / "tiny")
                results["startup_model"] = "tiny test model folder"
        # The parent's copy of the model is not needed any more: free it before the subprocesses run.
        contestants = model = None
        gc.collect()

        if "chain" in plan.sections:
            from _chain import chained_edits_in_subprocess

            log(f"chained edits on the {plan.chain_model} model (fresh process) ...")
            results["chain"] = chained_edits_in_subprocess(
                plan.chain_model, plan.chain_resolution, plan.chain_steps, args.threads, plan.device
            )
            if "error" in results["chain"]:
                log(f"  failed: {results['chain']['error']}")
            else:
                log(f"  total {results['chain']['total_s']:.1f} s, peak RSS {results['chain']['peak_rss_mb']:.0f} MB")

        if "session" not in plan.sections and plan.suite == "quick" and not args.sections:
            results["session_memory"] = {"available": False, "reason": "skipped by --quick; run --full or benchmarks/session_memory.py"}
        if "session" in plan.sections:
            from _chain import session_memory

            log("session memory (benchmarks/session_memory.py, 20 edits on a 24 MP photo) ...")
            results["session_memory"] = session_memory()
            log(f"  {results['session_memory']}")

        if "startup" in plan.sections:
            from _startup import startup

            os.environ["IP2P_PROBE_RESOLUTION"] = str(plan.startup_resolution)
            os.environ["IP2P_PROBE_STEPS"] = str(plan.startup_steps)
            log("start-up and UI responsiveness (fresh processes, offscreen) ...")
            results.update(startup(plan.startup_repeats, startup_model_dir, edit=True, log=log))

    results["load_average_at_end"] = load_average()
    results["suite_seconds"] = time.perf_counter() - suite_started
    print()
    print(format_text(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        log(f"\nJSON written to {args.json}")
    if args.record:
        record(format_markdown(results, f"{time.strftime('%Y-%m-%d %H:%M')} — {plan.suite}, {plan.device}"))
        log("results prepended to benchmarks/RESULTS.md")
    return 0


def record(section: str) -> None:
    """Insert the newest results right below RESULTS.md's introduction (newest first)."""
    path = BENCHMARKS / "RESULTS.md"
    marker = "<!-- results: newest first -->"
    text = path.read_text(encoding="utf-8") if path.is_file() else f"# Benchmark results\n\n{marker}\n"
    if marker not in text:
        text = text.rstrip() + f"\n\n{marker}\n"
    head, tail = text.split(marker, 1)
    path.write_text(f"{head}{marker}\n\n{section}\n{tail.lstrip()}", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
