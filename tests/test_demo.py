"""`make demo` runs examples/demo.py: it must compress and complete a CCR round trip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_and_round_trips(tmp_path):
    env = {**os.environ, "HEADROOM_CCR_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "dropped row fetched back exactly: True" in out.stdout
    assert "full original byte-identical: True" in out.stdout


def test_demo_data_is_reproducible(tmp_path):
    import json

    from examples.data import make_demo_conversation as gen

    assert gen.conversation() == json.loads((ROOT / "examples/data/agent_conversation.json").read_text())
