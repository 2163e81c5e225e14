"""The benchmark loaders against the real data files in ../shared/data (read-only)."""

from __future__ import annotations

import pytest

from adaswitch.benchmarks import BENCHMARKS, DataNotFoundError, Sample, data_dir, get_benchmark

try:
    data_dir()
except DataNotFoundError as exc:  # pragma: no cover - depends on the checkout
    pytest.skip(f"benchmark data not available: {exc}", allow_module_level=True)

COUNTS = {
    ("gsm8k", "test"): 1319, ("gsm8k", "train"): 7473, ("svamp", "test"): 1000,
    ("asdiv", "test"): 2305, ("math500", "test"): 500, ("math500", "train"): 7500,
    ("hotpotqa", "dev"): 500, ("hotpotqa", "train"): 100, ("2wiki", "dev"): 500,
    ("strategyqa", "dev"): 229, ("strategyqa", "train"): 2061,
}


@pytest.fixture(scope="module")
def loaded() -> dict[tuple[str, str], list[Sample]]:
    return {(name, split): BENCHMARKS[name].load(split) for name, split in COUNTS}


def by_id(samples: list[Sample], sample_id: str) -> Sample:
    return next(s for s in samples if s.id == sample_id)


def test_registry_names_and_aliases() -> None:
    assert set(BENCHMARKS) == {"gsm8k", "svamp", "asdiv", "math500", "hotpotqa", "2wiki", "strategyqa"}
    for alias, name in [("MATH-500", "math500"), ("math", "math500"), ("2WikiMultiHopQA", "2wiki"),
                        ("GSM8K", "gsm8k"), ("strategyqa", "strategyqa")]:
        assert get_benchmark(alias).name == name
    with pytest.raises(KeyError):
        get_benchmark("mmlu")


@pytest.mark.parametrize(("name", "split"), list(COUNTS))
def test_counts_fields_and_unique_ids(loaded, name: str, split: str) -> None:
    samples = loaded[(name, split)]
    bench = BENCHMARKS[name]
    assert len(samples) == COUNTS[(name, split)]
    assert len({s.id for s in samples}) == len(samples)
    assert all(s.benchmark == name and s.family == bench.family for s in samples)
    assert all(s.question.strip() and s.meta["split"] == split for s in samples)
    empty = [s.id for s in samples if not s.answer.strip()]
    # two MATH train solutions box nothing upstream (train/number_theory/7115, 7117)
    assert len(empty) == (2 if (name, split) == ("math500", "train") else 0)
    if bench.family == "qa":
        assert all(s.knowledge and s.gold_titles for s in samples)
        for s in samples:
            titles = [d.title for d in s.knowledge]
            assert set(s.gold_titles) <= set(titles), s.id
            assert all(d.text.strip() for d in s.knowledge)


def test_ids_unique_across_splits(loaded) -> None:
    for name in BENCHMARKS:
        ids = [s.id for (bench, _), samples in loaded.items() if bench == name for s in samples]
        assert len(ids) == len(set(ids)), name


def test_test_split_means_the_evaluation_split() -> None:
    assert [s.id for s in get_benchmark("hotpotqa").load(limit=3)] == \
        [s.id for s in get_benchmark("hotpotqa").load("dev", limit=3)]
    with pytest.raises(ValueError):
        get_benchmark("svamp").load("train")


def test_limit_offset_ids() -> None:
    gsm = get_benchmark("gsm8k")
    assert [s.id for s in gsm.load(limit=2, offset=3)] == ["test-3", "test-4"]
    assert [s.id for s in gsm.load(ids=["test-7", "test-2"])] == ["test-2", "test-7"]
    with pytest.raises(KeyError):
        gsm.load(ids=["nope"])


def test_gsm8k_records(loaded) -> None:
    samples = loaded[("gsm8k", "test")]
    first = by_id(samples, "test-0")
    assert first.answer == "18" and first.gold_values == ["9", "18"]
    assert "<<" not in first.rationale and "####" not in first.rationale
    thousands = by_id(samples, "test-146")
    assert thousands.answer == "2125" and thousands.answer_aliases == ["2,125"]
    assert thousands.gold_values == ["1500", "125", "2125"]
    assert all(s.answer in s.gold_values for s in samples)


def test_svamp_records(loaded) -> None:
    samples = loaded[("svamp", "test")]
    first = by_id(samples, "chal-1")
    assert first.question.startswith("Each pack of dvds costs 76 dollars.")
    assert first.question.endswith("How much do you have to pay to buy each pack?")
    assert first.answer == "51" and first.gold_values == ["51"]
    nested = by_id(samples, "chal-11")  # ( 6.0 - ( 3.0 + 2.0 ) )
    assert nested.answer == "1" and nested.gold_values == ["5", "1"]


