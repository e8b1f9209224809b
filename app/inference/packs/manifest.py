"""Model packs: a folder with manifest.json and weight files, everything needed to use them.

manifest.json (format_version 1):

    {
      "format_version": 1,
      "name": "cxr-demo", "version": "1.0.0", "created": "2026-11-22",
      "validated": false,                       # true only for a clinically validated pack
      "intended_use": "...",
      "classes": ["COVID-19", "Normal"],        # ordered: index i is output i of every member
      "class_codes": {"COVID-19": {"code": "840539006", "scheme": "SCT", "meaning": "..."}},
                                                # optional: codes for coded reports (DICOM SR)
      "normal_classes": ["Normal"],             # findings that are negative; every other class is
                                                # positive (worklist order, dashboard). Optional: a
                                                # pack without it has no negative finding.
      "preprocessing": {"input_size": 224, "detail_size": null, "grayscale": true,
                        "clahe": {"clip_limit": 2.0, "tile_grid": 8}},
      "consensus": {"rule": "mean_probability", "review_threshold": 0.75, "min_agreement": 0.67},
      "members": [
        {"name": "resnet18", "architecture": "resnet18", "weights": "resnet18.pt",
         "sha256": "...", "input_size": 224, "normalization": {"mean": 0.5, "std": 0.25},
         "temperature": 1.0, "thresholds": {"COVID-19": 0.5, "Normal": 0.5}}
      ],
      "familiarity": {"network": "familiarity.onnx", "network_sha256": "...",   # optional: the
                      "reference": "familiarity.npz", "reference_sha256": "...",  # "unlike the
                      "threshold": 9.1},                                          # training films" check
      "provenance": {...}, "evaluation": {...}
    }

Loading verifies every checksum, reads weights with torch.load(weights_only=True) and never
downloads anything. Every problem is a ModelPackError naming the pack, the member and the fault.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from app.platform.checksums import sha256_of
from app.inference import architectures

if TYPE_CHECKING:
    from torch import nn
from app.inference.errors import ModelPackError
from app.inference.familiarity import FamiliaritySpec
from app.inference.preprocess import PreprocessSpec

FORMAT_VERSION = 1
# A pack's name and version become a folder name (NAME-VERSION) in the packs folder: letters,
# digits, '.', '-' and '_' only, starting with a letter or digit, so no manifest can name a path.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MANIFEST = "manifest.json"
DEFAULT_REVIEW_THRESHOLD = 0.75
DEFAULT_MIN_AGREEMENT = 2 / 3
CONSENSUS_RULES = ("mean_probability",)


@dataclass(frozen=True)
class MemberSpec:
    name: str
    architecture: str
    weights: str
    sha256: str
    input_size: int
    mean: float
    std: float
    temperature: float
    thresholds: dict[str, float]
    # The same network exported for ONNX Runtime (app/training/export_onnx.py), with its checksum: the
    # CPU path runs it 3-5 times faster than torch and needs no backward pass for the heatmap.
    onnx: str = ""
    onnx_sha256: str = ""

    def weights_path(self, root: Path) -> Path:
        return root / self.weights


@dataclass(frozen=True)
class ConsensusRule:
    rule: str = "mean_probability"
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD
    min_agreement: float = DEFAULT_MIN_AGREEMENT


@dataclass(frozen=True)
class ModelPack:
    root: Path
    name: str
    version: str
    classes: tuple[str, ...]
    members: tuple[MemberSpec, ...]
    preprocessing: PreprocessSpec
    consensus: ConsensusRule
    validated: bool
    intended_use: str
    manifest: dict[str, Any] = field(repr=False)
    normal_classes: tuple[str, ...] = ()
    familiarity: FamiliaritySpec | None = None  # app/inference/familiarity.py
    # Each class's code for coded reports (DICOM SR): {"code", "scheme", "meaning"}; a class
    # without one is coded in the workstation's private scheme (app/dicom/codes.py).
    class_codes: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """The pack's checksum: sha256 over its members' weight checksums, in manifest order; it
        identifies exactly these weights wherever the pack is copied (the SR's algorithm ID)."""
        import hashlib

        return hashlib.sha256("".join(m.sha256 for m in self.members).encode("ascii")).hexdigest()

    def is_positive(self, finding: str) -> bool:
        """A finding counts as positive unless the pack declares it normal (never guessed from names)."""
        return finding not in self.normal_classes

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "validated": self.validated,
            "classes": list(self.classes),
            "normal_classes": list(self.normal_classes),
            "members": [m.name for m in self.members],
            "path": str(self.root),
        }


