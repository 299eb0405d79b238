"""State store speed and memory at 100,000 links.

    python bench/state_store.py [--links 100000] [--dir DIR]

Each phase runs in a fresh process so its peak RSS is its own:
- `put`: put_links of N new links in one call (one transaction); the N input records are
  built before timing and count in its RSS;
- `reput`: the same N links again with changed values, the update path a sync takes;
- `open`: open the store and count the links, the baseline RSS;
- `iter`: iter_links over all N; its RSS above `open`'s is what streaming costs;
- `put-gen`: put_links from a generator into a second file, generation included in the
  time; its RSS shows the input is consumed as it comes, never listed.
Prints wall and CPU seconds (CPU is steadier on a busy machine; the gap is mostly fsync and
waiting for a core) and peak RSS per phase. The files go in a fresh folder under DIR
(default: the system's temp folder), removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from syncmap.runtime.state import Link, open_state

PAIR = "persons"


def links(count: int, generation: int) -> Iterator[Link]:
    for i in range(count):
        left = {"first_name": f"First{i}", "last_name": f"Last{i}", "email": f"person{i}@example.com", "gen": generation}
        right = {"FirstName": f"First{i}", "LastName": f"Last{i}", "Email": f"person{i}@example.com"}
        yield Link(PAIR, str(100_000 + i), f"person_{i:08x}", left, right, 1_700_000_000.0 + i)


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def phase(name: str, path: str, count: int) -> dict:
    store = open_state(path)
    # The input is built before the clock starts: the figure is the store's, not the generator's.
    batch = list(links(count, 1 if name == "put" else 2)) if name in ("put", "reput") else []
    started, cpu_started = time.perf_counter(), time.process_time()
    if batch:
        store.put_links(batch)
    elif name == "put-gen":
        store.put_links(links(count, 1))
    elif name == "iter":
        seen = sum(1 for _ in store.iter_links(PAIR))
        assert seen == count, (seen, count)
    elif name == "open":
        assert store.count_links(PAIR) == count
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    store.close()
    return {"phase": name, "seconds": round(seconds, 3), "cpu": round(cpu, 3), "peak_rss_mb": round(peak_rss_mb(), 1)}


def run_phase(name: str, path: Path, count: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--path", str(path), "--links", str(count)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=100_000)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--phase", choices=["open", "put", "reput", "iter", "put-gen"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.path, args.links)))
        return
    folder = Path(tempfile.mkdtemp(prefix="syncmap-bench-", dir=args.dir))
    try:
        path = folder / "state.db"
        print(f"{args.links:,} links in {path} (synchronous=FULL, WAL)")
        results = [run_phase(name, path, args.links) for name in ("put", "reput", "open", "iter")]
        results.append(run_phase("put-gen", folder / "second.db", args.links))
        for result in results:
            rate = args.links / result["seconds"] if result["phase"] != "open" and result["seconds"] else None
            per_second = f"{rate:>10,.0f} links/s" if rate else " " * 17
            print(
                f"  {result['phase']:<7} {result['seconds']:>7.3f} s (CPU {result['cpu']:.3f} s) {per_second}   peak RSS {result['peak_rss_mb']:>6.1f} MB"
            )
        base = next(r for r in results if r["phase"] == "open")["peak_rss_mb"]
        streamed = next(r for r in results if r["phase"] == "iter")["peak_rss_mb"]
        print(f"  iter_links costs {streamed - base:.1f} MB above an open store ({base:.1f} MB)")
        print(f"  file size {path.stat().st_size / 1024 / 1024:.1f} MB (after checkpoint on close)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
