from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import CLASSES_4


@pytest.fixture(scope="session")
def tiny_pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 4-class pack of three small architectures (built, not shipped)."""
    import torch

    from app.inference.preprocess import PreprocessSpec
    from app.ml.pack_writer import MemberToWrite, write_pack

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
    )
    return folder
