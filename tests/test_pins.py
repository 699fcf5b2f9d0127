"""The three pin lists agree, every pin is exact and explained, and binder/ is complete on its own; the second
environment's list (requirements-tf-horovod.txt) is exact too and agrees with requirements.txt where they share."""
import os
import subprocess
import re

import pytest
import yaml

from conftest import REPO_ROOT

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s#]+)")


def requirement_pins(name="requirements.txt"):
    pins, lines = {}, []
    for line in (REPO_ROOT / name).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        lines.append(line)
        match = PIN.match(line)
        assert match, f"{name} line is not an exact == pin: {line!r}"
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


# The second environment: TensorFlow 2.15 + Keras 2 for Horovod's TensorFlow workers (see requirements-tf-horovod.txt).
TF_HOROVOD_PINS = "requirements-tf-horovod.txt"
DIFFERENT_ON_PURPOSE = {"tensorflow-cpu", "keras"}  # the reason the second environment exists


def test_tf_horovod_pins_are_exact_and_explained():
    pins = requirement_pins(TF_HOROVOD_PINS)  # asserts == and a why-comment on every line
    assert pins["tensorflow-cpu"] == "2.15.1" and pins["keras"].startswith("2.15.")
    assert pins["numpy"] == "1.26.4" and pins["horovod"] == "0.28.1"
    assert {"cmake", "setuptools", "wheel"} <= set(pins)  # the build's tools, as in requirements.txt
    assert not {"mxnet", "jupyterlab", "ipykernel"} & set(pins), "worker processes only: no kernel, no MXNet"
    header = (REPO_ROOT / TF_HOROVOD_PINS).read_text().split("\n\n")[0]
    assert "horovod#4290" in header and "Keras 3" in header  # the why of the whole file


def test_tf_horovod_pins_agree_with_requirements_where_they_share_a_package():
    main, second = requirement_pins(), requirement_pins(TF_HOROVOD_PINS)
    shared = set(main) & set(second)
    assert {"numpy", "horovod", "psutil", "pyyaml", "cmake", "setuptools", "wheel"} <= shared
    differ = {name for name in shared if main[name] != second[name]}
    assert differ == DIFFERENT_ON_PURPOSE, ", ".join(f"{n}: {main[n]} vs {second[n]}" for n in sorted(differ))


def test_a_second_setup_run_only_checks():
    """`make test` has just run scripts/setup.sh, so running it again must find every environment in place:
    nothing created, installed or built, each environment's pins and Horovod build reported as present."""
    run = subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-2000:]
    for word in ("creating", "installing the pins", "building Horovod"):
        assert word not in output, f"a second run of setup.sh did work ({word!r}):\n{output[-2000:]}"
    assert "requirements.txt already installed in .venv" in output
    assert "Horovod already built for MXNet + Gloo in .venv" in output
    if os.environ.get("HPML_TF_HOROVOD") == "skip":
        assert "HPML_TF_HOROVOD=skip" in output
    else:
        assert f"{TF_HOROVOD_PINS} already installed in .venv-tf-horovod" in output
        assert "Horovod already built for TensorFlow + Gloo in .venv-tf-horovod" in output
    assert "data check passed" in output and output.rstrip().endswith("ready")


def test_build_horovod_takes_the_version_from_the_environment_pins():
    script = (REPO_ROOT / "scripts" / "build_horovod.sh").read_text()
    # The Horovod version comes from the pin list of the environment being built.
    assert "PINS=requirements.txt" in script and f"PINS={TF_HOROVOD_PINS}" in script
    assert "HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1" in script


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
