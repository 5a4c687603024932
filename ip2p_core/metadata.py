"""Provenance: which instructions and settings produced an image, stored inside the image file.

Two encodings are written side by side:

* the AUTOMATIC1111 "parameters" text that other Stable Diffusion tools read and write (last step
  only, one line of ``Key: value`` pairs), and
* our own JSON with the whole edit chain, which is what we read back first.

PNG files carry them as text chunks ``parameters`` and ``ip2p``. JPEG and WebP files carry the
A1111 text in EXIF UserComment and the JSON in an XMP packet. :func:`read_provenance` reads any of
these, so images from other tools yield at least their last step.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html import escape as _xml_escape
from pathlib import Path
from typing import Any

from PIL import Image

from . import __version__
from .schedulers import sampler_labels
from .params import SCHEDULER_NAMES, EditParams

APP_NAME = f"IP2P Desktop {__version__}"
FORMAT_VERSION = 1

PNG_PARAMETERS_KEY = "parameters"
PNG_CHAIN_KEY = "ip2p"
XMP_NAMESPACE = "urn:ip2p-desktop:xmp:1.0/"
XMP_ELEMENT = "provenance"

EXIF_IFD_POINTER = 0x8769
EXIF_USER_COMMENT = 0x9286

# Our scheduler names <-> the sampler names AUTOMATIC1111 writes.
SAMPLER_LABELS = sampler_labels()
_SAMPLERS_BY_LABEL = {label.lower(): name for name, label in SAMPLER_LABELS.items()}
# A1111 appends the noise schedule ("DPM++ 2M Karras"); the sampler family still maps to ours.
_SCHEDULE_SUFFIXES = (" karras", " exponential", " polyexponential", " sgm uniform", " uniform")


@dataclass
class ChainStep:
    """One instruction applied to an image, with everything needed to reproduce it.

    ``width``/``height`` are the working size the model ran at (0 when unknown, e.g. read from a
    foreign file without a Size entry). ``sampler`` is our scheduler name when we wrote the step,
    or the other tool's sampler name when we could not map it.
    """

    instruction: str
    negative: str = ""
    steps: int = 20
    sampler: str = "euler_a"
    text_guidance: float = 7.5
    image_guidance: float = 1.5
    seed: int | None = None
    width: int = 0
    height: int = 0
    model: str = ""
    output_size: str | None = None
    color_match: float = 0.0
    weights_hash: str | None = None
    resolution: int | None = None

    @classmethod
    def from_params(cls, params: EditParams, width: int, height: int, model: str, **extra: Any) -> "ChainStep":
        return cls(
            instruction=params.instruction,
            negative=params.negative,
            steps=int(params.steps),
            sampler=params.scheduler,
            text_guidance=float(params.text_guidance),
            image_guidance=float(params.image_guidance),
            seed=None if params.seed is None else int(params.seed),
            width=int(width),
            height=int(height),
            model=str(model),
            output_size=params.output_size,
            color_match=float(params.color_match),
            resolution=int(params.resolution),
            **extra,
        )

    def to_params(self) -> EditParams:
        """The EditParams to repeat this step; unknown samplers fall back to the default one."""
        defaults = EditParams(instruction=self.instruction)
        scheduler = self.sampler if self.sampler in SCHEDULER_NAMES else defaults.scheduler
        resolution = self.resolution or max(self.width, self.height) or defaults.resolution
        output_size = self.output_size if self.output_size in ("original", "working") else defaults.output_size
        return EditParams(
            instruction=self.instruction,
            steps=int(self.steps),
            text_guidance=float(self.text_guidance),
            image_guidance=float(self.image_guidance),
            seed=self.seed,
            scheduler=scheduler,
            resolution=int(resolution),
            negative=self.negative,
            output_size=output_size,  # type: ignore[arg-type]
            color_match=min(max(float(self.color_match or 0.0), 0.0), 1.0),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ChainStep":
        if not isinstance(data, dict) or not isinstance(data.get("instruction"), str):
            raise ValueError("a chain step needs an instruction")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Provenance:
    """The chain of edits that produced an image, oldest first."""

    chain: list[ChainStep] = field(default_factory=list)
    app: str = APP_NAME
    format_version: int = FORMAT_VERSION

    @property
    def last(self) -> ChainStep:
        if not self.chain:
            raise ValueError("the provenance has no steps")
        return self.chain[-1]

    def parameters_text(self) -> str:
        """The last step in AUTOMATIC1111's format, plus a ``Chain`` entry when there were several."""
        step = self.last
        lines = [step.instruction]
        if step.negative:
            lines.append(f"Negative prompt: {step.negative}")
        entries: list[tuple[str, Any]] = [
            ("Steps", step.steps),
            ("Sampler", SAMPLER_LABELS.get(step.sampler, step.sampler)),
            ("CFG scale", _number(step.text_guidance)),
            ("Image CFG scale", _number(step.image_guidance)),
        ]
        if step.seed is not None:
            entries.append(("Seed", step.seed))
        if step.width and step.height:
            entries.append(("Size", f"{step.width}x{step.height}"))
        if step.weights_hash:
            entries.append(("Model hash", step.weights_hash[:10]))
        if step.model:
            entries.append(("Model", step.model))
        if len(self.chain) > 1:
            # Kept inside the key/value line: A1111 readers treat a separate last line as prompt text.
            entries.append(("Chain", f"{len(self.chain)} steps"))
        if self.app:
            entries.append(("Version", self.app))
        lines.append(", ".join(f"{key}: {_quote(str(value))}" for key, value in entries))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "app": self.app,
            "chain": [step.to_dict() for step in self.chain],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Provenance":
        if not isinstance(data, dict) or not isinstance(data.get("chain"), list):
            raise ValueError("not an IP2P provenance record")
        chain = [ChainStep.from_dict(item) for item in data["chain"]]
        if not chain:
            raise ValueError("the provenance has no steps")
        return cls(
            chain=chain,
            app=str(data.get("app", "")),
            format_version=int(data.get("format_version", FORMAT_VERSION)),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "Provenance":
        """Parse :meth:`to_json` output; raises ValueError for anything else."""
        return cls.from_dict(json.loads(text))


def _number(value: float) -> str:
    return format(float(value), "g")


def _quote(value: str) -> str:
    # A1111 quotes values that would break its "Key: value, Key: value" line.
    if any(ch in value for ch in ",:\n\""):
        return json.dumps(value, ensure_ascii=False)
    return value


# "Key: value" where value is either a JSON string or runs to the next comma.
_ENTRY = re.compile(r'\s*([A-Za-z][\w \-/+]*?)\s*:\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*$")


def _parse_entries(line: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for key, raw in _ENTRY.findall(line):
        value = raw.strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = value[1:-1]
        entries[key.strip()] = value
    return entries


def sampler_from_label(label: str) -> str:
    """Our scheduler name for an A1111 sampler label, or the label itself when there is none."""
    key = label.strip().lower()
    if key in _SAMPLERS_BY_LABEL:
        return _SAMPLERS_BY_LABEL[key]
    if key in SCHEDULER_NAMES:
        return key
    for suffix in _SCHEDULE_SUFFIXES:
        if key.endswith(suffix) and key[: -len(suffix)] in _SAMPLERS_BY_LABEL:
            return _SAMPLERS_BY_LABEL[key[: -len(suffix)]]
    return label.strip()


def parse_parameters_text(text: str) -> ChainStep:
    """Read AUTOMATIC1111-style generation parameters back into a ChainStep.

    Raises ValueError when the text has no recognisable ``Steps: ..., Sampler: ...`` line.
    """
    lines = text.strip().replace("\r\n", "\n").split("\n")
    if not lines or not lines[-1].strip():
        raise ValueError("no generation parameters")
    entries = _parse_entries(lines[-1])
    if len(entries) < 2 or not ({"Steps", "Sampler", "CFG scale", "Seed"} & entries.keys()):
        raise ValueError("no generation parameters")
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines[:-1]:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)

    defaults = EditParams(instruction="-")
    step = ChainStep(
        instruction="\n".join(prompt_lines).strip(),
        negative="\n".join(negative_lines).strip(),
        steps=_int(entries.get("Steps"), defaults.steps),
        sampler=sampler_from_label(entries["Sampler"]) if "Sampler" in entries else defaults.scheduler,
        text_guidance=_float(entries.get("CFG scale"), defaults.text_guidance),
        image_guidance=_float(entries.get("Image CFG scale"), defaults.image_guidance),
        seed=_int(entries.get("Seed"), None),
        model=entries.get("Model", ""),
        weights_hash=entries.get("Model hash") or None,
    )
    size = _SIZE.match(entries.get("Size", ""))
    if size:
        step.width, step.height = int(size.group(1)), int(size.group(2))
    return step


def _int(value: str | None, default: Any) -> Any:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _float(value: str | None, default: float) -> float:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return default


# --- EXIF UserComment ----------------------------------------------------------------------

def encode_user_comment(text: str, byte_order: str = "<") -> bytes:
    """EXIF UserComment bytes: an 8-byte charset header, then the text (UTF-16 when not ASCII)."""
    if text.isascii():
        return b"ASCII\0\0\0" + text.encode("ascii")
    # EXIF has no BOM here: readers decode UNICODE in the EXIF block's own byte order.
    return b"UNICODE\0" + text.encode("utf-16-le" if byte_order == "<" else "utf-16-be")


def decode_user_comment(data: bytes | str, byte_order: str = "<") -> str:
    if isinstance(data, str):
        return data
    header, body = data[:8], data[8:]
    if header == b"UNICODE\0":
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16").rstrip("\0")
        return body.decode("utf-16-le" if byte_order == "<" else "utf-16-be", errors="replace").rstrip("\0")
    if header in (b"ASCII\0\0\0", b"\0" * 8):
        return body.decode("utf-8", errors="replace").rstrip("\0")
    return data.decode("utf-8", errors="replace").rstrip("\0")


def exif_byte_order(exif: Image.Exif) -> str:
    return getattr(exif, "endian", None) or "<"


def set_user_comment(exif: Image.Exif, text: str) -> None:
    """Store ``text`` as UserComment in the EXIF sub-IFD of ``exif`` (modified in place)."""
    exif.get_ifd(EXIF_IFD_POINTER)[EXIF_USER_COMMENT] = encode_user_comment(text, exif_byte_order(exif))


def mark_user_comment_undefined(data: bytes) -> bytes:
    """Retype UserComment in encoded EXIF from BYTE to UNDEFINED, as the EXIF standard requires.

    Pillow types every bytes value as BYTE when encoding; both are one byte per count, so only
    the entry's type field changes. Anything unexpected returns ``data`` untouched.
    """
    prefix = b"Exif\0\0" if data.startswith(b"Exif\0\0") else b""
    tiff = bytearray(data[len(prefix):])
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))
    if order is None:
        return data
    try:
        (ifd0,) = struct.unpack_from(order + "I", tiff, 4)
        pointer = _ifd_entry(tiff, order, ifd0, EXIF_IFD_POINTER)
        if pointer is None:
            return data
        (sub_ifd,) = struct.unpack_from(order + "I", tiff, pointer + 8)
        entry = _ifd_entry(tiff, order, sub_ifd, EXIF_USER_COMMENT)
        if entry is None:
            return data
        (kind,) = struct.unpack_from(order + "H", tiff, entry + 2)
        if kind == _TIFF_BYTE:
            struct.pack_into(order + "H", tiff, entry + 2, _TIFF_UNDEFINED)
    except struct.error:
        return data
    return prefix + bytes(tiff)


