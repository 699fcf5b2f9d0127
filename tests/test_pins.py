"""The three pin lists agree, every pin is exact and explained, and binder/ is complete on its own."""
import os
import re

import pytest
import yaml

from conftest import REPO_ROOT

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s#]+)")


def requirement_pins():
    pins, lines = {}, []
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        lines.append(line)
        match = PIN.match(line)
        assert match, f"requirements.txt line is not an exact == pin: {line!r}"
        assert "#" in line and line.split("#", 1)[1].strip(), f"pin without a why-comment: {line!r}"
        pins[match.group(1).lower()] = match.group(2)
    return pins


def conda_pins(path):
    spec = yaml.safe_load(path.read_text())
    dependencies = spec["dependencies"]
    pip_section = next(item["pip"] for item in dependencies if isinstance(item, dict))
    pins = {}
    for line in pip_section:
        match = PIN.match(line)
        assert match, f"{path.name}: pip entry is not an exact == pin: {line!r}"
        pins[match.group(1).lower()] = match.group(2)
    return spec, pins


def test_requirements_pin_the_stack_the_kit_promises():
    pins = requirement_pins()
    assert pins["numpy"] == "1.26.4"
    assert pins["tensorflow-cpu"] == "2.21.0"
    assert pins["keras"] == "3.15.1"
    assert pins["mxnet"] == "1.9.1"
    assert pins["horovod"] == "0.28.1"
    assert pins["jupyterlab"].startswith("4.") and pins["ipywidgets"].startswith("8.")
    for name in ("matplotlib", "scikit-image", "scikit-learn", "tqdm", "pytest", "nbclient"):
        assert name in pins


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_conda_files_carry_the_same_pins(path):
    spec, pins = conda_pins(REPO_ROOT / path)
    assert "python=3.11" in spec["dependencies"]
    expected = {name: version for name, version in requirement_pins().items() if name != "horovod"}
    assert pins == expected, "pins differ from requirements.txt: " + ", ".join(
        f"{n}: {pins.get(n)} vs {expected.get(n)}" for n in sorted(set(pins) | set(expected))
        if pins.get(n) != expected.get(n))


def test_horovod_is_built_by_script_with_the_pinned_version():
    script = (REPO_ROOT / "scripts" / "build_horovod.sh").read_text()
    assert "requirements.txt" in script and "HOROVOD_WITH_GLOO=1" in script
    assert "--no-build-isolation" in script and "--no-cache-dir" in script


def test_binder_post_build_is_executable_and_stops_on_errors():
    post_build = REPO_ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text()
    assert text.startswith("#!/bin/bash") and "set -e" in text
    assert "build_horovod.sh" in text and "--verify" in text


def test_ci_calls_the_readme_test_command():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make lab" in readme
