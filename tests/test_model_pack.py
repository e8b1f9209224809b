"""Loading a pack verifies everything and fails with a readable error naming the culprit."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from app.inference.errors import ModelPackError
from app.inference.packs.manifest import load_member, read_manifest, sha256_of, verify
from tests.shared_data import CLASSES_4


@pytest.fixture
def pack_copy(tiny_pack_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_pack_dir, tmp_path / "pack"))


def edit_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_it_reads_a_good_pack(tiny_pack_dir: Path) -> None:
    pack = read_manifest(tiny_pack_dir)
    assert pack.classes == tuple(CLASSES_4)
    assert [m.architecture for m in pack.members] == ["resnet18", "mobilenet_v3_small", "shufflenet_v2_x0_5"]
    assert pack.members[0].temperature == 1.5
    assert pack.validated is False
    verify(pack)
    model = load_member(pack, pack.members[0])
    assert not model.training


def test_it_refuses_a_tampered_weight_file(pack_copy: Path) -> None:
    weights = pack_copy / "mobilenet.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    pack = read_manifest(pack_copy)
    with pytest.raises(ModelPackError, match="member 'mobilenet'.*fails its checksum"):
        verify(pack)


def test_it_refuses_a_missing_weight_file(pack_copy: Path) -> None:
    (pack_copy / "shufflenet.pt").unlink()
    with pytest.raises(ModelPackError, match="member 'shufflenet'.*missing"):
        verify(read_manifest(pack_copy))


def test_it_never_unpickles_code(pack_copy: Path, tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    weights = pack_copy / "resnet18.pt"
    weights.write_bytes(pickle.dumps({"fc.weight": Exploit()}))
    edit_manifest(pack_copy, lambda m: m["members"][0].update(sha256=sha256_of(weights)))
    pack = read_manifest(pack_copy)
    with pytest.raises(ModelPackError, match="member 'resnet18'.*cannot be read safely"):
        load_member(pack, pack.members[0])
    assert not (tmp_path / "pwned").exists()


def test_it_refuses_weights_for_another_class_count(pack_copy: Path) -> None:
    edit_manifest(pack_copy, lambda m: m.update(classes=["A", "B"], normal_classes=[], class_codes={}) or [mm.update(thresholds={}) for mm in m["members"]])
    pack = read_manifest(pack_copy)
    with pytest.raises(ModelPackError, match="do not fit architecture 'resnet18' with 2 classes"):
        load_member(pack, pack.members[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("classes"), "missing 'classes'"),
        (lambda m: m.update(format_version=99), "format_version 99 is not supported"),
        (lambda m: m.update(normal_classes=["No Finding"]), "'normal_classes' must list class names of this pack"),
        (lambda m: m.update(validated="yes"), "'validated' must be bool"),
        (lambda m: m.update(class_codes={"Tuberculosis": {"code": "56717001", "scheme": "SCT", "meaning": "Tuberculosis"}}), "'class_codes' must map class names of this pack"),
        (lambda m: m.update(class_codes={"Normal": {"code": "", "scheme": "SCT", "meaning": "Normal"}}), "needs a code, a scheme and a meaning"),
        (lambda m: m.update(class_codes={"Normal": {"code": "17621005", "scheme": "MADE-UP", "meaning": "Normal"}}), "scheme SCT, DCM"),
        (lambda m: m.update(classes=["A"]), "at least two distinct"),
        (lambda m: m["members"][1].update(architecture="alexnet"), "member 'mobilenet'.*'alexnet' is not supported"),
        (lambda m: m["members"][0].update(sha256="abc"), "member 'resnet18'.*64 hexadecimal"),
        (lambda m: m["members"][0].update(weights="../../etc/passwd"), "plain name inside the pack"),
        (lambda m: m["members"][2].update(input_size=512), "member 'shufflenet'.*differs"),
        (lambda m: m["members"][0].update(temperature=0), "temperature must be positive"),
        (lambda m: m.update(members=[]), "no members"),
        (lambda m: m["consensus"].update(rule="max"), "consensus rule 'max'"),
    ],
)
def test_it_explains_manifest_errors(pack_copy: Path, change, message: str) -> None:
    edit_manifest(pack_copy, change)
    with pytest.raises(ModelPackError, match=message):
        read_manifest(pack_copy)


def test_it_refuses_a_folder_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(ModelPackError, match="no manifest.json"):
        read_manifest(tmp_path)


def test_it_refuses_broken_json(pack_copy: Path) -> None:
    (pack_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ModelPackError, match="not valid JSON"):
        read_manifest(pack_copy)
