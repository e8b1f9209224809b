from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.platform import datadir


def test_it_prefers_the_explicit_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(datadir.ENV_VAR, str(tmp_path / "from-env"))
    assert datadir.resolve(tmp_path / "flag").root == (tmp_path / "flag").resolve()


def test_it_uses_the_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(datadir.ENV_VAR, str(tmp_path / "from-env"))
    assert datadir.resolve().root == (tmp_path / "from-env").resolve()


def test_it_falls_back_to_the_per_user_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(datadir.ENV_VAR, raising=False)
    root = datadir.resolve().root
    assert datadir.APP_NAME in str(root)
    assert Path(__file__).resolve().parent.parent not in root.parents  # never the install folder


def test_it_creates_the_tree_and_a_private_secret_key(tmp_path: Path) -> None:
    d = datadir.DataDir(tmp_path / "d")
    d.prepare()
    for folder in (d.originals, d.derived, d.logs, d.cache, d.model_packs, d.backups):
        assert folder.is_dir()
    key = d.secret_key_file.read_text()
    assert len(key) >= 50
    assert os.stat(d.secret_key_file).st_mode & 0o777 == 0o600
    d.prepare()
    assert d.secret_key_file.read_text() == key  # stable across starts


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_it_closes_the_tree_to_other_accounts_even_if_it_was_open(tmp_path: Path) -> None:
    d = datadir.DataDir(tmp_path / "d")
    d.prepare()
    for folder in (d.root, d.originals, d.logs, d.backups):
        folder.chmod(0o755)  # as an older release left it
    d.prepare()
    for folder in (d.root, d.originals, d.derived, d.logs, d.cache, d.model_packs, d.backups):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_each_install_gets_its_own_key(tmp_path: Path) -> None:
    a, b = datadir.DataDir(tmp_path / "a"), datadir.DataDir(tmp_path / "b")
    a.prepare()
    b.prepare()
    assert a.secret_key_file.read_text() != b.secret_key_file.read_text()


def test_it_refuses_an_empty_key_file(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(RuntimeError, match="empty"):
        datadir.read_or_create_secret_key(tmp_path / "secret_key")


def test_a_windowless_build_logs_console_output_to_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import launcher

    d = datadir.DataDir(tmp_path / "d")
    d.prepare()
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    launcher.redirect_missing_console(d)
    print("hello from a windowless build")
    sys.stdout.flush()
    assert "hello from a windowless build" in (d.logs / "console.log").read_text()
