"""Where the real datasets are looked for."""

from __future__ import annotations

from pathlib import Path


def test_shared_data_dir_follows_the_environment_else_sits_beside_the_checkout(monkeypatch):
    import modalprompt.core.tasks as tasks

    monkeypatch.setenv("MODALPROMPT_SHARED_DATA", "/somewhere/data")
    assert tasks.shared_data_dir() == Path("/somewhere/data")
    monkeypatch.delenv("MODALPROMPT_SHARED_DATA")
    checkout = Path(tasks.__file__).resolve().parents[2]
    assert tasks.shared_data_dir() == checkout.parent / "shared" / "data"
