"""What the reading review and the section index add to a runbook, up to 1 MB.

    .venv/bin/python bench/reading_review.py [--repeat 3]

For the seeds (when ../shared/seeds exists) and generated runbooks of 64 KB to 1 MB (the
shapes of bench/runbooks.py): the section index rows an import writes (`section_rows`: anchor
paths, each section's step count and search text), re-applying corrections (`anchor_paths`)
and the reading review's sections with every unit's checklist rendered (`review_sections`).
No database: the rows are built, not saved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from bench.runbooks import SEEDS, generated  # noqa: E402
from runbooks import corrections  # noqa: E402
from runbooks.parser import parse_runbook  # noqa: E402
from runbooks.reading import review_sections  # noqa: E402


def median_ms(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    inputs = [(f"{p.stem} (seed)", p.read_text()) for p in sorted(SEEDS.glob("0*.txt"))]
    inputs += [(f"generated {kb} KB", generated(kb * 1024)) for kb in (64, 256, 1024)]
    print("| input | sections | index rows ms | anchor paths ms | reading review ms |")
    print("|---|---|---|---|---|")
    for name, text in inputs:
        tree, _ = parse_runbook(text)
        sections = sum(1 for _ in corrections.walk(tree))
        rows = median_ms(lambda t=tree: corrections.section_rows(None, t), args.repeat)
        paths = median_ms(lambda t=tree: corrections.anchor_paths(t), args.repeat)
        review = median_ms(lambda t=tree: review_sections(t), args.repeat)
        print(f"| {name} | {sections:,} | {rows:.1f} | {paths:.1f} | {review:.1f} |")


if __name__ == "__main__":
    main()
