"""The measured tables of README.md and docs/INSTRUCTOR.md are generated from committed results files."""
import importlib.util
import json

import pytest

from conftest import REPO_ROOT
from tools import notebook_runner

spec = importlib.util.spec_from_file_location("write_docs", REPO_ROOT / "scripts" / "write_docs.py")
write_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(write_docs)


def entry(stem, mode, seconds, total_mb, ok=True, key_results=()):
    return {"notebook": stem, "mode": mode, "ok": ok, "seconds": seconds, "peak_rss_mb": total_mb / 2,
            "peak_total_mb": total_mb, "figures": 1, "key_results": list(key_results), "failed": not ok}


def test_instructor_table_reports_both_modes_and_the_budget():
    results = {"01-a:smoke": entry("01-a", "smoke", 12.3, 700), "01-a:full": entry("01-a", "full", 95, 1500),
               "02-b:full": entry("02-b", "full", 700, 900),  # over the 10-minute budget
               "03-c:smoke": entry("03-c", "smoke", 20, 800, ok=False)}
    table = write_docs.instructor_timings(results)
    lines = table.splitlines()
    assert "| `01-a` | 12 s | 0.68 GB | 95 s | 1.46 GB | yes |" in lines
    assert "| `02-b` | not run | not run | 700 s | 0.88 GB | NO |" in lines
    assert "| `03-c` | 20 s (FAILED) | 0.78 GB | not run | not run | not run |" in lines
    assert "0.5 minutes in smoke mode, 13.2 minutes in full mode" in table


def test_reference_results_quote_key_results_and_bench_rows():
    results = {"01-a:full": entry("01-a", "full", 95, 1500, key_results=["im2col at 64% of the peak", "x | y"])}
    bench = {"machine": {"processor": "Test CPU", "cpus": 2},
             "rows": [{"benchmark": "horovod_weak_scaling_lenet5", "case": "efficiency", "value": 0.9061}]}
    text = write_docs.reference_results(results, bench)
    assert "| `01-a` | im2col at 64% of the peak; x / y |" in text  # a | would break the table
    assert "(target >= 0.85) | 0.91 |" in text
    assert "processor Test CPU, cpus 2" in text


def test_replace_block_only_touches_its_markers():
    text = "intro\n<!-- BEGIN t -->\nold\n<!-- END t -->\nrest\n"
    assert write_docs.replace_block(text, "t", "new\nlines") == "intro\n<!-- BEGIN t -->\nnew\nlines\n<!-- END t -->\nrest\n"
    with pytest.raises(ValueError, match="markers <!-- BEGIN other -->"):
        write_docs.replace_block(text, "other", "x")


def test_committed_documents_match_the_committed_results(capsys):
    assert write_docs.main(["--check"]) == 0, capsys.readouterr().err


def test_committed_results_cover_every_notebook_in_both_modes_within_budget():
    results = json.loads(write_docs.NOTEBOOK_RESULTS.read_text())
    for path in notebook_runner.notebook_paths():
        for mode in write_docs.MODES:
            assert f"{path.stem}:{mode}" in results, f"{path.stem} has no {mode}-mode result: run it, then make docs"
            assert results[f"{path.stem}:{mode}"]["ok"], f"{path.stem} failed in {mode} mode in the reference run"
        full = results[f"{path.stem}:full"]
        assert full["seconds"] <= write_docs.BUDGET_SECONDS and write_docs._memory(full) <= write_docs.BUDGET_MB
