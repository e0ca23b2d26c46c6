"""Reliability and security, in one run: protocol fuzzing, load, kill -9, hostile input.

Four parts, each driving the real thing (``hexad serve`` over stdio, real worker
processes, a real SQLite database, real files), with the harnesses the tests use at small
sizes (``tests/fuzz``, ``tests/reliability``):

1. **Fuzz** — hypothesis draws malformed and out-of-order JSON-RPC (wrong params for every
   method and command, unknown methods, stray notifications, documents changed before they
   open, broken frames and bodies, invalid UTF-8, huge parameters, cancellation storms),
   written byte for byte to one server, then a second server is fuzzed before
   ``initialize``. Every request must get exactly one well-formed answer, the process must
   stay up until ``exit``, and ordinary requests must answer as before the storm.
2. **Load** — ``--rate`` didChange events per second for ``--seconds`` on a large open
   file while requests flow: throughput achieved, request latency, index lag, catch-up
   after the last edit, resident memory; the index must end exactly on the client's text.
3. **Kill -9** — indexing, memory sync, ledger writes (two writers at once), multi-file
   edits and applied proposals, each killed ``--kills`` times at random points: the
   database opens and passes its checks, nothing reported committed is lost, no edit is
   left half-applied.
4. **Hostile workspaces** — the adversarial table (66 cases): each must be refused
   (outright, or held for a person) with nothing changed.

It prints what it measured and ``nothing lost, nothing let through`` when that is so; the
exit status is 1 when any check failed (a figure is never a failure: nothing is timed).

    .venv/bin/python bench/reliability.py                  # about 15 minutes on 2 CPUs
    .venv/bin/python bench/reliability.py --quick          # about 2 minutes
    .venv/bin/python bench/reliability.py --only fuzz,kill --json /tmp/reliability.json

This is not a test; pytest never imports it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fuzz.protocol import FuzzSession, Violation  # noqa: E402
from tests.reliability import adversarial, crash, load  # noqa: E402

PARTS = ("fuzz", "load", "kill", "hostile")


def run_fuzz(folder: Path, inputs: int, seed: int | None) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"violations": []}
    main = FuzzSession(folder / "running")
    try:
        main.fuzz(inputs, seed=seed)
        main.after_storm()
        after = max(20, inputs // 20)
        code = main.shut_down(examples=after)
        result["exit_code"] = code
        if code != 0:
            result["violations"].append(f"exit status {code} after shutdown and exit")
    except Violation as exc:
        result["violations"].append(str(exc)[:2000])
    finally:
        main.close()
    early = FuzzSession(folder / "early", initialize=False)
    try:
        early.fuzz(max(20, inputs // 10), seed=seed)
        for answers in early.peer.got.responses.values():
            for answer in answers:
                code = (answer.get("error") or {}).get("code")
                if code not in (-32002, -32602, -32600, -32700):
                    result["violations"].append(f"before initialize: {answer}"[:500])
        early.start()
        early.check()
    except Violation as exc:
        result["violations"].append(str(exc)[:2000])
    finally:
        early.close()
    kinds: dict[str, int] = {}
    for session in (main, early):
        for kind, n in session.tally.kinds.items():
            kinds[kind] = kinds.get(kind, 0) + n
    result.update(
        inputs=main.tally.inputs + early.tally.inputs,
        frames=main.tally.frames + early.tally.frames,
        requests=main.tally.requests + early.tally.requests,
        malformed=main.tally.malformed + early.tally.malformed,
        megabytes=round((main.tally.bytes + early.tally.bytes) / 1e6, 1),
        kinds=dict(sorted(kinds.items())),
        seconds=round(time.perf_counter() - started, 1),
    )
    return result


def run_kill(folder: Path, kills: int) -> list[dict[str, Any]]:
    out = []
    for kind, campaign in crash.CAMPAIGNS.items():
        # the ledger campaign runs two workers per round
        rounds = max(1, kills // 2) if kind == "ledger" else kills
        out.append(campaign(folder / kind, rounds).to_json())
    return out


def run_hostile(folder: Path) -> list[dict[str, Any]]:
    h = adversarial.Hostile(folder)
    try:
        rows = []
        for case, outcome, changed in adversarial.table(h):
            rows.append(
                {
                    "name": case.name,
                    "channel": case.channel,
                    "attack": case.attack,
                    "expect": case.expect,
                    "refused": outcome.refused,
                    "how": outcome.how,
                    "changed": changed,
                    "ok": outcome.refused == case.expect and not changed,
                }
            )
        return rows
    finally:
        h.close()


# -- printing ------------------------------------------------------------------------------


def print_fuzz(f: dict[str, Any]) -> None:
    print("\n## Protocol fuzzing (hexad serve over stdio)\n")
    print(
        f"{f['inputs']:,} inputs ({f['frames']:,} frames, {f['requests']:,} requests, "
        f"{f['malformed']:,} malformed, {f['megabytes']} MB) in {f['seconds']} s"
    )
    print("by kind: " + ", ".join(f"{k} {v}" for k, v in f["kinds"].items()))
    print(f"crashes and unanswered requests: {len(f['violations'])}")
    for v in f["violations"]:
        print(f"  VIOLATION {v}")


def print_load(r: dict[str, Any]) -> None:
    print("\n## Load (didChange storm on a large open file, requests flowing)\n")
    print(
        f"{r['events']:,} didChange in {r['seconds']} s on a {r['lines']:,}-line file: "
        f"{r['achieved_rate']:,.0f}/s achieved (asked {r['rate']}/s)"
    )
    print("| request (ms) | n | p50 | p95 | max |")
    print("|---|---|---|---|---|")
    for method, v in r["requests"].items():
        print(f"| {method} | {v['n']} | {v['p50']} | {v['p95']} | {v['max']} |")
    lag = r["index_lag_ms"]
    print(
        f"index lag (ms): p50 {lag.get('p50')}, p95 {lag.get('p95')}, max {lag.get('max')}"
        f" over {r['index_passes']} index passes; catch-up after the last edit "
        f"{r['catch_up_ms']} ms"
    )
    rss = r["rss_mb"]
    print(
        f"resident memory (MB): before {rss.get('before')}, peak {rss.get('peak')}, after "
        f"{rss.get('after')}; peak in the storm's first / second half "
        f"{r['rss_halves_mb'][0]} / {r['rss_halves_mb'][1]}"
    )
    print(f"index ends on the client's text: {r['final_ok']} {r['final_problem']}")


def print_kill(campaigns: list[dict[str, Any]]) -> None:
    print("\n## kill -9 at random points\n")
    print("| work killed | runs | killed | commits reported | checks | failures | notes |")
    print("|---|---|---|---|---|---|---|")
    for c in campaigns:
        notes = ", ".join(f"{k} {v}" for k, v in c["notes"].items())
        print(
            f"| {c['kind']} | {c['runs']} | {c['killed']} | {c['commits']:,} | "
            f"{c['checked']:,} | {len(c['failures'])} | {notes} |"
        )
        for failure in c["failures"][:10]:
            print(f"  FAILURE {failure}")


def print_hostile(rows: list[dict[str, Any]]) -> None:
    print("\n## Hostile workspaces: the adversarial table\n")
    print("| # | channel | attack | refused | how |")
    print("|---|---|---|---|---|")
    for n, row in enumerate(rows, start=1):
        mark = row["refused"] or "LET THROUGH"
        if not row["ok"]:
            mark = f"**{mark} (expected {row['expect']}; changed {row['changed']})**"
        how = row["how"].replace("|", "\\|").replace("\n", " ")[:110]
        print(f"| {n} | {row['channel']} | {row['attack']} | {mark} | {how} |")
    refused = sum(r["ok"] for r in rows)
    print(f"\n{refused} of {len(rows)} refused as they must be, nothing changed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fuzz-inputs", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (replay)")
    parser.add_argument("--rate", type=int, default=1000, help="didChange events per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the storm")
    parser.add_argument("--functions", type=int, default=2000, help="size of the open file")
    parser.add_argument("--kills", type=int, default=40, help="kills per kind of work")
    parser.add_argument("--quick", action="store_true", help="small sizes (about 2 minutes)")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = parser.parse_args(argv)
    if args.quick:
        args.fuzz_inputs, args.seconds, args.kills = 300, 5.0, 6
    parts = [p for p in args.only.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    results: dict[str, Any] = {
        "machine": f"{platform.platform()}, Python {platform.python_version()}",
        "arguments": {k: str(v) for k, v in vars(args).items()},
    }
    failed = False
    print(f"# Hexad reliability ({results['machine']})")
    with tempfile.TemporaryDirectory(prefix="hexad-reliability-") as tmp:
        folder = Path(tmp)
        if "fuzz" in parts:
            fuzz = results["fuzz"] = run_fuzz(folder / "fuzz", args.fuzz_inputs, args.seed)
            print_fuzz(fuzz)
            failed |= bool(fuzz["violations"])
        if "load" in parts:
            (folder / "load").mkdir()
            report = load.run_load(
                folder / "load",
                rate=args.rate,
                seconds=args.seconds,
                functions=args.functions,
            )
            results["load"] = report.to_json()
            print_load(results["load"])
            failed |= not report.final_ok or report.request_errors > 0
        if "kill" in parts:
            campaigns = results["kill"] = run_kill(folder / "kill", args.kills)
            print_kill(campaigns)
            failed |= any(c["failures"] for c in campaigns)
        if "hostile" in parts:
            rows = results["hostile"] = run_hostile(folder / "hostile")
            print_hostile(rows)
            failed |= not all(r["ok"] for r in rows)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(
        "\n"
        + ("SOMETHING WAS LOST OR LET THROUGH" if failed else "nothing lost, nothing let through")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
