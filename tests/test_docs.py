"""The measured tables of README.md and docs/INSTRUCTOR.md are generated from committed results files; the
README's headlines stay short and its gallery is cut from the executed notebooks."""
import base64
import importlib.util
import io
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


def test_reference_results_quote_one_headline_per_notebook_and_bench_rows():
    results = {"01-a:full": entry("01-a", "full", 95, 1500, key_results=["im2col at 64% | of the peak", "x y"]),
               "02-b:full": entry("02-b", "full", 95, 1500, ok=False), "03-c:smoke": entry("03-c", "smoke", 5, 500)}
    bench = {"machine": {"processor": "Test CPU", "cpus": 2},
             "rows": [{"benchmark": "horovod_weak_scaling_lenet5", "case": "efficiency", "value": 0.9061}]}
    text = write_docs.reference_results(results, bench)
    lines = text.splitlines()
    assert "| `01-a` | im2col at 64% / of the peak |" in lines  # the first key result only; a | would break the table
    assert "| `02-b` | no key result recorded (FAILED) |" in lines
    assert "| `03-c` | not run in full mode yet |" in lines
    assert "(target >= 0.85) | 0.91 |" in text
    assert "processor Test CPU, cpus 2" in text


LONG = ("parameter server, 2 workers: sync 5523 images/s, test accuracy 87.8%; async 5385 images/s, test accuracy "
        "88.7%; Horovod: 7,322 images/s on 1 worker, 10,260 on 2: efficiency 0.70")


@pytest.mark.parametrize("text, expected", [
    ("float32 GEMM peak 331 GFLOP/s", "float32 GEMM peak 331 GFLOP/s"),  # short: unchanged
    ("im2col at 59% of the GEMM peak (312 GFLOP/s); 117x faster than loops",  # three numbers: unchanged
     "im2col at 59% of the GEMM peak (312 GFLOP/s); 117x faster than loops"),
    (LONG, "parameter server, 2 workers: sync 5523 images/s, test accuracy 87.8% …"),  # cut after whole clauses
    ("test error: full 19.0 %, without 3, 4 17.3 %, without 7 17.2 %, without 6, 7 17.4 %",  # no "without 6" left
     "test error: full 19.0 %, without 3, 4 17.3 %, without 7 17.2 % …"),
    ("LeNet-5 on MNIST 5-9, 3x3 kernels, batch 32, filter 0: 97.55%, 9,484 images/s, 1.4x, 2.4e-07",
     "LeNet-5 on MNIST 5-9, 3x3 kernels, batch 32, filter 0: 97.55%, 9,484 images/s, 1.4x …"),  # settings don't count
    ("word " * 60, ("word " * 60)[:158].rstrip() + " …"),  # one clause too long: cut at the character limit
])
def test_headlines_keep_at_most_three_numbers_and_160_characters(text, expected):
    short = write_docs.shorten(text)
    assert short == expected
    assert len(short) <= write_docs.HEADLINE_CHARS and len(write_docs.headline_numbers(short)) <= 3


def test_headline_picks_its_key_result_and_fills_the_template_from_its_values():
    texts = ["batch 32, rate 0.025: test error 2.80%",
             "batch 512 vs 32, test error: naive 7.30%, linear 3.10%, linear + warmup 3.40% (batch 32: 2.80%)"]
    values = [{}, {"batch_size": 512, "small": 2.8, "naive": 7.3, "linear": 3.1, "linear_warmup": 3.4}]
    stem = "09-large-batch-training"
    full = {"key_results": texts, "key_values": values}
    assert write_docs.headline(stem, full) == "batch 512 test error: naive 7.3%, linear + warmup 3.4% (batch 32: 2.8%)"
    # values of another version (a name missing), or none recorded: the key result's text, shortened
    expected = "batch 512 vs 32, test error: naive 7.30%, linear 3.10% …"  # the last part would make 4 numbers
    assert write_docs.headline(stem, {"key_results": texts, "key_values": [{}, {"naive": 7.3}]}) == expected
    assert write_docs.headline(stem, {"key_results": texts}) == expected
    assert write_docs.headline(stem, {"key_results": texts[:1]}) == texts[0]  # nothing picked: the first
    assert write_docs.headline("99-other", full) == texts[0]


def test_every_row_of_the_committed_readme_is_short():
    results = json.loads(write_docs.NOTEBOOK_RESULTS.read_text())
    for stem, entries in write_docs._notebooks(results):
        if entries["full"]:
            text = write_docs.headline(stem, entries["full"])
            assert len(text) <= write_docs.HEADLINE_CHARS and len(write_docs.headline_numbers(text)) <= 3, text


def png_bytes(width, height, color=(200, 30, 30)):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def executed_notebook(path, cells):
    """A tiny executed notebook: cells given as (first line, tags, [PNG bytes of its outputs])."""
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {"tags": tags}, "source": [source + "\n", "plt.show()"],
         "execution_count": 1, "outputs": [{"output_type": "display_data", "metadata": {},
                                            "data": {"image/png": base64.b64encode(png).decode(), "text/plain": "fig"}}
                                           for png in pngs]}
        for source, tags, pngs in cells]}
    path.write_text(json.dumps(notebook))


