"""Export a pack's members for ONNX Runtime, check them against torch, record them in the manifest.

    python -m app.training.export_onnx bundled_models/cxr-covid3-lite
    python -m app.training.export_onnx --quality-gate      # the gate's backbone (app/inference/gate_backbone.onnx)

Each member becomes `<name>.onnx` with two outputs: `logits` (N, C) and `cams` (N, C, h, w), the
class activation map of every class from the last feature map and the classifier's weights
(architectures.LINEAR_HEAD says where that equals Grad-CAM). Weights are stored as float16, as in
the `.pt` files they come from, and cast to float32 when ONNX Runtime loads them. The export is
refused unless ONNX Runtime reproduces torch: logits within 1e-3 and, after the same ReLU, resize
and normalisation, heatmaps within 1e-2 of the torch path's Grad-CAM on a phantom and on noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from app.platform.checksums import sha256_of
from app.inference import architectures
from app.inference.ensemble import Ensemble
from app.inference.packs.manifest import MANIFEST, MemberSpec, ModelPack, load_member, read_manifest
from app.inference.onnx_ensemble import OnnxEnsemble
from app.inference.preprocess import prepare, to_batch
from app.inference.sample import chest_phantom
from app.inference.packs.writer import write_manifest

OPSET = 17
LOGIT_TOLERANCE = 1e-3
CAM_TOLERANCE = 1e-2


class LogitsAndCams(nn.Module):
    """The member's logits, plus every class's activation map from its last feature map."""

    def __init__(self, model: nn.Module, architecture: str) -> None:
        super().__init__()
        if architecture not in architectures.LINEAR_HEAD:
            raise ValueError(f"{architecture} has no plain linear head after its CAM layer; it cannot be exported (the torch path serves it)")
        self.model = model
        self.classifier = model.get_submodule(architectures.LINEAR_HEAD[architecture])
        self._features: list[torch.Tensor] = []
        architectures.cam_layer(model, architecture).register_forward_hook(lambda module, inputs, output: self._features.append(output))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._features.clear()
        logits = self.model(x)
        cams = torch.einsum("ck,nkhw->nchw", self.classifier.weight, self._features[0])
        return logits, cams


def export_member(pack: ModelPack, spec: MemberSpec, path: Path) -> None:
    model = load_member(pack, spec).eval()
    wrapper = LogitsAndCams(model, spec.architecture).eval()
    example = torch.zeros(1, 3, spec.input_size, spec.input_size)
    # No constant folding: BatchNorm stays separate from the convolutions, so every stored weight
    # is one of the .pt file's float16 values and storing it as float16 loses nothing. ONNX Runtime
    # fuses them when it loads the model. The TorchScript exporter (dynamo=False), deprecated but
    # shipped with torch 2.14: the torch.export one needs onnxscript and gives no such control.
    torch.onnx.export(
        wrapper, (example,), str(path), input_names=["image"], output_names=["logits", "cams"],
        dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}, "cams": {0: "n"}},
        opset_version=OPSET, do_constant_folding=False, dynamo=False,
    )
    store_weights_as_float16(path)


def store_weights_as_float16(path: Path) -> None:
    """Every float32 initializer whose values float16 holds exactly is stored as float16 and cast
    back on load (a Cast node ONNX Runtime folds away): half the file, identical numbers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    kept, casts = [], []
    for initializer in graph.initializer:
        values = numpy_helper.to_array(initializer)
        if values.dtype == np.float32 and values.size > 16 and np.array_equal(values.astype(np.float16).astype(np.float32), values):
            half = numpy_helper.from_array(values.astype(np.float16), initializer.name + "__f16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [initializer.name], to=TensorProto.FLOAT))
        else:
            kept.append(initializer)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def check_against_torch(pack: ModelPack) -> dict[str, dict[str, float]]:
    """Run both paths on the same batch; the largest differences per member, or ValueError."""
    rng = np.random.default_rng(0)
    images = [prepare(chest_phantom(300), pack.preprocessing), prepare(rng.uniform(0, 1, (260, 240)).astype(np.float32), pack.preprocessing)]
    first = pack.members[0]
    batch = to_batch(images, first.mean, first.std)
    reference = Ensemble(pack, device="cpu").run(batch, heatmap=True)
    exported = OnnxEnsemble(pack).run(batch, heatmap=True)
    report = {}
    for a, b in zip(reference, exported, strict=True):
        logits = float(np.abs(a.logits - b.logits).max())
        cam = float(np.abs(a.cam - b.cam).max())
        report[a.spec.name] = {"max_logit_difference": logits, "max_heatmap_difference": cam}
        if logits > LOGIT_TOLERANCE or cam > CAM_TOLERANCE:
            raise ValueError(f"{a.spec.name}: ONNX Runtime differs from torch (logits by {logits:.2e}, heatmap by {cam:.2e})")
    return report


def export_pack(folder: Path) -> dict[str, dict[str, float]]:
    pack = read_manifest(folder)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        # Exported beside the pack and checked from a candidate manifest before anything is replaced.
        for entry, spec in zip(manifest["members"], pack.members, strict=True):
            path = Path(scratch) / f"{spec.name}.onnx"
            export_member(pack, spec, path)
            entry["onnx"], entry["onnx_sha256"] = f"{spec.name}.onnx", sha256_of(path)
        candidate = Path(scratch)
        for spec in pack.members:
            (candidate / spec.weights).symlink_to((folder / spec.weights).resolve())
        write_manifest(candidate, manifest)
        report = check_against_torch(read_manifest(candidate))
        for spec in pack.members:
            (candidate / f"{spec.name}.onnx").replace(folder / f"{spec.name}.onnx")
    write_manifest(folder, manifest)
    return report


def export_gate_backbone() -> dict[str, float]:
    """gate_backbone.onnx from gate_backbone.pt, checked like a member (embeddings within 1e-3),
    its checksum added to the gate's parameters (quality_gate.npz)."""
    from app.inference import quality_gate

    _, _, sha = quality_gate.load_gate()
    embedder = quality_gate.Embedder(sha256=sha)
    model = embedder.model.float().to(memory_format=torch.contiguous_format).eval()
    rng = np.random.default_rng(0)
    images = [chest_phantom(300), rng.uniform(0, 1, (260, 240)).astype(np.float32)]
    target = quality_gate.BACKBONE_ONNX_FILE
    scratch = target.with_suffix(".onnx.tmp")
    torch.onnx.export(
        model, (torch.zeros(1, 3, quality_gate.EMBEDDING_SIZE, quality_gate.EMBEDDING_SIZE),), str(scratch),
        input_names=["image"], output_names=["embedding"], dynamic_axes={"image": {0: "n"}, "embedding": {0: "n"}},
        opset_version=OPSET, do_constant_folding=False, dynamo=False,
    )
    store_weights_as_float16(scratch)
    difference = float(np.abs(quality_gate.OnnxEmbedder(scratch).embed(images) - embedder.embed(images)).max())
    if difference > LOGIT_TOLERANCE:
        scratch.unlink()
        raise ValueError(f"the gate backbone's ONNX export differs from torch by {difference:.2e}")
    scratch.replace(target)
    with np.load(quality_gate.GATE_FILE, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["backbone_onnx_sha256"] = np.array(sha256_of(target))
    np.savez_compressed(quality_gate.GATE_FILE, **arrays)
    return {"max_embedding_difference": difference}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pack", type=Path, nargs="?", help="the pack folder (its manifest is updated in place)")
    parser.add_argument("--quality-gate", action="store_true", help="export the quality gate's backbone instead")
    args = parser.parse_args(argv)
    if args.quality_gate == bool(args.pack):
        parser.error("give a pack folder or --quality-gate")
    print(json.dumps(export_gate_backbone() if args.quality_gate else export_pack(args.pack), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
