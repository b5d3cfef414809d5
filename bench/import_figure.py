"""The import for the table: runs bench/import_bench.py (100,000 CSV rows through the real import
path, then PostgreSQL COPY of the same rows; it makes and drops its own schema) and reads its figures.

    .venv/bin/python bench/import_figure.py [--quick]     # BENCH_SCALE=0.1: 10,000 rows
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import harness

FULL_ROWS = 100_000
TARGET = 10.0  # issue #15: the import within 10× of a bare COPY


def main() -> int:
    rows = max(1000, int(FULL_ROWS * harness.scale()))
    print(f"import: {rows:,} CSV rows (bench/import_bench.py)", flush=True)
    proc = subprocess.Popen(
        [harness.PYTHON, str(harness.ROOT / "bench" / "import_bench.py"), str(rows)],
        env={**os.environ, "BENCH_DATABASE_URL": harness.base_url()},
        cwd=harness.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in proc.stdout:
        print("  " + line, end="", flush=True)
        lines.append(line)
    if proc.wait():
        sys.exit(f"bench/import_bench.py exited with {proc.returncode}")
    out = "".join(lines)
    ours = re.search(r"^import:.*? in ([\d.]+) s = ([\d,]+) rows/s", out, re.M)
    floor = re.search(r"^COPY:.*? in ([\d.]+) s = ([\d,]+) rows/s", out, re.M)
    if not (ours and floor):
        sys.exit("could not read the import and COPY times from bench/import_bench.py's output")
    ours_s, floor_s = float(ours.group(1)), float(floor.group(1))
    # From the rates: the seconds are rounded to 0.01, too coarse for COPY of a small file.
    ratio = float(floor.group(2).replace(",", "")) / float(ours.group(2).replace(",", ""))
    harness.emit(
        "5. import",
        measured=f"{ours.group(2)} rows/s ({rows:,} rows in {ours_s:.1f} s)",
        ceiling=f"{floor.group(2)} rows/s (COPY, {floor_s:.2f} s)",
        ratio=round(ratio, 2),
        ratio_text=f"{ratio:.1f}×",
        target=f"≤ {TARGET:.0f}×",
        met=ratio <= TARGET,
        rows=rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
