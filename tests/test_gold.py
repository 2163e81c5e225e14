"""Gold trajectories from the training splits: exact round trips, refusals and conversion shares.

The fixtures are a few rows in each upstream layout, written to a temporary data directory and read
through the benchmarks' own loaders (never the shared data).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adaswitch.learning import gold
from adaswitch.learning.gold import (
    CLAIM_DISAGREES, FACTS_NOT_FOUND, FINAL_NOT_GOLD, NO_MARKS, ROUND_TRIP, STEP_TOO_LONG,
    SUPPORT_NOT_FOUND, convert, convert_samples, gold_records, latex_arithmetic, train_samples,
)
from adaswitch.learning.records import SFTRecord, read_records
from adaswitch.parsing import parse_step
from adaswitch.prompts import ZeroShotPrompts, prompts_for, zero_shot_prompts_for
from adaswitch.tools.calculator import calculate
from adaswitch.tools.search import KnowledgeBase

NATALIA = {
    "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
                "in May. How many clips did Natalia sell altogether in April and May?",
    "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
              "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
}
GSM8K_ROWS = [
    NATALIA,
    {"question": "A box holds 6 eggs. How many eggs are in 3 boxes and 2 loose eggs?",
     "answer": "Each box holds 6 eggs.\nThree boxes hold 3*6 = <<3*6=18>>18 eggs.\n"
               "With the loose ones there are 18+2 = <<18+2=20>>20 eggs.\n#### 20"},
    {"question": "Sam has 10 apples and eats 3. How many are left?",
     "answer": "He has 10-3 = <<10-3=8>>8 apples left.\n#### 8"},  # the mark's claim is wrong
    {"question": "Ann reads 5 pages a day. How many pages in a week?",
     "answer": "A week has 7 days, so she reads 35 pages.\n#### 35"},  # no mark at all
    {"question": "Tim has 4 bags of 5 marbles and gives away 2. How many are left?",
     "answer": "He has 4*5 = <<4*5=20>>20 marbles.\nHe gives 2 away, so 18 are left.\n#### 18"},
]
MATH_ROWS = [
    {"problem": "What is the units digit of $1734\\times 5389$?", "level": "Level 2",
     "type": "Number Theory", "subject": "number_theory", "id": "train/nt/1.json",
     "solution": "Only the units digits matter. We have $4\\times9=36$, so the product ends in 6. "
                 "Then $\\frac{12}{4}+2^{3}=11$ is a check. So the units digit is $\\boxed{6}$."},
    {"problem": "Solve $x^2 = 9$ for $x>0$.", "level": "Level 1", "type": "Algebra",
     "subject": "algebra", "id": "train/algebra/2.json",
     "solution": "Taking the square root, $x = \\boxed{3}$."},
    {"problem": "For which $x$ is $\\sqrt{x}$ real and $x<3$?", "level": "Level 2", "type": "Algebra",
     "subject": "algebra", "id": "train/algebra/3.json",
     "solution": "We need $x \\ge 0$ and $x < 3$, so $x \\in \\boxed{[0,3)}$."},
]
STRATEGY_ROWS = [
    {"qid": "caesar", "term": "Genghis Khan", "description": "Mongol ruler",
     "question": "Are more people today related to Genghis Khan than Julius Caesar?", "answer": True,
     "facts": ["Julius Caesar had three children.", "Genghis Khan had sixteen children."],
     "decomposition": ["How many kids did Julius Caesar have?", "How many kids did Genghis Khan have?",
                       "Is #2 greater than #1?"],
     "evidence": []},
    {"qid": "warthog", "term": "Warthog", "description": "a wild pig",
     "question": "Is there a warthog on Broadway?", "answer": True,
     "facts": ["The Lion King is a Broadway musical.", "Pumbaa is a warthog."],
     "decomposition": ["Is The Lion King a Broadway musical?", "Is #1 on Broadway?"],
     "evidence": []},
]
HOTPOT_ROWS = [
    {"_id": "lilu", "type": "bridge", "level": "medium", "answer": "a spirit",
     "question": "If Gallu is a demon Lilu is what?",
     "supporting_facts": [["Alu", 1], ["Lilu (mythology)", 0]],
     "context": [
         ["Alu", ["Alu is a vengeful spirit of Sumerian myth.",
                  " It is associated with demons like Gallu and Lilu."]],
         ["Lilu (mythology)", ["A lilu is a masculine Akkadian word for a spirit."]],
         ["Demon Dice", ["Demon Dice is a role-playing game."]],
         ["Wangliang", ["Wangliang is a demon of Chinese folklore."]],
     ]},
    {"_id": "missing", "type": "bridge", "level": "easy", "answer": "Paris",
     "question": "Where was the painter of Blue Field born?",
     "supporting_facts": [["Blue Field", 0], ["Ann Smith", 0]],
     "context": [["Blue Field", ["Blue Field is a painting by Ann Smith."]]]},
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    files = {"gsm8k/train.jsonl": GSM8K_ROWS, "math/train.jsonl": MATH_ROWS}
    for name, rows in files.items():
        (root / name).parent.mkdir(parents=True)
        (root / name).write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    for name, data in {"strategyqa/train.json": STRATEGY_ROWS, "hotpotqa/train100.json": HOTPOT_ROWS}.items():
        (root / name).parent.mkdir(parents=True)
        (root / name).write_text(json.dumps(data), encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def use_data_dir(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADASWITCH_DATA_DIR", str(data_dir))


def read_back(record: SFTRecord, family: str):
    """The step a record trains, parsed as the engine parses what a model wrote."""
    index = int(record.messages[-1].content.rsplit("Thought ", 1)[1].rstrip(":"))
    return parse_step(f"Thought {index}:{record.completion}", family)


def observation_after(records: list[SFTRecord], position: int) -> str:
    """The observation of step ``position + 1`` as the next record's prompt shows it."""
    later = records[position + 1].messages[-1].content
    marker = f"Observation {position + 1}: "
    return later.split(marker, 1)[1].rsplit(f"\nThought {position + 2}:", 1)[0]


