"""Parse time of the team's runbooks and of generated runbooks up to 1 MB.

    .venv/bin/python bench/runbooks.py [--repeat 5]

Prints a Markdown table: the five seeds (when ../shared/seeds exists), the 24 public runbooks
of ../shared/runbooks-corpus (when it exists; one row for all of them, and the corpus
concatenated up to 256 KB and 1 MB), and generated runbooks of 64 KB to 1 MB built from the
shipped sample's shapes (scenarios with bold pseudo-headings, branches, nested lists, code in
list items, tables). Time per KB should stay flat as the size grows: parsing is linear.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbooks.parser import parse_runbook  # noqa: E402

SEEDS = ROOT.parent / "shared" / "seeds"
CORPUS = ROOT.parent / "shared" / "runbooks-corpus"

SCENARIO = """
### {n}. Queue {n} backing up (P{sev})

**Symptoms:**
- Jobs in queue `q{n}` wait more than {n} minutes
- Alert `QueueLag{n}` fires

**Diagnosis:**
1. Check the depth:
   ```bash
   redis-cli -n {n} llen q{n}
   ```
2. Check the workers:
   - `kubectl get pods -l queue=q{n}`
   - compare with [the dashboard](https://grafana.example.internal/d/q{n})

**Resolution:**

**If workers crashed**:
1. Restart them: `kubectl rollout restart deploy/worker-{n}`
2. Watch the depth fall for ten minutes.

**If producers spike**:
1. Rate-limit the producer at the gateway.

| Metric | Normal | Alert |
|--------|--------|-------|
| depth q{n} | < 100 | > {n}000 |
"""


def generated(size: int) -> str:
    parts = ["# Generated runbook\n\n## Critical incidents (P0)\n"]
    total = len(parts[0])
    n = 0
    while total < size:
        chunk = SCENARIO.format(n=n, sev=n % 4)
        parts.append(chunk)
        total += len(chunk.encode())
        n += 1
    return "".join(parts)


def timed(text: str, repeat: int) -> tuple[float, float, dict]:
    """Median wall and CPU seconds of parsing the text (CPU time is what to compare on a
    shared machine: other processes stretch the wall clock, not this one's CPU time)."""
    times, cpu = [], []
    tree: dict = {}
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        tree, _ = parse_runbook(text)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu), tree


def count(tree: dict, kind: str) -> int:
    def visit(node: dict) -> int:
        return (node["kind"] == kind) + sum(visit(c) for c in node["children"])

    return visit(tree)


def corpus_row(
    name: str, texts: list[str], repeat: int
) -> tuple[str, int, float, float, int, int]:
    seconds = cpu = 0.0
    scenarios = procedures = 0
    for text in texts:
        elapsed, elapsed_cpu, tree = timed(text, repeat)
        seconds += elapsed
        cpu += elapsed_cpu
        scenarios += count(tree, "scenario")
        procedures += count(tree, "procedure")
    return name, sum(len(t.encode()) for t in texts), seconds, cpu, scenarios, procedures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    inputs: list[tuple[str, str]] = []
    if SEEDS.is_dir():
        inputs += [
            (p.name[:3] + " (seed)", p.read_text(encoding="utf-8"))
            for p in sorted(SEEDS.glob("0*.txt"))
        ]
    corpus = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("[0-9][0-9]-*.md"))]
    if corpus:
        inputs += [(f"corpus, {len(corpus)} files one by one", "")]
        for kb in (256, 1024):
            parts, total = [], 0
            while total < kb * 1024:
                for text in corpus:
                    parts.append(text)
                    total += len(text.encode())
            inputs.append((f"corpus concatenated {kb} KB", "\n\n".join(parts)))
    inputs += [(f"generated {kb} KB", generated(kb * 1024)) for kb in (64, 128, 256, 512, 1024)]
    seeds_total = 0.0
    for name, text in inputs:
        if name.startswith("corpus,"):
            rows.append(corpus_row(name, corpus, args.repeat))
            continue
        seconds, cpu, tree = timed(text, args.repeat)
        if name.endswith("(seed)"):
            seeds_total += seconds
        size = len(text.encode())
        rows.append(
            (name, size, seconds, cpu, count(tree, "scenario"), count(tree, "procedure"))
        )
    print("| input | bytes | median ms | CPU ms | CPU ms per 100 KB | scenarios | procedures |")
    print("|---|---|---|---|---|---|---|")
    for name, size, seconds, cpu, scenarios, procedures in rows:
        per = cpu * 1000 / (size / 102_400)
        print(
            f"| {name} | {size:,} | {seconds * 1000:.1f} | {cpu * 1000:.1f} | {per:.1f} "
            f"| {scenarios} | {procedures} |"
        )
    if seeds_total:
        print(f"\nAll five seeds: {seeds_total * 1000:.1f} ms in total (median runs).")


if __name__ == "__main__":
    main()
