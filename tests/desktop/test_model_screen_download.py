"""The first-run model screen drives the core hub download with progress, stop and resume."""

from __future__ import annotations

import threading

from ip2p_core import hub_download as download
from ip2p_core.hub_download import DownloadPlan, format_bytes, select_model_files
from tests.core.test_hub_download import HUB_LISTING, FakeHub, fake_hub  # noqa: F401  (fixture)


def test_model_screen_downloads_with_progress_and_can_stop(qtbot, fake_hub: FakeHub, monkeypatch) -> None:
    from ip2p_desktop.model_screen import ModelDialog

    plan = DownloadPlan("timbrooks/instruct-pix2pix", select_model_files(HUB_LISTING))
    monkeypatch.setattr(download, "plan_download", lambda repo_id, api=None: plan)
    import ip2p_desktop.model_screen as screen

    monkeypatch.setattr(screen, "plan_download", lambda repo_id, api=None: plan)
    dialog = ModelDialog(repo_id=plan.repo_id)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=10_000)
    assert dialog.size_label.text() == f"Download size: {format_bytes(plan.total_bytes)} in {len(plan.files)} files."

    # Stop part-way: the hub thread is told, the dialog offers to resume.
    real = fake_hub.__call__
    gate = threading.Event()

    def slow(*args, **kwargs):
        gate.wait(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(fake_hub.__class__, "__call__", lambda self, *a, **k: slow(*a, **k))
    dialog.start_download()
    dialog.stop_download()
    gate.set()
    qtbot.waitUntil(lambda: dialog.download_button.text() == "Resume download", timeout=10_000)
    assert "kept" in dialog.status.text()

    monkeypatch.setattr(fake_hub.__class__, "__call__", lambda self, *a, **k: real(*a, **k))
    with qtbot.waitSignal(dialog.accepted, timeout=20_000):
        dialog.start_download()
    assert dialog.chosen == plan.repo_id
    assert dialog.progress.value() == 1000