# ---------------------------------------------------------------- GSM8K


def test_gsm8k_natalia_records_round_trip_exactly() -> None:
    records, stats = gold_records("gsm8k", limit=1)
    prompts = zero_shot_prompts_for("math")
    question = NATALIA["question"]
    assert [r.completion for r in records] == [
        " Natalia sold 48/2 = 24 clips in May.\nAction 1: calculate[48/2]",
        " Natalia sold 48+24 = 72 clips altogether in April and May.\nAction 2: calculate[48+24]",
        " So the answer is 72.\nAction 3: finish[72]",
    ]
    trajectory = ("Thought 1: Natalia sold 48/2 = 24 clips in May.\nAction 1: calculate[48/2]\n"
                  "Observation 1: 24\n")
    assert records[1].messages == prompts.step_messages(question, trajectory, 2)
    actions = [read_back(r, "math").action for r in records]
    assert [(a.tool, a.argument) for a in actions] == [("calculate", "48/2"), ("calculate", "48+24"),
                                                       ("finish", "72")]
    for position, action in enumerate(actions[:-1]):
        assert calculate(action.argument).text == observation_after(records, position)
    assert all(r.kind == "step" and r.source["author"] == "gold" for r in records)
    assert records[0].source | {"index": 1} == {"sample_id": "train-0", "benchmark": "gsm8k", "stage": "gold",
                                                "prompt": "zero-shot", "index": 1, "author": "gold",
                                                "step_format": "react"}
    assert stats["converted"] == 1 and stats["line_for_line"] == 1


def test_gsm8k_natalia_in_the_paragraph_format() -> None:
    from adaswitch.learning.records import trajectory_groups
    from adaswitch.parsing import read_paragraph
    from adaswitch.prompts import paragraph_prompts_for

    records, stats = gold_records("gsm8k", limit=1, step_format="paragraphs")
    assert [r.completion for r in records] == [
        "Natalia sold 48/2 = 24 clips in May.\n\n",
        "Natalia sold 48+24 = 72 clips altogether in April and May.\n\n",
        "So the answer is 72.\nAnswer: 72\n\n",
    ]
    prompts = paragraph_prompts_for("math", "number")
    assert records[1].messages == prompts.step_messages(NATALIA["question"], records[0].completion, 2)
    # the engine reads the middle paragraphs as reasoning and the last as the finish
    readings = [read_paragraph(r.completion, "math") for r in records]
    assert [r.action for r in readings[:2]] == [None, None]
    assert (readings[2].action.tool, readings[2].action.argument) == ("finish", "72")
    # the cuts train as one sequence, as the react records do
    assert [len(g) for g in trajectory_groups(records)] == [3]
    assert records[0].source["step_format"] == "paragraphs" and stats["converted"] == 1