_TIFF_BYTE = 1
_TIFF_UNDEFINED = 7


def _ifd_entry(tiff: bytearray, order: str, offset: int, tag: int) -> int | None:
    """Byte offset of ``tag``'s 12-byte entry in the IFD at ``offset``, or None."""
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    for index in range(count):
        position = offset + 2 + 12 * index
        if struct.unpack_from(order + "H", tiff, position)[0] == tag:
            return position
    return None


def get_user_comment(exif: Image.Exif) -> str | None:
    raw = exif.get_ifd(EXIF_IFD_POINTER).get(EXIF_USER_COMMENT)
    if not raw:
        return None
    text = decode_user_comment(raw, exif_byte_order(exif)).strip()
    return text or None


# --- XMP -------------------------------------------------------------------------------------

def xmp_packet(provenance: Provenance) -> bytes:
    """A minimal XMP packet carrying the JSON chain and the creator tool."""
    body = _xml_escape(provenance.to_json(), quote=False)
    app = _xml_escape(provenance.app, quote=True)
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        f'    xmlns:ip2p="{XMP_NAMESPACE}"\n'
        f'    xmp:CreatorTool="{app}">\n'
        f"   <ip2p:{XMP_ELEMENT}>{body}</ip2p:{XMP_ELEMENT}>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def provenance_from_xmp(data: bytes | str) -> Provenance | None:
    """The chain stored by :func:`xmp_packet`, whether as element or (rewritten by a tool) attribute."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    start = data.find("<x:xmpmeta")
    end = data.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return None
    try:
        root = ET.fromstring(data[start:end + len("</x:xmpmeta>")])
    except ET.ParseError:
        return None
    tag = f"{{{XMP_NAMESPACE}}}{XMP_ELEMENT}"
    for node in root.iter():
        text = node.text if node.tag == tag else node.attrib.get(tag)
        if text:
            try:
                return Provenance.from_json(text)
            except (ValueError, TypeError):
                return None
    return None


# --- reading from files ----------------------------------------------------------------------

def provenance_from_info(info: dict[str, Any], exif: Image.Exif | None = None) -> Provenance | None:
    """Provenance from a PIL image's ``info`` (and EXIF): our JSON first, then A1111 text."""
    chain_json = info.get(PNG_CHAIN_KEY)
    if isinstance(chain_json, (str, bytes)):
        try:
            return Provenance.from_json(chain_json)
        except (ValueError, TypeError):
            pass
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if isinstance(xmp, (str, bytes)):
        found = provenance_from_xmp(xmp)
        if found is not None:
            return found
    texts = [info.get(PNG_PARAMETERS_KEY)]
    if exif is not None:
        try:
            texts.append(get_user_comment(exif))
        except Exception:  # noqa: BLE001 - a damaged EXIF block only means no provenance
            pass
    for text in texts:
        if isinstance(text, str) and text.strip():
            try:
                return Provenance(chain=[parse_parameters_text(text)], app="")
            except ValueError:
                continue
    return None


def read_provenance(source: str | os.PathLike[str] | Image.Image) -> Provenance | None:
    """The provenance stored in an image file or an opened PIL image, or None when it has none.

    Never raises for unreadable files or damaged metadata; it just returns None.
    """
    if isinstance(source, Image.Image):
        return _provenance_of_image(source)
    try:
        with Image.open(Path(source)) as image:
            found = _provenance_of_image(image)
            if found is None and image.format == "PNG" and _pixels(image) <= 50_000_000:
                # Text chunks after the pixel data only show up once the image is decoded.
                image.load()
                found = _provenance_of_image(image)
            return found
    except Exception:  # noqa: BLE001 - "no provenance" is the honest answer for any unreadable file
        return None


def _pixels(image: Image.Image) -> int:
    return image.size[0] * image.size[1]


def _provenance_of_image(image: Image.Image) -> Provenance | None:
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001
        exif = None
    return provenance_from_info(dict(image.info), exif)
