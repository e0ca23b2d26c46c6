"""Trust: evidence, calibrated confidence, and the proceed/review/escalate decision."""
