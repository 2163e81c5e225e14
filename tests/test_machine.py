"""The one-line machine description a run records."""

from __future__ import annotations

from adaswitch.evaluation.machine import cpu_model, describe_machine

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_bf16
"""


def test_the_description_names_the_cpu_its_count_and_the_simd_features_that_set_speed(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO)
    assert describe_machine(info, cpus=2) == "AMD EPYC 9R14 96-Core Processor, 2 CPUs, avx2, avx512f, avx512_bf16"
    assert describe_machine(info, cpus=1).endswith("1 CPU, avx2, avx512f, avx512_bf16")


def test_without_cpuinfo_the_platform_names_the_cpu(tmp_path):
    missing = tmp_path / "none"
    assert cpu_model(missing)  # the platform's processor or architecture, never empty
    assert describe_machine(missing, cpus=4).endswith(", 4 CPUs")
