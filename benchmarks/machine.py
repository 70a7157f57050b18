"""One line describing the machine a benchmark ran on (shared by the benchmark scripts)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine():
    """One line describing the machine (CPU model, cores, Python)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
