"""`tenet fairness compute` on a generated 1,000,000-row predictions CSV: rows per second of the
one streaming pass (with and without a score column), and of the whole command.

    python benchmarks/bench_fairness.py [--rows 1000000] [--seed 7] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tenet.fairness import compute_file, metrics

GROUPS = {"sex": ["female", "male", "nonbinary"], "age": ["18-29", "30-49", "50-64", "65+"]}


def generate(path: Path, rows: int, seed: int) -> None:
    """A deterministic CSV: label, prediction, score in [0, 1], and two sensitive columns,
    with a score (and so a prediction) that depends a little on the group."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("id,label,prediction,score,sex,age\n")
        lines = []
        for i in range(rows):
            sex = rng.choice(GROUPS["sex"])
            age = rng.choice(GROUPS["age"])
            label = 1 if rng.random() < 0.3 else 0
            bias = 0.05 if sex == "male" else 0.0
            score = min(1.0, max(0.0, rng.gauss(0.65 if label else 0.3, 0.15) + bias))
            prediction = 1 if score >= 0.5 else 0
            lines.append(f"{i},{label},{prediction},{score:.4f},{sex},{age}\n")
            if len(lines) == 10_000:
                f.writelines(lines)
                lines.clear()
        f.writelines(lines)


def best_of(rounds: int, run: object) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictions.csv"
        start = time.perf_counter()
        generate(path, args.rows, args.seed)
        size = path.stat().st_size
        print(
            f"generated {args.rows:,} rows ({size / 1e6:.1f} MB) in "
            f"{time.perf_counter() - start:.1f} s (seed {args.seed})"
        )

        def one_pass(score: str | None, groups: list[str]) -> None:
            found = compute_file(
                str(path), label="label", prediction="prediction", groups=groups, score=score
            )
            metrics(found)

        print(f"best of {args.rounds}:")
        for label, score, groups in (
            ("--group sex", None, ["sex"]),
            ("--group sex --group age", None, ["sex", "age"]),
            ("--group sex --group age --score", "score", ["sex", "age"]),
        ):
            t = best_of(args.rounds, lambda s=score, g=groups: one_pass(s, g))
            print(f"  {label:<34} {t:6.2f} s  {args.rows / t:>12,.0f} rows/s")
        command = [
            sys.executable, "-m", "tenet.cli", "fairness", "compute", "--predictions", str(path),
            "--label", "label", "--prediction", "prediction", "--group", "sex", "--group", "age",
            "--score", "score",
        ]  # fmt: skip
        t = best_of(args.rounds, lambda: subprocess.run(command, check=True, capture_output=True))
        print(f"  {'the command, in a new process':<34} {t:6.2f} s  {args.rows / t:>12,.0f} rows/s")


if __name__ == "__main__":
    main()
