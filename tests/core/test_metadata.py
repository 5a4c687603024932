"""Provenance: the A1111 text other tools read, our JSON chain, and reading both back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from ip2p_core.metadata import (
    SAMPLER_LABELS,
    ChainStep,
    Provenance,
    decode_user_comment,
    encode_user_comment,
    get_user_comment,
    mark_user_comment_undefined,
    parse_parameters_text,
    provenance_from_xmp,
    read_provenance,
    xmp_packet,
)
from ip2p_core.params import SCHEDULER_NAMES, EditParams

MODEL = "timbrooks/instruct-pix2pix"


def _step(instruction: str = "make it winter", **changes: object) -> ChainStep:
    params = EditParams(instruction=instruction, seed=123).replace(**changes)
    return ChainStep.from_params(params, 512, 512, MODEL)


def test_parameters_text_matches_a1111_layout() -> None:
    text = Provenance(chain=[_step()], app="IP2P Desktop 0.1.0").parameters_text()
    assert text == (
        "make it winter\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Image CFG scale: 1.5, Seed: 123, "
        "Size: 512x512, Model: timbrooks/instruct-pix2pix, Version: IP2P Desktop 0.1.0"
    )


def test_negative_prompt_line_only_when_set() -> None:
    with_negative = Provenance(chain=[_step(negative="blurry, dark")]).parameters_text().split("\n")
    assert with_negative[1] == "Negative prompt: blurry, dark"
    without = Provenance(chain=[_step()]).parameters_text()
    assert "Negative prompt" not in without


def test_chain_reports_last_step_and_count_inside_the_parameter_line() -> None:
    chain = [_step("make it winter"), _step("add a dog", seed=7), _step("turn it into a painting", seed=9)]
    text = Provenance(chain=chain).parameters_text()
    lines = text.split("\n")
    assert lines[0] == "turn it into a painting"
    assert len(lines) == 2
    assert "Chain: 3 steps" in lines[-1]
    assert "Seed: 9" in lines[-1]


@pytest.mark.parametrize("scheduler", SCHEDULER_NAMES)
def test_every_scheduler_has_an_a1111_name_that_reads_back(scheduler: str) -> None:
    text = Provenance(chain=[_step(scheduler=scheduler)]).parameters_text()
    assert f"Sampler: {SAMPLER_LABELS[scheduler]}," in text
    assert parse_parameters_text(text).sampler == scheduler


def test_own_text_parses_back_to_the_last_step() -> None:
    step = _step("make it look like a 1970s photo: warm, grainy", negative="text, watermark",
                 steps=37, text_guidance=6.0, image_guidance=1.25, seed=4_000_000_000, scheduler="dpmpp_2m")
    step.model = r"C:\models\ip2p, local"
    step.width, step.height = 640, 448
    back = parse_parameters_text(Provenance(chain=[_step(), step]).parameters_text())
    for name in ("instruction", "negative", "steps", "sampler", "text_guidance", "image_guidance",
                 "seed", "width", "height", "model"):
        assert getattr(back, name) == getattr(step, name), name


def test_text_from_another_tool_gives_its_last_step() -> None:
    text = (
        "a cat wearing a hat,\nsitting on a chair\n"
        "Negative prompt: ugly,\nblurry\n"
        'Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Image CFG scale: 1.25, Seed: 42, '
        'Size: 768x512, Model hash: 0123456789, Model: sd15, Lora hashes: "a: 1, b: 2", Version: v1.6.0'
    )
    step = parse_parameters_text(text)
    assert step.instruction == "a cat wearing a hat,\nsitting on a chair"
    assert step.negative == "ugly,\nblurry"
    assert (step.steps, step.sampler, step.seed) == (30, "dpmpp_2m", 42)
    assert (step.text_guidance, step.image_guidance) == (7.0, 1.25)
    assert (step.width, step.height, step.model, step.weights_hash) == (768, 512, "sd15", "0123456789")


def test_unknown_sampler_is_kept_but_params_fall_back_to_default() -> None:
    step = parse_parameters_text("a dog\nSteps: 10, Sampler: Heun, CFG scale: 5, Seed: 1, Size: 512x768")
    assert step.sampler == "Heun"
    params = step.to_params().validate()
    assert params.scheduler == "euler_a"
    assert params.resolution == 768
    assert (params.steps, params.seed, params.text_guidance) == (10, 1, 5.0)


@pytest.mark.parametrize("text", ["", "just a prompt", "hello\nworld", "Size: 512x512"])
def test_text_without_parameters_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_parameters_text(text)


def test_params_round_trip_through_a_chain_step() -> None:
    params = EditParams("make it winter", steps=12, text_guidance=9.0, image_guidance=1.1, seed=5,
                        scheduler="ddim", resolution=768, negative="blur", output_size="working")
    step = ChainStep.from_params(params, 768, 512, MODEL)
    assert step.to_params() == params
    assert (step.width, step.height, step.model) == (768, 512, MODEL)


def test_json_round_trip_keeps_the_whole_chain() -> None:
    chain = [_step("make it winter"), _step("añade nieve ❄", seed=8)]
    chain[1].weights_hash = "ab" * 32
    original = Provenance(chain=chain, app="IP2P Desktop 9.9")
    text = original.to_json()
    assert Provenance.from_json(text) == original
    assert json.loads(text)["format_version"] == 1


def test_json_from_a_newer_version_ignores_unknown_fields() -> None:
    data = json.loads(Provenance(chain=[_step()]).to_json())
    data["format_version"] = 2
    data["future"] = {"x": 1}
    data["chain"][0]["mask"] = "base64..."
    back = Provenance.from_json(json.dumps(data))
    assert back.chain[0].instruction == "make it winter"
    assert back.format_version == 2


@pytest.mark.parametrize("text", ["", "{}", "[]", '{"chain": []}', '{"chain": [{"steps": 3}]}', "not json"])
def test_json_that_is_not_provenance_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        Provenance.from_json(text)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("text", ["make it winter", "hacer que nieve ❄ — 冬にして"])
def test_user_comment_encoding(order: str, text: str) -> None:
    raw = encode_user_comment(text, order)
    assert raw[:8] in (b"ASCII\0\0\0", b"UNICODE\0")
    assert decode_user_comment(raw, order) == text


def test_xmp_packet_round_trip_and_foreign_xmp() -> None:
    prov = Provenance(chain=[_step("say <hello> & \"bye\"")])
    assert provenance_from_xmp(xmp_packet(prov)) == prov
    foreign = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
    assert provenance_from_xmp(foreign) is None
    assert provenance_from_xmp(b"<x:xmpmeta broken") is None


def test_read_provenance_from_a1111_png_of_another_tool(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a castle\nSteps: 25, Sampler: Euler, CFG scale: 8, Seed: 99, Size: 512x512")
    path = tmp_path / "other.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    prov = read_provenance(path)
    assert prov is not None and len(prov.chain) == 1
    assert (prov.last.instruction, prov.last.steps, prov.last.sampler, prov.last.seed) == ("a castle", 25, "euler", 99)


def test_read_provenance_prefers_our_json_over_the_text(tmp_path: Path) -> None:
    ours = Provenance(chain=[_step("first"), _step("second")])
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "something else\nSteps: 5, Sampler: Euler, CFG scale: 8, Seed: 1")
    info.add_itxt("ip2p", ours.to_json(), zip=True)
    path = tmp_path / "both.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    assert read_provenance(path) == ours
    with Image.open(path) as image:
        assert read_provenance(image) == ours


def test_read_provenance_finds_text_chunks_after_the_pixels(tmp_path: Path) -> None:
    # Some tools write text chunks after IDAT; they only appear once the image is decoded.
    path = tmp_path / "late.png"
    Image.new("RGB", (4, 4)).save(path)
    data = path.read_bytes()
    import struct
    import zlib

    payload = b"parameters\0a tree\nSteps: 9, Sampler: DDIM, CFG scale: 4, Seed: 3"
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload + struct.pack(">I", zlib.crc32(b"tEXt" + payload))
    iend = data.rindex(b"IEND") - 4
    path.write_bytes(data[:iend] + chunk + data[iend:])
    prov = read_provenance(path)
    assert prov is not None and prov.last.instruction == "a tree" and prov.last.sampler == "ddim"


def test_read_provenance_of_plain_or_unreadable_files_is_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG not really")
    assert read_provenance(plain) is None
    assert read_provenance(garbage) is None
    assert read_provenance(tmp_path / "missing.png") is None
    assert read_provenance(tmp_path) is None


def test_read_provenance_falls_back_to_exif_user_comment(tmp_path: Path) -> None:
    prov = Provenance(chain=[_step("make it autumn", seed=77)])
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = encode_user_comment(prov.parameters_text())
    path = tmp_path / "comment_only.jpg"
    Image.new("RGB", (8, 8)).save(path, exif=exif.tobytes())
    back = read_provenance(path)
    assert back is not None
    assert (back.last.instruction, back.last.seed, back.last.model) == ("make it autumn", 77, MODEL)


def _user_comment_type(data: bytes) -> int:
    from PIL import TiffImagePlugin

    tiff = data[6:] if data.startswith(b"Exif\0\0") else data
    stream = io.BytesIO(tiff)
    top = TiffImagePlugin.ImageFileDirectory_v2(tiff[:8])
    stream.seek(8 if tiff[:2] == b"II" else int.from_bytes(tiff[4:8], "big"))
    top.load(stream)
    sub = TiffImagePlugin.ImageFileDirectory_v2(tiff[:8])
    stream.seek(top[0x8769])
    sub.load(stream)
    return sub.tagtype[0x9286]


@pytest.mark.parametrize("order", ["<", ">"])
def test_user_comment_is_written_as_undefined_type(order: str) -> None:
    exif = Image.Exif()
    exif.endian = order
    exif[0x010F] = "TestCam"
    exif.get_ifd(0x8769)[0x9003] = "2024:01:02 03:04:05"
    exif.get_ifd(0x8769)[0x9286] = encode_user_comment("make it winter ❄", order)
    raw = exif.tobytes()
    fixed = mark_user_comment_undefined(raw)
    assert _user_comment_type(fixed) == 7  # EXIF: UserComment is UNDEFINED
    assert len(fixed) == len(raw)
    back = Image.Exif()
    back.load(fixed)
    assert get_user_comment(back) == "make it winter ❄"
    assert back.get_ifd(0x8769)[0x9003] == "2024:01:02 03:04:05"
    assert mark_user_comment_undefined(b"junk") == b"junk"
