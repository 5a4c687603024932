"""Build the CLIP ViT-L/14 tokenizer files (vocab.json, merges.txt) from CLIP's own BPE merges.

The app ships a CLIP tokenizer so that a single checkpoint file can be loaded fully offline.
Rather than vendoring token files of unknown origin, they are derived here from the BPE merge
list that OpenAI's CLIP (and the ``open_clip_torch`` package) ship as
``bpe_simple_vocab_16e6.txt.gz``, using the same recipe as CLIP's ``simple_tokenizer``:

* 256 byte-level symbols (GPT-2's reversible byte -> printable-unicode table),
* the same 256 symbols with the end-of-word marker ``</w>``,
* one token per merge, for the first 49152 - 256 - 2 merges after the header line,
* ``<|startoftext|>`` and ``<|endoftext|>``  -> 49408 tokens in all.

``merges.txt`` gets the ``#version: 0.2`` header line that Hugging Face's CLIP repositories use
(their tokenizer skips the first line, as CLIP's does).

To regenerate the shipped files (without installing open_clip_torch, which pulls in torchvision)::

    pip download --no-deps open_clip_torch -d /tmp/oc
    unzip -o -j /tmp/oc/open_clip_torch-*.whl open_clip/bpe_simple_vocab_16e6.txt.gz -d /tmp/oc
    python tools/make_clip_tokenizer.py /tmp/oc/bpe_simple_vocab_16e6.txt.gz \\
        ip2p_core/resources/sd15_ip2p/tokenizer
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path

from ip2p_core.clip_bpe import bytes_to_unicode

VOCAB_SIZE = 49408
# CLIP keeps this many merge lines (after the header): the vocab is 49152 BPE tokens in
# total, of which 256 are single bytes and 2 slots are reserved for the special tokens.
MERGE_COUNT = 49152 - 256 - 2
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"


def read_merges(bpe_gz: Path) -> list[tuple[str, str]]:
    """The merge pairs CLIP uses: skip the header line, keep the first MERGE_COUNT lines."""
    lines = gzip.open(bpe_gz).read().decode("utf-8").split("\n")
    selected = lines[1 : MERGE_COUNT + 1]
    if len(selected) != MERGE_COUNT:
        raise ValueError(f"{bpe_gz} has only {len(selected)} merge lines, {MERGE_COUNT} needed")
    pairs = []
    for line in selected:
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{bpe_gz}: malformed merge line {line!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols]
    tokens += ["".join(pair) for pair in merges]
    tokens += [START_TOKEN, END_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise ValueError(f"built {len(vocab)} distinct tokens, expected {VOCAB_SIZE}")
    return vocab


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these are shipped, world-readable data files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tokenizer_files(bpe_gz: Path, out_dir: Path) -> tuple[Path, Path]:
    """Write ``vocab.json`` and ``merges.txt`` into ``out_dir``; returns their paths."""
    merges = read_merges(bpe_gz)
    vocab = build_vocab(merges)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_path = out_dir / "vocab.json"
    merges_path = out_dir / "merges.txt"
    # Compact JSON with non-ASCII kept, as Hugging Face's CLIP vocab.json is written.
    _write_atomic(vocab_path, json.dumps(vocab, ensure_ascii=False, separators=(",", ":")) + "\n")
    _write_atomic(merges_path, "#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")
    return vocab_path, merges_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bpe_gz", type=Path, help="path to bpe_simple_vocab_16e6.txt.gz")
    parser.add_argument("out_dir", type=Path, help="tokenizer folder to write vocab.json/merges.txt into")
    args = parser.parse_args(argv)
    vocab_path, merges_path = write_tokenizer_files(args.bpe_gz, args.out_dir)
    print(f"wrote {vocab_path} ({VOCAB_SIZE} tokens) and {merges_path} ({MERGE_COUNT} merges)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
