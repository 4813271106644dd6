"""Compare models' verdicts on the same prompts: per group, against a baseline, with intervals."""

from judgekit.compare.api import compare
from judgekit.compare.models import Comparison

__all__ = ["Comparison", "compare"]
