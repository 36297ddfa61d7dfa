"""Training-time benchmark: how the fit's time and memory grow with the number of rows.

Run: `nice -n 10 python bench/train_scale.py [--rows 2000 10000 30000 100000] [--set C=0.5 ...]`.

The rows: the real training split (/work/shared/data/complaints_train.csv, 2,230 rows), read as
`triage train` reads it, resampled to N rows in memory (never written anywhere). Up to 2,230 rows
are a random subset of the real rows; beyond that every extra row is a real row with light
perturbation, so that a large file still has new texts and a growing vocabulary: with
probability ½ one of its clauses is replaced by a clause of another row of the same subtype,
then one to three characters are deleted and, with probability ⅓, two neighbours swapped. The
labels are the source row's. Without the shared data, data/sample_complaints.csv stands in.
As `triage train` does, the team corpus (`training.train.TEAM_CORPUS`, 2,112 rows) trains beside
the N rows without calibrating.

Each N runs in a fresh process (so that the peak resident memory is that size's own), which
times, after jieba's dictionary is loaded:

- normalise: `model.text.normalise` (normalisation and masking) of every text, once;
- tokenise: jieba over every normalised text (`model.tokenize.tokenize`), measured on its own
  (not part of the total: the features segment the texts again);
- features: the fit's TF-IDF step, its own segmentation included;
- then each sub-step of `ComplaintClassifier.fit`, timed through its `progress` callback and
  summed per head: all the linear models of the head (its calibrated head and the models that give
  its out-of-fold probabilities), and the final temperatures and confidence maps ("calibration");

and prints one row per N: seconds per step, the total (normalise + fit), the peak RSS, and the
size of the feature matrix. `--set NAME=VALUE` passes classifier parameters (Python literals).

`--compare-fits N` instead checks that the fit for large files (above `nested_max_rows`) is no
worse than the nested one at the size where it takes over: the 5-fold CV of bench/cv_search.py
(seed 0), each fold's training part resampled as above to N rows (perturbed copies of that part
only, never of the held-out fold) plus the team corpus, fitted both ways and scored on the real
held-out texts (macro-F1, accuracy, ECE per head).
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from model import tokenize as tokenizer_module  # noqa: E402
from model.classifier import HEADS, ComplaintClassifier  # noqa: E402
from model.taxonomy import load_taxonomy  # noqa: E402
from model.text import normalise  # noqa: E402
from training.data import LabeledRow, load_datasets  # noqa: E402
from training.train import DEFAULT_SAMPLE, TEAM_CORPUS  # noqa: E402

SHARED_TRAIN = ROOT.parent / "shared" / "data" / "complaints_train.csv"
COLUMNS = ("normalise", "tokenise", "features", "category", "subtype", "tier", "calibration")
_CLAUSE = re.compile(r"(?<=[，。！？；,.!?;\s])")


def resample(rows: list[LabeledRow], n: int, seed: int) -> list[LabeledRow]:
    """`n` rows made from `rows`: a random subset up to len(rows), perturbed copies beyond."""
    rng = random.Random(seed)
    shuffled = rows[:]
    rng.shuffle(shuffled)
    if n <= len(rows):
        return shuffled[:n]
    clauses: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        clauses[row.subtype].extend(piece for piece in _CLAUSE.split(row.text) if piece)
    made = list(shuffled)
    while len(made) < n:
        source = rng.choice(rows)
        pieces = [piece for piece in _CLAUSE.split(source.text) if piece]
        if len(pieces) > 1 and rng.random() < 0.5:
            pieces[rng.randrange(len(pieces))] = rng.choice(clauses[source.subtype])
        chars = list("".join(pieces))
        for _ in range(rng.randint(1, 3)):
            if len(chars) > 8:
                del chars[rng.randrange(len(chars))]
        if len(chars) > 8 and rng.random() < 1 / 3:
            i = rng.randrange(len(chars) - 1)
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        made.append(LabeledRow("".join(chars), source.category, source.subtype, source.tier, source.demand))
    return made


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(n: int, seed: int, params: dict[str, Any]) -> dict[str, Any]:
    """Time one training of `n` rows (plus the team corpus) in this process."""
    taxonomy = load_taxonomy()
    source = SHARED_TRAIN if SHARED_TRAIN.exists() else DEFAULT_SAMPLE
    rows = resample(load_datasets([source], taxonomy).rows, n, seed)
    corpus = load_datasets(list(TEAM_CORPUS), taxonomy).rows
    every = [*rows, *corpus]
    tokenizer_module.configure()
    seconds: dict[str, float] = defaultdict(float)

    start = time.perf_counter()
    texts = [normalise(row.text) for row in every]
    seconds["normalise"] = time.perf_counter() - start
    start = time.perf_counter()
    for text in texts:
        tokenizer_module.tokenize(text)
    seconds["tokenise"] = time.perf_counter() - start

    classifier = ComplaintClassifier(
        subtype_categories={code: subtype.category for code, subtype in taxonomy.subtypes.items()},
        cue_groups=dict(taxonomy.tier_cues),
        **params,
    )
    current = [""]
    began = [time.perf_counter()]

    def progress(step: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if current[0]:
            seconds[current[0]] += now - began[0]
        current[0] = step.split()[0] if step.split()[0] in HEADS else step
        began[0] = now

    fit_start = time.perf_counter()
    classifier.fit(texts, [row.labels for row in every], [True] * len(rows) + [False] * len(corpus), progress)
    fit = time.perf_counter() - fit_start
    base = classifier.features_.transform(texts[:1])
    return {
        "rows": n,
        "corpus": len(corpus),
        "seconds": dict(seconds),
        "total": seconds["normalise"] + fit,
        "peak_rss_mib": peak_rss_mib(),
        "features": base.shape[1],
        "fit": "nested" if len(every) <= classifier.nested_max_rows else "cross",
    }


def compare_fits(n: int, seed: int) -> None:
    """Print the CV figures of the nested and the cross fit on `n` resampled rows per fold."""
    import cv_search  # beside this file

    taxonomy = load_taxonomy()
    split = cv_search.load_split("train")
    rows = [LabeledRow(text, *labels) for text, labels in zip(split.texts, zip(*split.labels.values()))]
    corpus = load_datasets(list(TEAM_CORPUS), taxonomy).rows
    labels = np.array([row.labels for row in rows], dtype=object)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(split.texts, split.labels["subtype"]))
    print(f"{n:,} resampled training rows per fold + {len(corpus):,} of the team corpus")
    print(cv_search.header())
    for name, nested_max_rows in (("cross", 0), ("nested", 10**9)):
        start = time.perf_counter()
        pred = np.empty((len(rows), 3), dtype=object)
        conf = np.zeros((len(rows), 3))
        for train_idx, test_idx in folds:
            every = [*resample([rows[i] for i in train_idx], n, seed), *corpus]
            classifier = ComplaintClassifier(
                subtype_categories={code: subtype.category for code, subtype in taxonomy.subtypes.items()},
                cue_groups=dict(taxonomy.tier_cues),
                nested_max_rows=nested_max_rows,
            ).fit(
                [normalise(row.text) for row in every],
                [row.labels for row in every],
                calibrate_on=[True] * n + [False] * len(corpus),
            )
            heads = classifier.predict_heads([split.texts[i] for i in test_idx])
            decoded = np.array(classifier.decode(heads), dtype=object)
            pred[test_idx] = decoded
            for j, head in enumerate(HEADS):
                column = {code: k for k, code in enumerate(heads[head].classes)}
                chosen = [column[code] for code in decoded[:, j]]
                conf[test_idx, j] = heads[head].proba[np.arange(len(test_idx)), chosen]
        scores = {
            head: cv_search.fold_scores(labels[:, j].astype(str), pred[:, j], conf[:, j], folds)
            for j, head in enumerate(HEADS)
        }
        print(cv_search.format_row(f"{name} fit", scores, True, time.perf_counter() - start), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2000, 10000, 30000, 100000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a classifier parameter")
    parser.add_argument("--compare-fits", type=int, metavar="N", help="CV of both fits on N rows per fold")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process: one size, JSON out
    args = parser.parse_args()
    params = {name: ast.literal_eval(value) for name, value in (item.split("=", 1) for item in args.set)}
    if args.compare_fits is not None:
        compare_fits(args.compare_fits, args.seed)
        return
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.seed, params)))
        return

    print(f"seconds per step; {' '.join(args.set) or 'default parameters'}; + team corpus rows (train only)")
    heading = ["rows", "fit", *COLUMNS, "total", "peak RSS", "features"]
    print(" | ".join(heading))
    print("|".join("---" for _ in heading))
    for n in args.rows:
        command = [sys.executable, __file__, "--one", str(n), "--seed", str(args.seed)]
        command += [item for value in args.set for item in ("--set", value)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{n:,}: failed\n{done.stderr[-2000:]}", flush=True)
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        cells = [f"{n:,} + {result['corpus']:,}", result["fit"]]
        cells += [f"{result['seconds'].get(name, 0.0):.1f}" for name in COLUMNS]
        cells += [f"{result['total']:.0f} s", f"{result['peak_rss_mib']:,.0f} MiB", f"{result['features']:,}"]
        print(" | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
