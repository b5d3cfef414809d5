"""`make bench`: the seven benchmarks one after another, then one table; the table also replaces the
results section of bench/README.md (with the date, the commit, the scale and the load average).

    .venv/bin/python bench/run_all.py [--quick] [--only send,click,plan,hotlist,import,faults,pages] [--no-record]

BENCH_SCALE (default 1) shrinks every data set; --quick is BENCH_SCALE=0.05. BENCH_DATABASE_URL
(default postgresql+psycopg://postgres@127.0.0.1:5432/test) is the PostgreSQL; each benchmark
works in a schema of its own and drops it. Redis: a private server per benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
BENCHMARKS = {
    "send": "send_bench.py",
    "click": "click_bench.py",
    "plan": "plan_bench.py",
    "hotlist": "hotlist_figure.py",
    "import": "import_figure.py",
    "faults": "faults_bench.py",
    "pages": "pages_bench.py",
}
# The pages benchmark keeps its loaded million contacts (database bench_pages) for the next run.
EXTRA_ARGS = {"pages": ["--reuse"]}
COLUMNS = ("benchmark", "measured", "ceiling", "ratio", "target", "met")


def run(name: str, script: str, quick: bool) -> dict:
    print(f"\n=== {name}: bench/{script}", flush=True)
    started = time.monotonic()
    args = [*(["--quick"] if quick else []), *EXTRA_ARGS.get(name, [])]
    proc = subprocess.Popen(
        [sys.executable, str(HERE / script), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    result = None
    for line in proc.stdout:
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line[len("BENCH_RESULT ") :])
        else:
            print(line, end="", flush=True)
    code = proc.wait()
    elapsed = time.monotonic() - started
    print(f"=== {name}: {elapsed:.0f} s", flush=True)
    if code or result is None:
        return {
            "name": name,
            "measured": f"failed (exit {code}; see the output above)",
            "ceiling": "—",
            "ratio_text": "—",
            "target": "—",
            "met": False,
            "error": True,
        }
    return result


def table(results: list[dict]) -> str:
    rows = [COLUMNS] + [
        (r["name"], r["measured"], r["ceiling"], r["ratio_text"], r["target"], "met" if r["met"] else "**missed**")
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def record(text: str) -> None:
    readme = README.read_text() if README.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in readme:
        readme += f"\n{START}\n{END}\n"
    before, rest = readme.split(START, 1)
    after = rest.split(END, 1)[1] if END in rest else ""
    README.write_text(f"{before}{START}\n{text}\n{END}{after}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (BENCH_SCALE=0.05)")
    parser.add_argument("--only", default="", help="a comma-separated subset of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--no-record", action="store_true", help="do not write the results into bench/README.md")
    args = parser.parse_args()
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"--only: unknown benchmark {', '.join(unknown)} (choose from {', '.join(BENCHMARKS)})")

    scale = "0.05 (--quick)" if args.quick else (os.environ.get("BENCH_SCALE") or "1")
    load_before = os.getloadavg()
    started = datetime.now(UTC)
    results = [run(name, BENCHMARKS[name], args.quick) for name in chosen]
    load_after = os.getloadavg()
    minutes = (datetime.now(UTC) - started).total_seconds() / 60

    header = (
        f"{started:%Y-%m-%d %H:%M} UTC, commit {commit()}, BENCH_SCALE={scale}, {os.cpu_count()} cores, "
        f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after, {minutes:.0f} min"
    )
    text = f"{header}\n\n{table(results)}"
    print("\n" + text)
    if not args.no_record and chosen == list(BENCHMARKS):
        record(text)
        print(f"\n(recorded in {README.relative_to(ROOT)})")
    return 1 if any(r.get("error") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
