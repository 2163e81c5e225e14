"""Which machine solved a run's questions, in one line, so that wall times are read against it.

The same run can be resumed on another machine (a session on another host, a CPU without the SIMD
features of the first): its wall time and, through the kernels llama.cpp picks, the last digits of
its log-probabilities then mix two machines. A run's ``config.json`` keeps every machine that
solved some of its questions (:attr:`adaswitch.grading.records.RunConfig.machines`).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from adaswitch.backends.llama_server_build import read_cpu_field, read_cpu_flags

# the SIMD features that decide which llama.cpp kernels run, hence speed
SIMD_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first CPU's model name from ``/proc/cpuinfo``, else the platform's processor string."""
    return read_cpu_field("model name", cpuinfo) or platform.processor() or platform.machine() or "unknown CPU"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def describe_machine(cpuinfo: Path = Path("/proc/cpuinfo"), cpus: int | None = None) -> str:
    """``"AMD EPYC, 2 CPUs, avx2"``: the CPU model, the CPUs this process may use, its SIMD features."""
    count = cpus if cpus is not None else usable_cpus()
    flags = read_cpu_flags(cpuinfo)
    simd = [flag for flag in SIMD_FLAGS if flag in flags]
    return ", ".join([cpu_model(cpuinfo), f"{count} CPU{'s' if count != 1 else ''}", *simd])
