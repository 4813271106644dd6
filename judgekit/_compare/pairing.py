"""Which verdicts of two files judged the same prompt: by id, else by prompt text, else none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from judgekit._compare.columns import VerdictColumns

PairBy = Literal["auto", "id", "prompt", "none"]
PairedBy = Literal["id", "prompt", "none"]

MIN_SHARED = 0.5
"""`auto` pairs by id (or prompt) when at least this share of the smaller file's keys are shared."""


@dataclass(frozen=True)
class Pairing:
    """Index arrays into the baseline (`base`) and the other file (`other`) of matched verdicts."""

    by: PairedBy
    base: npt.NDArray[np.int64]
    other: npt.NDArray[np.int64]
    only_base: npt.NDArray[np.int64]
    """Baseline verdicts with no partner (indices into the baseline)."""
    only_other: npt.NDArray[np.int64]
    prompt_mismatches: int = 0
    """Pairs by id whose prompts both files carry and that differ."""


def _occurrence_keys(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Make repeated keys unique by mixing in their occurrence number (the 2nd 'same prompt', ...)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    first_of_run = np.maximum.accumulate(np.where(starts, np.arange(keys.size), 0))
    occurrence = np.empty(keys.size, dtype=np.int64)
    occurrence[order] = np.arange(keys.size) - first_of_run
    return keys ^ (occurrence * np.int64(-7046029254386353131))  # odd 64-bit multiplier: a cheap mix


Index = npt.NDArray[np.int64]


def _match(a: Index, b: Index) -> tuple[Index, Index, Index, Index]:
    """Indices (ia, ib) of equal keys (each key unique on each side), and the unmatched of each."""
    _, ia, ib = np.intersect1d(a, b, assume_unique=True, return_indices=True)
    order = np.argsort(ia, kind="stable")
    ia, ib = ia[order].astype(np.int64), ib[order].astype(np.int64)
    only_a = np.setdiff1d(np.arange(a.size), ia, assume_unique=True).astype(np.int64)
    only_b = np.setdiff1d(np.arange(b.size), ib, assume_unique=True).astype(np.int64)
    return ia, ib, only_a, only_b


def _shared(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> float:
    smaller = min(a.size, b.size)
    return np.intersect1d(a, b, assume_unique=True).size / smaller if smaller else 0.0


def pair_verdicts(base: VerdictColumns, other: VerdictColumns, how: PairBy = "auto") -> Pairing:
    """Pair the verdicts of two files (ids unique within each, checked before).

    `auto` pairs by id when at least half of the smaller file's ids are shared, else by prompt
    text when both files carry prompts (judged with --include-input) and half of them are shared,
    else not at all (the comparison is then unpaired).
    """
    prompt_keys = None
    if base.has_prompts and other.has_prompts:
        prompt_keys = (_occurrence_keys(base.prompts), _occurrence_keys(other.prompts))
    if how == "auto":
        if _shared(base.ids, other.ids) >= MIN_SHARED:
            how = "id"
        elif prompt_keys is not None and _shared(*prompt_keys) >= MIN_SHARED:
            how = "prompt"
        else:
            how = "none"
    if how == "none":
        empty = np.empty(0, dtype=np.int64)
        return Pairing("none", empty, empty, np.arange(len(base)), np.arange(len(other)))
    if how == "prompt":
        if prompt_keys is None:
            raise ValueError("pairing by prompt needs the prompts in both files (judge with --include-input)")
        return Pairing("prompt", *_match(*prompt_keys))
    ia, ib, only_a, only_b = _match(base.ids, other.ids)
    mismatches = 0
    if base.has_prompts and other.has_prompts:
        known = (base.prompts[ia] != 0) & (other.prompts[ib] != 0)
        mismatches = int(np.sum(known & (base.prompts[ia] != other.prompts[ib])))
    return Pairing("id", ia, ib, only_a, only_b, mismatches)