def _require(mapping: dict[str, Any], key: str, kind: type, where: str, pack: str | None) -> Any:
    if key not in mapping:
        raise ModelPackError(f"manifest is missing {where}{key!r}", pack=pack)
    value = mapping[key]
    # bool is a subclass of int in Python; a manifest saying "input_size": true is still wrong.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ModelPackError(f"manifest field {where}{key!r} must be {kind.__name__}, got {type(value).__name__}", pack=pack)
    return value


def read_manifest(folder: str | Path) -> ModelPack:
    """Parse and validate manifest.json (schema only; weights are checked by verify())."""
    root = Path(folder)
    path = root / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelPackError(f"no {MANIFEST} in {root}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelPackError(f"{MANIFEST} in {root} is not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ModelPackError(f"{MANIFEST} in {root} must hold a JSON object")

    name = _require(raw, "name", str, "", None)
    if not SAFE_NAME.fullmatch(name) or ".." in name:
        raise ModelPackError(f"the pack name {name[:80]!r} is not allowed: use 1-64 letters, digits, '.', '-' or '_'")
    fmt = _require(raw, "format_version", int, "", name)
    if fmt != FORMAT_VERSION:
        raise ModelPackError(f"format_version {fmt} is not supported (this app reads {FORMAT_VERSION})", pack=name)
    version = _require(raw, "version", str, "", name)
    if not SAFE_NAME.fullmatch(version) or ".." in version:
        raise ModelPackError(f"the version {version[:80]!r} is not allowed: use 1-64 letters, digits, '.', '-' or '_'", pack=name)
    validated = _require(raw, "validated", bool, "", name)
    intended_use = _require(raw, "intended_use", str, "", name)
    classes = _require(raw, "classes", list, "", name)
    if len(classes) < 2 or not all(isinstance(c, str) and c for c in classes) or len(set(classes)) != len(classes):
        raise ModelPackError("'classes' must list at least two distinct class names", pack=name)

    normal_classes = raw.get("normal_classes", [])
    if not isinstance(normal_classes, list) or not all(isinstance(c, str) for c in normal_classes) or set(normal_classes) - set(classes):
        raise ModelPackError("'normal_classes' must list class names of this pack", pack=name)

    prep_raw = _require(raw, "preprocessing", dict, "", name)
    input_size = _require(prep_raw, "input_size", int, "preprocessing.", name)
    if not 32 <= input_size <= 1024:
        raise ModelPackError(f"preprocessing.input_size {input_size} is outside 32..1024", pack=name)
    clahe = prep_raw.get("clahe")
    if clahe is not None and not isinstance(clahe, dict):
        raise ModelPackError("preprocessing.clahe must be an object or null", pack=name)
    detail_size = prep_raw.get("detail_size")
    if detail_size is not None and (not isinstance(detail_size, int) or isinstance(detail_size, bool) or detail_size < 16):
        raise ModelPackError("preprocessing.detail_size must be an integer of at least 16, or null", pack=name)
    preprocessing = PreprocessSpec(
        input_size=input_size,
        detail_size=detail_size,
        clahe_clip_limit=None if clahe is None else float(clahe.get("clip_limit", 2.0)),
        clahe_tile_grid=8 if clahe is None else int(clahe.get("tile_grid", 8)),
    )

    consensus_raw = raw.get("consensus", {})
    if not isinstance(consensus_raw, dict):
        raise ModelPackError("'consensus' must be an object", pack=name)
    rule = consensus_raw.get("rule", "mean_probability")
    if rule not in CONSENSUS_RULES:
        raise ModelPackError(f"consensus rule {rule!r} is not supported ({', '.join(CONSENSUS_RULES)})", pack=name)
    consensus = ConsensusRule(
        rule=rule,
        review_threshold=float(consensus_raw.get("review_threshold", DEFAULT_REVIEW_THRESHOLD)),
        min_agreement=float(consensus_raw.get("min_agreement", DEFAULT_MIN_AGREEMENT)),
    )

    members_raw = _require(raw, "members", list, "", name)
    if not members_raw:
        raise ModelPackError("the pack has no members", pack=name)
    members = tuple(_read_member(entry, index, name, classes, input_size) for index, entry in enumerate(members_raw))
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ModelPackError("member names must be unique", pack=name)
    for member in members[1:]:
        if (member.mean, member.std) != (members[0].mean, members[0].std):
            # Every member sees the same preprocessed tensor, normalisation included.
            raise ModelPackError("normalization differs from the first member's", pack=name, member=member.name)
    return ModelPack(
        root=root,
        name=name,
        version=version,
        classes=tuple(classes),
        members=members,
        preprocessing=preprocessing,
        consensus=consensus,
        validated=validated,
        intended_use=intended_use,
        manifest=raw,
        normal_classes=tuple(normal_classes),
        familiarity=_read_familiarity(raw.get("familiarity"), name),
        class_codes=_read_class_codes(raw.get("class_codes", {}), classes, name),
    )


CODE_SCHEMES = re.compile(r"^(SCT|DCM|LN|RADLEX|UMLS|99[A-Z0-9_]{1,14})$")


def _read_class_codes(raw: Any, classes: list[str], pack: str) -> dict[str, dict[str, str]]:
    """Optional {"class": {"code", "scheme", "meaning"}}: only the pack's classes, every field
    printable text that fits a DICOM code item."""
    if not isinstance(raw, dict) or set(raw) - set(classes):
        raise ModelPackError("'class_codes' must map class names of this pack to codes", pack=pack)
    codes: dict[str, dict[str, str]] = {}
    for label, entry in raw.items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) and entry.get(k) and entry[k].isprintable() for k in ("code", "scheme", "meaning")):
            raise ModelPackError(f"class_codes[{label!r}] needs a code, a scheme and a meaning (text)", pack=pack)
        if len(entry["code"]) > 16 or len(entry["meaning"]) > 64 or not CODE_SCHEMES.match(entry["scheme"]):
            raise ModelPackError(f"class_codes[{label!r}]: code at most 16 characters, meaning at most 64, scheme SCT, DCM, LN, RADLEX, UMLS or a private 99... one", pack=pack)
        codes[label] = {"code": entry["code"], "scheme": entry["scheme"], "meaning": entry["meaning"]}
    return codes


