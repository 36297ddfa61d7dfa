"""Latency of the ticket service, in process: classify and create tickets one request at a time.

Run: `python bench/api_latency.py [--requests 300]`. Starts the app on a temporary SQLite
database with the default model (trained from the team corpus in data/) and sends the sample
complaints through FastAPI's TestClient (no network), printing p50/p95/max milliseconds per
endpoint. The texts are the team's own sample complaints, cycled.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from api.main import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per measured case (default: %(default)s)")
    args = parser.parse_args()
    with (ROOT / "data" / "sample_complaints.csv").open(encoding="utf-8") as stream:
        texts = [row["text"] for row in csv.DictReader(stream)]
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(var_dir=Path(folder), api_keys=SecretStr("bench-intake-key:intake"), model_poll_seconds=0)
        started = time.perf_counter()
        with TestClient(create_app(settings)) as client:
            startup = time.perf_counter() - started
            key = {"X-API-Key": "bench-intake-key"}
            timings: dict[str, list[float]] = {"POST /v1/classify": [], "POST /v1/tickets": []}
            for i in range(args.requests):
                text = texts[i % len(texts)]
                start = time.perf_counter()
                client.post("/v1/classify", json={"text": text}, headers=key).raise_for_status()
                timings["POST /v1/classify"].append(time.perf_counter() - start)
                start = time.perf_counter()
                client.post(
                    "/v1/tickets",
                    json={"text": text, "channel": "online"},
                    headers={**key, "Idempotency-Key": f"bench-{i}"},
                ).raise_for_status()
                timings["POST /v1/tickets"].append(time.perf_counter() - start)
    print(f"start-up (migrate, train the default model, load, warm jieba): {startup:.1f} s")
    print()
    print("| endpoint | requests | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, values in timings.items():
        ms = sorted(1000 * value for value in values)
        p95 = ms[int(0.95 * (len(ms) - 1))]
        print(f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {p95:.1f} | {ms[-1]:.1f} |")


if __name__ == "__main__":
    main()
