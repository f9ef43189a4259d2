"""Who wrote a JSON output: the one spelling of the GeneratedBy provenance every command writes (torch-free).

Result files (metrics.json, results.json, diagnosis.json) and synthesis sidecars carry one `GeneratedBy`
object; a BIDS derivative's dataset_description.json carries the BIDS list form, where the command goes in
"Description" (BIDS 1.9 has no "Command" key) and `pds prepare` adds its command line and options.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from pds_mri import __version__

TOOL_NAME = "pds-mri"


class GeneratedBy(BaseModel):
    """The GeneratedBy object of a result file or sidecar, as `generated_by` writes it."""

    model_config = ConfigDict(extra="allow")

    Name: str
    Version: str
    Command: str


def generated_by(command: str) -> dict[str, str]:
    """{"Name": "pds-mri", "Version": ..., "Command": command}: a result file's or sidecar's GeneratedBy."""
    return {"Name": TOOL_NAME, "Version": __version__, "Command": command}


def dataset_generated_by(command: str, *, name: str = TOOL_NAME, **details: Any) -> list[dict[str, Any]]:
    """dataset_description.json's BIDS GeneratedBy list: this tool, its version, the command (+ `details`).

    `name`: the generator's name (`pds simulate` writes its own, by which it recognises its datasets)."""
    return [{"Name": name, "Version": __version__, "Description": command, **details}]
