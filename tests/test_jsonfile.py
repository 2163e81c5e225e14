"""Atomic small files: whole or not at all, with no temporary file left behind."""

from __future__ import annotations

import pytest

from adaswitch.jsonfile import read_json, replacing, write_json


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    write_json(path, {"n": 1})
    with pytest.raises(RuntimeError):
        with replacing(path) as f:
            f.write('{"n": 2, "torn')
            raise RuntimeError("killed")
    assert read_json(path) == {"n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    write_json(path, {"n": 3})
    assert read_json(path) == {"n": 3} and oct(path.stat().st_mode & 0o777) == "0o644"