def _read_familiarity(entry: Any, pack: str) -> FamiliaritySpec | None:
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise ModelPackError("'familiarity' must be an object", pack=pack)
    where = "familiarity."
    threshold = entry.get("threshold")
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not threshold > 0:
        raise ModelPackError("familiarity.threshold must be a positive number", pack=pack)
    return FamiliaritySpec(
        network=_plain_file_name(_require(entry, "network", str, where, pack), pack, "familiarity"),
        network_sha256=_sha256_field(_require(entry, "network_sha256", str, where, pack), "network_sha256", pack, "familiarity"),
        reference=_plain_file_name(_require(entry, "reference", str, where, pack), pack, "familiarity"),
        reference_sha256=_sha256_field(_require(entry, "reference_sha256", str, where, pack), "reference_sha256", pack, "familiarity"),
        threshold=float(threshold),
    )


def _plain_file_name(value: str, pack: str, member: str) -> str:
    if Path(value).is_absolute() or ".." in Path(value).parts:
        raise ModelPackError(f"weight file {value!r} must be a plain name inside the pack folder", pack=pack, member=member)
    return value


def _sha256_field(value: str, key: str, pack: str, member: str) -> str:
    value = value.lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ModelPackError(f"{key} must be 64 hexadecimal characters", pack=pack, member=member)
    return value


