"""Fine-tuning: example preparation and loss masks, settings, bad input, and real LoRA and full
fine-tuning of the tiny SmolLM2-135M (exported to GGUF and read back through llama.cpp)."""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
from dataclasses import replace

import pytest

from adaswitch.backends.base import Message, ProbeRequest
from adaswitch.chat_template import ChatTemplate
from adaswitch.embedded import EmbeddedModelError, resolve_model
from adaswitch.learning.checkpoints import (
    RUN_IDENTITY,
    CheckpointMismatch,
    TrainingInterrupted,
    latest_checkpoint,
    training_stopper,
)
from adaswitch.learning.examples import (
    IGNORE_INDEX,
    prepare_examples,
    render_record_prompt,
    tokenize_record,
    truncate_example,
)
from adaswitch.learning.finetune import LearnExtraMissing, finetune, require_learn_extra
from adaswitch.learning.finetune_settings import FinetuneSettings
from adaswitch.learning.records import SFTRecord, write_jsonl

SYSTEM = Message(role="system", content="You solve arithmetic step by step. Check each step: right or wrong.")


def judged(a: int, b: int, shown: int, verdict: str = " wrong") -> SFTRecord:
    """A judgment record: the step's observation is ``shown``; the trained text is the verdict."""
    step = f"Thought 1: I add {a} and {b}.\nAction 1: calculate[{a}+{b}]\nObservation 1: {shown}\nCheck:"
    return SFTRecord(
        messages=[SYSTEM, Message(role="user", content=f"Question: what is {a} + {b}?"),
                  Message(role="assistant", content=step)],
        completion=verdict,
        kind="judgment",
    )


WRONG_STEPS = [judged(a, b, a + b + d) for a, b, d in
               [(2, 3, 1), (7, 5, 3), (10, 4, -2), (6, 6, 5), (9, 1, 2), (3, 8, -1), (12, 7, 4), (5, 5, 1)]]
HELD_OUT = judged(4, 9, 17)


class CharTokenizer:
    """One token per character; id 1 is a BOS put in front when ``add_special_tokens``."""

    bos_token, eos_token, bos_token_id = "<s>", "</s>", 1
    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        ids = [ord(c) for c in text]
        return {"input_ids": ([self.bos_token_id] if add_special_tokens else []) + ids}


# -- without a model -------------------------------------------------------------------------


def test_mask_covers_exactly_the_completion_with_a_bos_model():
    tok, template = CharTokenizer(), ChatTemplate(None)
    record = judged(1, 1, 3)
    example = tokenize_record(record, tok, template)
    prompt = render_record_prompt(record, template)
    n = len(prompt) + 1  # the BOS
    assert example["input_ids"][0] == 1 and len(example["input_ids"]) == n + len(" wrong")
    assert example["completion_mask"] == [0] * n + [1] * len(" wrong")
    assert example["labels"][:n] == [IGNORE_INDEX] * n
    assert "".join(map(chr, example["labels"][n:])) == " wrong"
    assert prompt.endswith("Check:")  # continued as at inference: no end-of-turn after the partial step


def test_truncation_cuts_the_prompt_from_the_left_and_keeps_the_bos():
    example = {"input_ids": [1, 10, 11, 12, 13, 20, 21], "completion_mask": [0, 0, 0, 0, 0, 1, 1],
               "labels": [-100] * 5 + [20, 21]}
    cut = truncate_example(example, 5, bos_id=1)
    assert cut == {"input_ids": [1, 12, 13, 20, 21], "completion_mask": [0, 0, 0, 1, 1],
                   "labels": [-100, -100, -100, 20, 21]}
    assert truncate_example(example, 3, bos_id=1) is None  # BOS + completion leave no prompt token
    assert truncate_example(example, 7, bos_id=1) is example


