"""Train a model pack from ImageNet-pretrained EfficientNet-Lite backbones, on a CPU if need be.

    python -m app.training.train_pretrained --data ../shared/datasets/covid-radiography \
        --out bundled_models/cxr-covid3-lite --cache /tmp/cxr-cache \
        [--exclude-label "Bacterial Pneumonia"] [--cap-source kaggle-radiography:Normal=3000] \
        [--backbone efficientnet_lite0 ...] [--members-per-backbone 2] [--epochs 12]

Why this shape: a 2-core CPU runs one EfficientNet-Lite forward pass in about 65 ms at 224 px, so
fine-tuning whole networks is out of reach there. Each backbone is cut after its second-to-last
stage; that frozen trunk (ImageNet weights, app/training/pretrained.py) runs once per image and its
7x7 feature maps are cached. Each member then fine-tunes the rest (last stage, head convolution,
new classifier) on the cached maps. Members sharing a backbone differ by seed and by a bootstrap
resample of the training split (bagging). The pack stores every member as a whole network, so the
app runs it exactly like any other pack (preprocessing, calibration, consensus, Grad-CAM).

Stages, each cached under --cache and skipped when its output exists (a stopped run resumes):
samples and patient-level split -> prepared views (the app's own preprocessing, of the film as
it is and of --augmented-views copies that take the collection away: app/training/collection_augment.py)
-> trunk features per backbone -> members -> calibration -> pack -> evaluation (app.training.evaluate).
Recomputing the trunk per epoch is what the CPU cannot afford, so augmentation is a fixed set of
cached views per film; each view is weighted so that classes, and sources inside a class, count
the same (app/training/film_views.py). Regularisation: those views, dropout, weight decay, bagging
and early stopping.
"""

from __future__ import annotations

import argparse
import json
import logging
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

from app.inference.consensus import calibrated_probabilities
from app.inference.preprocess import PreprocessSpec
from app.training.film_views import prepared_views, view_weights
from app.training import pretrained
from app.training.calibration import TARGET_SENSITIVITY, choose_thresholds, fit_temperature
from app.training.datasets import Sample, read_dataset
from app.inference.packs.class_codes import known_codes
from app.inference.packs.writer import MemberToWrite, write_pack
from app.training.splits import describe, split_samples
from app.training.train import normal_classes, seed_everything

log = logging.getLogger("train_pretrained")

DEFAULT_BACKBONES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
# The trunk ends after this many stages of model.blocks; the rest is fine-tuned.
TRAINABLE_STAGES = 1
BATCH = 64
SAMPLES = "samples.json"  # in the cache: every image used, in cache order, with its split


def frozen_stage_count(model: nn.Module, trainable: int = TRAINABLE_STAGES) -> int:
    return len(model.blocks) - trainable


def trunk_forward(model: nn.Module, x: torch.Tensor, trainable: int = TRAINABLE_STAGES) -> torch.Tensor:
    """The frozen part: stem and every stage but the last `trainable`."""
    x = model.bn1(model.conv_stem(x))
    for stage in model.blocks[: frozen_stage_count(model, trainable)]:
        x = stage(x)
    return x


def tail_forward(model: nn.Module, features: torch.Tensor, trainable: int = TRAINABLE_STAGES) -> torch.Tensor:
    """The fine-tuned part, from cached trunk features to logits (timm's own head)."""
    x = features
    for stage in model.blocks[frozen_stage_count(model, trainable) :]:
        x = stage(x)
    return model.forward_head(model.bn2(model.conv_head(x)))


def tail_parameters(model: nn.Module, trainable: int = TRAINABLE_STAGES) -> list[nn.Parameter]:
    parts: list[nn.Module] = [*model.blocks[frozen_stage_count(model, trainable) :], model.conv_head, model.bn2, model.classifier]
    return [p for part in parts for p in part.parameters()]


# -- stages -----------------------------------------------------------------------------------


