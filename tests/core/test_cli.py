"""``ip2p-edit`` as a user runs it: results, chains, metadata, exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ip2p_core.cli import main
from ip2p_core.metadata import read_provenance


@pytest.fixture
def photo(photos_dir) -> Path:
    return photos_dir / "chelsea.png"


def _run(args: list[str], capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


def test_single_edit_writes_image_with_provenance(photo, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "winter.png"
    code, err = _run([photo, "-i", "make it winter", "-o", out, "--model", tiny_model_dir,
                      "--steps", "2", "--seed", "11", "--resolution", "128"], capsys)
    assert code == 0, err
    result = Image.open(out)
    assert result.size == Image.open(photo).size
    prov = read_provenance(out)
    assert prov is not None and [s.instruction for s in prov.chain] == ["make it winter"]
    step = prov.chain[0]
    assert (step.seed, step.steps, step.sampler, step.text_guidance, step.image_guidance) == (11, 2, "euler_a", 7.5, 1.5)
    text = Image.open(out).info["parameters"]
    assert text.startswith("make it winter\n") and "Sampler: Euler a" in text and "Seed: 11" in text
    assert not np.array_equal(np.asarray(result.convert("RGB")), np.asarray(Image.open(photo).convert("RGB")))


def test_chain_of_two_instructions_feeds_each_result_forward(photo, tiny_model_dir, tmp_path, capsys):
    chained = tmp_path / "chain.png"
    first_only = tmp_path / "first.png"
    common = ["--model", tiny_model_dir, "--steps", "2", "--seed", "5", "--resolution", "128"]
    assert _run([photo, "-i", "make it winter", "-i", "add snow", "-o", chained, *common], capsys)[0] == 0
    assert _run([photo, "-i", "make it winter", "-o", first_only, *common], capsys)[0] == 0
    # Chain step 2 runs on step 1's result: feeding step 1's file through "add snow" gives the same image.
    second = tmp_path / "second.png"
    assert _run([first_only, "-i", "add snow", "-o", second, *common], capsys)[0] == 0
    a = np.asarray(Image.open(chained).convert("RGB"), np.int16)
    b = np.asarray(Image.open(second).convert("RGB"), np.int16)
    assert np.abs(a - b).max() <= 1
    assert [s.instruction for s in read_provenance(chained).chain] == ["make it winter", "add snow"]
    # An input that carries a chain passes it on: the second run's output knows both steps.
    assert [s.instruction for s in read_provenance(second).chain] == ["make it winter", "add snow"]


def test_jpeg_output_keeps_exif_and_metadata(odd_dir, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "r.jpg"
    src = odd_dir / "hopper_orientation_6.jpg"
    code, err = _run([src, "-i", "make it winter", "-o", out, "--model", tiny_model_dir, "--steps", "1",
                      "--seed", "1", "--resolution", "64"], capsys)
    assert code == 0, err
    im = Image.open(out)
    assert im.getexif().get(0x0112, 1) == 1  # orientation reset: pixels are already upright
    upright = Image.open(src)
    from PIL import ImageOps

    assert im.size == ImageOps.exif_transpose(upright).size
    assert read_provenance(out).chain[0].instruction == "make it winter"


@pytest.mark.parametrize(
    "args,message",
    [
        (["{missing}", "-i", "x", "-o", "{out}"], "No file at"),
        (["{broken}", "-i", "x", "-o", "{out}"], "broken.png"),
        (["{photo}", "-i", "x", "-o", "{tmp}/result.gif"], "must end in"),
        (["{photo}", "-i", "x", "-o", "{tmp}/no/such/dir/r.png"], "does not exist"),
        (["{photo}", "-o", "{out}"], "No instruction"),
        (["{photo}", "-i", "x", "-o", "{out}", "--steps", "0"], "at least 1"),
        (["{photo}", "-i", "x", "-o", "{out}", "--text-guidance", "abc"], "not a number"),
        (["{photo}", "-i", "x", "-o", "{out}", "--scheduler", "nope"], "invalid choice"),
        (["{photo}", "-i", "x", "-o", "{out}", "--model", "{tmp}/nope.safetensors"], "does not exist"),
        (["{photo}", "-i", "x", "-o", "{out}", "--model", "nobody/uncached-model"], "offline"),
        (["{photo}", "-i", "x", "-o", "{photo}", "--model", "{model}"], "overwrite the input"),
        (["{photo}", "-i", "x", "-o", "{out}", "--model", "{model}", "--max-pixels", "1000"], "pixels"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, photo, odd_dir, tiny_model_dir, tmp_path, capsys):
    values = {
        "missing": tmp_path / "missing.jpg",
        "broken": odd_dir / "broken.png",
        "photo": photo,
        "out": tmp_path / "out.png",
        "tmp": tmp_path,
        "model": tiny_model_dir,
    }
    argv = [a.format(**values) for a in args]
    if "--model" not in argv:
        argv += ["--model", str(tiny_model_dir)] if "uncached" not in " ".join(argv) else []
    with pytest.raises(SystemExit) if any(m in message for m in ("at least", "not a number", "invalid choice")) else _nothing():
        code, err = _run(argv, capsys)
        assert code == 2
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert message in lines[0]
        assert "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_argparse_errors_are_one_line_exit_2(photo, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "ip2p_core.cli", str(photo), "-i", "x", "-o", str(tmp_path / "o.png"), "--steps", "-3"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--steps" in proc.stderr


def test_real_process_bad_image_no_traceback(odd_dir, tiny_model_dir, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "ip2p_core.cli", str(odd_dir / "truncated_jpeg.jpg"), "-i", "make it winter",
         "-o", str(tmp_path / "o.png"), "--model", str(tiny_model_dir)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_quiet_success_prints_nothing(photo, tiny_model_dir, tmp_path, capsys):
    code, err = _run([photo, "-i", "x", "-o", tmp_path / "q.webp", "--model", tiny_model_dir, "--steps", "1",
                      "--seed", "1", "--resolution", "64", "--quiet"], capsys)
    assert code == 0 and err == ""
    assert read_provenance(tmp_path / "q.webp").chain[0].seed == 1


def test_output_size_working(photo, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "w.png"
    code, _ = _run([photo, "-i", "x", "-o", out, "--model", tiny_model_dir, "--steps", "1", "--seed", "1",
                    "--resolution", "128", "--output-size", "working"], capsys)
    assert code == 0
    assert max(Image.open(out).size) == 128


def test_replay_a_result_png_on_another_photo(photo, photos_dir, tiny_model_dir, tmp_path, capsys):
    common = ["--model", tiny_model_dir, "--steps", "2", "--seed", "21", "--resolution", "128"]
    first = tmp_path / "first.png"
    assert _run([photo, "-i", "make it winter", "-i", "add snow", "-o", first, *common], capsys)[0] == 0
    other = photos_dir / "coffee.png"
    replayed = tmp_path / "replayed.png"
    code, err = _run([other, "--replay", first, "-o", replayed, "--model", tiny_model_dir], capsys)
    assert code == 0, err
    chain = read_provenance(replayed).chain
    assert [s.instruction for s in chain] == ["make it winter", "add snow"]
    assert [s.seed for s in chain] == [21, 21] and chain[0].steps == 2
    assert Image.open(replayed).size == Image.open(other).size
    # Same chain, same seeds, same photo: replaying on the original input reproduces the file.
    again = tmp_path / "again.png"
    assert _run([photo, "--replay", first, "-o", again, "--model", tiny_model_dir], capsys)[0] == 0
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(first)))
    fresh = tmp_path / "fresh.png"
    assert _run([photo, "--replay", first, "--new-seeds", "-o", fresh, "--model", tiny_model_dir], capsys)[0] == 0
    assert [s.seed for s in read_provenance(fresh).chain] != [21, 21]


def test_replay_a_project_file(photo, tiny_engine, tiny_model_dir, tmp_path, capsys):
    from ip2p_core.params import EditParams
    from ip2p_core.session import EditSession

    session = EditSession.create(Image.open(photo).convert("RGB"), root=tmp_path / "sessions")
    result = tiny_engine.edit(session.image(session.root_id), EditParams("turn the car red", steps=2, seed=8, resolution=64))
    session.add_result(session.root_id, result)
    project = tmp_path / "work.ip2p"
    session.save_project(project)
    session.close()
    out = tmp_path / "from_project.jpg"
    code, err = _run([photo, "--replay", project, "-o", out, "--model", tiny_model_dir], capsys)
    assert code == 0, err
    assert [s.instruction for s in read_provenance(out).chain] == ["turn the car red"]


def test_replay_of_a_file_without_a_chain_is_a_clear_error(photo, tiny_model_dir, tmp_path, capsys):
    code, err = _run([photo, "--replay", photo, "-o", tmp_path / "x.png", "--model", tiny_model_dir], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
