"""No measured number is typed into a notebook's Markdown: those come from the run (``report.takeaways``,
``report.key_result``, printed tables), so they never go stale.

How a measured number is told from a cited one. A *measured-looking* number is a number with a unit of
time, memory, speed, error or ratio: ``12 s``, ``3.5 min``, ``1,829 MB``, ``2 GB``, ``17.3%``, ``9,800
images/s``, ``264 GFLOP/s``, ``31 GB/s``, ``1.4x`` (a ratio, not ``28x28``), ``3 points``. It is allowed
only where the text says where it comes from: its sentence cites a source (an author and year such as
"(Zeiler & Fergus 2014)" or "Goyal et al. 2017", "arXiv", "Table 3", a datasheet, "published", a URL,
"slide 42"). Numbers in ``code`` spans are settings (``batch_size=64``, ``20%`` of a split) and are not
checked; headings are not checked.
"""
import json
import re

import pytest

from conftest import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
NUMBER = r"(?<![\w.])\d[\d,]*(?:\.\d+)?"
UNIT = (r"(?:\s?(?:%|percent\b|ms\b|us\b|µs\b|s\b|sec\b|seconds?\b|min\b|minutes?\b|h\b|hours?\b|days?\b|"
        r"[KMG]i?B\b|[KMGT]B/s\b|images?/s\b|img/s\b|[GMT]FLOP/s\b|[GMT]FLOPS\b|points?\b|pp\b|"
        r"times (?:faster|slower)\b)|x(?![\dx\w]))")
MEASURED = re.compile(NUMBER + UNIT)
CITATION = re.compile(r"\bet al\b|\(\s*[A-Z][^()]*\b(19|20)\d\d[a-z]?\s*[),;]|\b[A-Z][a-z]+ (?:&|and) [A-Z][a-z]+,? "
                      r"(?:\()?(19|20)\d\d|arXiv|\bTable \d|datasheet|\bpublished\b|https?://|\bslides? \d|"
                      r"\bpaper\b|\blecture\b", re.IGNORECASE)


def _sentences(markdown):
    """The Markdown's prose, without code spans, code blocks or headings, cut into sentences/lines."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    pieces = []
    for line in lines:
        pieces += re.split(r"(?<=[.!?])\s+(?=[A-Z(*])", line)
    return pieces


def measured_numbers(markdown):
    """The measured-looking numbers in ``markdown`` whose sentence cites no source."""
    found = []
    for sentence in _sentences(markdown):
        if CITATION.search(sentence):
            continue
        found += [match.group().strip() for match in MEASURED.finditer(sentence)]
    return found


@pytest.mark.parametrize("text, expected", [
    ("The kit's loop ran at 9,800 images/s, 1.4x model.fit.", ["9,800 images/s", "1.4x"]),
    ("Reference run: 262 s and 1,829 MB for the whole notebook.", ["262 s", "1,829 MB"]),
    ("All five variants end at 17-19% test error.", ["19%"]),
    ("AlexNet top-1 error 40.5% (Zeiler & Fergus 2014, Table 3).", []),
    ("Goyal et al. trained ResNet-50 in 1 hour with 8192 images per batch.", []),
    ("A 64x64 canvas with eight 8x8 fragments, `batch_size=64`, `20%` held out.", []),
    ("## 5. Reading the result (12 s)", []),
    ("The V100 datasheet gives 15.7 TFLOP/s and 900 GB/s.", []),
])
def test_the_rule_tells_measured_from_cited_numbers(text, expected):
    assert measured_numbers(text) == expected


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_no_measured_number_is_typed_into_markdown(path):
    cells = json.loads(path.read_text())["cells"]
    offenders = [(index, number) for index, cell in enumerate(cells) if cell["cell_type"] == "markdown"
                 for number in measured_numbers("".join(cell["source"]))]
    assert not offenders, (f"{path.name}: measured-looking numbers typed into Markdown (cell, number): {offenders}; "
                           "compute them in a cell (hpml_helpers.report.takeaways) or cite their source")
