"""The "Resources" row: CPU and memory of the server processes, per pod and per version."""

from __future__ import annotations

from typing import Any

from conveyor.deploy.dashboard.panel import ON_SELECTED, RATE, SEL, panel


def resource_panels() -> list[dict[str, Any]]:
    """CPU and memory of the server processes, per pod and per loaded version (what the HPA
    scales on)."""
    version_of = f"group by (instance, version) (conveyor_model_info{{{SEL}}} == 1)"
    return [
        panel(
            "timeseries",
            "CPU per server process",
            "CPU seconds per second of each server process (1 = one core).",
            [(f"rate(process_cpu_seconds_total[{RATE}]) {ON_SELECTED}", "{{instance}}")],
            size=(12, 8),
        ),
        panel(
            "timeseries",
            "Memory per server process",
            "Resident memory of each server process; a rollout holds two versions loaded.",
            [(f"process_resident_memory_bytes {ON_SELECTED}", "{{instance}}")],
            unit="bytes",
            size=(12, 8),
        ),
        panel(
            "timeseries",
            "CPU by version",
            "CPU of the processes serving each version, summed.",
            [
                (
                    f"sum by (version) (rate(process_cpu_seconds_total[{RATE}]) "
                    f"* on (instance) group_left (version) {version_of})",
                    "version {{version}}",
                )
            ],
            size=(12, 8),
        ),
        panel(
            "timeseries",
            "Memory by version",
            "Resident memory of the processes serving each version, summed.",
            [
                (
                    f"sum by (version) (process_resident_memory_bytes "
                    f"* on (instance) group_left (version) {version_of})",
                    "version {{version}}",
                )
            ],
            unit="bytes",
            size=(12, 8),
        ),
    ]
