"""Self-practice on gold: trajectories trained as one sequence, the zero-shot prompt style of a
practised model, the ``learn gold`` command, and (real model) the whole stage on SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_finetune import CharTokenizer

from adaswitch.actions import Action
from adaswitch.backends import prompt_style_of
from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.chat_template import ChatTemplate
from adaswitch.cli import _register, cli
from adaswitch.engine import Collaboration, EngineSettings
from adaswitch.learning.examples import prepare_examples, tokenize_record, tokenize_trajectory
from adaswitch.learning.finetune_settings import FinetuneSettings
from adaswitch.learning.records import SFTRecord, step_records, trajectory_groups
from adaswitch.model import Model, RetryPolicy
from adaswitch.policies import make_policy
from adaswitch.prompts import ParagraphPrompts, ZeroShotPrompts, prompts_for, prompts_in_style, zero_shot_prompts_for
from adaswitch.trace import StepRecord
from adaswitch.trained_models import register_trained_model

QUESTION = "Ann has 3 apples and buys 4 more, then eats 2. How many apples does she have?"


def steps() -> list[StepRecord]:
    rows = [("She buys 4 more.", Action(tool="calculate", argument="3 + 4"), "7"),
            ("She eats 2.", Action(tool="calculate", argument="7 - 2"), "5"),
            ("So she has 5.", Action(tool="finish", argument="5"), "")]
    return [StepRecord(index=i, author="cloud", text=f"Thought {i}: {thought}\nAction {i}: {action.render()}",
                       thought=thought, action=action, observation=observation)
            for i, (thought, action, observation) in enumerate(rows, 1)]


def records(question: str = QUESTION) -> list[SFTRecord]:
    return step_records(question, zero_shot_prompts_for("math"), steps(), source={"sample_id": question[:8]})


# -- packing ---------------------------------------------------------------------------------


def test_cuts_of_one_trajectory_group_and_others_stand_alone():
    first, second = records(), records("Bob has 2 pears. How many pears has he?")
    judgment = SFTRecord(messages=first[0].messages, completion=" right", kind="judgment")
    groups = trajectory_groups([*first, *second, judgment, first[0]])
    assert [len(g) for g in groups] == [3, 3, 1, 1]
    assert groups[0] == first and groups[1] == second
    # a cut left out in the middle is context: the group trains exactly the records it has
    (pair,) = trajectory_groups([first[0], first[2]])
    packed = tokenize_trajectory(pair, CharTokenizer(), ChatTemplate(None))
    trained = "".join(chr(t) for t, keep in zip(packed["input_ids"], packed["completion_mask"]) if keep)
    assert trained == first[0].completion + first[2].completion


def test_a_packed_trajectory_is_the_last_cut_with_every_step_in_the_loss():
    tok, template = CharTokenizer(), ChatTemplate(None)
    cuts = records()
    packed = tokenize_trajectory(cuts, tok, template)
    last = tokenize_record(cuts[-1], tok, template)
    assert packed["input_ids"] == last["input_ids"]  # one token per character: the same text
    trained = "".join(chr(t) for t, keep in zip(packed["input_ids"], packed["completion_mask"]) if keep)
    assert trained == "".join(cut.completion for cut in cuts)
    assert [t for t in packed["labels"] if t != -100] == [ord(c) for c in trained]
    # observations and step labels are read, never trained
    text = "".join(chr(t) for t in packed["input_ids"][1:])
    start = text.index("Observation 1: 7")
    assert not any(packed["completion_mask"][1 + start: 1 + start + len("Observation 1: 7\nThought 2:")])


def test_prepare_examples_packs_and_unpacks_a_trajectory_too_long_as_one():
    tok, template = CharTokenizer(), ChatTemplate(None)
    cuts = records()
    examples, counts = prepare_examples(cuts, tok, template, FinetuneSettings(pack_trajectories=True))
    assert (counts.examples, counts.packed, counts.records) == (1, 2, 3)
    assert counts.completion_tokens == sum(len(c.completion) for c in cuts)
    unpacked, plain = prepare_examples(cuts, tok, template, FinetuneSettings())
    assert (plain.examples, plain.packed) == (3, 0)
    assert plain.completion_tokens == counts.completion_tokens

    limit = len(tokenize_record(cuts[1], tok, template)["input_ids"])  # the whole does not fit, two cuts do
    examples, counts = prepare_examples(cuts, tok, template,
                                        FinetuneSettings(pack_trajectories=True, max_length=limit, overlong="drop"))
    assert (counts.examples, counts.packed, counts.dropped_overlong) == (2, 0, 1)
    assert examples == unpacked[:2]


# -- the prompt style of a practised model ----------------------------------------------------


def test_zero_shot_style_leaves_the_examples_out_of_react_prompts_only():
    few = prompts_for("math")
    zero = prompts_in_style(few, "zero-shot")
    assert isinstance(zero, ZeroShotPrompts) and zero.system() == few.instructions
    assert few.examples and few.examples not in zero.system()
    assert prompts_in_style(few, "few-shot") is few
    paragraphs = ParagraphPrompts("math", "Solve it.", "")
    assert prompts_in_style(paragraphs, "zero-shot") is paragraphs
    with pytest.raises(ValueError, match="prompt style"):
        prompts_in_style(few, "two-shot")


def step_reply(n: int, text: str) -> FakeReply:
    return FakeReply(match=rf"Thought {n}:$", text=text)


def test_a_zero_shot_local_agent_is_asked_without_examples_and_the_cloud_with_them():
    local = FakeBackend(FakeScript(rules=[step_reply(2, " She eats 2.\nAction 2: finish[5]")]), name="practised")
    local.prompt_style = "zero-shot"
    cloud = FakeBackend(FakeScript(rules=[step_reply(1, " Add.\nAction 1: calculate[3 + 4 - 2]")]), name="cloud")
    retry = RetryPolicy(max_attempts=1, base_delay_s=0.0)
    collaboration = Collaboration(Model(local, "local", retry), Model(cloud, "cloud", retry),
                                  make_policy("handoff", cloud_steps=(1,)), None, EngineSettings())
    trace = collaboration.solve(QUESTION)
    assert [s.author for s in trace.steps] == ["cloud", "local"] and trace.answer == "5"
    cloud_system, local_system = cloud.requests[0].messages[0].content, local.requests[-1].messages[0].content
    examples = prompts_for("math").examples
    assert examples in cloud_system and examples not in local_system
    assert local_system == prompts_for("math").instructions
    # both continue the same trajectory
    assert local.requests[-1].messages[-1].content.startswith("Thought 1: Add.\nAction 1: calculate[3 + 4 - 2]")


def test_a_registered_model_is_served_in_its_manifests_prompt_style(tmp_path: Path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    practised = register_trained_model("gold-x", gguf, {"base": "b", "prompt": "zero-shot"}, cache_dir=tmp_path)
    plain = register_trained_model("plain-x", gguf, {"base": "b"}, cache_dir=tmp_path)
    assert prompt_style_of(practised) == "zero-shot"
    assert prompt_style_of(plain) == "few-shot"
    assert prompt_style_of(gguf) == "few-shot"  # not a registered file


def test_learn_gold_refuses_unknown_splits_and_bad_counts(tmp_path: Path):
    _register()
    runner = CliRunner()
    for value, message in (("svamp=10", "unknown gold split 'svamp'"), ("gsm8k=0", "positive number"),
                           ("gsm8k", "positive number"), (",", "no split given")):
        result = runner.invoke(cli, ["learn", "gold", str(tmp_path / "w"), "--questions", value])
        assert result.exit_code == 2 and message in result.output, (value, result.output)
    assert not (tmp_path / "w").exists()


# -- the whole stage on a real model -----------------------------------------------------------


GSM8K_TRAIN = [
    {"question": f"Tom has {a} marbles and finds {b} more. How many marbles does he have?",
     "answer": f"Tom has {a}+{b} = <<{a}+{b}={a + b}>>{a + b} marbles.\n#### {a + b}"}
    for a, b in [(3, 4), (10, 5), (7, 8), (12, 9), (6, 6), (20, 1)]
]


@pytest.mark.realmodel
def test_practice_on_gold_trains_exports_and_registers_a_zero_shot_model(tmp_path: Path, monkeypatch):
    pytest.importorskip("trl")
    pytest.importorskip("llama_cpp")
    from adaswitch.embedded import EmbeddedModelError, resolve_model
    from adaswitch.learning.gold_training import practise_on_gold, settings_with

    try:
        base = str(resolve_model("smollm2-135m"))
    except EmbeddedModelError as err:
        pytest.skip(str(err))
    data = tmp_path / "data"
    (data / "gsm8k").mkdir(parents=True)
    (data / "gsm8k" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in GSM8K_TRAIN))
    monkeypatch.setenv("ADASWITCH_DATA_DIR", str(data))
    monkeypatch.setenv("ADASWITCH_CACHE_DIR", str(tmp_path / "cache"))  # the registry
    settings = settings_with(max_steps=2, batch_size=2, max_length=512, lora_r=4, lora_alpha=8, checkpoint_every=1)
    work = tmp_path / "work"
    outcome = practise_on_gold(work, base, {"gsm8k": 4}, settings, register_as=None, progress=False)
    assert outcome["records"]["splits"]["gsm8k"] == {"total": 4, "converted": 4, "records": 8}
    counts = outcome["training"]["counts"]
    assert (counts["examples"], counts["packed"]) == (4, 4)  # two steps a question, one sequence each
    assert outcome["training"]["steps"] == 2 and Path(outcome["gguf"]).read_bytes()[:4] == b"GGUF"
    assert Path(outcome["adapter"]).read_bytes()[:4] == b"GGUF"
    # a rerun finds everything done, redoes nothing, and registers the model
    before = Path(outcome["gguf"]).stat().st_mtime_ns
    again = practise_on_gold(work, base, {"gsm8k": 4}, settings, register_as="smol-gold", progress=False)
    assert Path(again["gguf"]).stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="holds react records of"):
        practise_on_gold(work, base, {"gsm8k": 5}, settings, progress=False)
    registered = Path(again["registered"])
    assert registered.is_relative_to(tmp_path / "cache")
    assert prompt_style_of(registered) == "zero-shot"
    manifest = json.loads((registered.parent / "manifest.json").read_text())
    assert manifest["stage"] == "gold-practice" and manifest["questions"] == {"gsm8k": 4}
    assert manifest["adapter_of"] == base and registered.read_bytes() == Path(again["adapter"]).read_bytes()


def test_a_registered_adapter_resolves_to_its_base_and_itself(tmp_path: Path, monkeypatch):
    from adaswitch.embedded import EmbeddedModelError, resolve_with_adapter
    from adaswitch.trained_models import TrainedModelError, get_trained_model, trained_adapter, trained_model_path

    monkeypatch.setenv("ADASWITCH_CACHE_DIR", str(tmp_path / "cache"))
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF" + bytes(60))
    lora = tmp_path / "lora.gguf"
    lora.write_bytes(b"GGUF" + bytes(30))
    adapter = register_trained_model("gold-lora", lora, {"adapter_of": str(base), "prompt": "zero-shot"})
    assert trained_adapter("gold-lora") == (str(base), adapter)
    assert resolve_with_adapter("gold-lora") == (base, adapter)
    assert get_trained_model("gold-lora").description.startswith(f"LoRA adapter of {base}")
    with pytest.raises(TrainedModelError, match="LoRA adapter of"):
        trained_model_path("gold-lora")
    plain = register_trained_model("plain-model", base, {"base": "b"})
    assert trained_adapter("plain-model") is None and resolve_with_adapter("plain-model") == (plain, None)
    register_trained_model("orphan-lora", lora, {"adapter_of": str(tmp_path / "gone.gguf")})
    with pytest.raises(EmbeddedModelError, match="base model file"):
        resolve_with_adapter("orphan-lora")


def test_learn_gold_with_default_options_trains_with_the_default_settings(monkeypatch, tmp_path: Path):
    """The command's defaults are the stage's defaults, so a run started from Python resumes from the CLI."""
    from adaswitch.learning import gold_training

    seen = {}

    def fake(work_dir, base, questions, settings, **kw):
        seen.update(settings=settings, questions=questions, register_as=kw["register_as"])
        return {"records": {}, "training": {}, "gguf": "x"}

    monkeypatch.setattr(gold_training, "practise_on_gold", fake)
    _register()
    result = CliRunner().invoke(cli, ["learn", "gold", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    assert seen["settings"].training_json() == gold_training.DEFAULT_SETTINGS.training_json()
    assert seen["questions"] == {"gsm8k": 600} and seen["register_as"] == "adaswitch-gold"
