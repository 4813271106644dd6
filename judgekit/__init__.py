"""judgekit: score model outputs for harmfulness with an LLM judge."""

from judgekit._api import ascore, score, score_file
from judgekit._compare import Comparison, compare
from judgekit._config import JudgeConfig, JudgeOptions
from judgekit._engine.cache import ReplyCache
from judgekit._engine.files import Progress, RunResult
from judgekit._errors import (
    ConfigError,
    InputError,
    JudgeError,
    JudgekitError,
    OutputError,
    PromptError,
    RubricError,
)
from judgekit._judge import Judge
from judgekit._records import FieldMap, Record, read_records
from judgekit._results import read_verdicts
from judgekit._rubrics import Rubric, list_rubrics, load_rubric
from judgekit._summary import Summary, summarize_verdicts
from judgekit._verdicts import Usage, Verdict
from judgekit._version import __version__
from judgekit.calibration import CalibrationReport, calibrate

__all__ = [
    "CalibrationReport",
    "Comparison",
    "ConfigError",
    "FieldMap",
    "InputError",
    "Judge",
    "JudgeConfig",
    "JudgeError",
    "JudgeOptions",
    "JudgekitError",
    "OutputError",
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
    "compare",
    "list_rubrics",
    "load_rubric",
    "read_records",
    "read_verdicts",
    "score",
    "score_file",
    "summarize_verdicts",
]
