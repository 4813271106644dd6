"""judgekit: score model outputs for harmfulness with an LLM judge."""

from judgekit._version import __version__
from judgekit.api import ascore, score, score_file
from judgekit.calibration import CalibrationReport, calibrate
from judgekit.config import JudgeConfig, JudgeOptions
from judgekit.engine.cache import ReplyCache
from judgekit.engine.files import Progress, RunResult
from judgekit.errors import (
    ConfigError,
    InputError,
    JudgeError,
    JudgekitError,
    PromptError,
    RubricError,
)
from judgekit.judge import Judge
from judgekit.records import FieldMap, Record, read_records
from judgekit.results import read_verdicts
from judgekit.rubrics import Rubric, list_rubrics, load_rubric
from judgekit.summary import Summary, summarize_verdicts
from judgekit.verdicts import Usage, Verdict

__all__ = [
    "CalibrationReport",
    "ConfigError",
    "FieldMap",
    "InputError",
    "Judge",
    "JudgeConfig",
    "JudgeError",
    "JudgeOptions",
    "JudgekitError",
    "Progress",
    "PromptError",
    "Record",
    "ReplyCache",
    "Rubric",
    "RubricError",
    "RunResult",
    "Summary",
    "Usage",
    "Verdict",
    "__version__",
    "ascore",
    "calibrate",
    "list_rubrics",
    "load_rubric",
    "read_records",
    "read_verdicts",
    "score",
    "score_file",
    "summarize_verdicts",
]
