"""The team's runbooks in ../shared/seeds, when the checkout sits next to them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
SEED_FILES = sorted(SEEDS.glob("0*.txt")) if SEEDS.is_dir() else []
needs_seeds = pytest.mark.skipif(not SEED_FILES, reason="../shared/seeds is not here")


def seed_texts() -> Iterator[tuple[str, str]]:
    for path in SEED_FILES:
        yield path.name, path.read_text(encoding="utf-8")
