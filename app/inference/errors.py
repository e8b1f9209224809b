"""Typed errors of the inference engine. Every message is written for the person at the screen."""

from __future__ import annotations


class InferenceError(Exception):
    """Base class; `str(exc)` is the readable reason."""


class InputError(InferenceError):
    """The file cannot be read as a radiograph (empty, damaged, hostile, unsupported)."""


class QualityGateRefusal(InferenceError):
    """The image was read but is not a frontal chest radiograph the models can judge."""

    def __init__(self, reason: str, code: str, details: dict | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.details = details or {}


class ModelPackError(InferenceError):
    """A model pack is missing, malformed, tampered with or incompatible."""

    def __init__(self, problem: str, *, pack: str | None = None, member: str | None = None) -> None:
        where = " / ".join(part for part in (pack and f"pack {pack!r}", member and f"member {member!r}") if part)
        super().__init__(f"{where}: {problem}" if where else problem)
        self.pack = pack
        self.member = member
        self.problem = problem


class PreprocessingContractError(InferenceError):
    """Pixels handed to the models broke the preprocessing contract (a programming error)."""