def test_prepare_examples_counts_truncated_dropped_and_empty_records():
    tok, template = CharTokenizer(), ChatTemplate(None)
    short = judged(1, 1, 3)
    long = SFTRecord(messages=short.messages[:-1] + [Message(role="assistant", content="x" * 400)],
                     completion=" wrong", kind="judgment")
    empty = SFTRecord(messages=short.messages, completion="", kind="step")
    limit = len(tokenize_record(short, tok, template)["input_ids"])

    examples, counts = prepare_examples([short, long, empty], tok, template, FinetuneSettings(max_length=limit))
    assert (counts.examples, counts.truncated, counts.dropped_overlong, counts.dropped_empty) == (2, 1, 0, 1)
    assert all(len(e["input_ids"]) <= limit for e in examples)
    assert all(set(e) == {"input_ids", "completion_mask"} for e in examples)
    assert counts.kinds == {"judgment": 2} and counts.completion_tokens == 2 * len(" wrong")

    _, counts = prepare_examples([short, long], tok, template, FinetuneSettings(max_length=limit, overlong="drop"))
    assert (counts.examples, counts.truncated, counts.dropped_overlong) == (1, 0, 1)


def test_settings_are_checked_and_round_trip():
    with pytest.raises(ValueError, match="method"):
        FinetuneSettings(method="qlora")
    with pytest.raises(ValueError, match="overlong"):
        FinetuneSettings(overlong="wrap")
    assert FinetuneSettings().lr == 2e-4 and FinetuneSettings(method="full").lr == 2e-5
    settings = FinetuneSettings(target_modules=["q_proj", "v_proj"], max_steps=3)
    assert FinetuneSettings.from_json(json.loads(json.dumps(settings.to_json()))) == settings
    with pytest.raises(ValueError, match="checkpoint_every"):
        FinetuneSettings(checkpoint_every=-1)
    # how often a run is saved, or on how many threads, does not change what it trains
    assert FinetuneSettings(checkpoint_every=0, threads=1).training_json() == FinetuneSettings().training_json()
    assert FinetuneSettings(max_steps=4).training_json() != FinetuneSettings().training_json()


def _checkpoint(root, step, state="complete"):
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"weights")
    if state == "complete":
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    elif state == "torn":
        (path / "trainer_state.json").write_text('{"global_st')
    return path


def test_the_latest_complete_checkpoint_is_chosen_and_incomplete_ones_are_removed(tmp_path):
    root = tmp_path / "checkpoints"
    assert latest_checkpoint(root) is None
    _checkpoint(root, 10)
    chosen = _checkpoint(root, 20)
    torn = _checkpoint(root, 30, "torn")  # killed while the Trainer wrote its state
    unsaved = _checkpoint(root, 40, "no state")  # killed before
    (root / "checkpoint-notes").mkdir()
    identity = {"base": "m.gguf", "examples": "8 examples, sha256 ab", "learning_rate": 1e-3}
    (root / RUN_IDENTITY).write_text(json.dumps(identity))
    assert latest_checkpoint(root, identity) == chosen
    assert torn.exists() and unsaved.exists()  # a run may be writing them: only its resumption removes them
    assert latest_checkpoint(root, identity, remove_incomplete=True) == chosen
    assert not torn.exists() and not unsaved.exists() and (root / "checkpoint-10").exists()

    with pytest.raises(CheckpointMismatch, match="examples, learning_rate"):
        latest_checkpoint(root, identity | {"examples": "9 examples, sha256 cd", "learning_rate": 2e-3})
    (root / RUN_IDENTITY).unlink()  # checkpoints nobody recorded are not resumed either
    with pytest.raises(CheckpointMismatch):
        latest_checkpoint(root, identity)
    assert latest_checkpoint(root) == chosen