def test_gallery_images_come_from_the_executed_notebooks_small_and_missing_ones_are_kept(tmp_path, capsys):
    from PIL import Image

    executed, images = tmp_path / "build", tmp_path / "docs" / "images"
    executed.mkdir()
    executed_notebook(executed / "01-a.ipynb", [("x = 1", [], []), ("fig = plot(x)", [], [png_bytes(50, 20)]),
                                                ("y = 2", ["gallery"], [png_bytes(40, 40), png_bytes(1280, 480)])])
    images.mkdir(parents=True)
    kept = images / "02-b-1.png"
    kept.write_bytes(b"the image of an earlier run")
    (executed / "03-c.ipynb").write_text("{ not json")  # an interrupted write
    executed_notebook(executed / "04-d.ipynb", [("z = 3", ["gallery"], [b"not a PNG"])])
    gallery = [("01-a", "fig = plot(", 0, "by its first line"), ("01-a", "gallery", 1, "by its tag, second plot"),
               ("02-b", "gallery", 0, "its notebook did not run"), ("01-a", "nothing = here", 0, "no such cell"),
               ("01-a", "gallery", 5, "no sixth plot"), ("03-c", "gallery", 0, "broken notebook"),
               ("04-d", "gallery", 0, "broken image")]
    written = write_docs.write_gallery(executed, images, gallery)
    assert written == [images / "01-a-1.png", images / "01-a-2.png"]
    with Image.open(images / "01-a-1.png") as small:
        assert small.size == (50, 20)  # already small: not enlarged
    with Image.open(images / "01-a-2.png") as large:
        assert large.size == (640, 240)  # at most 640 px wide, same aspect
    assert kept.read_bytes() == b"the image of an earlier run"
    out = capsys.readouterr().out
    assert "02-b-1.png kept as it is" in out and "02-b.ipynb not found (run `make notebooks`)" in out
    assert "no cell tagged or starting with 'nothing = here'" in out and "has 2 plot(s), not 6" in out
    assert "03-c-1.png kept as it is: " in out and "04-d-1.png kept as it is: " in out and "could not be read" in out
    assert not any((images / name).exists() for name in ("01-a-3.png", "01-a-4.png", "03-c-1.png", "04-d-1.png"))

    block = write_docs.gallery_block(gallery, images, tmp_path / "README.md", tmp_path / "notebooks")
    assert '<a href="notebooks/01-a.ipynb"><img src="docs/images/01-a-1.png" width="280" alt="by its first line">' in block
    assert "its notebook did not run (`02-b`)" in block  # an image kept from an earlier run is still shown
    assert "no such cell" not in block and "no sixth plot" not in block
    assert block.splitlines()[1] == "|---|---|---|" and len(block.splitlines()) == 3  # three images: one row
    assert write_docs.gallery_block(gallery, tmp_path / "empty").startswith("No plots yet")


def test_gallery_choices_name_cells_that_the_notebooks_have():
    stems = {path.stem for path in notebook_runner.notebook_paths()}
    assert len(write_docs.GALLERY) == 6
    for stem, key, number, caption in write_docs.GALLERY:
        assert stem in stems, f"{stem} is not a notebook"
        cells = json.loads((REPO_ROOT / "notebooks" / f"{stem}.ipynb").read_text())["cells"]
        assert write_docs.find_cell(cells, key) is not None, f"{stem} has no cell tagged or starting with {key!r}"
        assert number >= 0 and caption


def test_replace_block_only_touches_its_markers():
    text = "intro\n<!-- BEGIN t -->\nold\n<!-- END t -->\nrest\n"
    assert write_docs.replace_block(text, "t", "new\nlines") == "intro\n<!-- BEGIN t -->\nnew\nlines\n<!-- END t -->\nrest\n"
    empty = "<!-- BEGIN t -->\n<!-- END t -->\n"  # an empty block is filled too
    assert write_docs.replace_block(empty, "t", "new") == "<!-- BEGIN t -->\nnew\n<!-- END t -->\n"
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


def test_merging_a_run_keeps_the_other_notebooks_results(tmp_path):
    target, source = tmp_path / "reference.json", tmp_path / "run.json"
    target.write_text(json.dumps({"01-a:full": entry("01-a", "full", 95, 1500), "02-b:full": entry("02-b", "full", 60, 900)}))
    source.write_text(json.dumps({"02-b:full": entry("02-b", "full", 70, 950), "05-c:smoke": entry("05-c", "smoke", 9, 400)}))
    assert write_docs.merge_results(source, target) == ["02-b:full", "05-c:smoke"]
    merged = json.loads(target.read_text())
    assert sorted(merged) == ["01-a:full", "02-b:full", "05-c:smoke"]
    assert merged["01-a:full"]["seconds"] == 95 and merged["02-b:full"]["seconds"] == 70


def test_results_of_a_notebook_that_is_gone_stay_in_the_file_but_leave_the_documents(tmp_path):
    (tmp_path / "01-a.ipynb").write_text("{}")
    results = {"01-a:full": entry("01-a", "full", 95, 1500), "02-gone:full": entry("02-gone", "full", 60, 900),
               "02-gone:smoke": entry("02-gone", "smoke", 9, 400)}
    assert sorted(write_docs.current_results(results, tmp_path)) == ["01-a:full"]
    assert "`02-gone`" not in write_docs.instructor_timings(write_docs.current_results(results, tmp_path))
