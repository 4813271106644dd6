"""judgekit: score model outputs for harmfulness with an LLM judge."""

from judgekit._version import __version__
from judgekit.api import ascore, score
from judgekit.calibration import CalibrationReport, calibrate
from judgekit.compare import Comparison, compare
from judgekit.config import JudgeConfig
from judgekit.errors import (
    ConfigError,
    InputError,
    JudgeError,
    JudgekitError,
    PromptError,
    RubricError,
)
from judgekit.judge import Judge
from judgekit.records import Record, read_records
from judgekit.results import read_verdicts
from judgekit.rubrics import Rubric, list_rubrics, load_rubric
from judgekit.summary import Summary, summarize_verdicts
from judgekit.verdicts import Usage, Verdict

__all__ = [
    "CalibrationReport",
    "Comparison",
    "ConfigError",
    "InputError",
    "Judge",
    "JudgeConfig",
    "JudgeError",
    "JudgekitError",
    "PromptError",
    "Record",
    "Rubric",
    "RubricError",
    "Summary",
    "Usage",
    "Verdict",
    "__version__",
    "ascore",
    "calibrate",
    "compare",
    "list_rubrics",
    "load_rubric",
    "read_records",
    "read_verdicts",
    "score",
    "summarize_verdicts",
]