def select_samples(args: argparse.Namespace) -> list[Sample]:
    excluded_labels, excluded_sources = set(args.exclude_label), set(args.exclude_source)
    samples = [s for data in args.data for s in read_dataset(data) if s.label not in excluded_labels and s.source not in excluded_sources]
    rng = random.Random(args.seed)
    for cap in args.cap_source:
        where, _, count = cap.partition("=")
        source, _, label = where.partition(":")
        matching = [s for s in samples if s.source == source and s.label == label]
        if len(matching) > int(count):
            keep = set(map(id, rng.sample(matching, int(count))))
            samples = [s for s in samples if not (s.source == source and s.label == label) or id(s) in keep]
    return [mapped(s, label_mapping(args.map_label)) for s in samples]


def label_mapping(items: list[str]) -> dict[tuple[str, str], str]:
    """SOURCE:LABEL=CLASS items -> {(source, label): class}; SOURCE may be * for every source."""
    mapping = {}
    for item in items:
        where, _, target = item.partition("=")
        source, _, label = where.partition(":")
        mapping[(source, label)] = target
    return mapping


def mapped(sample: Sample, mapping: dict[tuple[str, str], str]) -> Sample:
    target = mapping.get((sample.source, sample.label)) or mapping.get(("*", sample.label))
    return Sample(sample.path, target, sample.patient_id, sample.source, sample.split) if target else sample


def to_input(images_u8: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images_u8).float().div_(255.0).unsqueeze(1)
    x = (x - pretrained.IMAGENET_LITE_MEAN) / pretrained.IMAGENET_LITE_STD
    return x.expand(-1, 3, -1, -1).contiguous(memory_format=torch.channels_last)


def features_file(cache: Path, backbone: str, trainable: int) -> Path:
    return cache / (f"features-{backbone}.npy" if trainable == 1 else f"features-{backbone}-last{trainable}.npy")


def trunk_features(backbone: str, images: np.ndarray, cache: Path, trainable: int = TRAINABLE_STAGES) -> np.ndarray:
    path = features_file(cache, backbone, trainable)
    if path.is_file():
        features = np.load(path)
        if len(features) == len(images):
            return features
    model = pretrained.imagenet_model(backbone).to(memory_format=torch.channels_last)
    started = time.perf_counter()
    parts = []
    with torch.inference_mode():
        for start in range(0, len(images), BATCH):
            parts.append(trunk_forward(model, to_input(images[start : start + BATCH]), trainable).half().numpy())
            if start // BATCH % 20 == 0:
                log.info("%s trunk: %d/%d images (%.0f s)", backbone, start + BATCH, len(images), time.perf_counter() - started)
    features = np.concatenate(parts)
    tmp = path.with_suffix(".partial.npy")
    np.save(tmp, features)
    tmp.replace(path)
    # Kept beside the features so a resumed run still reports the real cost.
    path.with_suffix(".json").write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1), "images": len(images)}))
    log.info("%s trunk features %s in %.0f s", backbone, features.shape, time.perf_counter() - started)
    return features


def tail_logits(model: nn.Module, features: np.ndarray, trainable: int = TRAINABLE_STAGES) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(features), 256):
            out.append(tail_forward(model, torch.from_numpy(features[start : start + 256]).float(), trainable))
    return torch.cat(out).numpy()


