from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import CLASSES_4


@pytest.fixture(scope="session")
def tiny_pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 4-class pack of three small architectures (built, not shipped)."""
    import torch

    from app.inference.preprocess import PreprocessSpec
    from app.inference.packs.class_codes import known_codes
    from app.inference.packs.writer import MemberToWrite, write_pack

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("packs") / "tiny"
    write_pack(
        folder,
        name="tiny-test",
        version="0.0.1",
        classes=CLASSES_4,
        members=[
            MemberToWrite("resnet18", "resnet18", temperature=1.5),
            MemberToWrite("mobilenet", "mobilenet_v3_small"),
            MemberToWrite("shufflenet", "shufflenet_v2_x0_5"),
        ],
        preprocessing=PreprocessSpec(input_size=96),
        normal_classes=["Normal"],
        class_codes=known_codes(list(CLASSES_4)),
    )
    return folder


@pytest.fixture
def tiny_pack_active(tiny_pack_dir: Path, request: pytest.FixtureRequest):  # noqa: ANN201
    """The tiny pack imported into the test data directory and made the worker's active pack."""
    from django.conf import settings

    from app.analysis import engine_service
    from app.inference.packs import registry as pack_registry
    from app.inference.packs.install import import_pack

    imported = settings.DATA_DIR.model_packs
    if not (imported / "tiny-test-0.0.1").exists():
        import_pack(tiny_pack_dir, imported)
    pack_registry.set_active(imported, [p for p in pack_registry.installed(imported)[0] if p.name == "tiny-test"][0])
    engine_service.reset()
    if request.cls is not None:
        request.cls.pack_ready = True
    yield
    engine_service.reset()