def test_the_time_budget_stops_after_the_last_step_that_ends_before_the_deadline():
    pytest.importorskip("transformers")
    from types import SimpleNamespace

    now = [1000.0]
    stopper = training_stopper(stop_by=1250.0, clock=lambda: now[0])
    state = SimpleNamespace(global_step=0, max_steps=10)
    ended = []
    for seconds in (60.0, 70.0, 65.0, 80.0, 60.0):
        control = SimpleNamespace(should_save=False, should_training_stop=False)
        stopper.on_step_begin(None, state, control)
        now[0] += seconds
        state.global_step += 1
        stopper.on_step_end(None, state, control)
        ended.append(now[0])
        if control.should_training_stop:
            break
    # steps end at 1060, 1130, 1195: at that pace (65 s) the next would end at 1260, past 1250
    assert ended == [1060.0, 1130.0, 1195.0]
    assert control.should_save and stopper.stopped_at == 3 and stopper.budget
    assert "time budget" in stopper.reason

    last = training_stopper(stop_by=1000.0, clock=lambda: now[0])  # the last step: finetune() saves the model
    control = SimpleNamespace(should_save=True, should_training_stop=False)
    last.on_step_end(None, SimpleNamespace(global_step=10, max_steps=10), control)
    assert not control.should_save and not control.should_training_stop and last.stopped_at is None


def test_a_signal_stops_training_after_the_step_and_an_ignored_one_stays_ignored():
    pytest.importorskip("transformers")
    from types import SimpleNamespace

    state = SimpleNamespace(global_step=0, max_steps=10)
    original = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ignoring = training_stopper()
        ignoring.on_train_begin(None, state, None)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # a background job's ignored SIGINT is kept
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
        ignoring.restore()

        signal.signal(signal.SIGINT, signal.default_int_handler)
        stopper = training_stopper()
        stopper.on_train_begin(None, state, None)
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt: the stopper took it
        assert stopper.requested == "SIGINT"
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a second one interrupts
        control = SimpleNamespace(should_save=False, should_training_stop=False)
        state.global_step = 4
        stopper.on_step_end(None, state, control)
        assert control.should_save and control.should_training_stop and stopper.stopped_at == 4
    finally:
        signal.signal(signal.SIGINT, original)


def test_bf16_is_chosen_where_it_speeds_training(monkeypatch):
    torch = pytest.importorskip("torch")
    from adaswitch.learning.finetune import bf16_helps

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert bf16_helps() is True
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert bf16_helps() is False
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert bf16_helps() is False
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert bf16_helps() is False


def test_no_records_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no training records"):
        finetune("smollm2-135m", [], tmp_path / "out")
    path = tmp_path / "none.jsonl"
    path.write_text("")
    with pytest.raises(ValueError, match="no training records"):
        finetune("smollm2-135m", path, tmp_path / "out")


def test_missing_learn_extra_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # makes `import trl` fail
    with pytest.raises(LearnExtraMissing, match=r"trl.*pip install 'adaswitch\[learn\]'"):
        require_learn_extra()
    with pytest.raises(LearnExtraMissing):
        finetune("smollm2-135m", WRONG_STEPS, tmp_path / "out")