def test_a_paragraph_that_states_an_answer_too_early_is_refused() -> None:
    sample = train_samples("gsm8k")[0]
    early = gold.Conversion(sample, steps=(
        gold.gold_step("The answer is 24 for May.", "calculate", "48/2", "24"),
        gold.gold_step("So the total is 72.", "finish", "72"),
    ))
    with pytest.raises(gold.Refusal) as refusal:
        gold.paragraph_steps(early)
    assert refusal.value.reason == gold.PARAGRAPH_ROUND_TRIP


def test_only_the_worked_splits_have_a_paragraph_form() -> None:
    with pytest.raises(ValueError, match="no paragraph form"):
        gold_records("strategyqa", step_format="paragraphs")
    with pytest.raises(ValueError, match="unknown step format"):
        gold_records("gsm8k", step_format="haiku")
    records, _ = gold_records("math", step_format="paragraphs")
    assert records and records[-1].completion.rstrip().splitlines()[-1].startswith("Answer: ")


def test_gsm8k_share_and_refusals_on_the_fixture() -> None:
    records, stats = gold_records("gsm8k")
    assert (stats["total"], stats["converted"]) == (5, 2)
    assert stats["refused"] == {CLAIM_DISAGREES: 1, NO_MARKS: 1, FINAL_NOT_GOLD: 1}
    assert stats["line_for_line"] == 1  # the egg question converts only by merging its first line
    assert stats["records"] == len(records) == 3 + 3
    eggs = [r for r in records if r.source["sample_id"] == "train-1"]
    assert eggs[0].completion.startswith(" Each box holds 6 eggs. Three boxes hold 3*6 = 18 eggs.\n")


def test_a_mark_whose_claim_disagrees_with_the_calculator_is_refused() -> None:
    sample = train_samples("gsm8k")[2]
    assert convert(sample).refusal == CLAIM_DISAGREES


# ---------------------------------------------------------------- MATH


def test_math_solution_becomes_calculate_steps_where_exact_then_the_boxed_finish() -> None:
    records, stats = gold_records("math")
    first = [r for r in records if r.source["sample_id"] == "train/nt/1.json"]
    steps = [read_back(r, "math") for r in first]
    assert [(s.action.tool, s.action.argument) for s in steps] == [
        ("calculate", "4*9"), ("calculate", "(12/4)+2**3"), ("finish", "6")]
    assert steps[0].thought == "Only the units digits matter. We have $4\\times9=36$, so the product ends in 6."
    assert observation_after(first, 0) == "36" and observation_after(first, 1) == "11"
    assert steps[2].thought == "So the units digit is $\\boxed{6}$."
    assert (stats["converted"], stats["refused"]) == (2, {ROUND_TRIP: 1})  # "[0,3)" cannot round-trip


def test_math_without_an_exact_claim_is_one_finish_step() -> None:
    records, _ = gold_records("math")
    only = [r for r in records if r.source["sample_id"] == "train/algebra/2.json"]
    assert len(only) == 1
    assert only[0].completion == " Taking the square root, $x = \\boxed{3}$.\nAction 1: finish[3]"


def test_latex_arithmetic_reads_products_fractions_and_powers() -> None:
    assert latex_arithmetic("\\frac{3}{4}\\cdot 8") == "(3/4)* 8"
    assert latex_arithmetic("2^{10}\\div 4") == "2**10/ 4"
    assert calculate(latex_arithmetic("\\left(1+\\dfrac{1}{2}\\right)^2")).text == "2.25"


def test_a_step_longer_than_the_budget_is_refused() -> None:
    sample = train_samples("math")[0]
    assert convert(sample, max_step_tokens=10).refusal == STEP_TOO_LONG
    assert convert(sample, count_tokens=lambda text: 1000).refusal == STEP_TOO_LONG
    assert convert(sample, count_tokens=lambda text: 1).converted


# ---------------------------------------------------------------- StrategyQA


