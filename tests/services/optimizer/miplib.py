"""Classic netlib and MIPLIB instances (Debian's coinor-libcoinutils-dev) with their published optima."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path("/usr/share/coin/Data/Sample")
PUBLISHED = {
    "afiro": -464.7531,
    "brandy": 1518.5099,
    "finnis": 172791.0656,
    "p0033": 3089.0,
    "p0201": 7615.0,
    "p0548": 8691.0,
    "lseu": 1120.0,
}
