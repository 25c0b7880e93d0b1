"""The polars-pipeline example's pipeline, in pandas, for
`cargo xtask bench polars`: the same generated data (SplitMix64 from the same
seed, vectorised), the same stages (filter, group-by, join, write CSV).

Usage: pipeline.py ROWS CUSTOMERS OUTPUT
Prints `pipeline_seconds: S` (the pipeline alone, as the Rust job prints it)
and the totals by segment, which must equal the Rust job's.
"""

import sys
import time

import numpy as np
import pandas as pd

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
SEED = np.uint64(0x5EED)
COUNTRIES = np.array(["de", "fr", "es", "it", "nl", "pl", "se", "pt"])
SEGMENTS = np.array(["consumer", "business", "public"])
MIN_AMOUNT = 5_000


def splitmix64(count):
    """The first `count` outputs of the Rust generator, in call order."""
    with np.errstate(over="ignore"):
        z = SEED + np.arange(1, count + 1, dtype=np.uint64) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def generate(rows, customers):
    draws = splitmix64(3 * rows)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(rows, dtype=np.uint32),
            "customer_id": (draws[0::3] % np.uint64(customers)).astype(np.uint32),
            "amount": (np.uint64(100) + draws[1::3] % np.uint64(99_900)).astype(np.int64),
            "country": COUNTRIES[(draws[2::3] % np.uint64(8)).astype(np.int64)],
        }
    )
    ids = np.arange(customers, dtype=np.uint32)
    customers = pd.DataFrame({"customer_id": ids, "segment": SEGMENTS[ids % 3]})
    return orders, customers


def main():
    rows, customers, output = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    orders, customers = generate(rows, customers)
    started = time.perf_counter()
    kept = orders[orders["amount"] > MIN_AMOUNT]
    totals = (
        kept.groupby("customer_id", sort=True)
        .agg(total=("amount", "sum"), orders=("amount", "size"))
        .reset_index()
    )
    joined = totals.merge(customers, on="customer_id", how="inner")
    joined.to_csv(output, index=False)
    print(f"pipeline_seconds: {time.perf_counter() - started:.3f}")
    by_segment = joined.groupby("segment")["total"].sum().sort_index()
    print("totals:", [(name, int(total)) for name, total in by_segment.items()])


if __name__ == "__main__":
    main()
