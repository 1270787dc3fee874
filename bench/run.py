"""`make bench` / `python -m bench.run [NAME ...]`: run benchmarks, write bench/results/NAME.json, and
rewrite the table in bench/README.md.

Every benchmark measures the product against its floor in the same run and reports the ratio: these machines
are noisy, a ratio much less so. Nothing here is a test: goals are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.floor import FloorInput, FloorWorkflow, noop
from bench.history import cost_of
from core.search_attributes import SEARCH_ATTRIBUTES
from core.temporal import temporal_cli_path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

Benchmark = Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]
BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str) -> Callable[[Benchmark], Benchmark]:
    def register(fn: Benchmark) -> Benchmark:
        BENCHMARKS[name] = fn
        return fn

    return register


async def dev_server(db_dir: str) -> WorkflowEnvironment:
    """A dev server on a SQLite file, as the embedded stack runs it."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_database_filename=os.path.join(db_dir, "temporal.db"),
        dev_server_extra_args=["--log-level", "error"],
    )


async def run_many(client: Client, count: int, concurrency: int,
                   start_one: Callable[[int], Awaitable[Any]]) -> float:
    """Run `count` jobs with at most `concurrency` in flight; return the wall time."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await start_one(i)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - began


async def floor_throughput(client: Client, activities: int, count: int, concurrency: int) -> dict[str, Any]:
    task_queue = f"bench-floor-{time.time_ns()}"
    with ThreadPoolExecutor(max_workers=32) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[FloorWorkflow], activities=[noop],
                          activity_executor=executor, max_concurrent_activities=64):
            async def start(i: int) -> None:
                await client.execute_workflow(FloorWorkflow.run, FloorInput(activities),
                                              id=f"{task_queue}-{i}", task_queue=task_queue)

            seconds = await run_many(client, count, concurrency, start)
            cost = cost_of(await client.get_workflow_handle(f"{task_queue}-0").fetch_history())
    return {"workflows": count, "seconds": round(seconds, 3), "per_second": round(count / seconds, 2),
            "history_events": cost.events, "actions": cost.actions}


@benchmark("floor")
async def bench_floor(args: argparse.Namespace) -> dict[str, Any]:
    """Temporal's own floor on this machine: bare workflows of 6 no-op activities."""
    with tempfile.TemporaryDirectory() as tmp:
        async with await dev_server(tmp) as env:
            result = await floor_throughput(env.client, 6, args.count, args.concurrency)
    return {"floor_6_activities": result,
            "summary": f"{result['per_second']} bare workflows/s; {result['history_events']} events, "
                       f"{result['actions']} actions each"}