def test_strategyqa_searches_return_the_facts_and_finish_yes() -> None:
    records, stats = gold_records("strategyqa")
    caesar = [r for r in records if r.source["sample_id"] == "caesar"]
    steps = [read_back(r, "qa") for r in caesar]
    assert [(s.action.tool, s.action.argument) for s in steps] == [
        ("search", "How many kids did Julius Caesar have"),
        ("search", "How many kids did Genghis Khan have"),
        ("finish", "yes")]
    kb = KnowledgeBase(train_samples("strategyqa")[0].knowledge)
    for position, step in enumerate(steps[:-1]):
        observed = observation_after(caesar, position)
        assert observed == kb.search(step.action.argument).text
    assert "[Fact 1] Julius Caesar had three children." in observation_after(caesar, 0)
    assert "[Fact 2] Genghis Khan had sixteen children." in observation_after(caesar, 1)
    assert steps[2].thought.endswith("Sub-question 3: Is #2 greater than #1? So the answer is yes.")
    # The warthog's decomposition never finds "Pumbaa is a warthog": not every fact is observed.
    assert (stats["total"], stats["converted"], stats["refused"]) == (2, 1, {FACTS_NOT_FOUND: 1})


# ---------------------------------------------------------------- HotpotQA


def test_hotpotqa_searches_return_each_supporting_paragraph() -> None:
    records, stats = gold_records("hotpotqa")
    steps = [read_back(r, "qa") for r in records]
    assert [s.action.tool for s in steps] == ["search", "search", "finish"]
    assert steps[0].action.argument.startswith("Alu ") and steps[1].action.argument.startswith("Lilu (mythology) ")
    assert observation_after(records, 0).startswith("[Alu] Alu is a vengeful spirit")
    assert "[Lilu (mythology)] A lilu is" in observation_after(records, 1)
    assert steps[1].thought == ("It is associated with demons like Gallu and Lilu. "
                                "Now I need the paragraph on Lilu (mythology).")
    assert steps[2].thought == "A lilu is a masculine Akkadian word for a spirit. So the answer is a spirit."
    assert steps[2].action.argument == "a spirit"
    assert (stats["converted"], stats["refused"]) == (1, {SUPPORT_NOT_FOUND: 1})


# ---------------------------------------------------------------- prompts, splits and the script


def test_records_use_the_zero_shot_prompt_unless_examples_are_asked_for() -> None:
    bare, _ = gold_records("gsm8k", limit=1)
    full, _ = gold_records("gsm8k", limit=1, examples=True)
    assert bare[0].messages[0].content == prompts_for("math").instructions
    assert "Examples:" in full[0].messages[0].content and full[0].source["prompt"] == "few-shot"
    assert [r.completion for r in bare] == [r.completion for r in full]
    assert isinstance(zero_shot_prompts_for("qa"), ZeroShotPrompts)


def test_only_training_splits_are_read() -> None:
    assert all(s.meta["split"] == "train" for name in gold.SPLITS for s in train_samples(name))
    with pytest.raises(ValueError, match="unknown gold split"):
        train_samples("svamp")


def test_convert_samples_counts_per_split() -> None:
    samples = train_samples("gsm8k")
    records, stats = convert_samples("gsm8k", samples, zero_shot_prompts_for("math"))
    assert stats.as_dict()["converted_share"] == 0.4 and stats.records == len(records)


def test_the_script_writes_records_and_a_summary(benchmark_script, tmp_path: Path) -> None:
    script = benchmark_script("gold_practice")
    result = script.summary(tmp_path, limit=None, examples=False)
    counts = {split: (c["converted"], c["total"]) for split, c in result["splits"].items()}
    assert counts == {"gsm8k": (2, 5), "math": (2, 3), "strategyqa": (1, 2), "hotpotqa": (1, 2)}
    assert len(read_records(tmp_path / "gold-gsm8k.jsonl")) == result["splits"]["gsm8k"]["records"]


def test_gold_records_are_written_once_in_one_step_format(tmp_path: Path) -> None:
    from adaswitch.learning.gold_training import write_gold_records

    path = write_gold_records(tmp_path, {"gsm8k": 2}, step_format="paragraphs")
    summary = json.loads((tmp_path / "records.json").read_text())
    assert summary["step_format"] == "paragraphs" and summary["splits"]["gsm8k"]["converted"] == 2
    assert all(r.source["step_format"] == "paragraphs" for r in read_records(path))
    assert write_gold_records(tmp_path, {"gsm8k": 2}, step_format="paragraphs") == path  # a rerun keeps them
    with pytest.raises(ValueError, match="holds paragraphs records"):
        write_gold_records(tmp_path, {"gsm8k": 2}, step_format="react")