def train_member(
    backbone: str,
    features: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    weights: dict[str, np.ndarray],
    n_classes: int,
    args: argparse.Namespace,
    seed: int,
    bootstrap: bool,
    checkpoint: Path,
) -> tuple[nn.Module, dict[str, Any]]:
    generator = seed_everything(seed)
    model = pretrained.imagenet_model(backbone)
    model.reset_classifier(n_classes)
    for p in model.parameters():
        p.requires_grad_(False)
    params = tail_parameters(model, args.trainable_stages)
    for p in params:
        p.requires_grad_(True)
    if checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["model"])
        state = json.loads(saved["state"])
        log.info("%s: finished earlier (best epoch %d), loaded from %s", checkpoint.stem, state["best_epoch"], checkpoint)
        return model.eval(), state

    x_train, y_train, w_train = features["train"], labels["train"], weights["train"]
    rng = np.random.default_rng(seed)
    # The training split holds `views` consecutive views of each film; an epoch shows every film
    # (or, bagging, a bootstrap resample of the films) once, through a view drawn at random, so
    # an epoch costs one pass over the films and the augmented views are still all used.
    views = 1 + args.augmented_views
    films = len(x_train) // views
    film_index = rng.integers(0, films, films) if bootstrap else np.arange(films)
    w_valid = torch.from_numpy(weights["valid"])

    def loss_fn(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
        return (nn.functional.cross_entropy(logits, y, reduction="none", label_smoothing=smoothing) * w).sum() / w.sum()

    optimiser = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    # "cosine": a fixed number of epochs, the rate falling to zero (the best epoch by validation
    # loss is kept); "plateau": the rate cut when the validation loss stalls, early stopping.
    cosine = args.schedule == "cosine"
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, args.epochs) if cosine else torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.3, patience=1)
    state: dict[str, Any] = {"best_loss": float("inf"), "best_epoch": 0, "epochs_run": 0, "bootstrap": bootstrap, "seed": seed, "history": []}
    best = {k: v.clone() for k, v in model.state_dict().items()}
    bad = 0
    # Explicitly on: a caller in the same process (app.training.evaluate) may have turned it off.
    torch.set_grad_enabled(True)
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        model.train()
        train_index = film_index * views + rng.integers(0, views, len(film_index))
        order = torch.randperm(len(train_index), generator=generator).numpy()
        total = 0.0
        for start in range(0, len(order), BATCH):
            index = train_index[order[start : start + BATCH]]
            if len(index) < 2:
                continue
            x = torch.from_numpy(x_train[index]).float()
            y = torch.from_numpy(y_train[index])
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(tail_forward(model, x, args.trainable_stages), y, torch.from_numpy(w_train[index]), args.label_smoothing)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(index)
        logits = tail_logits(model, features["valid"], args.trainable_stages)
        valid_loss = float(loss_fn(torch.from_numpy(logits), torch.from_numpy(labels["valid"]), w_valid))
        valid_acc = float((logits.argmax(1) == labels["valid"]).mean())
        scheduler.step() if cosine else scheduler.step(valid_loss)
        improved = valid_loss < state["best_loss"] - 1e-4
        if improved:
            state.update(best_loss=valid_loss, best_epoch=epoch)
            best = {k: v.clone() for k, v in model.state_dict().items()}
            bad = 0
        else:
            bad += 1
        state["epochs_run"] = epoch
        state["history"].append({"epoch": epoch, "train_loss": round(total / len(order), 4), "valid_loss": round(valid_loss, 4), "valid_accuracy": round(valid_acc, 4), "seconds": round(time.perf_counter() - started, 1)})
        log.info("%s epoch %d: train %.4f valid %.4f acc %.3f%s (%.0f s)", checkpoint.stem, epoch, total / len(order), valid_loss, valid_acc, " *" if improved else "", time.perf_counter() - started)
        if bad >= args.patience and not cosine:
            break
    model.load_state_dict(best)
    tmp = checkpoint.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "state": json.dumps(state)}, tmp)
    tmp.replace(checkpoint)
    return model.eval(), state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, action="append", help="a labelled collection (repeatable)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--cache", required=True, type=Path, help="prepared images, trunk features, member checkpoints")
    parser.add_argument("--name", default="cxr-covid3-lite")
    parser.add_argument("--version", default=date.today().strftime("%Y.%m.%d"))
    parser.add_argument("--backbone", action="append", help=f"repeatable (default: {' '.join(DEFAULT_BACKBONES)})")
    parser.add_argument("--members-per-backbone", type=int, default=2)
    parser.add_argument("--exclude-label", action="append", default=[], help="leave a label out of training (repeatable)")
    parser.add_argument("--exclude-source", action="append", default=[], help="leave a source of a collection out of training (repeatable), e.g. to keep it external")
    parser.add_argument("--cap-source", action="append", default=[], help="SOURCE:LABEL=N keeps a seeded random N of those images")
    parser.add_argument("--map-label", action="append", default=[], help="SOURCE:LABEL=CLASS trains those films as CLASS (SOURCE * for all)")
    parser.add_argument("--trainable-stages", type=int, default=TRAINABLE_STAGES, help="last stages of each backbone fine-tuned (the rest frozen, its features cached)")
    parser.add_argument("--augmented-views", type=int, default=0, help="augmented views per training film, besides the film itself")
    parser.add_argument("--contrast-source", action="append", default=[], help="SOURCE=FACTOR weighs a same-source contrast more")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--weight-decay", type=float, default=1e-3)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--schedule", choices=["plateau", "cosine"], default="plateau")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limitation", action="append", default=[])
    parser.add_argument("--normal-class", action="append", help="a class whose finding is negative (default: Normal, if a class)")
    parser.add_argument("--skip-evaluation", action="store_true", help="write the pack only (evaluate later with app.training.evaluate_pack)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    args.cache.mkdir(parents=True, exist_ok=True)
    backbones = args.backbone or DEFAULT_BACKBONES

    samples = select_samples(args)
    splits = split_samples(samples, seed=args.seed)
    classes = sorted({s.label for s in samples})
    log.info("Classes %s; split counts %s", classes, describe(splits))
    ordered = [s for name in ("train", "valid", "test") for s in splits[name]]
    split_of = {id(s): name for name, items in splits.items() for s in items}
    (args.cache / SAMPLES).write_text(
        json.dumps([{"file": str(s.path), "label": s.label, "source": s.source, "patient_id": s.patient_id, "split": split_of[id(s)]} for s in ordered])
    )
    spec = PreprocessSpec(input_size=args.input_size)
    # Validation sees each film as it is and one augmented view (early stopping rewards holding up
    # on degraded films too); calibration uses the films as they are. The test split is evaluated
    # through the app (app.training.evaluate), not from cached features.
    views = {"train": 1 + args.augmented_views, "valid": 2 if args.augmented_views else 1}
    split_names = [split_of[id(s)] for s in ordered]
    images, owners = prepared_views(ordered, split_names, spec, args.cache, views, args.seed)
    view_split = np.array([split_names[i] for i in owners])
    first_view = np.r_[True, owners[1:] != owners[:-1]]
    film_labels = np.array([classes.index(s.label) for s in ordered], dtype=np.int64)
    contrast = {k: float(v) for k, _, v in (item.partition("=") for item in args.contrast_source)}
    film_weights = np.zeros(len(ordered), np.float32)
    for name in ("train", "valid"):
        members_of_split = [i for i, split in enumerate(split_names) if split == name]
        film_weights[members_of_split] = view_weights([ordered[i] for i in members_of_split], classes, contrast)
    select = {"train": view_split == "train", "valid": view_split == "valid", "valid_clean": (view_split == "valid") & first_view}
    labels = {name: film_labels[owners[mask]] for name, mask in select.items()}
    weights = {name: film_weights[owners[mask]] for name, mask in select.items()}

    members: list[MemberToWrite] = []
    histories: dict[str, Any] = {}
    starting_weights: dict[str, Any] = {}
    for b_index, backbone in enumerate(backbones):
        all_features = trunk_features(backbone, images, args.cache, args.trainable_stages)
        features = {name: all_features[mask] for name, mask in select.items()}
        starting_weights[backbone] = pretrained.provenance(backbone)
        for m_index in range(args.members_per_backbone):
            name = f"{backbone.replace('efficientnet_', '')}-{'abcdefgh'[m_index]}"
            seed = args.seed + 100 * b_index + m_index
            model, state = train_member(
                backbone, features, labels, weights, len(classes), args, seed, bootstrap=m_index > 0, checkpoint=args.cache / f"{name}{'' if args.trainable_stages == 1 else f'-last{args.trainable_stages}'}.ckpt"
            )
            logits = tail_logits(model, features["valid_clean"], args.trainable_stages)
            temperature = fit_temperature(logits, labels["valid_clean"])
            thresholds = choose_thresholds(calibrated_probabilities(logits, temperature), labels["valid_clean"], classes)
            metrics = {"best_epoch": state["best_epoch"], "valid_loss": round(state["best_loss"], 4), "epochs_run": state["epochs_run"], "bootstrap_resample": state["bootstrap"], "seed": seed}
            members.append(MemberToWrite(name, backbone, model, temperature, thresholds, metrics))
            histories[name] = state["history"]
    # What the training really cost, summed from the stages' own records (a resumed run reloads them).
    records = [features_file(args.cache, b, args.trainable_stages).with_suffix(".json") for b in backbones]
    trunk_seconds = sum(json.loads(r.read_text())["seconds"] for r in records if r.is_file())
    member_seconds = sum(epoch["seconds"] for history in histories.values() for epoch in history)
    train_seconds = trunk_seconds + member_seconds

    provenance = {
        "trained_by": "app.training.train_pretrained (this repository)",
        "command": " ".join(["python -m app.training.train_pretrained", *(argv if argv is not None else sys.argv[1:])]),
        "date": date.today().isoformat(),
        "data": ", ".join(f"{d.name}/" for d in args.data),  # collection names only: no path of the build machine
        "sources": dict(sorted(Counter(s.source for s in samples).items())),
        "images_by_source_and_label": {f"{k[0]}: {k[1]}": v for k, v in sorted(Counter((s.source, s.label) for s in samples).items())},
        "excluded_labels": args.exclude_label,
        "excluded_sources": args.exclude_source,
        "caps": args.cap_source,
        "classes": classes,
        "label_mapping": {f"{source}: {label}": target for (source, label), target in label_mapping(args.map_label).items()},
        "augmentation": {"augmented_views_per_film": args.augmented_views, "module": "app.training.collection_augment"} if args.augmented_views else None,
        "weighting": {"rule": "classes equal, sources equal inside a class", "contrast_sources": contrast},
        "split_counts": describe(splits),
        "split_rule": "patient-level, stratified 70/15/15 (seeded); images without a patient id count as their own patient",
        "patients": len({s.patient_id for s in samples}),
        "device": f"cpu ({torch.get_num_threads()} threads)",
        "seed": args.seed,
        "epochs_max": args.epochs,
        "patience": args.patience,
        "schedule": {"name": args.schedule, "lr": args.lr, "weight_decay": args.weight_decay, "label_smoothing": args.label_smoothing},
        "trainable_stages": args.trainable_stages,
        "input_size": args.input_size,
        "detail_size": None,
        "training_seconds": round(train_seconds, 1),
        "training_seconds_parts": {"trunk_features": round(trunk_seconds, 1), "members": round(member_seconds, 1)},
        "method": f"ImageNet EfficientNet-Lite trunk frozen (all stages but the last {args.trainable_stages}); those stages, head convolution and a new "
        f"classifier fine-tuned on cached trunk features of each film and {args.augmented_views} augmented views of it; "
        f"{args.members_per_backbone} members per backbone (all training data / bootstrap resample)",
        "starting_weights": starting_weights,
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
        normalization={"mean": pretrained.IMAGENET_LITE_MEAN, "std": pretrained.IMAGENET_LITE_STD},
        normal_classes=normal_classes(args.normal_class, classes),
        class_codes=known_codes(classes),
    )
    log.info("Pack written to %s in %.0f s of training", args.out, train_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
