"""IP2P core: InstructPix2Pix model loading, the edit engine, image I/O and sessions.

This package never imports Qt. Heavy libraries (torch, diffusers, transformers) are imported
lazily inside the modules that need them, so `import ip2p_core` stays cheap.
"""

__version__ = "0.1.0"

DEFAULT_MODEL_ID = "timbrooks/instruct-pix2pix"
