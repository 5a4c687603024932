"""The byte-level alphabet CLIP's BPE vocabulary is built on (shared by the tokenizer tools)."""

from __future__ import annotations


def bytes_to_unicode() -> dict[int, str]:
    """The reversible byte -> printable character table of GPT-2/CLIP BPE vocabularies."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codepoints = printable[:]
    shifted = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codepoints.append(256 + shifted)
            shifted += 1
    return dict(zip(printable, (chr(c) for c in codepoints)))
