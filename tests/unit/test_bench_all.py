"""What ``make bench`` runs (each benchmark's command, ports and quick arguments), how a failed one's
output is shown, and the machine a run records."""

from pathlib import Path

import pytest

from tutorbook_devstack.bench_all import Outputs, output_tail, planned_benchmarks, selected
from tutorbook_devstack.bench_machine import cpu_flags, cpu_model, memory_gib


def test_what_bench_all_runs(tmp_path: Path) -> None:
    outputs = Outputs(tmp_path / "bench", tmp_path / "images", tmp_path / "benchmarks.md")
    full = {b.name: b for b in planned_benchmarks(outputs, quick=False, retrieval_data=Path("emanual-qa"))}
    assert list(full) == ["gateway", "cache", "router", "retrieval", "adapter", "tutor", "load"]
    memory_plot, figures = tmp_path / "images" / "bench-load-rag-memory.png", tmp_path / "bench" / "load-rag.json"
    assert full["load"].command[1:] == [
        "-m", "tutorbook_devstack.load", "--mix", "rag", "--plot", str(memory_plot),
        "--levels", "1,8,32", "--seconds", "60", "--json", str(figures),
    ]  # fmt: skip
    assert full["gateway"].command[1:] == [
        "-m",
        "tutorbook_devstack.bench_gateway",
        "--json",
        str(outputs.json("gateway")),
    ]
    assert {b.ports for b in full.values()} >= {"18000-18003, 18379", "18100-18102, 18479", "18300-18303"}
    quick = {b.name: b for b in planned_benchmarks(outputs, quick=True, retrieval_data=Path("emanual-qa"))}
    assert "--requests" in quick["gateway"].command and "--rounds" in quick["adapter"].command
    assert quick["retrieval"].command[3:5] == ["--data", "emanual-qa"] and "--sizes" in quick["retrieval"].command
    assert selected("load, router") == ["load", "router"] and selected(None)[0] == "gateway"
    with pytest.raises(ValueError, match="unknown benchmark"):
        selected("gateway,speed")


def test_how_a_failed_benchmark_s_output_ended() -> None:
    raw = b"starting\nindex 1000:  10%\rindex 1000: 100%\n\nTraceback\nValueError: bad\n"
    assert output_tail(raw) == "starting\nindex 1000: 100%\nTraceback\nValueError: bad"
    assert output_tail(raw, lines=2) == "Traceback\nValueError: bad"


def test_the_machine_read_from_proc() -> None:
    assert cpu_model("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    assert cpu_model("processor\t: 0\n") is None
    flags = "flags\t\t: fpu avx2 avx512f avx512_vnni avx512bw\n"
    assert cpu_flags(f"model name\t: Intel(R) Xeon(R) Processor @ 2.80GHz\n{flags}") == [
        "avx2",
        "avx512f",
        "avx512_vnni",
    ]
    assert cpu_flags("flags\t\t: avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")[-3:] == [
        "avx512_bf16",
        "amx_tile",
        "amx_bf16",
    ]
    assert cpu_flags("") == []
    assert memory_gib("MemTotal:       24576000 kB\nMemFree: 1 kB\n") == pytest.approx(23.4375)