@benchmark("scale")
async def bench_scale(args: argparse.Namespace) -> dict[str, Any]:
    """Open workflows waiting on a 15-day timer: start rate, server memory and disk as they grow."""
    from bench.scale import AwaitReceiptWorkflow, WaitInput, rss_bytes_of

    steps = [int(n) for n in args.scale.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        async with await dev_server(tmp) as env:
            client = env.client
            task_queue = f"bench-scale-{time.time_ns()}"
            base_rss = rss_bytes_of(tmp)
            async with Worker(client, task_queue=task_queue, workflows=[AwaitReceiptWorkflow],
                              max_cached_workflows=1000):
                open_now = 0
                for target in steps:
                    async def start(i: int, offset: int = open_now) -> None:
                        await client.start_workflow(AwaitReceiptWorkflow.run, WaitInput(),
                                                    id=f"{task_queue}-{offset + i}", task_queue=task_queue)

                    seconds = await run_many(client, target - open_now, args.concurrency * 4, start)
                    started = target - open_now
                    open_now = target
                    await asyncio.sleep(2)  # let the first workflow tasks settle before measuring
                    disk = sum(p.stat().st_size for p in Path(tmp).glob("temporal.db*"))
                    rows.append({
                        "open_workflows": target,
                        "start_seconds": round(seconds, 2),
                        "starts_per_second": round(started / seconds, 1),
                        "server_rss_mb": round(rss_bytes_of(tmp) / 2**20, 1),
                        "server_rss_per_workflow_kb": round((rss_bytes_of(tmp) - base_rss) / 1024 / target, 2),
                        "sqlite_mb": round(disk / 2**20, 1),
                        "sqlite_per_workflow_kb": round(disk / 1024 / target, 2),
                    })
                    print(f"   {rows[-1]}", flush=True)
    last = rows[-1]
    return {"steps": rows,
            "summary": f"{last['open_workflows']} open: {last['starts_per_second']} starts/s, server "
                       f"{last['server_rss_mb']} MB RSS, SQLite {last['sqlite_per_workflow_kb']} KB/workflow"}


@benchmark("domain")
async def bench_domain(args: argparse.Namespace) -> dict[str, Any]:
    """FatturaPA validation and CAdES/XAdES signing per second against raw lxml, cryptography, signxml and a38."""
    from bench.domain import run

    return await asyncio.to_thread(run, log=lambda line: print(line, flush=True))


@benchmark("ksef")
async def bench_ksef(args: argparse.Namespace) -> dict[str, Any]:
    """FA(3) validation against raw lxml; the KSeF path per invoice against bare cryptography and httpx."""
    from bench.ksef import run

    data = await asyncio.to_thread(run, log=lambda line: print(line, flush=True))
    r, ms = data["ratios"], data["ms_per_invoice"]
    missed = [name for name, ok in data["met"].items() if not ok]
    data["summary"] = (
        f"FA(3) validation {r['validation_vs_lxml']}× raw lxml; session crypto {r['crypto_vs_cryptography']}× "
        f"raw cryptography; send + status + UPO through the local KSeF {ms['path.ours']} ms per invoice = "
        f"{r['path_vs_bare']}× bare httpx + cryptography ({ms['path.bare_httpx']} ms); goals "
        + (f"missed: {', '.join(missed)}" if missed else "met"))
    return data


@benchmark("pipeline")
async def bench_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    """Invoices per second end to end on the embedded stack, against a bare workflow of the same shape."""
    from bench.pipeline import SDI_DELAY, throughput
    from bench.stack import embedded_stack

    with tempfile.TemporaryDirectory() as tmp:
        async with await dev_server(tmp) as env, embedded_stack(Path(tmp), env, sim_delay=SDI_DELAY) as stack:
            result = await throughput(stack, args.count, args.concurrency, log=lambda s: print(s, flush=True))
    missed = "" if result["ratio"] >= result["goal_ratio"] else f" (missed: goal ≥ {result['goal_ratio']})"
    return {"pipeline": result, "summary": (
        f"{result['pipeline_per_second']} invoices/s end to end (accepted → conserved, {result['sign']} signed, "
        f"{args.concurrency} in flight) = {result['ratio']}× the floor's {result['floor_per_second']}/s of the "
        f"same shape{missed}; CPU per invoice {result['cpu_ms_per_item_total']['pipeline']} ms vs "
        f"{result['cpu_ms_per_item_total']['floor']} ms")}


@benchmark("ksef-pipeline")
async def bench_ksef_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    """FA(3) invoices per second end to end through the local KSeF, against the floor `pipeline` uses."""
    from bench.pipeline import throughput
    from bench.pipeline_ksef import CONSERVATION_ACTIVITIES, INVOICE_ACTIVITIES, KsefPipelineRunner
    from bench.stack import embedded_stack

    with tempfile.TemporaryDirectory() as tmp:
        async with await dev_server(tmp) as env, embedded_stack(Path(tmp), env, ksef=True) as stack:
            result = await throughput(stack, args.count, args.concurrency, log=lambda s: print(s, flush=True),
                                      pipe=KsefPipelineRunner(stack),
                                      floor_shape=(INVOICE_ACTIVITIES, CONSERVATION_ACTIVITIES))
    missed = "" if result["ratio"] >= result["goal_ratio"] else f" (missed: goal ≥ {result['goal_ratio']})"
    return {"pipeline": result, "summary": (
        f"{result['pipeline_per_second']} FA(3) invoices/s end to end (accepted by the local KSeF with its UPO → "
        f"conserved, {result['customers']} customers, {args.concurrency} in flight, {result['invoices']} "
        f"invoices) = {result['ratio']}× the floor's {result['floor_per_second']}/s of the same shape "
        f"({INVOICE_ACTIVITIES} + {CONSERVATION_ACTIVITIES} no-op activities){missed}; CPU "
        f"per invoice {result['cpu_ms_per_item_total']['pipeline']} ms vs "
        f"{result['cpu_ms_per_item_total']['floor']} ms")}


@benchmark("cost")
async def bench_cost(args: argparse.Namespace) -> dict[str, Any]:
    """History events and Temporal Cloud actions of one invoice (with its conservation), RC and DT paths."""
    from bench.pipeline import floor_shape_cost, invoice_cost
    from bench.stack import embedded_stack, invoice

    goal_events, goal_actions = 41, 12
    with tempfile.TemporaryDirectory() as tmp:
        # The RC comes 1 s after the transmission, as a real SDI's (minutes later): after the workflow has taken
        # in the transmission's result, not in the same workflow task (which would save one task, by luck).
        async with await dev_server(tmp) as env, embedded_stack(Path(tmp), env, sim_delay=1.0,
                                                                dt_delay=2.0) as stack:
            # The invoice's last workflow task takes in the child's start and the outcome activity's completion
            # together or one after the other, as they happen to come: 3 events of difference, so a few.
            rcs = [await invoice_cost(stack, invoice(f"COST-RC-{i}"), f"cost-rc-{i}.xml") for i in range(1, 6)]
            dt = await invoice_cost(stack, invoice("COST-DT-1", code="PADT00", pa=True), "cost-dt.xml")
            floor = await floor_shape_cost(env.client)
    rc = max(rcs, key=lambda r: (r["total_events"], r["total_actions"]))
    seen = sorted({r["total_events"] for r in rcs})
    span = f"{seen[0]}–{seen[-1]}" if len(seen) > 1 else str(seen[0])
    met = rc["total_events"] <= goal_events and rc["total_actions"] <= goal_actions
    return {"rc_path": rc, "rc_path_events_seen": [r["total_events"] for r in rcs],
            "rc_path_actions_seen": [r["total_actions"] for r in rcs], "dt_path": dt, "floor_same_shape": floor,
            "goal_rc": {"events": goal_events, "actions": goal_actions, "met": met},
            "summary": (f"RC path {span} events, {rc['total_actions']} actions (worst: invoice "
                        f"{rc['invoice_workflow']['events']}/{rc['invoice_workflow']['actions']} + conservation "
                        f"{rc['conservation_workflow']['events']}/{rc['conservation_workflow']['actions']}; goal "
                        f"≤ {goal_events}/{goal_actions}: {'met' if met else 'events missed'}; the same shape bare: "
                        f"{floor['total_events']}/{floor['total_actions']}); DT path {dt['total_events']} events, "
                        f"{dt['total_actions']} actions")}


@benchmark("conservation")
async def bench_conservation(args: argparse.Namespace) -> dict[str, Any]:
    """A package through ArchiveActivities (stored, read back, recorded) against raw put_object, in MB/s."""
    from bench.conservation import run

    return await asyncio.to_thread(run, log=lambda line: print(line, flush=True))


@benchmark("auth")
async def bench_auth(args: argparse.Namespace) -> dict[str, Any]:
    """Authentication + permission check + audit against the same routes with the guard off (median ratio)."""
    from bench.auth import run

    return await asyncio.to_thread(run, log=lambda line: print(line, flush=True))


@benchmark("tls")
async def bench_tls(args: argparse.Namespace) -> dict[str, Any]:
    """The mutual-TLS handshake per new connection, and the certificate check per request (bench/tls.py)."""
    from bench.tls import run

    return await asyncio.to_thread(run, log=lambda line: print(line, flush=True))


@benchmark("sync")
async def bench_sync(args: argparse.Namespace) -> dict[str, Any]:
    """The sync client's apply rate against a bulk insert, a 100,000-change catch-up, the feed's page latency
    at 10k/100k/1M entries on PostgreSQL (bench/sync.py; --quick: 20k applied, up to 100k entries)."""
    from bench.sync import run

    return await asyncio.to_thread(run, quick=args.quick, log=lambda line: print(line, flush=True))


@benchmark("load")
async def bench_load(args: argparse.Namespace) -> dict[str, Any]:
    """N customers at once sending invoices and requesting certificates over HTTP to `einvoice dev up`."""
    from bench.load import LoadConfig, run_load

    config = LoadConfig(customers=args.customers, duration=args.duration, max_invoices=args.max_invoices,
                        in_flight=args.in_flight, cert_interval=args.cert_interval)
    return await run_load(config, log=lambda line: print(line, flush=True))


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cores": os.cpu_count(), "platform": platform.platform()}


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": machine(), **data}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def render_table() -> str:
    rows = ["| benchmark | result | measured |", "|---|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        rows.append(f"| `{data['benchmark']}` | {data.get('summary', '')} | {data['measured_at'][:10]} |")
    return "\n".join(rows)


def update_readme() -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{start}\n{render_table()}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--count", type=int, default=200, help="workflows per throughput run")
    parser.add_argument("--concurrency", type=int, default=50, help="workflows in flight at once")
    parser.add_argument("--scale", default="1000,10000,100000", help="open-workflow counts for `scale`")
    parser.add_argument("--customers", type=int, default=10, help="customers at once for `load`")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of sending for `load`")
    parser.add_argument("--max-invoices", type=int, default=5000, help="upload cap for `load`")
    parser.add_argument("--in-flight", type=int, default=2, help="invoices a `load` customer awaits at once")
    parser.add_argument("--cert-interval", type=float, default=30.0,
                        help="seconds between a `load` customer's certificate requests")
    parser.add_argument("--quick", action="store_true", help="`sync`: smaller sizes (no 1M-entry feed)")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in names:
        print(f"== {name}", flush=True)
        data = asyncio.run(BENCHMARKS[name](args))
        path = write_result(name, data)
        print(f"   {data.get('summary', '')}\n   -> {path.relative_to(HERE.parent)}", flush=True)
    update_readme()
    return 0


if __name__ == "__main__":
    sys.exit(main())
