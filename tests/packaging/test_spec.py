"""packaging/ip2p.spec, executed with stand-ins for PyInstaller's build classes.

Checks what would otherwise only show after a 5-minute build: two programs from one analysis, each
with only its own entry script, one shared folder, and the trimming rules (CUDA libraries in a CPU
build, torch's test programs, unused Qt plugins) keeping what the app needs.
"""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC = REPO_ROOT / "packaging" / "ip2p.spec"


class _Recorder:
    made: list["_Recorder"] = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        _Recorder.made.append(self)


class _Analysis(_Recorder):
    def __init__(self, scripts, **kwargs):
        super().__init__(scripts, **kwargs)
        self.scripts = [("pyiboot01_bootstrap", "/x/boot.py", "PYSOURCE"), ("pyi_rth_pyside6", "/x/rth.py", "PYSOURCE")]
        self.scripts += [(Path(s).stem, s, "PYSOURCE") for s in scripts]
        self.binaries = [(dest, "/src/" + dest, "BINARY") for dest in BINARIES]
        self.datas = [(dest, "/src/" + dest, "DATA") for dest in DATAS]
        self.pure = [(name, "/src/x.py", "PYMODULE") for name in MODULES]


class _Collect(_Recorder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Path(DISTPATH[0], kwargs["name"]).mkdir(parents=True)


BINARIES = [
    "torch/lib/libtorch_cpu.so",
    "torch/lib/libc10.so",
    "torch/lib/libtorch_cuda.so",
    "nvidia/cudnn/lib/libcudnn.so.9",
    "torch/lib/libjitbackend_test.so",
    "PySide6/Qt/lib/libQt6Core.so.6",
    "PySide6/Qt/lib/libQt6Gui.so.6",
    "PySide6/Qt/lib/libQt6Network.so.6",
    "PySide6/Qt/lib/libQt6Quick.so.6",
    "PySide6/Qt/plugins/platforms/libqxcb.so",
    "PySide6/Qt/plugins/platforms/libqwayland.so",
    "PySide6/Qt/plugins/platforms/libqoffscreen.so",
    "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/plugins/imageformats/libqjpeg.so",
    "PySide6/Qt/plugins/imageformats/libqsvg.so",
    "PySide6/Qt/plugins/imageformats/libqpdf.so",
    "PySide6/Qt/plugins/tls/libqopensslbackend.so",
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
    "PySide6/Qt/plugins/platforminputcontexts/libibusplatforminputcontextplugin.so",
    "PySide6\\Qt\\plugins\\platforms\\qwindows.dll",  # Windows separators
]
DATAS = [
    "torch/bin/torch_shm_manager",
    "torch/bin/protoc",
    "torch/test/test_api",
    "torch/include/ATen/ATen.h",
    "torch/testing/_comparison.py",
    "torch/backends/cudnn/__init__.py",
    "diffusers/schedulers/scheduling_lms_discrete.py",
    "numpy/_core/tests/test_api.py",
    "ip2p_core/resources/sample.jpg",
    "ip2p_core/resources/sd15_ip2p/unet/config.json",
    "ip2p_desktop/resources/ip2p.svg",
    "pytest-9.0.3.dist-info/METADATA",
    "triton-3.5.0.dist-info/METADATA",
    "safetensors-0.8.0.dist-info/METADATA",
    "PySide6/Qt/translations/qtbase_de.qm",
    "PySide6/Qt/translations/qtdeclarative_de.qm",
]
MODULES = ["torch", "diffusers", "jinja2.tests", "ip2p_desktop.selftest"]
DISTPATH: list[str] = []


@pytest.fixture()
def built(tmp_path, monkeypatch):
    """Run the spec as PyInstaller would, with recording stand-ins; returns the recorded objects."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: [f"{package}.fake_submodule"]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setenv("IP2P_BUILD_FLAVOR", "cpu")  # also avoids importing torch in the spec
    DISTPATH[:] = [str(tmp_path / "dist")]
    _Recorder.made = []
    names = {"Analysis": _Analysis, "PYZ": _Recorder, "EXE": _Recorder, "COLLECT": _Collect, "BUNDLE": _Recorder}
    namespace = {"__file__": str(SPEC), "SPECPATH": str(SPEC.parent), "DISTPATH": DISTPATH[0], **names}
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), namespace)
    return namespace


def test_spec_is_valid_python():
    ast.parse(SPEC.read_text(), filename=str(SPEC))


def test_two_programs_share_one_analysis_and_one_folder(built):
    analyses = [r for r in _Recorder.made if isinstance(r, _Analysis)]
    assert len(analyses) == 1
    app, cli = built["app_exe"], built["cli_exe"]
    assert (app.kwargs["name"], app.kwargs["console"]) == ("ip2p", False)
    assert (cli.kwargs["name"], cli.kwargs["console"]) == ("ip2p-edit", True)
    app_scripts = [s[0] for s in app.args[1]]
    cli_scripts = [s[0] for s in cli.args[1]]
    assert "ip2p_app" in app_scripts and "ip2p_edit" not in app_scripts
    assert "ip2p_edit" in cli_scripts and "ip2p_app" not in cli_scripts
    assert "pyiboot01_bootstrap" in app_scripts and "pyiboot01_bootstrap" in cli_scripts
    assert app.kwargs["exclude_binaries"] and cli.kwargs["exclude_binaries"]  # libraries live once, in COLLECT
    collect = built["coll"]
    assert collect.args[0] is app and collect.args[1] is cli
    assert collect.kwargs["name"] == "ip2p"


def test_cpu_build_trims_cuda_tests_and_unused_qt(built):
    kept = {dest.replace("\\", "/") for dest, _, _ in built["a"].binaries}
    assert kept == {
        "torch/lib/libtorch_cpu.so",
        "torch/lib/libc10.so",
        "PySide6/Qt/lib/libQt6Core.so.6",
        "PySide6/Qt/lib/libQt6Gui.so.6",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/imageformats/libqjpeg.so",
        "PySide6/Qt/plugins/imageformats/libqsvg.so",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "PySide6/Qt/plugins/platforminputcontexts/libibusplatforminputcontextplugin.so",
        "PySide6/Qt/plugins/platforms/qwindows.dll",
    }


def test_data_trimming_keeps_sources_and_resources(built):
    kept = {dest for dest, _, _ in built["a"].datas}
    assert kept == {
        "torch/bin/torch_shm_manager",  # import torch checks for it
        "torch/testing/_comparison.py",
        "torch/backends/cudnn/__init__.py",  # a source file, not a CUDA library
        "diffusers/schedulers/scheduling_lms_discrete.py",
        "ip2p_core/resources/sample.jpg",
        "ip2p_core/resources/sd15_ip2p/unet/config.json",
        "ip2p_desktop/resources/ip2p.svg",
        "safetensors-0.8.0.dist-info/METADATA",
        "PySide6/Qt/translations/qtbase_de.qm",
    }
    # Modules are never dropped by name: jinja2.tests is imported by jinja2 itself.
    assert {name for name, _, _ in built["a"].pure} == set(MODULES)


def test_our_resources_and_hooks_are_wired_in(built):
    analysis = next(r for r in _Recorder.made if isinstance(r, _Analysis))
    datas = {dest: Path(src) for src, dest in analysis.kwargs["datas"]}
    assert datas == {
        "ip2p_core/resources": REPO_ROOT / "ip2p_core" / "resources",
        "ip2p_desktop/resources": REPO_ROOT / "ip2p_desktop" / "resources",
    }
    assert Path(analysis.kwargs["hookspath"][0]) == REPO_ROOT / "packaging" / "hooks"
    assert "ip2p_desktop.fake_submodule" in analysis.kwargs["hiddenimports"]
    assert "triton" in analysis.kwargs["excludes"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the install kit is copied on Linux only")
def test_linux_install_kit_is_copied_into_the_bundle(built):
    bundle = Path(DISTPATH[0]) / "ip2p"
    assert sorted(p.name for p in bundle.iterdir()) == ["install.sh", "ip2p.desktop", "ip2p.png", "ip2p.svg"]