def test_asdiv_records(loaded) -> None:
    samples = loaded[("asdiv", "test")]
    first = by_id(samples, "nluds-0001")
    assert first.answer == "9" and first.answer_aliases == ["9 (apples)"] and first.gold_values == ["9"]
    assert first.question == ("Seven red apples and two green apples are in the basket. "
                              "How many apples are in the basket?")
    assert by_id(samples, "nluds-0850").answer == "5:6"  # ratio, kept as text
    assert by_id(samples, "nluds-0030").answer == "Mrs. Hilt"
    assert by_id(samples, "nluds-1331").answer == "-1/3"  # upstream "-(1/3)"
    ages = by_id(samples, "nluds-1295")
    assert ages.answer == "5; 15; 20" and {"40", "5", "15", "20"} <= set(ages.gold_values)


def test_math500_records(loaded) -> None:
    test = loaded[("math500", "test")]
    first = by_id(test, "test/precalculus/807.json")
    assert first.answer == "\\left( 3, \\frac{\\pi}{2} \\right)" and "\\boxed" in first.rationale
    assert first.meta["subject"] == "Precalculus"
    train = loaded[("math500", "train")]
    assert by_id(train, "train/algebra/0.json").answer == "0"
    assert by_id(train, "train/algebra/24014.json").answer == "2"  # "\boxed 2" without braces


def test_hotpotqa_records(loaded) -> None:
    dev = loaded[("hotpotqa", "dev")]
    first = by_id(dev, "5a8c7595554299585d9e36b6")
    assert first.answer == "Chief of Protocol"
    assert first.gold_titles == ["Shirley Temple", "Kiss and Tell (1945 film)"]
    assert len(first.knowledge) == 10
    # IRCoT's subsample keeps fewer than 10 paragraphs for 11 questions
    assert sum(len(s.knowledge) == 10 for s in dev) == 489
    assert all(2 <= len(s.knowledge) <= 10 and len(s.gold_titles) == 2 for s in dev)
    train = loaded[("hotpotqa", "train")]
    assert sum(len(s.knowledge) == 10 for s in train) == 99
    assert all(not d.text.startswith(" ") for s in train for d in s.knowledge)


def test_2wiki_records(loaded) -> None:
    dev = loaded[("2wiki", "dev")]
    first = by_id(dev, "298f23b8088a11ebbd6eac1f6bf848b6")
    assert first.answer == "El Extraño Viaje" and len(first.knowledge) == 10
    assert first.gold_titles == ["El extraño viaje", "Love in Pawn", "Fernando Fernán Gómez",
                                 "Charles Saunders (director)"]
    # 19 questions repeat a paragraph verbatim upstream; repeats are dropped from the knowledge
    assert sum(len(s.knowledge) == 10 for s in dev) == 481
    assert all(len({(d.title, d.text) for d in s.knowledge}) == len(s.knowledge) for s in dev)


def test_strategyqa_records(loaded) -> None:
    dev = loaded[("strategyqa", "dev")]
    first = by_id(dev, "e0044a7b4d146d611e73")
    assert first.answer == "no" and first.answer_aliases == ["false"]
    assert [d.title for d in first.knowledge] == ["Fact 1", "Fact 2"]
    assert first.knowledge[0].text == "Albany, GA has around 75,000 people"
    assert first.rationale.startswith("1. What is the population of Albany, Georgia?")
    assert {s.answer for s in dev} == {"yes", "no"}
    assert sum(s.answer == "yes" for s in dev) == 107


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_gold_answer_scores_correct(loaded, name: str) -> None:
    bench = BENCHMARKS[name]
    split = bench.splits[0]
    for s in loaded[(name, split)][:200]:
        score = bench.score(s.answer, s)
        assert score.correct and score.value == 1.0, (s.id, s.answer, score)
        assert score.extraction is not None and score.extraction.ok


def test_gsm8k_solutions_extract_their_answer(loaded) -> None:
    bench = get_benchmark("gsm8k")
    assert all(bench.score(s.meta["solution"], s).correct for s in loaded[("gsm8k", "test")])


def test_missing_data_dir_names_path_and_env(monkeypatch, tmp_path) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("ADASWITCH_DATA_DIR", str(missing))
    with pytest.raises(DataNotFoundError, match="ADASWITCH_DATA_DIR") as info:
        get_benchmark("gsm8k").load()
    assert str(missing) in str(info.value)
    monkeypatch.setenv("ADASWITCH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="test.jsonl"):
        get_benchmark("gsm8k").load()
