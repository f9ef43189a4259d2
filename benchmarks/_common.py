"""Shared benchmark plumbing: machine description and JSON + Markdown output."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": _dt.date.today().isoformat(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_1min": round(os.getloadavg()[0], 2),  # other jobs on the machine inflate times
    }


def write_results(out_dir: Path, name: str, payload: dict, table: list[dict]) -> Path:
    """Write NAME.json (everything) and NAME.md (a table for the README)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    columns = list(table[0])
    lines = [
        f"Measured {payload['machine']['date']} on {payload['machine']['cpu']} "
        f"({payload['machine']['cores']} cores), torch {payload['machine']['torch']}, "
        f"load average {payload['machine'].get('load_average_1min', 'n/a')}."
        + (f" Command: `{payload['command']}`." if payload.get("command") else ""),
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in table]
    md = out_dir / f"{name}.md"
    md.write_text("\n".join(lines) + "\n")
    return md
