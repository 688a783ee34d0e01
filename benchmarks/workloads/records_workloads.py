"""Record text workloads (issue 11): `Key: value` stanzas and `key = value` dumps.

All inputs are real, generated on a Debian 12 container and kept in tests/fixtures/
(see CORPUS_README.md): `apt-cache show` of 80 installed packages, `sysctl -a`, and
`pip show -v` of three packages.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks._harness import Workload, tool_conversation

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _stanza(text: str, package: str) -> str:
    return next(b for b in text.split("\n\n") if b.startswith(f"Package: {package}\n"))


def workloads() -> list[Workload]:
    apt = _read("apt_cache_show_80_installed_debian12.txt")
    cscope = _stanza(apt, "cscope")
    sysctl = _read("sysctl_a_container.txt")
    return [
        Workload(
            issue=11,
            name="apt-cache show, 96 stanzas, one package asked about",
            messages=tool_conversation(
                "What does cscope depend on, and how big is it?",
                "run_shell",
                apt,
                {"command": "apt-cache show $(dpkg-query -W -f '${Package} ' | head -80)"},
            ),
            target_saved=0.80,
            needles=[line for line in cscope.split("\n") if line.startswith(("Depends:", "Installed-Size:"))],
            query="What does cscope depend on, and how big is it?",
            source="real: apt_cache_show_80_installed_debian12.txt",
        ),
        Workload(
            issue=11,
            name="sysctl -a, 1,304 key = value lines",
            messages=tool_conversation(
                "What is tcp_syn_retries set to?", "run_shell", sysctl, {"command": "sysctl -a"}
            ),
            target_saved=0.90,
            needles=["net.ipv4.tcp_syn_retries = 6"],
            query="What is tcp_syn_retries set to?",
            source="real: sysctl_a_container.txt",
        ),
    ]
