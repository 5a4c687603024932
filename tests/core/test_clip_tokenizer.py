"""The shipped CLIP ViT-L/14 tokenizer gives the real CLIP token ids, offline."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ip2p_core.resource_paths import resource_path

REPO = Path(__file__).resolve().parents[2]
TOKENIZER_DIR = resource_path("sd15_ip2p", "tokenizer")

# Ids published for the reference CLIP tokenizer (openai/clip-vit-large-patch14, as used by
# Stable Diffusion 1.x): widely quoted in CLIP/SD ports' own tests and docs.
KNOWN_IDS = {
    "a photo of a cat": [49406, 320, 1125, 539, 320, 2368, 49407],
    "a painting of a cat": [49406, 320, 3086, 539, 320, 2368, 49407],
    "the black dog": [49406, 518, 1449, 1929, 49407],
    "a photo of an astronaut riding a horse on mars": [
        49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 7496, 49407,
    ],
    "Apple CoreML developer tools on a Macbook Air are fast": [
        49406, 3055, 19622, 5780, 10929, 5771, 525, 320, 20617, 1922, 631, 1953, 49407,
    ],
    "Hello, World! 123": [49406, 3306, 267, 1002, 256, 272, 273, 274, 49407],
}


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(TOKENIZER_DIR, local_files_only=True)


@pytest.mark.parametrize("text", sorted(KNOWN_IDS))
def test_instruction_token_ids_match_reference_clip(tokenizer, text):
    assert tokenizer(text).input_ids == KNOWN_IDS[text]


def test_vocab_size_and_special_tokens(tokenizer):
    assert len(tokenizer) == 49408
    assert tokenizer.bos_token_id == 49406
    assert tokenizer.eos_token_id == 49407
    assert tokenizer.pad_token_id == 49407
    assert tokenizer.model_max_length == 77


def test_case_and_spacing_are_normalised_like_clip(tokenizer):
    assert tokenizer("A  Photo of a CAT").input_ids == KNOWN_IDS["a photo of a cat"]


def test_long_instruction_is_padded_and_truncated_to_77(tokenizer):
    ids = tokenizer(
        "make it winter " * 40, padding="max_length", max_length=tokenizer.model_max_length, truncation=True
    ).input_ids
    assert len(ids) == 77
    assert ids[0] == 49406 and ids[-1] == 49407


def _fake_bpe_gz(path: Path) -> Path:
    # Same shape as CLIP's file: a header line, then at least 48894 "a b" merge lines.
    symbols = [chr(c) for c in range(0x4E00, 0x4E00 + 300)]
    merges = [f"{a} {b}" for a in symbols for b in symbols][:48894 + 10]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\"bpe_simple_vocab_16e6.txt#version: 0.2\n" + "\n".join(merges) + "\n")
    return path


def test_generator_script_follows_clips_vocab_recipe(tmp_path):
    bpe = _fake_bpe_gz(tmp_path / "bpe.txt.gz")
    out = tmp_path / "tok"
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "make_clip_tokenizer.py"), str(bpe), str(out)],
        check=True,
        capture_output=True,
    )
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    merges = (out / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == 49408
    assert merges[0] == "#version: 0.2" and len(merges) == 1 + 48894
    assert vocab["!"] == 0 and vocab["!</w>"] == 256
    first_merge = merges[1].replace(" ", "")
    assert vocab[first_merge] == 512
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407


def test_shipped_merges_have_clip_header_and_count():
    lines = (TOKENIZER_DIR / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#version: 0.2"
    assert len(lines) == 1 + 48894
    assert lines[1] == "i n"  # CLIP's first merge
