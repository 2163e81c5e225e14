"""The command line on the fake backend: options, environment variables, output, JSON traces."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from adaswitch.cli import _register, cli
from adaswitch.trace import Trace

LOCAL = {
    "rules": [
        {"match": "Thought 1:$", "text": " Add.\nAction 1: calculate[3 + 4]"},
        {"match": "Thought 2:$", "text": " Done.\nAction 2: finish[7]"},
    ],
    "probe_rules": [
        {"match": "step 1\\b", "probs": {"Yes": 0.2, "No": 0.8}},
        {"match": "step 2\\b", "probs": {"Yes": 0.9, "No": 0.1}},
    ],
}
CLOUD = {"rules": [{"match": "Thought 1:$", "text": " Sum.\nAction 1: calculate[4 + 3]"}]}


def scripts(tmp_path):
    local, cloud = tmp_path / "local.json", tmp_path / "cloud.json"
    local.write_text(json.dumps(LOCAL))
    cloud.write_text(json.dumps(CLOUD))
    return f"fake:{local}", f"fake:{cloud}"


def run(args, env=None):
    _register()
    return CliRunner().invoke(cli, args, env=env or {}, catch_exceptions=False)


def test_solve_shows_each_step_its_author_and_probability(tmp_path):
    local, cloud = scripts(tmp_path)
    result = run(["solve", "Ann has 3 apples and buys 4. How many?", "--local", local, "--cloud", cloud, "-t", "0.5"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "[cloud] p(error)=0.80" in out and "[local] p(error)=0.10" in out
    assert "replaced local proposal" in out
    assert "Answer: 7" in out and "Cloud:" in out and "Local:" in out


def test_environment_variables_set_the_options(tmp_path):
    local, cloud = scripts(tmp_path)
    env = {"ADASWITCH_LOCAL": local, "ADASWITCH_CLOUD": cloud, "ADASWITCH_THRESHOLD": "0.9", "ADASWITCH_JSON": "1"}
    result = run(["solve", "Ann has 3 apples and buys 4. How many?"], env=env)
    trace = Trace.from_json(result.output)
    assert trace.threshold == 0.9 and [s.author for s in trace.steps] == ["local", "local"]


def test_json_output_file_and_local_mode(tmp_path):
    local, _ = scripts(tmp_path)
    out = tmp_path / "trace.json"
    result = run(["solve", "Q?", "--local", local, "--mode", "local", "-o", str(out)])
    assert result.exit_code == 0
    trace = Trace.from_json(out.read_text())
    assert trace.mode == "local" and trace.cloud_model is None and trace.answer == "7"


def test_qa_needs_a_context_file_and_bad_models_are_clear_errors(tmp_path):
    local, _ = scripts(tmp_path)
    result = CliRunner().invoke(cli, ["solve", "Who?", "--family", "qa", "--local", local, "--mode", "local"])
    assert result.exit_code != 0 and "--context" in result.output
    result = CliRunner().invoke(cli, ["solve", "Q?", "--local", "llama:no-such-model", "--mode", "local"])
    assert result.exit_code != 0 and "no-such-model" in result.output


def test_import_is_light():
    code = "import sys, adaswitch; print(any(m in sys.modules for m in ('llama_cpp', 'openai', 'fastapi', 'torch', 'transformers', 'trl', 'peft', 'datasets', 'bm25s')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _one_line_error(result) -> str:
    assert result.exit_code != 0 and result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.output


def test_eval_and_sweep_errors_are_one_line_and_come_before_any_model_loads(tmp_path):
    missing_model = str(tmp_path / "absent.gguf")  # would fail to load, so an error about it means models loaded
    out = str(tmp_path / "run")
    runner = CliRunner()
    unknown = runner.invoke(cli, ["eval", "no-such-bench", "--out", out, "--local", missing_model, "--mode", "local"])
    assert "unknown benchmark 'no-such-bench'" in _one_line_error(unknown)
    no_data = runner.invoke(cli, ["eval", "gsm8k", "--out", out, "--local", missing_model, "--mode", "local"],
                            env={"ADASWITCH_DATA_DIR": str(tmp_path / "nodata")})
    assert "absent.gguf" not in _one_line_error(no_data) and "nodata" in no_data.output
    methods = runner.invoke(cli, ["sweep", "gsm8k", "--out", out, "--methods", "local,oracle", "--local", missing_model])
    assert "unknown methods oracle" in _one_line_error(methods)
    ignored = runner.invoke(cli, ["sweep", "gsm8k", "--out", out, "-t", "0.4", "--local", missing_model])
    assert "--threshold would be ignored" in _one_line_error(ignored)
    load = runner.invoke(cli, ["eval", "gsm8k", "--out", out, "--limit", "1", "--local", missing_model, "--mode", "local"])
    assert "cannot load the models" in _one_line_error(load) and "absent.gguf" in load.output


def test_run_code_runs_the_python_a_paragraph_writes(tmp_path):
    script = tmp_path / "coder.json"
    script.write_text(json.dumps({"rules": [
        {"match": "^$", "text": "```python\nprint(3 + 4)\n```\n```output\n8\n```"},
        {"match": "```output\\n7\\n```\\n\\n$", "text": "Answer: 7"},
    ], "default": {"text": "Answer: 8"}}))
    out = tmp_path / "trace.json"
    result = run(["solve", "Ann has 3 apples and buys 4. How many?", "--local", f"fake:{script}", "--mode", "local",
                  "--step-format", "paragraphs", "--run-code", "-o", str(out)])
    assert result.exit_code == 0
    trace = Trace.from_json(out.read_text())
    assert trace.answer == "7" and trace.settings["run_code"] is True
