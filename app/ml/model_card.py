"""Write MODEL_CARD.md for a pack from its manifest: what it saw, how it did, what it cannot do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.inference.model_pack import MANIFEST

CREDITS = {
    "nih-chestxray14": "NIH ChestX-ray14 (Wang et al., CVPR 2017), NIH Clinical Center, released for unrestricted use with attribution",
    "covid-cxnet": "COVID-CXNet collection, CC BY 4.0, doi:10.6084/m9.figshare.12580328",
    "figure1": "Figure 1 COVID-19 Chest X-ray Dataset Initiative (COVID-Net team)",
    "actualmed": "Actualmed COVID-19 Chest X-ray Dataset Initiative (COVID-Net team, Actualmed, UJI)",
}


def _fmt(value: Any, ci: list[float] | None = None) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.3f}"
    return f"{text} ({ci[0]:.3f}–{ci[1]:.3f})" if ci else text


def _class_table(report: dict[str, Any]) -> list[str]:
    lines = ["| class | n | sensitivity | specificity | PPV | NPV | AUROC |", "|---|---|---|---|---|---|---|"]
    for name, m in report["per_class"].items():
        cells = [_fmt(m[k]["value"], m[k]["ci95"]) for k in ("sensitivity", "specificity", "ppv", "npv", "auroc")]
        lines.append(f"| {name} | {m['support']} | " + " | ".join(cells) + " |")
    return lines


def _evaluation_section(title: str, evaluation: dict[str, Any]) -> list[str]:
    ens = evaluation["ensemble"]
    lines = [f"### {title}", ""]
    lines.append(f"{evaluation['images']} images; counts {evaluation['counts']}; sources: {', '.join(evaluation['sources'])}.")
    if evaluation.get("label_mapping"):
        lines.append(f"Labels mapped: {evaluation['label_mapping']}.")
    if evaluation.get("dropped_labels"):
        lines.append(f"Not evaluated (label outside the pack's classes): {evaluation['dropped_labels']}.")
    lines += ["", "Predicted class: the highest mean calibrated probability (the app's consensus finding); AUROC uses the probabilities themselves."]
    lines += ["", f"**Ensemble** (mean of calibrated probabilities): accuracy {_fmt(ens['accuracy'])}, expected calibration error {ens['ece']:.3f}. Values in brackets are bootstrap 95% intervals.", ""]
    lines += _class_table(ens)
    cm = ens["confusion_matrix"]
    lines += ["", "Confusion matrix (rows: truth, columns: prediction):", "", "| | " + " | ".join(cm["rows_true_cols_predicted"]) + " |", "|---" * (len(cm["counts"]) + 1) + "|"]
    for name, row in zip(cm["rows_true_cols_predicted"], cm["counts"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "Members (AUROC per class, accuracy, ECE):", "", "| member | accuracy | ECE | " + " | ".join(f"AUROC {c}" for c in ens["per_class"]) + " |", "|---|---|---|" + "---|" * len(ens["per_class"])]
    for name, rep in evaluation["members"].items():
        aurocs = " | ".join(_fmt(rep["per_class"][c]["auroc"]["value"]) for c in ens["per_class"])
        lines.append(f"| {name} | {_fmt(rep['accuracy'])} | {rep['ece']:.3f} | {aurocs} |")
    for plot in evaluation.get("plots", []):
        lines += ["", f"![{plot}](evaluation/{plot})"]
    return lines + [""]


def render(manifest: dict[str, Any]) -> str:
    prov = manifest.get("provenance", {})
    status = "CLINICALLY VALIDATED" if manifest.get("validated") else "NOT VALIDATED: Demonstration model, not for diagnosis"
    lines = [
        f"# Model card: {manifest['name']} {manifest['version']}",
        "",
        f"**Status: {status}.**",
        "",
        f"**Intended use.** {manifest.get('intended_use', '')}",
        "",
        f"**Classes** (output order): {', '.join(manifest['classes'])}.",
        "",
        "## Members",
        "",
        "| member | architecture | temperature | thresholds | best epoch | epochs run |",
        "|---|---|---|---|---|---|",
    ]
    for m in manifest["members"]:
        metrics = m.get("metrics", {})
        thresholds = ", ".join(f"{k} {v:.2f}" for k, v in m["thresholds"].items())
        lines.append(f"| {m['name']} | {m['architecture']} | {m['temperature']:.2f} | {thresholds} | {metrics.get('best_epoch', '')} | {metrics.get('epochs_run', '')} |")
    prep = manifest["preprocessing"]
    lines += [
        "",
        f"Preprocessing (identical in training and in the app): grayscale, reduced to {prep.get('detail_size') or 'full'} px of detail, "
        f"resized to {prep['input_size']} px square, CLAHE {prep.get('clahe')}, normalised (mean 0.5, std 0.25), gray copied to 3 channels.",
        "",
        "## Training data",
        "",
    ]
    if prov:
        lines += [
            f"- Data: `{prov.get('data')}`; sources and image counts: {prov.get('sources')}.",
            f"- Split rule: {prov.get('split_rule')}; counts per split and class: {prov.get('split_counts')}.",
            f"- Label mapping before training: {prov.get('label_mapping') or 'none'}.",
            f"- Trained {prov.get('date')} on {prov.get('device')} in {prov.get('training_seconds')} s; up to {prov.get('epochs_max')} epochs, "
            f"early stopping after {prov.get('patience')} epochs without validation-loss improvement; seed {prov.get('seed')}.",
            f"- Calibration: one temperature per member fitted on the validation split; thresholds: {prov.get('threshold_rule')}.",
            f"- Reproduce: `{prov.get('command')}`",
            "",
            "Credits: " + "; ".join(CREDITS.get(s, s) for s in sorted(set(prov.get("sources", {})) | set(_external_sources(manifest)))) + ".",
            "",
        ]
    evaluation = manifest.get("evaluation", {})
    lines += ["## Results, exactly as measured", ""]
    if "test" in evaluation:
        lines += _evaluation_section("Held-out test split (patients never seen in training)", evaluation["test"])
    if "external" in evaluation:
        lines += _evaluation_section("External data (sources never seen in training)", evaluation["external"])
    if not evaluation:
        lines += ["No evaluation recorded.", ""]
    limitations = manifest.get("limitations", [])
    if limitations:
        lines += ["## Limitations", ""] + [f"- {item}" for item in limitations] + [""]
    return "\n".join(lines)


def _external_sources(manifest: dict[str, Any]) -> list[str]:
    return manifest.get("evaluation", {}).get("external", {}).get("sources", [])


def write_model_card(pack_dir: Path) -> Path:
    manifest = json.loads((pack_dir / MANIFEST).read_text(encoding="utf-8"))
    path = pack_dir / "MODEL_CARD.md"
    path.write_text(render(manifest), encoding="utf-8")
    return path
