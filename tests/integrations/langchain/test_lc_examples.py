"""The examples and the notebook run, and show what they claim."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("langchain_*.py"))


def run_example(path: Path, *args: str, tmp_path: Path) -> str:
    env = {**os.environ, "MPLBACKEND": "Agg", "HEADROOM_CCR_DIR": str(tmp_path / "ccr")}
    done = subprocess.run(
        [sys.executable, str(path), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_there_are_three_examples():
    assert {p.name for p in EXAMPLES} == {
        "langchain_lcel.py",
        "langchain_agent.py",
        "langchain_rag_budget.py",
    }


def test_lcel_example(tmp_path):
    out = run_example(ROOT / "examples" / "langchain_lcel.py", tmp_path=tmp_path)
    assert "tokens saved in the run" in out and "% saved" in out


def test_agent_example_writes_a_chart(tmp_path):
    chart = tmp_path / "savings.png"
    out = run_example(ROOT / "examples" / "langchain_agent.py", "--chart", str(chart), tmp_path=tmp_path)
    assert "retrieved through headroom_retrieve" in out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    retrieved = out.split("retrieved through headroom_retrieve: ", 1)[1].splitlines()[0]
    assert len(json.loads(retrieved)) == 1


def test_rag_example(tmp_path):
    out = run_example(ROOT / "examples" / "langchain_rag_budget.py", tmp_path=tmp_path)
    fitted = int(out.split("in budget: ")[1].split(" documents, ")[1].split(" tokens")[0].replace(",", ""))
    assert fitted <= 600


@pytest.mark.notebook
@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # A kernelspec named python3 that runs *this* interpreter (the venv), found first.
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (headroom venv)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("HEADROOM_CCR_DIR", str(tmp_path / "ccr"))
    notebook = nbformat.read(ROOT / "notebooks" / "langchain.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the savings chart is missing"
    text = "".join(o.get("text", "") for o in outputs)
    assert "agent, 2nd request" in text and "saved" in text
