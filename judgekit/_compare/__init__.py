"""Compare models' verdicts on the same prompts: per group, against a baseline, with intervals."""

from judgekit._compare.api import compare
from judgekit._compare.models import Comparison

__all__ = ["Comparison", "compare"]
