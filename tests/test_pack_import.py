"""Installing a pack: verified before use, refused with a reason when damaged, switchable."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from app.inference.packs import registry as pack_registry
from app.inference.errors import ModelPackError
from app.inference.packs.install import import_pack


def zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for file in folder.iterdir():
            zf.write(file, f"{prefix}{file.name}")
    return archive


def test_it_installs_activates_and_switches_back(tiny_pack_dir: Path, tmp_path: Path) -> None:
    imported = tmp_path / "model_packs"
    first = import_pack(zip_folder(tiny_pack_dir, tmp_path / "p.zip", prefix="tiny/"), imported, activate=True)
    assert (imported / "tiny-test-0.0.1" / "manifest.json").is_file()
    assert pack_registry.select_active(imported).root == first.root

    newer = tmp_path / "newer"
    shutil.copytree(tiny_pack_dir, newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    manifest["version"] = "0.0.2"
    (newer / "manifest.json").write_text(json.dumps(manifest))
    second = import_pack(newer, imported, activate=True)
    assert pack_registry.select_active(imported).version == "0.0.2"

    pack_registry.set_active(imported, first)  # the previous pack is still there to go back to
    assert pack_registry.select_active(imported).version == "0.0.1"
    assert second.root.is_dir()
    assert not list(imported.glob(".staging-*"))


def test_it_refuses_a_tampered_pack_and_leaves_nothing(tiny_pack_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(tiny_pack_dir, bad)
    with (bad / "resnet18.pt").open("ab") as handle:
        handle.write(b"\0")
    imported = tmp_path / "model_packs"
    with pytest.raises(ModelPackError, match="member 'resnet18'.*fails its checksum"):
        import_pack(bad, imported)
    assert list(imported.iterdir()) == []


def test_it_refuses_a_zip_that_escapes_its_folder(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../outside.txt", "x")
    with pytest.raises(ModelPackError, match="outside the pack folder"):
        import_pack(archive, tmp_path / "model_packs")
    assert not (tmp_path / "outside.txt").exists()


def test_it_refuses_a_file_that_is_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "pack.zip").write_text("hello")
    with pytest.raises(ModelPackError, match="not a readable zip"):
        import_pack(tmp_path / "pack.zip", tmp_path / "model_packs")


def test_it_refuses_an_archive_without_manifest(tmp_path: Path) -> None:
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "no manifest")
    with pytest.raises(ModelPackError, match="no manifest.json"):
        import_pack(archive, tmp_path / "model_packs")


def test_it_refuses_a_second_copy_of_the_same_version(tiny_pack_dir: Path, tmp_path: Path) -> None:
    imported = tmp_path / "model_packs"
    import_pack(tiny_pack_dir, imported)
    with pytest.raises(ModelPackError, match="already installed"):
        import_pack(tiny_pack_dir, imported)


def with_manifest(tiny_pack_dir: Path, folder: Path, **changes: str) -> Path:
    shutil.copytree(tiny_pack_dir, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize("field", ["name", "version"])
def test_it_refuses_a_name_or_version_that_would_climb_out_of_the_packs_folder(tiny_pack_dir: Path, tmp_path: Path, field: str) -> None:
    imported = tmp_path / "data" / "model_packs"
    evil = with_manifest(tiny_pack_dir, tmp_path / "evil", **{field: "../../../sitecustomize"})
    with pytest.raises(ModelPackError, match="is not allowed"):
        import_pack(evil, imported)
    assert list(imported.iterdir()) == []
    assert not (tmp_path / "sitecustomize").exists() and not list(tmp_path.glob("*/sitecustomize*"))


def test_it_refuses_a_folder_pack_holding_a_link(tiny_pack_dir: Path, tmp_path: Path) -> None:
    secrets = tmp_path / "other-data-dir" / "images"
    secrets.mkdir(parents=True)
    (secrets / "patient.png").write_bytes(b"not for the pack")
    linked = with_manifest(tiny_pack_dir, tmp_path / "linked")
    (linked / "evaluation").symlink_to(secrets)
    imported = tmp_path / "model_packs"
    with pytest.raises(ModelPackError, match="'evaluation' in the pack folder is a symbolic link"):
        import_pack(linked, imported)
    assert list(imported.iterdir()) == []


def test_it_refuses_a_decompression_bomb_before_writing_it(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", "{}")
        with zf.open("weights.pt", "w", force_zip64=True) as entry:
            block = b"\0" * 2**20
            for _ in range(200):  # 200 MB of zeros, a few hundred kB in the archive
                entry.write(block)
    imported = tmp_path / "model_packs"
    with pytest.raises(ModelPackError, match="decompression bomb"):
        import_pack(archive, imported)
    assert list(imported.iterdir()) == []


def test_an_entry_is_never_written_past_its_declared_size(tmp_path: Path) -> None:
    from app.inference.packs.install import _extract_entry

    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("manifest.json", b"x" * 4096)
    with zipfile.ZipFile(archive) as zf:
        entry = zf.infolist()[0]
        entry.file_size = 100  # a header that lies about what follows
        (tmp_path / "out").mkdir()
        with pytest.raises((ModelPackError, zipfile.BadZipFile)):
            _extract_entry(zf, entry, tmp_path / "out")
    written = tmp_path / "out" / "manifest.json"
    assert not written.exists() or written.stat().st_size <= 100


def test_a_staging_folder_left_by_a_killed_import_is_removed_by_the_next(tiny_pack_dir: Path, tmp_path: Path) -> None:
    imported = tmp_path / "model_packs"
    left = imported / ".staging-0123456789abcdef"
    left.mkdir(parents=True)
    (left / "half-copied.pt").write_bytes(b"\0" * 1024)
    import_pack(tiny_pack_dir, imported)
    assert not left.exists()
    assert [p.name for p in imported.iterdir()] == ["tiny-test-0.0.1"]
