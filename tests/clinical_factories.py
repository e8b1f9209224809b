"""factory-boy factories for clinical records."""

from __future__ import annotations

import hashlib

import factory

from app.clinical.models import Analysis, AnalysisStatus, Patient, Study, refresh_worklist_priority


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    patient_id = factory.Sequence(lambda n: f"P{n:05d}")
    full_name = factory.Faker("name")


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    patient = factory.SubFactory(PatientFactory)
    sha256 = factory.Sequence(lambda n: hashlib.sha256(str(n).encode()).hexdigest())
    original_name = "chest.png"
    stored_name = factory.LazyAttribute(lambda o: f"{o.sha256}.png")
    file_format = "png"
    size_bytes = 1000
    width = 512
    height = 512


class AnalysisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Analysis
        skip_postgeneration_save = True

    study = factory.SubFactory(StudyFactory)
    status = AnalysisStatus.ANALYSED
    finding = "Abnormal"
    confidence = 0.8
    agreement = 5
    members = 6
    positive = True
    pack_name = "cxr-demo"
    pack_version = "1.0.0"
    result = factory.LazyAttribute(
        lambda o: {
            "status": "analysed",
            # The finding is always one of the pack's classes, as the engine makes it.
            "classes": ["Abnormal", "Normal"] + ([o.finding] if o.finding not in ("Abnormal", "Normal") else []),
            "consensus": {"finding": o.finding, "confidence": o.confidence,
                          "probabilities": {"Abnormal": 0.8, "Normal": 0.2} | ({o.finding: o.confidence} if o.finding not in ("Abnormal", "Normal") else {}), "agreement_text": "5 of 6 models", "needs_review": False, "review_reasons": []},
            "members": [],
            "pack": {"name": "cxr-demo", "version": "1.0.0", "validated": False},
            "demonstration": True,
            "device": "CPU",
            "timings": {"total": 0.3},
            "image": {"notes": []},
        }
    )

    @factory.post_generation
    def as_latest(obj, create, extracted, **kwargs):  # noqa: ANN001, ANN201, N805
        if create:
            Study.objects.filter(pk=obj.study_id).update(latest_analysis=obj)
            refresh_worklist_priority(Study.objects.filter(pk=obj.study_id))
