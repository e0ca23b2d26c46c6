"""Trust: evidence, calibrated confidence, and the proceed/review/escalate decision."""

from hexad.trust.evidence import Evidence
from hexad.trust.model import TrustModel
from hexad.trust.service import NEVER_PROCEED_BELOW, Assessment, Choice, Point, Trust, decide

__all__ = [
    "NEVER_PROCEED_BELOW",
    "Assessment",
    "Choice",
    "Evidence",
    "Point",
    "Trust",
    "TrustModel",
    "decide",
]
