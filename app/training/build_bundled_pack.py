"""Rebuild the bundled pack cxr-covid3-lite from scratch: train, evaluate, check, write the card.

    python -m app.training.build_bundled_pack [--shared ../shared/datasets] [--cache /tmp/cxr-covid3-cache] \
        [--out bundled_models/cxr-covid3-lite] [--skip-training]

Every number in the pack's MODEL_CARD.md comes from this one command (about 45 minutes on a
2-core CPU; each stage caches its work under --cache, so a stopped run continues):

1. app.training.train_pretrained on covid-radiography: COVID-19, Normal, Viral Pneumonia (bacterial
   pneumonia left out of training, adult normals capped at 3,000 so no class dwarfs the others),
   six members on three ImageNet EfficientNet-Lite backbones.
2. app.training.evaluate, each recorded in the manifest: the held-out test split exactly as trained;
   the cxr/ collection (sources never trained on); bacterial pneumonia (a class the pack does not
   have: what does it say?); adult normals never used in training; NIH ChestX-ray14 films.
3. app.training.shortcut_checks: sources left out of training, and a source probe.
4. Heatmap examples: held-out films with the fused Grad-CAM overlay, as the app draws it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from app.inference.heatmap import encode_png, overlay_rgb
from app.inference.packs.manifest import MANIFEST
from app.inference.packs.writer import write_manifest

log = logging.getLogger("build_bundled_pack")

REPO = Path(__file__).resolve().parent.parent.parent
NAME = "cxr-covid3-lite"
VERSION = "2.0.0"
LIMITATIONS = [
    "Lung Opacity, the fourth class of the original design, is not available: no whole-image public Lung Opacity data was at hand, so the pack does not have the class rather than faking it.",
    "Bacterial pneumonia is not a class. Films of it get one of the three classes; the 'Out of class: bacterial pneumonia' table shows which.",
    "Viral Pneumonia was learnt from paediatric films only (Kermany, ages 1-5, one hospital in Guangzhou): on adults the class is untested.",
    "COVID-19 and adult Normal films come from one public database without patient ids, assembled from many hospitals and collections; one patient may have several films in different splits, which can inflate the held-out numbers for those two classes.",
    "COVID-19 and adult Normal films come from different original collections, so part of what separates them may be the collection (scanner, processing, text) rather than the disease; the cxr/ external films test that only partly, since they too were gathered from papers and web collections.",
    "The trunks (all stages but the last) keep their ImageNet weights; nothing was trained on the full network, and no augmentation was used (CPU budget). A GPU run with full fine-tuning and augmentation would likely do better.",
    "Not clinically validated. Every number here is from retrospective public data, not from a prospective clinical study.",
]


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
        for entry in sorted((e for e in entries if e["label"] == label), key=lambda e: e["file"])[:: 97][:per_class]:
            analysis = engine.analyse(entry["file"], heatmap=True)
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
    parser.add_argument("--cache", type=Path, default=Path("/tmp/cxr-covid3-cache"))
    parser.add_argument("--out", type=Path, default=REPO / "bundled_models" / NAME)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    covid = args.shared / "covid-radiography"
    samples = args.cache / "samples.json"
    pack = str(args.out)

    train = ["--data", str(covid), "--out", pack, "--cache", str(args.cache), "--name", NAME, "--version", VERSION,
             "--exclude-label", "Bacterial Pneumonia", "--cap-source", "kaggle-radiography:Normal=3000", "--normal-class", "Normal"]
    for item in LIMITATIONS:
        train += ["--limitation", item]
    run_step("app.training.train_pretrained", train)

    evaluations = [
        ["--data", str(covid), "--from-samples", str(samples), "--split", "test", "--record", "test"],
        ["--data", str(args.shared / "cxr"), "--record", "external", "--describe",
         "Every labelled film of the cxr/ collection (COVID-CXNet, Figure 1, Actualmed): collections never used in training. "
         "'Inconclusive' films are left out; 'Pneumonia' (non-COVID, unspecified) is not one of the pack's classes."],
        ["--data", str(covid), "--label", "Bacterial Pneumonia", "--limit", "300", "--record", "bacterial_pneumonia",
         "--title", "Out of class: bacterial pneumonia (Kermany, paediatric; never trained on)",
         "--describe", "A seeded random 300 of the 2,508 bacterial pneumonia films. The pack has no such class: this shows what a user would see."],
        ["--data", str(covid), "--label", "Normal", "--source", "kaggle-radiography", "--not-in", str(samples), "--limit", "400",
         "--record", "unused_adult_normals", "--title", "Adult normals never used in training (COVID-19 Radiography Database)",
         "--describe", "A seeded random 400 of the 5,801 adult Normal films left out by the cap: same source as the training normals, but never seen."],
        ["--data", str(args.shared / "nih-64"), "--label", "Normal", "--limit", "200", "--record", "nih_normals",
         "--title", "External adult normals: NIH ChestX-ray14 'No Finding' (64 px originals)",
         "--describe", "A seeded random 200 of nih-64's 'Normal' (No Finding) films. These are 64x64 px copies upscaled to 224: "
         "far less detail than the pack was trained on, so this is a stress test of specificity, not a fair external test."],
    ]
    for evaluation in evaluations:
        run_step("app.training.evaluate", ["--pack", pack, *evaluation])
    run_step("app.training.shortcut_checks", ["--cache", str(args.cache), "--pack", pack])

    manifest_path = args.out / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["heatmap_examples"] = heatmap_examples(args.out, args.cache)
    manifest["provenance"]["rebuild"] = "python -m app.training.build_bundled_pack --cache CACHE_FOLDER (app/training/build_bundled_pack.py lists every step and argument)"
    write_manifest(args.out, manifest)
    run_step("app.training.export_onnx", [pack])  # the CPU path's copies of the members, checked against torch
    from app.training.model_card import write_model_card

    write_model_card(args.out)
    log.info("Done: %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
