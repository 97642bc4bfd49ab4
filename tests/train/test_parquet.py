"""write_verl_parquet: the DESIGN.md row contract, streaming, atomicity, overlong filtering."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from looptool.samples import StepSample
from looptool.train.parquet import PARQUET_SCHEMA, iter_prompts, parquet_problems, write_verl_parquet


def test_rows_follow_the_contract(tmp_path, samples):
    path = tmp_path / "d.parquet"
    report = write_verl_parquet(samples, path, data_source="looptool/test", row_group_size=3)
    table = pq.read_table(path)
    assert table.schema.equals(PARQUET_SCHEMA)
    assert (report.rows, report.call_rows, report.text_rows) == (8, 6, 2)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3  # streamed in groups of 3
    rows = table.to_pylist()
    first = rows[0]
    assert first["data_source"] == "looptool/test" and first["ability"] == "tool_call"
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]
    assert "<tools>" in first["prompt"][0]["content"] and "get_weather" in first["prompt"][0]["content"]
    assert "2025-01-01 09:00" in first["prompt"][0]["content"]
    assert first["reward_model"] == {
        "style": "rule",
        "ground_truth": json.dumps([{"name": "get_weather", "arguments": {"city": "paris"}}]),
    }
    assert json.loads(first["extra_info"]["tools"])[0]["function"]["name"] == "get_weather"
    assert [r["extra_info"]["index"] for r in rows] == list(range(8))
    assert [r["extra_info"]["id"] for r in rows] == [s.id for s in samples]
    assert rows[3]["reward_model"]["ground_truth"] == "[]"
    assert len(json.loads(rows[2]["reward_model"]["ground_truth"])) == 2
    assert parquet_problems(path) == []
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_overlong_prompts_are_filtered_and_reported(sample_factory, tmp_path):
    samples = sample_factory(8, long_every=4)  # s003 (text) and s007 are long
    calls = []

    def count(prompts):
        calls.append(len(prompts))
        return [sum(len(m["content"].split()) for m in p) for p in prompts]

    report = write_verl_parquet(samples, tmp_path / "d.parquet", max_prompt_tokens=500, count_tokens=count, row_group_size=4)
    assert [f.id for f in report.filtered] == ["s003", "s007"]
    assert all(f.prompt_tokens > 500 for f in report.filtered)
    assert report.rows == 6 and calls == [4, 4]
    rows = pq.read_table(tmp_path / "d.parquet").to_pylist()
    assert [r["extra_info"]["index"] for r in rows] == list(range(6))  # contiguous after filtering
    kept = {s.id: s for s in samples}
    for row in rows:  # kept rows are whole: nothing truncated
        assert row["prompt"][-1]["content"] == kept[row["extra_info"]["id"]].messages[-1]["content"]


def test_limit_without_counter_is_an_error(tmp_path, samples):
    with pytest.raises(ValueError, match="needs count_tokens"):
        write_verl_parquet(samples, tmp_path / "d.parquet", max_prompt_tokens=10)


def test_failure_midway_leaves_no_file(tmp_path, samples):
    def broken():
        yield from samples[:3]
        raise RuntimeError("source died")

    with pytest.raises(RuntimeError, match="source died"):
        write_verl_parquet(broken(), tmp_path / "d.parquet", row_group_size=2)
    assert list(tmp_path.iterdir()) == []


def test_duplicate_ids_are_rejected(tmp_path, samples):
    with pytest.raises(ValueError, match="duplicate sample id 's000'"):
        write_verl_parquet(samples + [samples[0]], tmp_path / "d.parquet")


def test_bad_message_is_named(tmp_path):
    bad = StepSample(id="bad1", tools=[], messages=[{"role": "narrator", "content": "x"}])
    with pytest.raises(Exception, match="narrator|role"):
        write_verl_parquet([bad], tmp_path / "d.parquet")


def test_parquet_problems_name_file_and_column(tmp_path):
    import pyarrow as pa

    assert "file not found" in parquet_problems(tmp_path / "missing.parquet")[0]
    (tmp_path / "x.parquet").write_text("not parquet")
    assert "not a readable parquet" in parquet_problems(tmp_path / "x.parquet")[0]
    pq.write_table(pa.table({"prompt": [[{"role": "user", "content": "hi"}]]}), tmp_path / "p.parquet")
    problems = parquet_problems(tmp_path / "p.parquet")
    assert any("'reward_model' missing" in p for p in problems) and any("'data_source' missing" in p for p in problems)


def test_iter_prompts_yields_ids(tmp_path, samples):
    write_verl_parquet(samples, tmp_path / "d.parquet")
    batches = list(iter_prompts(tmp_path / "d.parquet", batch_size=5))
    assert [len(ids) for ids, _ in batches] == [5, 3]
    assert batches[0][0][0] == "s000" and batches[0][1][0][0]["role"] == "system"
