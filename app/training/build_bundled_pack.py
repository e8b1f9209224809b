"""Rebuild the bundled pack cxr-4class-lite from scratch: train, evaluate, check, write the card.

    python -m app.training.build_bundled_pack [--shared ../shared/datasets] [--cache /tmp/cxr-4class-cache] \
        [--out bundled_models/cxr-4class-lite]

Every number in the pack's MODEL_CARD.md comes from this one command (about two hours on a 2-core
CPU; each stage caches its work under --cache, so a stopped run continues):

1. app.training.train_pretrained on covid-radiography and nih-adult: COVID-19, Lung Opacity (NIH
   adult pneumonia and Kermany bacterial pneumonia), Normal, Viral Pneumonia; each training film
   as it is and in AUGMENTED_VIEWS copies that take the collection away (resolution down to 64 px,
   blur, noise, JPEG, exposure, crops, text, borders); classes and sources weighted equally,
   same-source contrasts (NIH, Kermany) weighted up; MEMBERS_PER_BACKBONE members on each of BACKBONES.
2. app.training.export_onnx: the members for ONNX Runtime, checked against torch.
3. app.training.fit_familiarity: the "unfamiliar film" check, with leave-one-source-out numbers.
4. app.training.evaluate, each recorded in the manifest: the held-out test split exactly as trained;
   the cxr/ collection (sources never trained on); adult normals never used in training.
5. app.training.stress_tests: pneumonia against normal inside one source, a resolution sweep,
   part-films through the whole app.
6. Heatmap examples: held-out films with the fused Grad-CAM overlay, as the app draws it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from app.inference.errors import QualityGateRefusal
from app.inference.heatmap import encode_png, overlay_rgb
from app.inference.packs.manifest import MANIFEST
from app.inference.packs.writer import write_manifest

log = logging.getLogger("build_bundled_pack")

REPO = Path(__file__).resolve().parent.parent.parent
NAME = "cxr-4class-lite"
VERSION = "3.0.0"
BACKBONES = ["efficientnet_lite0"]
MEMBERS_PER_BACKBONE = 3
AUGMENTED_VIEWS = 2
LIMITATIONS = [
    "Lung Opacity here means adult non-COVID pneumonia or opacity as NIH ChestX-ray14 labels it (report-mined labels, noisy) together with Kermany's paediatric bacterial pneumonia; it is not the RSNA Lung Opacity class and has not seen effusions, masses, atelectasis or tuberculosis as such.",
    "Viral Pneumonia was learnt from paediatric films only (Kermany, ages 1-5, one hospital in Guangzhou): on adults the class is untested, and adult pneumonia is expected as Lung Opacity.",
    "COVID-19 films come from one public database without patient ids, assembled from many hospitals, papers and web collections; its held-out numbers can be inflated by near-duplicates of one patient in different splits.",
    "Every class still comes from few collections, so part of what separates them can be the collection; the augmentation, the source weighting and the same-source checks reduce this and measure it, they do not remove it. The unfamiliar-film check flags films unlike the training collections for review.",
    "The trunks (all stages but the last two) keep their ImageNet weights; only the last two stages, the head convolution and the classifier were trained, on cached features of three views per film (CPU budget). A GPU run with full fine-tuning and fresh augmentation every epoch would likely do better.",
    "Films under 128 px on their short side are refused by the app as too small to read; between 128 and 224 px the pack sees less detail than it was built for.",
    "Not clinically validated. Every number here is from retrospective public data, not from a prospective clinical study.",
]


def training_args(shared: Path, cache: Path, out: Path) -> list[str]:
    """Exactly what app.training.train_pretrained is given (also run on its own to train first)."""
    args = ["--data", str(shared / "covid-radiography"), "--data", str(shared / "nih-adult"), "--out", str(out), "--cache", str(cache),
            "--name", NAME, "--version", VERSION, "--normal-class", "Normal",
            # Lung Opacity: adult non-COVID pneumonia/opacity (NIH) and Kermany's bacterial pneumonia.
            "--map-label", "nih-cxr14:Pneumonia=Lung Opacity", "--map-label", "kermany:Bacterial Pneumonia=Lung Opacity",
            "--cap-source", "kaggle-radiography:Normal=2500", "--cap-source", "kermany:Bacterial Pneumonia=1300",
            "--augmented-views", str(AUGMENTED_VIEWS), "--contrast-source", "nih-cxr14=2", "--contrast-source", "kermany=1.5",
            "--trainable-stages", "2", "--schedule", "cosine", "--epochs", "4", "--lr", "3e-4", "--weight-decay", "0.05", "--label-smoothing", "0.1",
            "--members-per-backbone", str(MEMBERS_PER_BACKBONE)]
    for backbone in BACKBONES:
        args += ["--backbone", backbone]
    for item in LIMITATIONS:
        args += ["--limitation", item]
    return args


def run_step(module: str, argv: list[str]) -> None:
    log.info("python -m %s %s", module, " ".join(argv))
    main = __import__(module, fromlist=["main"]).main
    code = main(argv)
    if code:
        raise SystemExit(f"{module} failed with exit code {code}")


def heatmap_examples(pack_dir: Path, cache: Path, per_class: int = 2) -> list[dict[str, object]]:
    """Held-out test films, the radiograph beside the app's own overlay of the fused Grad-CAM."""
    from app.inference.engine import Engine
    from app.inference.packs.manifest import read_manifest
    from app.training.train_pretrained import SAMPLES

    pack = read_manifest(pack_dir)
    engine = Engine.for_pack(pack, device="cpu", warm=False)
    entries = [e for e in json.loads((cache / SAMPLES).read_text(encoding="utf-8")) if e["split"] == "test"]
    examples = []
    for label in pack.classes:
        shown = 0
        for entry in sorted((e for e in entries if e["label"] == label), key=lambda e: e["file"])[::97]:
            if shown == per_class:
                break
            try:
                analysis = engine.analyse(entry["file"], heatmap=True)
            except QualityGateRefusal:
                continue  # e.g. a Kermany film under the minimum size: the app would not analyse it either
            shown += 1
            consensus = analysis.result["consensus"]
            gray = np.round(np.clip(analysis.display, 0, 1) * 255).astype(np.uint8)
            overlay = overlay_rgb(analysis.display, analysis.heatmap, opacity=0.6)
            pair = np.concatenate([np.dstack([gray] * 3), np.full((gray.shape[0], 8, 3), 255, np.uint8), overlay], axis=1)
            name = f"heatmap-{label.lower().replace(' ', '-')}-{Path(entry['file']).stem}.png"
            (pack_dir / "evaluation" / name).write_bytes(encode_png(cv2.resize(pair, (pair.shape[1] * 2, pair.shape[0] * 2), interpolation=cv2.INTER_CUBIC)))
            examples.append({"image": name, "file": Path(entry["file"]).name, "source": entry["source"], "label": label, "finding": consensus["finding"], "confidence": round(consensus["confidence"], 3), "agreement": consensus["agreement_text"]})
    return examples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/cxr-4class-cache"))
    parser.add_argument("--out", type=Path, default=REPO / "bundled_models" / NAME)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    covid = args.shared / "covid-radiography"
    samples = args.cache / "samples.json"
    pack = str(args.out)
    run_step("app.training.train_pretrained", training_args(args.shared, args.cache, args.out))

    run_step("app.training.export_onnx", [pack])  # the CPU path's copies of the members, checked against torch
    run_step("app.training.fit_familiarity", ["--pack", pack, "--cache", str(args.cache), "--external", str(args.shared / "cxr")])
    nih = args.shared / "nih-adult"
    mapping = ["--map", "Bacterial Pneumonia=Lung Opacity", "--map", "Pneumonia=Lung Opacity"]
    evaluations = [
        ["--data", str(covid), "--data", str(nih), "--from-samples", str(samples), "--split", "test", "--record", "test", *mapping],
        ["--data", str(args.shared / "cxr"), "--record", "external", "--map", "Pneumonia=Lung Opacity", "--describe",
         "Every labelled film of the cxr/ collection (COVID-CXNet, Figure 1, Actualmed): collections never used in training. "
         "'Inconclusive' films are left out; Figure 1's two non-COVID 'Pneumonia' films count as Lung Opacity."],
        ["--data", str(covid), "--label", "Normal", "--source", "kaggle-radiography", "--not-in", str(samples), "--limit", "400",
         "--record", "unused_adult_normals", "--title", "Adult normals never used in training (COVID-19 Radiography Database)",
         "--describe", "A seeded random 400 of the 6,301 adult Normal films left out by the cap: same source as the training normals, but never seen."],
    ]
    for evaluation in evaluations:
        run_step("app.training.evaluate", ["--pack", pack, *evaluation])
    run_step("app.training.stress_tests", ["--pack", pack, "--cache", str(args.cache), "--record"])

    manifest_path = args.out / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["heatmap_examples"] = heatmap_examples(args.out, args.cache)
    manifest["provenance"]["rebuild"] = "python -m app.training.build_bundled_pack --cache CACHE_FOLDER (app/training/build_bundled_pack.py lists every step and argument)"
    # The training command as given names folders of the build machine; the card names the rebuild.
    manifest["provenance"]["command"] = manifest["provenance"]["rebuild"]
    manifest["limitations"] = LIMITATIONS
    write_manifest(args.out, manifest)
    from app.training.model_card import write_model_card

    write_model_card(args.out)
    log.info("Done: %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
