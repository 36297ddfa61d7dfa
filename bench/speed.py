"""Speed benchmark: the full prediction pipeline against bare jieba on the same texts.

Run: `python bench/speed.py [--rounds 7]`. Trains a model on the shared training split (or on
data/sample_complaints.csv when the shared data is absent), then times, interleaved round by
round on the dev texts:

- bare jieba: a fresh `jieba.Tokenizer().lcut(text)` (default dictionary, HMM on), one text at a time;
- pipeline: `TriageModel.predict_many` in batches of 500 — normalise, mask, tokenise, TF-IDF,
  all three heads, decoding, demand; no explanation;
- pipeline with explanation: `TriageModel.predict(text)` one text at a time.

It prints texts per second (best and median round), the pipeline/jieba ratio (target ≥ 0.75),
start-up times (jieba dictionary, model load) and the peak resident memory.
"""

from __future__ import annotations

import argparse
import logging
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jieba

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model import tokenize as tokenizer_module  # noqa: E402
from model.artifact import load_model, save_model  # noqa: E402
from model.taxonomy import load_taxonomy  # noqa: E402
from training.data import load_datasets  # noqa: E402
from training.train import DEFAULT_SAMPLE, fit_model  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=7, help="interleaved rounds; medians are reported (default: %(default)s)"
    )
    args = parser.parse_args()
    taxonomy = load_taxonomy()

    startup_jieba = timed(tokenizer_module.configure)
    train_file = SHARED / "complaints_train.csv"
    eval_file = SHARED / "complaints_dev.csv"
    if not train_file.exists():
        train_file = eval_file = DEFAULT_SAMPLE
    rows = load_datasets([train_file], taxonomy).rows
    texts = [row.text for row in load_datasets([eval_file], taxonomy).rows]
    model = fit_model(rows, taxonomy, "bench")
    with tempfile.TemporaryDirectory() as folder:
        save_model(model, Path(folder) / "v")
        startup_model = timed(lambda: load_model(Path(folder) / "v", taxonomy))

    jieba.setLogLevel(logging.WARNING)
    bare = jieba.Tokenizer()
    bare.initialize()

    def run_bare() -> None:
        for text in texts:
            bare.lcut(text)

    def run_pipeline() -> None:
        for start in range(0, len(texts), 500):
            model.predict_many(texts[start : start + 500])

    sample = texts[: max(1, len(texts) // 4)]

    def run_explained() -> None:
        for text in sample:
            model.predict(text, explain=True)

    runs: dict[str, list[float]] = {"bare jieba": [], "pipeline": [], "pipeline + explanation": []}
    run_pipeline()  # warm caches once
    for _ in range(args.rounds):
        runs["bare jieba"].append(len(texts) / timed(run_bare))
        runs["pipeline"].append(len(texts) / timed(run_pipeline))
        runs["pipeline + explanation"].append(len(sample) / timed(run_explained))

    print(
        f"texts: {len(texts)} from {eval_file.name} (mean {statistics.mean(map(len, texts)):.0f} characters), "
        f"{args.rounds} interleaved rounds"
    )
    print()
    print("| run | texts/s (best) | texts/s (median) | vs bare jieba (median) |")
    print("|---|---|---|---|")
    reference = statistics.median(runs["bare jieba"])
    for name, speeds in runs.items():
        print(
            f"| {name} | {max(speeds):,.0f} | {statistics.median(speeds):,.0f} | "
            f"{statistics.median(speeds) / reference:.2f} |"
        )
    ratios = [p / b for p, b in zip(runs["pipeline"], runs["bare jieba"])]
    print()
    print(
        f"pipeline / bare jieba, per round: median {statistics.median(ratios):.2f}, "
        f"min {min(ratios):.2f}, max {max(ratios):.2f} (target ≥ 0.75)"
    )
    print(f"start-up: jieba dictionary + user dictionary {startup_jieba:.2f} s, model load {startup_model:.2f} s")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
