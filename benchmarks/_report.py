"""The readable table printed by run.py, and the same as a Markdown section for RESULTS.md."""

from __future__ import annotations

from typing import Any

PHASES = (
    ("preprocess", "pre"),
    ("instruction_encoder", "text enc"),
    ("image_encoder", "img enc"),
    ("per_step", "UNet/step"),
    ("decoder", "decode"),
    ("transfer", "post"),
)


def _f(value: Any, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}{unit}"
    return str(value)


def comparison_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for size_key, block in results.get("engine_vs_stock", {}).get("by_size", {}).items():
        for name, s in block["settings"].items():
            phases = s["phases_s"]
            rows.append(
                [
                    f"{size_key}²",
                    name,
                    f"{s['text_guidance']:g}/{s['image_guidance']:g}",
                    _f(s["ours_median_s"]),
                    _f(s["stock_median_s"]),
                    _f(s["ratio"], 3),
                    _f(s.get("ratio_best"), 3),
                    _f(s["cpu_time_ratio"], 3),
                    *[_f(phases.get(key), 2) for key, _ in PHASES],
                    _f(s["picture_mean_abs_diff_255"], 2),
                ]
            )
    return rows


COMPARISON_HEADER = [
    "size",
    "setting",
    "sT/sI",
    "ours s",
    "stock s",
    "ratio",
    "best-of-N ratio",
    "cpu-time ratio",
    *[label for _, label in PHASES],
    "Δ picture /255",
]


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _other_lines(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    evs = results.get("engine_vs_stock", {})
    if evs:
        lines.append(
            f"Headline ({evs.get('headline_size')}²): ratio default {_f(evs.get('default'), 3)} (target ≤ 1.00), "
            f"image_guidance=1 {_f(evs.get('image_guidance_1'), 3)} (target ≤ 0.70)"
        )
    rerun = results.get("rerun")
    if rerun:
        lines.append(
            f"Re-run, new seed, same image+instruction ({rerun['size']}², {rerun['steps']} step): encoders skipped: "
            f"{_f(rerun['encoders_skipped'])} (cache hits {rerun['rerun_cache_hits']}); encoders {_f(rerun['first_encoders_s'])} s "
            f"-> {_f(rerun['rerun_encoders_s'], 3)} s, saved {_f(rerun['saved_s'])} s; edit {_f(rerun['first_total_s'])} s -> "
            f"{_f(rerun['rerun_total_s'])} s"
        )
    preview = results.get("preview")
    if preview:
        lines.append(
            f"Live preview (only with a progress callback; neither side had one above): "
            f"{_f(preview['per_step_ms'], 2)} ms per step at {preview['size']}²"
        )
    chain = results.get("chain")
    if chain and "error" in chain:
        lines.append(f"Chained edits: not available ({chain['error']})")
    elif chain:
        lines.append(
            f"Chained edits ({chain['edits']} instructions, {chain['model']}, photo {chain['photo']} at {chain['resolution']} px, "
            f"{chain['steps']} steps): total {_f(chain['total_s'], 1)} s, peak RSS {_f(chain['peak_rss_mb'], 0)} MB "
            f"({_f(chain['peak_rss_above_before_mb'], 0)} MB above the {_f(chain['rss_before_mb'], 0)} MB before)"
        )
    session = results.get("session_memory")
    if session:
        if session.get("available"):
            lines.append(
                f"Session memory ({session['edits']} chained edits, {session['megapixels']:g} MP photo): RSS growth "
                f"{_f(session['rss_growth_mb'], 0)} MB (target ≤ 500; tiny model, session layer)"
            )
        else:
            lines.append(f"Session memory: not available ({session.get('reason')})")
    start = results.get("startup")
    if start:
        if start.get("available"):
            lines.append(
                f"Start-up to main window: app {_f(start['app_window_s'])} s vs bare PySide6 window {_f(start['bare_window_s'])} s "
                f"= {_f(start['ratio'])}x (target ≤ 2x); model ready {_f(start.get('model_ready_s'))} s after launch "
                f"({results.get('startup_model', 'model')})"
            )
        else:
            lines.append(f"Start-up: not available ({start.get('reason')})")
    ui = results.get("ui_responsiveness")
    if ui:
        if ui.get("available"):
            phases = ", ".join(f"{k} {v:.0f} ms" for k, v in ui.get("longest_stall_ms_by_phase", {}).items())
            lines.append(
                f"UI thread: longest stall {_f(ui['longest_stall_ms'], 0)} ms (target ≤ 50) over {ui['covers']} [{phases}]"
            )
        else:
            lines.append(f"UI responsiveness: not available ({ui.get('reason')})")
    gpu = results.get("gpu")
    if gpu:
        for name, v in gpu.items():
            if isinstance(v, dict) and "steps_per_s" in v:
                lines.append(
                    f"GPU {name} ({gpu['size']}², {gpu['steps']} steps): {_f(v['steps_per_s'])} steps/s, "
                    f"{_f(v['achieved_tflops'], 1)} TFLOP/s, edit {_f(v['total_s'], 3)} s"
                )
            elif isinstance(v, dict) and "error" in v:
                lines.append(f"GPU {name}: failed ({v['error']})")
    return lines


def _heading(results: dict[str, Any]) -> str:
    m = results["machine"]
    model = results.get("model", {})
    return (
        f"{results['suite']} suite on {m['device']} ({m.get('gpu') or m['cpu']}, {m['cores']} cores, torch threads {m['torch_threads']}), "
        f"torch {m['torch']}, diffusers {m['diffusers']}, transformers {m['transformers']}; "
        f"model: SD-1.5-shaped InstructPix2Pix, random weights, {model.get('parameters_m', 0):.0f} M parameters "
        f"(configs: {model.get('config_source')}), {model.get('dtype')}; engine: channels-last {model.get('engine_channels_last')}, "
        f"conv prepack {model.get('engine_conv_prepack')} (engine set-up {model.get('engine_init_s', 0):.1f} s, once); load average {m.get('load_average_at_start')} -> "
        f"{results.get('load_average_at_end')}"
    )


def format_text(results: dict[str, Any]) -> str:
    parts = [_heading(results), ""]
    rows = comparison_rows(results)
    if rows:
        evs = results["engine_vs_stock"]
        parts.append(f"Engine vs stock diffusers pipeline: medians of {evs.get('repeats_by_size')} alternating runs, times in s")
        parts.append(_text_table(COMPARISON_HEADER, rows))
        parts.append("")
    parts += _other_lines(results)
    parts.append(f"Suite wall time: {results.get('suite_seconds', 0):.0f} s")
    return "\n".join(parts)


def format_markdown(results: dict[str, Any], title: str) -> str:
    parts = [f"## {title}", "", _heading(results), ""]
    rows = comparison_rows(results)
    if rows:
        evs = results["engine_vs_stock"]
        parts.append(
            f"Engine vs stock `StableDiffusionInstructPix2PixPipeline` (same weights, input, seed, steps, scheduler; "
            f"alternating runs, medians of {evs.get('repeats_by_size')}; times in seconds; phases are ours):"
        )
        parts.append("")
        parts.append(_md_table(COMPARISON_HEADER, rows))
        parts.append("")
    parts += [f"- {line}" for line in _other_lines(results)]
    parts.append(f"- Suite wall time: {results.get('suite_seconds', 0):.0f} s; command: `{results.get('command')}`")
    return "\n".join(parts) + "\n"
