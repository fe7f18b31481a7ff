"""Per-decision time of the access policy of ../shared/conformance/10-access.yaml in Tenet and
in its peers (regorus, OPA's Go engine, Cedar) and a hand-written Python function, measured
in one run on the same requests and printed as ratios.

    python benchmarks/bench_access.py [--rounds 2000]

Peers come from the `bench` extra (`make bench` installs them); a missing one is skipped.
Each engine is first checked to give the expected answer for every request.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

import tenet

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "conformance" / "10-access.yaml"

Decide = Callable[[dict[str, Any], str], bool]

REGO = """package access
import rego.v1

default allow := false

now_ns := time.parse_rfc3339_ns(input.now)

token_valid if { now_ns < time.parse_rfc3339_ns(input.subject.token.expires_at) }

allow if {
    token_valid
    some grant in data.roles[input.subject.role][input.resource.type]
    glob.match(grant.pattern, ["/"], input.resource.path)
    input.action in grant.actions
}

allow if {
    token_valid
    bg := input.subject.break_glass
    bg.approved_by != input.subject.id
    now_ns < time.parse_rfc3339_ns(bg.expires_at)
    input.action in ["read", "rollback"]
}
"""


def load_cases() -> tuple[dict[str, Any], list[tuple[dict[str, Any], str, bool]]]:
    doc = yaml.safe_load(CASES.read_text("utf-8"))
    requests = [(c["input"], c["now"], c["expect"]["allowed"]) for c in doc["cases"]]
    return doc, requests


# ---- engines -------------------------------------------------------------------------------


def tenet_engine(doc: dict[str, Any], to_dict: bool = False) -> Decide:
    root = Path(tempfile.mkdtemp(prefix="tenet-bench-"))
    for name, text in doc["files"].items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, "utf-8")
    (root / "data.json").write_text(json.dumps(doc["data"]), "utf-8")
    bundle = tenet.load_bundle(root)

    if to_dict:

        def decide_doc(inp: dict[str, Any], now: str) -> bool:
            d = bundle.decide("access.allow", inp, now=now)
            d.to_dict()
            return d.allowed

        return decide_doc

    def decide(inp: dict[str, Any], now: str) -> bool:
        return bundle.decide("access.allow", inp, now=now).allowed

    return decide


def regorus_engine(doc: dict[str, Any]) -> Decide:
    import regorus  # type: ignore[import-not-found]

    engine = regorus.Engine()
    engine.add_policy("access.rego", REGO)
    engine.add_data_json(json.dumps(doc["data"]))

    def decide(inp: dict[str, Any], now: str) -> bool:
        engine.set_input_json(json.dumps({**inp, "now": now}))
        return engine.eval_rule("data.access.allow") is True

    return decide


def opa_engine(doc: dict[str, Any]) -> Decide:
    from opa_bindings import OpaEngine  # type: ignore[import-not-found]

    engine = OpaEngine()
    engine.add_policy("access.rego", REGO)
    engine.add_data(doc["data"])

    def decide(inp: dict[str, Any], now: str) -> bool:
        return engine.eval_document("access.allow", {**inp, "now": now}) is True

    return decide


def _cedar_pattern(pattern: str) -> str:
    if pattern == "**":
        return "true"
    # a glob `*` stays inside one segment; Cedar's `like` `*` crosses `/`, so exclude deeper
    return f'(resource.path like "{pattern}" && !(resource.path like "{pattern}/*"))'


def cedar_policies(data: dict[str, Any]) -> str:
    token = (
        "principal has token_expires_at && "
        "datetime(context.now) < datetime(principal.token_expires_at)"
    )
    out = []
    for role, types in data["roles"].items():
        for rtype, grants in types.items():
            for g in grants:
                actions = ", ".join(f'Action::"{a}"' for a in g["actions"])
                out.append(
                    f"permit(principal, action in [{actions}], resource) when {{ "
                    f'principal.role == "{role}" && resource.type == "{rtype}" && '
                    f"{_cedar_pattern(g['pattern'])} && {token} }};"
                )
    out.append(
        'permit(principal, action in [Action::"read", Action::"rollback"], resource) when { '
        f"{token} && principal has bg_approved_by && principal.bg_approved_by != principal.id"
        " && datetime(context.now) < datetime(principal.bg_expires_at) };"
    )
    return "\n".join(out)


def cedar_engine(doc: dict[str, Any]) -> Decide:
    import cedarpy  # type: ignore[import-not-found]

    policies = cedarpy.PolicySet.from_str(cedar_policies(doc["data"]))  # parsed once

    def decide(inp: dict[str, Any], now: str) -> bool:
        subject = inp["subject"]
        attrs: dict[str, Any] = {"id": subject["id"], "role": subject["role"]}
        if "token" in subject:
            attrs["token_expires_at"] = subject["token"]["expires_at"]
        if "break_glass" in subject:
            attrs["bg_approved_by"] = subject["break_glass"]["approved_by"]
            attrs["bg_expires_at"] = subject["break_glass"]["expires_at"]
        entities = [
            {"uid": {"type": "User", "id": subject["id"]}, "attrs": attrs, "parents": []},
            {
                "uid": {"type": "Resource", "id": "r"},
                "attrs": {"type": inp["resource"]["type"], "path": inp["resource"]["path"]},
                "parents": [],
            },
        ]
        request = {
            "principal": f'User::"{subject["id"]}"',
            "action": f'Action::"{inp["action"]}"',
            "resource": 'Resource::"r"',
            "context": {"now": now},
        }
        return bool(cedarpy.is_authorized(request, policies, entities).allowed)

    return decide


_globs: dict[str, re.Pattern[str]] = {}


def _glob(pattern: str, path: str) -> bool:
    rx = _globs.get(pattern)
    if rx is None:
        parts = []
        for seg in pattern.split("/"):
            parts.append(".*" if seg == "**" else re.escape(seg).replace(r"\*", "[^/]*"))
        rx = _globs[pattern] = re.compile("/".join(parts) + r"\Z")
    return rx.match(path) is not None


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def python_engine(doc: dict[str, Any]) -> Decide:
    roles = doc["data"]["roles"]

    def decide(inp: dict[str, Any], now: str) -> bool:
        t = _epoch(now)
        subject = inp.get("subject") or {}
        token = subject.get("token")
        if not isinstance(token, dict) or "expires_at" not in token:
            return False
        if not t < _epoch(token["expires_at"]):
            return False
        resource = inp.get("resource") or {}
        for grant in roles.get(subject.get("role"), {}).get(resource.get("type"), []):
            if (
                _glob(grant["pattern"], resource.get("path", ""))
                and inp.get("action") in grant["actions"]
            ):
                return True
        bg = subject.get("break_glass")
        return (
            isinstance(bg, dict)
            and bg.get("approved_by") != subject.get("id")
            and t < _epoch(bg["expires_at"])
            and inp.get("action") in ("read", "rollback")
        )

    return decide


# ---- measuring -----------------------------------------------------------------------------


def per_decision_us(decide: Decide, requests: list[Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds // 5 or 1):
            for inp, now, _ in requests:
                decide(inp, now)
        elapsed = time.perf_counter() - start
        best = min(best, elapsed / ((rounds // 5 or 1) * len(requests)))
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args(argv)
    doc, requests = load_cases()
    makers: list[tuple[str, Callable[[], Decide]]] = [
        ("tenet decide", lambda: tenet_engine(doc)),
        ("tenet decide+to_dict", lambda: tenet_engine(doc, to_dict=True)),
        ("python by hand", lambda: python_engine(doc)),
        ("regorus", lambda: regorus_engine(doc)),
        ("opa (go)", lambda: opa_engine(doc)),
        ("cedar", lambda: cedar_engine(doc)),
    ]
    results: dict[str, float] = {}
    for name, make in makers:
        try:
            decide = make()
        except ImportError as err:
            print(f"{name:22} skipped: {err.name} is not installed (make bench installs it)")
            continue
        wrong = [i for i, (inp, now, want) in enumerate(requests) if decide(inp, now) != want]
        if wrong:
            print(f"{name:22} WRONG answers for requests {wrong}: not timed")
            continue
        results[name] = per_decision_us(decide, requests, args.rounds)
    base = results["tenet decide"]
    print(f"\n{len(requests)} requests x {args.rounds} rounds, best of 5, per decision:")
    for name, us in results.items():
        print(f"  {name:22} {us:8.2f} us   {us / base:6.2f}x tenet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
