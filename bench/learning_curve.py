"""Learning curve: how macro-F1 grows with the number of labelled training rows.

Run from /work/main:  nice python bench/learning_curve.py [--fractions 0.25 0.5 0.75 1] [--seed 0]

The 5-fold CV of bench/cv_search.py on the training split (../shared/data/complaints_train.csv,
stratified by subtype): each fold's training part is cut to a share of its rows (a random subset
stratified by subtype, the same for every model), the held-out fold stays whole, so every row of
the table is scored on the same 2,230 out-of-fold predictions. Rows: the shipped estimator with
the team corpus (as `triage train` fits it; the corpus is never cut), without it, and the best
the plain baselines of the issue, jieba word + char TF-IDF + LinearSVC. The dev split is not read.

It answers how much the monthly corrections of the agents are worth: the last lines give the
macro-F1 each head gains from the half to the whole of the rows (one doubling of the real data).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cv_search import (  # noqa: E402
    BASELINES,
    HEADS,
    N_FOLDS,
    Folds,
    HeadScores,
    cross_validate,
    cross_validate_product,
    load_split,
    subtype_categories,
)

from training.train import TEAM_CORPUS  # noqa: E402

BASELINE = BASELINES[1]  # jieba word + char 1-3 TF-IDF + LinearSVC


def cut_folds(folds: Folds, subtypes: np.ndarray, fraction: float, seed: int) -> Folds:
    """Each fold's training indices cut to `fraction` of them (stratified by subtype), test kept."""
    if fraction >= 1:
        return folds
    cut = []
    for train_idx, test_idx in folds:
        kept, _ = train_test_split(train_idx, train_size=fraction, stratify=subtypes[train_idx], random_state=seed)
        cut.append((np.sort(kept), test_idx))
    return cut


def _f1s(result: HeadScores) -> str:
    return "/".join(f"{result[head]['f1']:.3f}" for head in HEADS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold split and of the cuts")
    args = parser.parse_args()
    start = time.time()
    train = load_split("train")
    mapping = subtype_categories(train)
    folds = list(
        StratifiedKFold(N_FOLDS, shuffle=True, random_state=args.seed).split(train.texts, train.labels["subtype"])
    )
    print(
        f"train: {len(train.texts)} texts, {N_FOLDS}-fold CV stratified by subtype (seed {args.seed}); "
        "macro-F1, mean over folds"
    )
    models = ("shipped + team corpus", "shipped", "word+char baseline")
    print(
        f"{'share':>5s} {'rows':>5s} | "
        + " | ".join(f"{name:>22s}" for name in models)
        + "   (category / subtype / tier)"
    )
    curve: dict[float, dict[str, HeadScores]] = {}
    for fraction in sorted(args.fractions):
        cut = cut_folds(folds, train.labels["subtype"], fraction, args.seed)
        results = {
            models[0]: cross_validate_product(train, cut, TEAM_CORPUS),
            models[1]: cross_validate_product(train, cut),
            models[2]: next(iter(cross_validate(BASELINE, train, cut, mapping).values())),
        }
        curve[fraction] = results
        rows = int(np.mean([len(train_idx) for train_idx, _ in cut]))
        cells = " | ".join(f"{_f1s(results[name]):>22s}" for name in models)
        print(f"{fraction:5.2f} {rows:5d} | {cells}   {time.time() - start:.0f}s", flush=True)
    if 0.5 in curve and 1.0 in curve:
        print("\nmacro-F1 gained from half to all of the real rows (one doubling):")
        for name in models:
            gains = "  ".join(
                f"{head} {curve[1.0][name][head]['f1'] - curve[0.5][name][head]['f1']:+.3f}" for head in HEADS
            )
            print(f"  {name:22s} {gains}")


if __name__ == "__main__":
    main()