def test_learning_modules_do_not_import_the_training_stack():
    code = (
        "import sys, adaswitch.learning.finetune, adaswitch.learning.checkpoints, adaswitch.learning.export, "
        "adaswitch.trained_models, adaswitch.learning.pipeline, adaswitch.cli.learn, "
        "adaswitch.cli.models\n"
        "print([m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets', 'llama_cpp') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- SmolLM2-135M ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smol_path():
    pytest.importorskip("trl")
    pytest.importorskip("llama_cpp")
    try:
        return resolve_model("smollm2-135m")
    except EmbeddedModelError as err:
        pytest.skip(str(err))


def _p_wrong(path, record: SFTRecord) -> float:
    from adaswitch.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(path, n_ctx=512, seed=0)
    try:
        request = ProbeRequest(messages=record.messages, continue_final=True, candidates=["wrong"])
        return backend.probe(request).probs["wrong"]
    finally:
        backend.close()


@pytest.mark.realmodel
def test_training_prompt_is_the_inference_prompt(smol_path):
    from transformers import AutoTokenizer

    from adaswitch.backends.llamacpp import LlamaCppBackend
    from adaswitch.learning.examples import template_for

    tokenizer = AutoTokenizer.from_pretrained(str(smol_path.parent), gguf_file=smol_path.name)
    template = template_for(tokenizer)
    backend = LlamaCppBackend(smol_path, n_ctx=512)
    try:
        for record in (HELD_OUT, SFTRecord(messages=HELD_OUT.messages[:2], completion="Thought 1:", kind="step")):
            continue_final = record.messages[-1].role == "assistant"
            assert render_record_prompt(record, template) == backend.render_prompt(
                record.messages, continue_final=continue_final)
            example = tokenize_record(record, tokenizer, template)
            prompt_ids = backend.tokenize_prompt(record.messages, continue_final=continue_final)
            n = len(prompt_ids)
            assert example["input_ids"][:n] == prompt_ids
            assert example["labels"] == [IGNORE_INDEX] * n + example["input_ids"][n:]
            assert tokenizer.decode(example["input_ids"][n:]) == record.completion
    finally:
        backend.close()


@pytest.fixture(scope="module")
def lora_run(smol_path, tmp_path_factory):
    """LoRA on eight 'this step is wrong' judgments, written from a JSONL file, exported to q4_k_m."""
    from adaswitch.learning.export import export_gguf

    out = tmp_path_factory.mktemp("lora")
    records = out / "records.jsonl"
    write_jsonl(records, WRONG_STEPS)
    # bf16 "on" whatever the machine: transformers once refused bf16 on a CPU unless told to use it
    settings = FinetuneSettings(max_steps=8, batch_size=4, learning_rate=1e-3, lora_r=8, lora_alpha=16,
                                lora_dropout=0.0, max_length=256, bf16="on")
    result = finetune("smollm2-135m", records, out / "run", settings, progress=False)
    gguf = export_gguf(result.out_dir, out / "judged.gguf", "q4_k_m")
    return result, gguf


@pytest.mark.realmodel
def test_lora_moves_the_judgment_toward_wrong(smol_path, lora_run, tmp_path, monkeypatch):
    from adaswitch.backends import make_backend
    from adaswitch.trained_models import register_trained_model

    result, gguf = lora_run
    assert result.steps == 8 and len(result.losses) == 8
    assert result.losses[-1] < result.losses[0] / 10
    assert result.counts.examples == 8 and result.counts.kinds == {"judgment": 8}
    assert (result.adapter_dir / "adapter_config.json").is_file()
    assert (result.model_dir / "config.json").is_file() and (result.model_dir / "tokenizer.json").is_file()
    written = json.loads((result.out_dir / "finetune.json").read_text())
    assert written["steps"] == 8 and written["settings"]["method"] == "lora" and written["peak_rss_mb"] > 0
    assert written["bf16"] is True
    assert len(written["step_seconds"]) == 8 and all(t > 0 for t in written["step_seconds"])
    assert written["median_step_seconds"] == pytest.approx(statistics.median(written["step_seconds"]), abs=0.01)

    before = _p_wrong(smol_path, HELD_OUT)
    # the registered name resolves like an embedded one, through the ordinary backend spec
    monkeypatch.setenv("ADASWITCH_CACHE_DIR", str(tmp_path))
    register_trained_model("smol-judged", gguf, {"base": "smollm2-135m", "stage": "test"})
    backend = make_backend("llama:smol-judged")
    try:
        after = backend.probe(ProbeRequest(messages=HELD_OUT.messages, continue_final=True,
                                           candidates=["wrong"])).probs["wrong"]
    finally:
        backend.close()
    assert before < 0.2
    assert after > 0.5 and after > 5 * before


@pytest.mark.realmodel
def test_the_adapter_alone_applied_at_load_time_moves_the_judgment_too(smol_path, lora_run, tmp_path, monkeypatch):
    from adaswitch.backends import make_backend
    from adaswitch.identity import backend_identity
    from adaswitch.learning.export import export_lora_gguf
    from adaswitch.trained_models import TrainedModelError, register_trained_model, trained_model_path

    result, _ = lora_run
    adapter = export_lora_gguf(result.adapter_dir, tmp_path / "judged.lora.gguf", result.model_dir)
    assert adapter.read_bytes()[:4] == b"GGUF" and adapter.stat().st_size < 5_000_000
    before = _p_wrong(smol_path, HELD_OUT)
    monkeypatch.setenv("ADASWITCH_CACHE_DIR", str(tmp_path / "cache"))
    register_trained_model("smol-judged-lora", adapter, {"adapter_of": str(smol_path), "prompt": "zero-shot"})
    with pytest.raises(TrainedModelError, match="LoRA adapter"):
        trained_model_path("smol-judged-lora")  # not a model file on its own
    backend = make_backend("llama:smol-judged-lora")
    try:
        assert backend.model_file == smol_path and backend.adapter_file is not None
        assert backend.prompt_style == "zero-shot"
        after = backend.probe(ProbeRequest(messages=HELD_OUT.messages, continue_final=True,
                                           candidates=["wrong"])).probs["wrong"]
        with_adapter = backend_identity(backend)
    finally:
        backend.close()
    plain = make_backend(f"llama:{smol_path}")
    try:
        assert backend_identity(plain) != with_adapter and "+lora:" in with_adapter  # never share cached replies
    finally:
        plain.close()
    assert after > 0.5 and after > 5 * before


@pytest.mark.realmodel
def test_llama_server_applies_the_adapter_as_the_in_process_backend_does(smol_path, lora_run, tmp_path):
    from adaswitch.backends.llama_server import LlamaServerBackend
    from adaswitch.backends.llama_server_build import find_llama_server
    from adaswitch.backends.llama_server_process import ServerSettings
    from adaswitch.backends.llamacpp import LlamaCppBackend
    from adaswitch.learning.export import export_lora_gguf

    binary = find_llama_server()
    if binary is None:
        pytest.skip("llama-server is not built (adaswitch models prepare-server)")
    result, _ = lora_run
    adapter = export_lora_gguf(result.adapter_dir, tmp_path / "judged.lora.gguf", result.model_dir)
    request = ProbeRequest(messages=HELD_OUT.messages, continue_final=True, candidates=["wrong"])
    served = LlamaServerBackend(model_path=smol_path, binary=binary, settings=ServerSettings(parallel=1, n_ctx=512),
                                lora_path=adapter)
    try:
        assert "--lora" in served._process.command()
        on_server = served.probe(request).probs["wrong"]
    finally:
        served.close()
    local = LlamaCppBackend(smol_path, n_ctx=512, lora_path=adapter)
    try:
        in_process = local.probe(request).probs["wrong"]
    finally:
        local.close()
    assert on_server > 0.5 and on_server == pytest.approx(in_process, abs=0.05)


@pytest.mark.realmodel
def test_full_finetuning_continues_from_a_trained_model(lora_run, tmp_path):
    from safetensors import safe_open

    result, _ = lora_run
    right = [judged(a, b, a + b, " right") for a, b in [(2, 3), (7, 5), (10, 4), (6, 6)]]
    settings = FinetuneSettings(method="full", max_steps=3, batch_size=4, learning_rate=1e-4,
                                gradient_checkpointing=False, max_length=256, bf16="off")
    full = finetune(result.out_dir, right, tmp_path / "full", settings, progress=False)
    assert full.bf16 is False and full.to_json()["bf16"] is False
    assert full.adapter_dir is None and not (tmp_path / "full" / "adapter").exists()
    assert full.base_path == str(result.model_dir)
    assert full.steps == 3 and full.losses[-1] < full.losses[0]
    name = "model.layers.0.mlp.down_proj.weight"
    with safe_open(result.model_dir / "model.safetensors", "pt") as a, \
            safe_open(full.model_dir / "model.safetensors", "pt") as b:
        assert sorted(a.keys()) == sorted(b.keys())
        assert (a.get_tensor(name) - b.get_tensor(name)).abs().max() > 0
    with pytest.raises(FileExistsError):
        finetune(result.out_dir, right, tmp_path / "full", settings, progress=False)


def _stop_at(step, how):
    """A Trainer callback that stops training as a kill (an exception) or a Ctrl-C (SIGINT) would."""
    import os

    from transformers import TrainerCallback

    class Stop(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if how == "signal" and state.global_step + 1 == step:
                os.kill(os.getpid(), signal.SIGINT)

        def on_step_end(self, args, state, control, **kwargs):
            if how == "kill" and state.global_step == step:
                raise RuntimeError("killed")

    return Stop()


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler for the test, whatever started pytest (a background job ignores SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.realmodel
def test_a_stopped_training_resumes_from_its_checkpoint_as_if_never_stopped(smol_path, tmp_path, default_sigint):
    # dropout on: a resumed run must also restore the random state to match the straight run
    settings = FinetuneSettings(max_steps=6, batch_size=2, learning_rate=1e-3, lora_r=8, lora_alpha=16,
                                lora_dropout=0.1, max_length=256, bf16="off", checkpoint_every=2)
    handler_before = signal.getsignal(signal.SIGINT)
    straight = finetune("smollm2-135m", WRONG_STEPS, tmp_path / "straight", settings, progress=False)
    assert straight.resumed_at == [] and not (tmp_path / "straight" / "checkpoints").exists()

    out = tmp_path / "stopped"
    with pytest.raises(RuntimeError, match="killed"):  # killed at step 3: the step-2 checkpoint is left
        finetune("smollm2-135m", WRONG_STEPS, out, settings, progress=False, callbacks=[_stop_at(3, "kill")])
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2"]
    with pytest.raises(CheckpointMismatch, match="learning_rate"):
        finetune("smollm2-135m", WRONG_STEPS, out, replace(settings, learning_rate=2e-3), progress=False)

    # Ctrl-C during step 5: that step finishes and is saved, then the run stops
    with pytest.raises(TrainingInterrupted, match="step 5 of 6"):
        finetune("smollm2-135m", WRONG_STEPS, out, settings, progress=False, callbacks=[_stop_at(5, "signal")])
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-5"]
    assert not (out / "finetune.json").exists() and not (out / "model").exists()
    assert signal.getsignal(signal.SIGINT) is handler_before  # handlers given back

    import time
    with pytest.raises(TrainingInterrupted, match="budget was spent before training began; it stands at step 5") \
            as spent:
        finetune("smollm2-135m", WRONG_STEPS, out, settings, progress=False, stop_by=time.time())
    assert spent.value.budget
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-5"]

    resumed = finetune("smollm2-135m", WRONG_STEPS, out, replace(settings, checkpoint_every=0), progress=False)
    assert resumed.resumed_at == [2, 5] and resumed.steps == 6
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-4)
    assert len(resumed.step_seconds) == 6 and all(t > 0 for t in resumed.step_seconds)
    assert not (out / "checkpoints").exists()
    written = json.loads((out / "finetune.json").read_text())
    assert written["resumed_at"] == [2, 5] and written["steps"] == 6


def test_large_blocks_go_back_to_the_os_where_glibc_runs():
    import platform

    from adaswitch.learning.allocator import return_large_blocks_to_the_os

    accepted = return_large_blocks_to_the_os()
    assert accepted is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def test_overwrite_removes_the_earlier_run_at_once_so_a_stopped_rerun_resumes_without_it(tmp_path, monkeypatch):
    from adaswitch.learning import finetune as finetune_module

    out = tmp_path / "run"
    (out / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    (out / "finetune.json").write_text("{}")

    class Loading(Exception):
        pass

    def stop_loading(base):
        raise Loading(base)

    monkeypatch.setattr(finetune_module, "load_base", stop_loading)
    with pytest.raises(FileExistsError, match="pass overwrite"):
        finetune("smollm2-135m", WRONG_STEPS, out)
    assert (out / "finetune.json").exists()
    with pytest.raises(Loading):  # stopped before training, as a killed rerun would be
        finetune("smollm2-135m", WRONG_STEPS, out, overwrite=True)
    assert not (out / "finetune.json").exists() and not (out / "checkpoints").exists()
    with pytest.raises(Loading):  # the rerun needs no overwrite now
        finetune("smollm2-135m", WRONG_STEPS, out)
