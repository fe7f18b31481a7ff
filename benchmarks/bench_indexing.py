"""Rule indexing: the per-decision cost of a rule with 10, 1,000 and 10,000 definitions of
`allow if { input.subject.role == "role_N" ... }`, as ratios to the 10-definition cost, in
Tenet and (when installed) regorus and OPA; and the time to load and compile such bundles.

    python benchmarks/bench_indexing.py [--sizes 10,1000,10000] [--rounds 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tenet

Decide = Callable[[dict[str, Any]], bool]


def rules(lo: int, hi: int) -> list[str]:
    """The definitions, written the same in Tenet and in Rego v1."""
    return [
        "allow if {\n"
        f'    input.subject.role == "role_{i}"\n'
        '    input.action in ["read", "write"]\n'
        f'    startswith(input.resource.path, "team_{i}/")\n'
        "}\n"
        for i in range(lo, hi)
    ]


def tenet_policy(n: int) -> str:
    return "\n".join(["package access", "", "default allow = false", "", *rules(0, n)])


def rego_policies(n: int, per_file: int = 1000) -> list[str]:
    """The Rego twin, split in files (regorus refuses a policy file over 1 MiB)."""
    files = []
    for start in range(0, n, per_file):
        head = ["package access", "import rego.v1", ""]
        if start == 0:
            head += ["default allow := false", ""]
        files.append("\n".join(head + rules(start, min(n, start + per_file))))
    return files


def requests(n: int) -> list[dict[str, Any]]:
    """Hits spread over the definitions, and a miss."""
    picks = sorted({0, n // 3, n // 2, n - 1})
    out = [
        {"subject": {"role": f"role_{i}"}, "action": "read", "resource": {"path": f"team_{i}/m"}}
        for i in picks
    ]
    out.append({"subject": {"role": "nobody"}, "action": "read", "resource": {"path": "x/m"}})
    return out


def load_tenet(n: int) -> tuple[Decide, float]:
    root = Path(tempfile.mkdtemp(prefix="tenet-index-"))
    (root / "access.tenet").write_text(tenet_policy(n), "utf-8")
    start = time.perf_counter()
    bundle = tenet.load_bundle(root)
    took = time.perf_counter() - start
    return (lambda inp: bundle.decide("access.allow", inp).allowed), took


def load_regorus(n: int) -> Decide:
    import regorus  # type: ignore[import-not-found]

    engine = regorus.Engine()
    for i, text in enumerate(rego_policies(n)):
        engine.add_policy(f"access_{i}.rego", text)

    def decide(inp: dict[str, Any]) -> bool:
        engine.set_input_json(json.dumps(inp))
        return engine.eval_rule("data.access.allow") is True

    return decide


def load_opa(n: int) -> Decide:
    from opa_bindings import OpaEngine  # type: ignore[import-not-found]

    engine = OpaEngine()
    for i, text in enumerate(rego_policies(n)):
        engine.add_policy(f"access_{i}.rego", text)
    return lambda inp: engine.eval_document("access.allow", inp) is True


def per_decision_us(decide: Decide, reqs: list[dict[str, Any]], rounds: int) -> float:
    for r in reqs:  # warm caches, and check the answers
        assert decide(r) is (r["subject"]["role"] != "nobody")
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(max(1, rounds // 5)):
            for r in reqs:
                decide(r)
        best = min(best, (time.perf_counter() - start) / (max(1, rounds // 5) * len(reqs)))
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    engines: dict[str, dict[int, float]] = {"tenet": {}}
    print("load and compile (tenet):")
    for n in sizes:
        decide, took = load_tenet(n)
        print(f"  {n:>6} definitions  {took:6.2f} s")
        engines["tenet"][n] = per_decision_us(decide, requests(n), args.rounds)
    peers: list[tuple[str, Callable[[int], Decide]]] = [
        ("regorus", load_regorus),
        ("opa", load_opa),
    ]
    for name, load in peers if args.peers else []:
        try:
            engines[name] = {
                n: per_decision_us(load(n), requests(n), max(5, args.rounds // max(1, n // 100)))
                for n in sizes
            }
        except ImportError as err:
            print(f"{name}: skipped ({err.name} is not installed; make bench installs it)")
    base = sizes[0]
    print(f"\nper decision, and as a ratio to {base} definitions:")
    for name, times in engines.items():
        cells = "  ".join(
            f"{n:>6}: {us:9.1f} us ({us / times[base]:5.1f}x)" for n, us in times.items()
        )
        print(f"  {name:8} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
