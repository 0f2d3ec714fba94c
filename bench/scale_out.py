"""One web instance versus two behind haproxy: the same load (bench/load.py's wrk scenarios)
against one gunicorn instance and then against two, both behind Debian's haproxy with the
reference configuration (deploy/haproxy/haproxy.cfg; for one instance both of its servers
name the same address, so the proxy's own cost is the same in both runs).

    .venv/bin/python bench/scale_out.py                       # detail and file, -w 2 --threads 2 per instance
    .venv/bin/python bench/scale_out.py --scenario file --duration 30 --connections 16
    .venv/bin/python bench/run.py --only scaleout             # as part of `make bench`

Reported for each: requests per second, p50/p99, and the gunicorn processes' CPU seconds
per request (user + system from /proc/<pid>/stat, every process of each instance's group),
then the ratio of the two throughputs and of the two CPU costs. On a machine with 2 cores
the throughput ratio is capped by the cores (PostgreSQL, haproxy and wrk run on the same
two); what the bench shows is that a second instance adds no cost per request (CPU per
request about the same): no shared lock, no hot row, nothing that serialises the instances.

Needs the bench data (bench/bench_incidents.py, as bench/load.py), wrk and haproxy
(apt-get installs haproxy when missing, as the scale-out test does).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402 (after the path is set above)

CONFIG = "-w 2 --threads 2"  # per instance
SCENARIOS = ("detail", "file")
NAMES = {
    "detail": "GET /api/v1/incidents/{id}/",
    "cursor": "GET /api/v1/incidents/?cursor=",
    "file": "POST /api/v1/incidents/ (filing)",
}


def measure(
    instances: int,
    scenario: str,
    *,
    db_url: str,
    info: dict,
    config: str,
    connections: int,
    duration: int,
    warmup: int,
    seed: int,
    log=print,
) -> dict:
    from tests.integration.lb import HAProxy

    servers = [load.Server(config, db_url, info["token"], prefix=f"mof-scale-{n}-") for n in range(instances)]
    tmp = Path(tempfile.mkdtemp(prefix="mof-scale-lb-"))
    proxy = None
    try:
        addresses = [s.url.removeprefix("http://") for s in servers]
        proxy = HAProxy(tmp, (addresses * 2)[:2], log_requests=False).start()
        time.sleep(4.5)  # the health checks have seen every server up (rise 2, inter 2 s)
        script = load.lua_script(
            scenario, info["token"], max_id=info["max_id"], group=info["group"], services=info["services"], seed=seed
        )
        if warmup:
            load.wrk(proxy.url, script, connections=connections, duration=warmup)
        cpu0 = [s.cpu_seconds() for s in servers]
        r = load.wrk(proxy.url, script, connections=connections, duration=duration)
        cpu1 = [s.cpu_seconds() for s in servers]
        per_instance = [round(b - a, 2) for a, b in zip(cpu0, cpu1)] if None not in cpu0 + cpu1 else None
        cpu = sum(per_instance) if per_instance else None
        r.update(
            {
                "instances": instances,
                "scenario": scenario,
                "config": config,
                "connections": connections,
                "duration_s": duration,
                "server_cpu_s": round(cpu, 2) if cpu is not None else None,
                "server_cpu_s_per_instance": per_instance,
                "server_cpu_ms": round(cpu * 1000 / r["requests"], 2) if cpu is not None and r["requests"] else None,
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
        log(
            f"  {instances} web ({config} each) {scenario}: {r['ok_rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
            f"non-2xx {r['non2xx']}, socket errors {r['socket_errors']}, gunicorn CPU {r['server_cpu_ms']} ms/request "
            f"(per instance {per_instance} s), load average {r['load_average']}"
        )
        return r
    finally:
        if proxy is not None:
            proxy.stop()
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if scenario == "file":  # after the servers stopped: requests in flight when wrk ended are committed too
            load.delete_filed(info["max_id"])


def compare(
    *,
    db_url: str,
    scenarios=SCENARIOS,
    config: str = CONFIG,
    two_config: str | None = None,
    connections: int = 16,
    duration: int = 20,
    warmup: int = 5,
    seed: int = 42,
    repeat: int = 1,
    log=print,
) -> list[dict]:
    """Per scenario: one instance, then two (`repeat` times, alternating, so that a machine
    getting busier or quieter meanwhile weighs on both alike); returns the runs and one
    comparison row each, of the medians."""
    import statistics

    from django.db import connection

    info = load.setup(db_url)
    connection.close()
    two_config = two_config or config
    results = []
    for scenario in scenarios:
        runs = {1: [], 2: []}
        for _ in range(repeat):
            for instances, cfg in ((1, config), (2, two_config)):
                runs[instances].append(
                    measure(
                        instances,
                        scenario,
                        db_url=db_url,
                        info=info,
                        config=cfg,
                        connections=connections,
                        duration=duration,
                        warmup=warmup,
                        seed=seed,
                        log=log,
                    )
                )
        # A run with errors (say haproxy's 503 while a starved instance missed its health
        # checks) measured something else: the medians are of the clean runs.
        clean = {n: [r for r in rs if not r["non2xx"] and not r["socket_errors"]] or rs for n, rs in runs.items()}
        rps = {n: statistics.median(r["ok_rps"] for r in rs) for n, rs in clean.items()}
        cpu = {
            n: statistics.median(r["server_cpu_ms"] for r in rs) if all(r["server_cpu_ms"] for r in rs) else None
            for n, rs in clean.items()
        }
        ratio = round(rps[2] / rps[1], 2) if rps[1] else None
        cpu_ratio = round(cpu[2] / cpu[1], 2) if cpu[1] and cpu[2] else None
        log(
            f"  {scenario}: 2 web / 1 web = {ratio} x the throughput, {cpu_ratio} x the CPU per request"
            + (f" (medians of {repeat})" if repeat > 1 else "")
        )
        results += (
            runs[1]
            + runs[2]
            + [
                {
                    "scenario": scenario,
                    "comparison": True,
                    "rps_ratio": ratio,
                    "cpu_per_request_ratio": cpu_ratio,
                    "runs": repeat,
                    "rps": [round(rps[1], 1), round(rps[2], 1)],
                    "cpu_ms": [cpu[1], cpu[2]],
                    "configs": [config, two_config],
                }
            ]
        )
    return results


def run_from_bench(seed: int = 42, duration: int = 20) -> list[dict]:
    """Rows for bench/run.py's table."""
    print(f"1 web versus 2 web behind haproxy ({CONFIG} each), wrk, 16 connections, {duration}s per run")
    missing = [tool for tool in ("wrk",) if shutil.which(tool) is None]
    if missing:
        return [
            {
                "group": "scaleout",
                "name": "1 vs 2 web (bench/scale_out.py)",
                "status": "not available: wrk is not installed (apt-get install -y wrk)",
            }
        ]
    rows = []
    for r in compare(db_url=os.environ["DATABASE_URL"], duration=duration, seed=seed):
        if r.get("comparison"):
            rows.append(
                {
                    "group": "scaleout",
                    "name": f"scale-out: {NAMES[r['scenario']]}, 2 web / 1 web",
                    "status": "ok",
                    **r,
                    "note": f"{r['rps_ratio']} x the req/s ({r['rps'][0]:.0f} -> {r['rps'][1]:.0f}), "
                    f"{r['cpu_per_request_ratio']} x the gunicorn CPU per request ({r['cpu_ms'][0]} -> {r['cpu_ms'][1]} ms)",
                }
            )
        else:
            rows.append(
                {
                    "group": "scaleout",
                    "name": f"scale-out: {NAMES[r['scenario']]}, {r['instances']} web",
                    "status": "ok",
                    "median_ms": r["p50_ms"],
                    "p95_ms": r["p95_ms"],
                    **r,
                    "note": f"{r['ok_rps']:.0f} req/s, gunicorn CPU {r['server_cpu_ms']} ms/request, p99 {r['p99_ms']:.1f} ms",
                }
            )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description="Throughput and CPU per request: 1 web instance vs 2 behind haproxy")
    parser.add_argument("--scenario", action="append", choices=("detail", "cursor", "file"))
    parser.add_argument("--config", default=CONFIG, help=f"gunicorn options of each instance (default {CONFIG!r})")
    parser.add_argument(
        "--two-config",
        default=None,
        help="gunicorn options of each of the two instances (default: --config); "
        "e.g. --config '-w 2 --threads 2' --two-config '-w 1 --threads 2' keeps the processes equal",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each, alternating; the comparison takes the medians"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "scale_out.json"))
    args = parser.parse_args(argv)
    load.check_wrk()
    url = os.environ.get("DATABASE_URL", "")
    db_url = url if url.startswith(("postgres://", "postgresql://")) else load.DEFAULT_DB
    print(
        f"load average {os.getloadavg()[0]:.2f}; {args.config} per instance, wrk c={args.connections}, {args.duration}s per run"
    )
    results = compare(
        db_url=db_url,
        scenarios=args.scenario or SCENARIOS,
        config=args.config,
        two_config=args.two_config,
        connections=args.connections,
        duration=args.duration,
        warmup=args.warmup,
        seed=args.seed,
        repeat=args.repeat,
    )
    print()
    print(f"{'scenario':<9}{'web':>4}{'req/s':>9}{'p50':>8}{'p99':>8}{'non2xx':>8}{'cpu ms/req':>12}")
    for r in results:
        if r.get("comparison"):
            print(
                f"{r['scenario']:<9}{'2/1':>4}{r['rps_ratio']:>9}{'':>8}{'':>8}{'':>8}{r['cpu_per_request_ratio']:>12}"
            )
        else:
            print(
                f"{r['scenario']:<9}{r['instances']:>4}{r['ok_rps']:>9.0f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['non2xx']:>8}{r['server_cpu_ms'] or 0:>12.2f}"
            )
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": results}, indent=2) + "\n"
    )
    print(f"Written {out}")


if __name__ == "__main__":
    main()
