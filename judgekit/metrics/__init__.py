"""Statistics comparing judge scores with human labels: pure functions over numpy arrays.

Missing values are NaN; undefined statistics are NaN; invalid arguments raise ValueError.
"""

from judgekit.metrics.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha
from judgekit.metrics.binary import ConfusionMatrix, RocCurve, confusion_matrix, pr_auc, roc_auc, roc_curve
from judgekit.metrics.corrected import CorrectedRate, corrected_rate
from judgekit.metrics.correction import (
    PPIEstimate,
    effective_labels,
    ppi_mean,
    ppi_plus_plus_mean,
    rogan_gladen,
)
from judgekit.metrics.correlation import bias, kendall_tau_b, mean_absolute_error, pearson, spearman
from judgekit.metrics.intervals import (
    BootstrapInterval,
    Interval,
    McNemarResult,
    PairedDifference,
    bootstrap_ci,
    mcnemar,
    paired_bootstrap_diff,
    wilson_interval,
)
from judgekit.metrics.multiclass import MulticlassMatrix, multiclass_confusion
from judgekit.metrics.thresholds import ThresholdCurve, choose_threshold, threshold_curve

__all__ = [
    "BootstrapInterval",
    "ConfusionMatrix",
    "CorrectedRate",
    "Interval",
    "McNemarResult",
    "MulticlassMatrix",
    "PPIEstimate",
    "PairedDifference",
    "RocCurve",
    "ThresholdCurve",
    "bias",
    "bootstrap_ci",
    "choose_threshold",
    "cohen_kappa",
    "confusion_matrix",
    "corrected_rate",
    "effective_labels",
    "fleiss_kappa",
    "kendall_tau_b",
    "krippendorff_alpha",
    "mcnemar",
    "mean_absolute_error",
    "multiclass_confusion",
    "paired_bootstrap_diff",
    "pearson",
    "ppi_mean",
    "ppi_plus_plus_mean",
    "pr_auc",
    "roc_auc",
    "roc_curve",
    "rogan_gladen",
    "spearman",
    "threshold_curve",
    "wilson_interval",
]

# Differences between two models' verdicts (judgekit compare).
from judgekit.metrics.differences import (
    MeanDifference,
    RateDifference,
    adjust_p_values,
    bh_adjust,
    bootstrap_means,
    holm_adjust,
    mcnemar_exact_p,
    mdd_means,
    mdd_paired_proportions,
    mdd_proportions,
    newcombe_paired_interval,
    newcombe_unpaired_interval,
    paired_mean_difference,
    paired_rate_difference,
    paired_rate_difference_from_table,
    permutation_p,
    sign_flip_p,
    unpaired_mean_difference,
    unpaired_rate_difference,
)

__all__ += [
    "MeanDifference",
    "RateDifference",
    "adjust_p_values",
    "bh_adjust",
    "bootstrap_means",
    "holm_adjust",
    "mcnemar_exact_p",
    "mdd_means",
    "mdd_paired_proportions",
    "mdd_proportions",
    "newcombe_paired_interval",
    "newcombe_unpaired_interval",
    "paired_mean_difference",
    "paired_rate_difference",
    "paired_rate_difference_from_table",
    "permutation_p",
    "sign_flip_p",
    "unpaired_mean_difference",
    "unpaired_rate_difference",
]
