"""Train a model pack from scratch, reproducibly.

    python -m app.training.train --data ../shared/datasets/nih-64 --out packs/nih64-from-scratch \
        [--arch resnet18 --arch densenet121 ...] [--epochs 30] [--input-size 128] [--detail-size 64] \
        [--resume] [--external ../shared/datasets/cxr --external-map COVID-19=Abnormal ...]

Data: a CSV manifest (file,label[,patient_id][,split]) or class-per-folder tree (see
app/training/datasets.py). Splits are by patient and stratified (app/training/splits.py); a dataset's own
split column is used when present. Class imbalance: class-weighted cross-entropy. Augmentation:
app/training/tensors.py (no flips). Preprocessing: exactly the app's (app/inference/preprocess.py).
CUDA with mixed precision when available, else CPU. Early stopping on validation loss; a
checkpoint after every epoch (--resume continues); deterministic for a given --seed on the CPU.
After training: temperature and thresholds fitted on validation (app/training/calibration.py), the pack
written with checksums, then evaluated on the test split (and --external data) into the
manifest and MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from app.inference import architectures
from app.inference.preprocess import PreprocessSpec, normalise
from app.training.calibration import TARGET_SENSITIVITY, choose_thresholds, fit_temperature
from app.training.tensors import augment, load_prepared
from app.training.datasets import read_dataset
from app.inference.packs.class_codes import known_codes
from app.inference.packs.writer import DEFAULT_MEAN, DEFAULT_STD, MemberToWrite, write_pack
from app.training.splits import describe, split_samples, uses_given_split

log = logging.getLogger("train")

DEFAULT_ARCHS = ["resnet18", "densenet121", "efficientnet_b0", "mobilenet_v3_large", "regnet_y_400mf", "shufflenet_v2_x1_0"]


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)


def class_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=n_classes).float().clamp_min(1)
    return counts.sum() / (n_classes * counts)


def predict_logits(model: nn.Module, images: torch.Tensor, device: torch.device, batch: int = 64) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = normalise(images[start : start + batch], DEFAULT_MEAN, DEFAULT_STD).to(device)
            with torch.autocast("cuda", dtype=torch.float16, enabled=device.type == "cuda"):
                out.append(model(x.contiguous(memory_format=torch.channels_last)).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train_member(
    arch: str,
    data: dict[str, tuple[torch.Tensor, torch.Tensor]],
    n_classes: int,
    args: argparse.Namespace,
    device: torch.device,
    checkpoint: Path,
    member_seed: int,
) -> tuple[nn.Module, dict[str, Any]]:
    generator = seed_everything(member_seed)
    model = architectures.channels_last(architectures.build(arch, n_classes).to(device))
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=2)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    x_train, y_train = data["train"]
    x_valid, y_valid = data["valid"]
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(y_train, n_classes).to(device))
    state: dict[str, Any] = {"epoch": 0, "best_loss": float("inf"), "best_epoch": 0, "bad_epochs": 0, "history": [], "finished": False}
    best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    if args.resume and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        scheduler.load_state_dict(saved["scheduler"])
        best_weights = saved["best_weights"]
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        state = json.loads(saved["state"])
        log.info("%s: resumed after epoch %d%s", arch, state["epoch"], " (already finished)" if state["finished"] else "")

    while not state["finished"]:
        epoch = state["epoch"] + 1
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total, seen = 0.0, 0
        for start in range(0, len(order), args.batch_size):
            index = order[start : start + args.batch_size]
            if len(index) < 2:
                continue  # BatchNorm needs more than one sample
            x = normalise(augment(x_train[index], generator), DEFAULT_MEAN, DEFAULT_STD).to(device)
            y = y_train[index].to(device)
            optimiser.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=device.type == "cuda"):
                loss = loss_fn(model(x.contiguous(memory_format=torch.channels_last)), y)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total += float(loss.detach()) * len(index)
            seen += len(index)
        logits = predict_logits(model, x_valid, device)
        valid_loss = float(nn.functional.cross_entropy(torch.from_numpy(logits), y_valid, weight=loss_fn.weight.cpu()))
        valid_acc = float((logits.argmax(1) == y_valid.numpy()).mean()) if len(logits) else 0.0
        scheduler.step(valid_loss)
        improved = valid_loss < state["best_loss"] - 1e-4
        if improved:
            state.update(best_loss=valid_loss, best_epoch=epoch, bad_epochs=0)
            best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["history"].append(
            {"epoch": epoch, "train_loss": round(total / max(seen, 1), 4), "valid_loss": round(valid_loss, 4), "valid_accuracy": round(valid_acc, 4), "seconds": round(time.perf_counter() - started, 1)}
        )
        log.info(
            "%s epoch %d/%d: train loss %.4f, valid loss %.4f, valid acc %.3f%s (%.0fs)",
            arch, epoch, args.epochs, total / max(seen, 1), valid_loss, valid_acc, " *" if improved else "", time.perf_counter() - started,
        )
        if state["bad_epochs"] >= args.patience or epoch >= args.epochs:
            state["finished"] = True
            log.info("%s: stopped after epoch %d; best epoch %d (valid loss %.4f)", arch, epoch, state["best_epoch"], state["best_loss"])
        _save_checkpoint(
            checkpoint,
            {
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(),
                "best_weights": best_weights,
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "state": json.dumps(state),
            },
        )
    model.load_state_dict(best_weights)
    return model.cpu().eval(), state


def normal_classes(given: list[str] | None, classes: list[str]) -> list[str]:
    """The classes written into the manifest as negative findings (the app reads them from there)."""
    chosen = given if given is not None else [c for c in classes if c == "Normal"]
    unknown = set(chosen) - set(classes)
    if unknown:
        raise SystemExit(f"--normal-class {sorted(unknown)} is not a class of this pack ({classes})")
    return chosen


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        source, _, target = pair.partition("=")
        if not target:
            raise SystemExit(f"--map/--external-map expects FROM=TO, got {pair!r}")
        mapping[source] = target
    return mapping


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--arch", action="append", help=f"repeatable (default: {' '.join(DEFAULT_ARCHS)})")
    parser.add_argument("--name", default="cxr-demo")
    parser.add_argument("--version", default=date.today().strftime("%Y.%m.%d"))
    parser.add_argument("--map", action="append", default=[], help="relabel FROM=TO before training")
    parser.add_argument("--patient-id-regex", help="take patient ids from file names (first group), e.g. '^(\\d+)_'")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--input-size", type=int, default=128)
    parser.add_argument("--detail-size", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device")
    parser.add_argument("--checkpoints", type=Path, help="default: <out>.checkpoints")
    parser.add_argument("--external", type=Path, help="data from a source never used in training, evaluated after")
    parser.add_argument("--external-map", action="append", default=[], help="relabel external data FROM=TO")
    parser.add_argument("--limit", type=int, help="use at most N images per split (smoke tests)")
    parser.add_argument("--limitation", action="append", default=[], help="a known limitation for the model card (repeatable)")
    parser.add_argument("--normal-class", action="append", help="a class whose finding is negative (repeatable; default: Normal, if a class)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    archs = args.arch or DEFAULT_ARCHS
    device = torch.device(args.device) if args.device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    mapping = parse_mapping(args.map)
    samples = [s.__class__(**{**s.__dict__, "label": mapping.get(s.label, s.label)}) for s in read_dataset(args.data, args.patient_id_regex)]
    splits = split_samples(samples, seed=args.seed)
    if args.limit:
        splits = {k: v[: args.limit] for k, v in splits.items()}
    classes = sorted({s.label for s in samples})
    counts = describe(splits)
    log.info("Classes %s; split counts %s; device %s", classes, counts, device)
    spec = PreprocessSpec(input_size=args.input_size, detail_size=args.detail_size)
    data = {}
    for name, items in splits.items():
        x, y, _ = load_prepared(items, spec, classes)
        data[name] = (x, y)

    checkpoints = args.checkpoints or args.out.with_name(args.out.name + ".checkpoints")
    checkpoints.mkdir(parents=True, exist_ok=True)
    members, histories = [], {}
    started = time.perf_counter()
    for index, arch in enumerate(archs):
        model, state = train_member(arch, data, len(classes), args, device, checkpoints / f"{arch}.ckpt", args.seed + index)
        logits = predict_logits(model.to(device), data["valid"][0], device)
        labels = data["valid"][1].numpy()
        temperature = fit_temperature(logits, labels)
        from app.inference.consensus import calibrated_probabilities

        thresholds = choose_thresholds(calibrated_probabilities(logits, temperature), labels, classes)
        members.append(MemberToWrite(arch, arch, model.cpu(), temperature, thresholds, {"best_epoch": state["best_epoch"], "valid_loss": round(state["best_loss"], 4), "epochs_run": state["epoch"]}))
        histories[arch] = state["history"]
    train_seconds = time.perf_counter() - started

    provenance = {
        "trained_by": "app.training.train (this repository)",
        "command": " ".join(["python -m app.training.train", *(argv if argv is not None else sys.argv[1:])]),
        "date": date.today().isoformat(),
        "data": str(args.data),
        "sources": dict(Counter(s.source for s in samples)),
        "classes": classes,
        "label_mapping": mapping,
        "split_counts": counts,
        "split_rule": "dataset's own split column (no patient in two splits)"
        if uses_given_split(samples, splits)
        else "patient-level, stratified 70/15/15 (seeded)",
        "patients": len({s.patient_id for s in samples}),
        "device": str(device),
        "seed": args.seed,
        "epochs_max": args.epochs,
        "patience": args.patience,
        "input_size": args.input_size,
        "detail_size": args.detail_size,
        "training_seconds": round(train_seconds, 1),
        "threshold_rule": f"per class, highest threshold keeping validation sensitivity >= {TARGET_SENSITIVITY:.0%}",
        "history": histories,
    }
    write_pack(
        args.out,
        name=args.name,
        version=args.version,
        classes=classes,
        members=members,
        preprocessing=spec,
        provenance=provenance,
        limitations=args.limitation,
        normal_classes=normal_classes(args.normal_class, classes),
        class_codes=known_codes(classes),
    )
    log.info("Pack written to %s; evaluating", args.out)
    from app.training.evaluate import evaluate_and_record

    evaluate_and_record(args.out, test=splits["test"], external=args.external, external_map=parse_mapping(args.external_map))
    log.info("Done: %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
