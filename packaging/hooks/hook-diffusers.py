"""PyInstaller hook for diffusers (neither PyInstaller nor pyinstaller-hooks-contrib ships one).

diffusers decides at import time which optional backends exist by asking ``importlib.metadata``
for their versions; without the dist-info folders in the bundle every check says "missing" and
classes such as ``LMSDiscreteScheduler`` (scipy) or ``AutoencoderKL``'s low-memory loading
(accelerate) turn into dummy objects that raise when used.
"""

from PyInstaller.utils.hooks import collect_data_files, copy_metadata, get_module_attribute, is_module_satisfies, logger

datas = copy_metadata("diffusers")

# diffusers' own table of (optional) dependencies: copy metadata for every one installed in the
# build environment, the same approach the contrib hook takes for transformers.
try:
    _deps = get_module_attribute("diffusers.dependency_versions_table", "deps")
except Exception:
    logger.warning("hook-diffusers: could not read diffusers.dependency_versions_table.deps", exc_info=True)
    _deps = {}
for _name, _requirement in _deps.items():
    if _name == "python" or not is_module_satisfies(_requirement):
        continue
    try:
        datas += copy_metadata(_name)
    except Exception:
        pass  # listed but not installed (optional extra): nothing to copy

# JSON/text data shipped inside the package (e.g. scheduler or conversion tables).
datas += collect_data_files("diffusers", excludes=["**/*.py", "**/*.pyc", "**/__pycache__"])

# Sources on disk next to the bytecode: diffusers calls inspect.getsource() in a few utilities
# and torch.jit.script needs source of scripted functions; keeping .py files costs ~28 MB.
module_collection_mode = "pyz+py"