def _read_member(entry: Any, index: int, pack: str, classes: list[str], input_size: int) -> MemberSpec:
    if not isinstance(entry, dict):
        raise ModelPackError(f"members[{index}] must be an object", pack=pack)
    where = f"members[{index}]."
    name = _require(entry, "name", str, where, pack)
    arch = _require(entry, "architecture", str, where, pack)
    if arch not in architectures.ARCHITECTURES:
        raise ModelPackError(
            f"architecture {arch!r} is not supported (supported: {', '.join(sorted(architectures.ARCHITECTURES))})",
            pack=pack,
            member=name,
        )
    weights = _plain_file_name(_require(entry, "weights", str, where, pack), pack, name)
    sha = _sha256_field(_require(entry, "sha256", str, where, pack), "sha256", pack, name)
    onnx, onnx_sha = "", ""
    if "onnx" in entry:
        onnx = _plain_file_name(_require(entry, "onnx", str, where, pack), pack, name)
        onnx_sha = _sha256_field(_require(entry, "onnx_sha256", str, where, pack), "onnx_sha256", pack, name)
    member_size = int(entry.get("input_size", input_size))
    if member_size != input_size:
        # Every member must see the same preprocessed image (one preprocessing per analysis).
        raise ModelPackError(
            f"input_size {member_size} differs from the pack's preprocessing.input_size {input_size}",
            pack=pack,
            member=name,
        )
    norm = entry.get("normalization", {"mean": 0.5, "std": 0.25})
    temperature = float(entry.get("temperature", 1.0))
    if not temperature > 0:
        raise ModelPackError(f"temperature must be positive, got {temperature}", pack=pack, member=name)
    thresholds = entry.get("thresholds", {})
    if not isinstance(thresholds, dict) or set(thresholds) - set(classes):
        raise ModelPackError("thresholds must map class names of this pack to numbers", pack=pack, member=name)
    return MemberSpec(
        name=name,
        architecture=arch,
        weights=weights,
        sha256=sha,
        input_size=member_size,
        mean=float(norm.get("mean", 0.5)),
        std=float(norm.get("std", 0.25)),
        temperature=temperature,
        thresholds={c: float(thresholds.get(c, 0.5)) for c in classes},
        onnx=onnx,
        onnx_sha256=onnx_sha,
    )


def verify_member_file(pack: ModelPack, member: MemberSpec, *, onnx: bool = False) -> Path:
    """The member's weight file (or, with onnx=True, its ONNX export), checked against the manifest."""
    name, expected = (member.onnx, member.onnx_sha256) if onnx else (member.weights, member.sha256)
    path = pack.root / name
    if not path.is_file():
        raise ModelPackError(f"weight file {name!r} is missing", pack=pack.name, member=member.name)
    actual = sha256_of(path)
    if actual != expected:
        raise ModelPackError(
            f"weight file {name!r} fails its checksum (expected {expected[:12]}..., got {actual[:12]}...); "
            "the pack is damaged or was modified",
            pack=pack.name,
            member=member.name,
        )
    return path


def load_member(pack: ModelPack, member: MemberSpec, *, verify: bool = True) -> nn.Module:
    """Build the member's network and load its verified weights (fp32, eval mode, on the CPU)."""
    import torch

    path = verify_member_file(pack, member) if verify else member.weights_path(pack.root)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelPackError(f"weight file cannot be read safely ({exc.__class__.__name__}: {exc})", pack=pack.name, member=member.name) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelPackError("weight file must hold a plain state_dict of tensors", pack=pack.name, member=member.name)
    model = architectures.build(member.architecture, num_classes=len(pack.classes))
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first_line = str(exc).splitlines()[0]
        raise ModelPackError(
            f"weights do not fit architecture {member.architecture!r} with {len(pack.classes)} classes ({first_line})",
            pack=pack.name,
            member=member.name,
        ) from exc
    return model.eval()


def verify(pack: ModelPack) -> None:
    from app.inference.familiarity import verified_file

    for member in pack.members:
        verify_member_file(pack, member)
        if member.onnx:
            verify_member_file(pack, member, onnx=True)
    if pack.familiarity is not None:
        verified_file(pack.root, pack.familiarity.network, pack.familiarity.network_sha256, pack.name)
        verified_file(pack.root, pack.familiarity.reference, pack.familiarity.reference_sha256, pack.name)


def save_weights(model: nn.Module, path: Path, *, half: bool = True) -> str:
    """Write a state_dict (fp16 storage by default, to keep packs small); returns its sha256."""
    import torch

    state = {k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu().contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return sha256_of(path)


def discover(folders: list[Path]) -> tuple[list[ModelPack], list[str]]:
    """Every readable pack under the given folders, and readable reasons for the unreadable ones."""
    packs: list[ModelPack] = []
    problems: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        # Hidden folders are work in progress (an import being verified), never installed packs.
        for candidate in sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file()):
            try:
                packs.append(read_manifest(candidate))
            except ModelPackError as exc:
                problems.append(str(exc))
    return packs, problems
