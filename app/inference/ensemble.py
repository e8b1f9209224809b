"""Run every member of a pack on the same preprocessed batch, with optional Grad-CAM.

Memory: when the pack fits the device memory budget its members stay resident on the device;
otherwise each member is built, moved to the device, used and released in turn (only the
weights, kept in host RAM as loaded and verified, stay around). Both paths give the same numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.inference import architectures
from app.inference.consensus import MemberRun, calibrated_probabilities
from app.inference.packs.manifest import MemberSpec, ModelPack, load_member

log = logging.getLogger(__name__)

# Activation and workspace allowance per resident member on top of its weights, for batch 1 at
# 224 px under fp16 autocast (measured peaks stay well below this for the supported archs).
ACTIVATION_ALLOWANCE_BYTES = 160 * 2**20


def choose_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"


class Ensemble:
    def __init__(
        self,
        pack: ModelPack,
        device: torch.device | str | None = None,
        memory_budget_mb: int = 6144,
        *,
        verify: bool = True,
    ) -> None:
        self.pack = pack
        self.device = device if isinstance(device, torch.device) else choose_device(device)
        self.memory_budget_bytes = memory_budget_mb * 2**20
        # Load and verify every member once, on the CPU (checksums are not re-read per image).
        cpu_models = {spec.name: load_member(pack, spec, verify=verify) for spec in pack.members}
        self.required_bytes = sum(architectures.parameter_bytes(m) + ACTIVATION_ALLOWANCE_BYTES for m in cpu_models.values())
        self.resident = self.required_bytes <= self.memory_budget_bytes
        # Resident: the prepared models are all that is kept. Streamed: only the weights, from
        # which each member is rebuilt for one use and released.
        self._resident_models: dict[str, nn.Module] = {}
        self._states: dict[str, dict[str, torch.Tensor]] = {}
        if self.resident:
            self._resident_models = {name: self._prepare_for_device(model) for name, model in cpu_models.items()}
        else:
            self._states = {name: model.state_dict() for name, model in cpu_models.items()}
            log.info(
                "Pack needs about %.0f MB, budget is %.0f MB: members are loaded one at a time",
                self.required_bytes / 2**20,
                self.memory_budget_bytes / 2**20,
            )

    @property
    def device_name(self) -> str:
        return describe_device(self.device)

    # -- helpers ---------------------------------------------------------------------------

    def _prepare_for_device(self, model: nn.Module) -> nn.Module:
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        # channels_last helps cuDNN and oneDNN alike (about 12% on a 2-core CPU, see docs).
        return architectures.channels_last(model.to(self.device)).eval()

    @contextmanager
    def _member(self, spec: MemberSpec) -> Iterator[nn.Module]:
        if self.resident:
            yield self._resident_models[spec.name]
            return
        model = architectures.build(spec.architecture, num_classes=len(self.pack.classes))
        model.load_state_dict(self._states[spec.name])
        model = self._prepare_for_device(model)
        try:
            yield model
        finally:
            del model
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def _autocast(self):  # noqa: ANN202
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return nullcontext()

    # -- running ---------------------------------------------------------------------------

    def run(self, batch: np.ndarray | torch.Tensor, *, heatmap: bool, on_member: Callable[[int, str], None] | None = None) -> list[MemberRun]:
        """batch: (N, 3, S, S) from preprocess.to_batch(). Returns one MemberRun per member.

        With heatmap=True, Grad-CAM is computed for each image's consensus class (mean of the
        calibrated probabilities), from each member's last convolutional stage.
        """
        x = torch.as_tensor(batch).to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        runs: list[MemberRun] = []
        pending: list[tuple[MemberRun, torch.Tensor, torch.Tensor]] = []  # (run, logits, activation)
        for spec in self.pack.members:
            started = time.perf_counter()
            with self._member(spec) as model:
                if heatmap:
                    logits_t, activation = self._forward_with_activation(model, spec, x)
                else:
                    with torch.inference_mode(), self._autocast():
                        logits_t = model(x)
                    activation = None
            logits = logits_t.detach().float().cpu().numpy()
            run = MemberRun(
                spec=spec,
                logits=logits,
                probabilities=calibrated_probabilities(logits, spec.temperature),
                seconds=time.perf_counter() - started,
            )
            runs.append(run)
            if activation is not None:
                pending.append((run, logits_t, activation))
            if on_member:
                on_member(len(runs), spec.name)
        if heatmap:
            mean = np.mean([r.probabilities for r in runs], axis=0)  # (N, C)
            target = torch.from_numpy(mean.argmax(axis=1)).to(self.device)
            size = batch.shape[-1]
            for run, logits_t, activation in pending:
                started = time.perf_counter()
                run.cam = self._grad_cam(logits_t, activation, target, size)
                run.seconds += time.perf_counter() - started
        return runs

    def _forward_with_activation(self, model: nn.Module, spec: MemberSpec, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        captured: dict[str, torch.Tensor] = {}

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            # Cut the graph here: gradients flow only from the logits back to this feature map,
            # never into the (frozen) weights, which keeps the backward pass small.
            leaf = output.detach().requires_grad_(True)
            captured["activation"] = leaf
            # A copy goes on, so an in-place op downstream (DenseNet's ReLU) cannot touch the leaf.
            return leaf.clone()

        handle = architectures.cam_layer(model, spec.architecture).register_forward_hook(hook)
        try:
            with torch.enable_grad(), self._autocast():
                logits = model(x)
        finally:
            handle.remove()
        return logits, captured["activation"]

    @staticmethod
    def _grad_cam(logits: torch.Tensor, activation: torch.Tensor, target: torch.Tensor, size: int) -> np.ndarray:
        score = logits.gather(1, target.view(-1, 1)).sum()
        (grads,) = torch.autograd.grad(score, activation)
        weights = grads.float().mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * activation.float()).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
        peak = cam.flatten(1).max(dim=1).values.clamp_min(1e-8).view(-1, 1, 1)
        return (cam / peak).detach().cpu().numpy().astype(np.float32)
