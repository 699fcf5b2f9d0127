"""The SLURM templates in cluster/: valid bash, and in DRY_RUN=1 mode with a fake SLURM allocation
(SLURM_* variables and a stub ``scontrol show hostnames``) they print the commands a real job would run."""
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from hpml_helpers.paths import REPO_ROOT
CLUSTER = REPO_ROOT / "cluster"
TEMPLATES = ("horovod_mpi.sbatch", "horovod_tensorflow.sbatch", "tf_multiworker.sbatch",
             "mxnet_parameter_server.sbatch")
FAKE_SCONTROL = """#!/bin/bash
# Stub of SLURM's scontrol for the tests: expands the one node list the tests use.
if [ "$1 $2" = "show hostnames" ] && [ "$3" = "node[01-02]" ]; then printf 'node01\\nnode02\\n'; exit 0; fi
echo "fake scontrol: unexpected arguments: $*" >&2
exit 1
"""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.fixture()
def fake_slurm(tmp_path):
    """Environment of task ``SLURM_PROCID`` in a 2-node, 4-task allocation, scontrol stubbed on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(FAKE_SCONTROL)
    scontrol.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    env.update({"PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "DRY_RUN": "1", "SLURM_JOB_NODELIST": "node[01-02]",
                "SLURM_NTASKS": "4", "SLURM_NNODES": "2", "SLURM_PROCID": "0", "SLURM_CPUS_PER_TASK": "2"})
    return env


def dry_run(template, env, *args):
    completed = subprocess.run(["bash", str(CLUSTER / template), *args], env=env, capture_output=True, text=True,
                               timeout=30, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.splitlines()


@pytest.mark.parametrize("template", TEMPLATES)
def test_template_is_valid_bash_with_a_header_and_sbatch_lines(template):
    subprocess.run(["bash", "-n", str(CLUSTER / template)], check=True, timeout=30)
    text = (CLUSTER / template).read_text()
    assert text.startswith("#!/bin/bash\n# ") and "DRY_RUN=1" in text.split("#SBATCH")[0]
    assert re.search(r"^#SBATCH --nodes=\d+$", text, re.MULTILINE)


def test_horovod_template_with_horovodrun_and_with_srun(fake_slurm):
    lines = dry_run("horovod_mpi.sbatch", fake_slurm)
    assert lines[-1] == ("horovodrun -np 4 -H node01:2,node02:2 --mpi python "
                         "hpml_helpers/workers/horovod_gluon_mnist.py --epochs 5 --checkpoint lenet5.params")
    lines = dry_run("horovod_mpi.sbatch", {**fake_slurm, "LAUNCHER": "srun", "ARGS": "--epochs 1 --batch-size 32"})
    assert lines[-1] == ("srun --mpi=pmix --ntasks=4 python hpml_helpers/workers/horovod_gluon_mnist.py "
                         "--epochs 1 --batch-size 32")


def test_horovod_tensorflow_template_without_and_with_a_container(fake_slurm):
    keras = "hpml_helpers/workers/horovod_keras_mnist.py"
    lines = dry_run("horovod_tensorflow.sbatch", fake_slurm)
    assert lines[0] == ("Horovod + TensorFlow: 4 ranks on 2 node(s) (node01:2,node02:2), launcher horovodrun, "
                        "container none")
    assert lines[-1] == f"horovodrun -np 4 -H node01:2,node02:2 --mpi python {keras} --epochs 5 --checkpoint lenet5.h5"
    lines = dry_run("horovod_tensorflow.sbatch", {**fake_slurm, "LAUNCHER": "srun"})
    assert lines[-1] == f"srun --mpi=pmix --ntasks=4 python {keras} --epochs 5 --checkpoint lenet5.h5"
    # An NVIDIA TensorFlow container through pyxis: srun starts every rank inside the image (the default launcher).
    image = "nvcr.io#nvidia/tensorflow:24.01-tf2-py3"
    lines = dry_run("horovod_tensorflow.sbatch", {**fake_slurm, "CONTAINER": "pyxis", "IMAGE": image,
                                                  "ARGS": "--epochs 1 --context gpu"})
    assert lines[-1] == (f"srun --mpi=pmix --ntasks=4 --container-image={image} --container-mounts={REPO_ROOT}:{REPO_ROOT} "
                         f"--container-workdir={REPO_ROOT} python {keras} --epochs 1 --context gpu")
    benchmark = "hpml_helpers/workers/horovod_tf_synthetic_benchmark.py"
    lines = dry_run("horovod_tensorflow.sbatch", {**fake_slurm, "CONTAINER": "apptainer", "IMAGE": "tf.sif",
                                                  "SCRIPT": benchmark, "ARGS": "--model resnet50"})
    assert lines[-1] == (f"srun --mpi=pmix --ntasks=4 apptainer exec --nv --bind {REPO_ROOT} --pwd {REPO_ROOT} tf.sif "
                         f"python {benchmark} --model resnet50")


@pytest.mark.parametrize("procid", [0, 3])
def test_tf_template_builds_tf_config_from_the_node_list(fake_slurm, procid):
    lines = dry_run("tf_multiworker.sbatch", {**fake_slurm, "SLURM_PROCID": str(procid)})
    assert lines[1].startswith("srun --ntasks=4 --ntasks-per-node=2 --distribution=block bash ")
    assert lines[1].endswith("tf_multiworker.sbatch --task")
    match = re.fullmatch(r"TF_CONFIG='(.*)' python hpml_helpers/workers/tf_multiworker_mnist.py --epochs 5",
                         lines[-1])
    assert match, lines[-1]
    assert json.loads(match.group(1)) == {
        "cluster": {"worker": ["node01:23456", "node01:23457", "node02:23456", "node02:23457"]},
        "task": {"type": "worker", "index": procid}}
    task = dry_run("tf_multiworker.sbatch", {**fake_slurm, "SLURM_PROCID": "2"}, "--task")
    assert task == [lines[-1].replace('"index": %d' % procid, '"index": 2')]


def test_parameter_server_template_starts_scheduler_servers_and_workers(fake_slurm):
    lines = dry_run("mxnet_parameter_server.sbatch", {**fake_slurm, "MODE": "dist_async"})
    cluster = "DMLC_PS_ROOT_URI=node01 DMLC_PS_ROOT_PORT=9091 DMLC_NUM_SERVER=2 DMLC_NUM_WORKER=4"
    assert lines[1] == (f"srun --overlap --nodes=1 --ntasks=1 --nodelist=node01 env DMLC_ROLE=scheduler {cluster} "
                        "python -c 'import hpml_helpers, mxnet' &")
    assert lines[2] == (f"srun --overlap --ntasks=2 --ntasks-per-node=1 env DMLC_ROLE=server {cluster} "
                        "python -c 'import hpml_helpers, mxnet' &")
    assert lines[3] == (f"srun --overlap --ntasks=4 env DMLC_ROLE=worker {cluster} HPML_KVSTORE=dist_async "
                        "python hpml_helpers/workers/ps_training.py --epochs 5")


@pytest.mark.parametrize("template, extra, message", [
    ("horovod_mpi.sbatch", {"SLURM_JOB_NODELIST": ""}, "SLURM_JOB_NODELIST is not set: submit with sbatch"),
    ("horovod_mpi.sbatch", {"LAUNCHER": "mpirun"}, "LAUNCHER must be horovodrun or srun, got 'mpirun'"),
    ("horovod_mpi.sbatch", {"SLURM_NTASKS": "3"}, "SLURM_NTASKS=3 does not divide over 2 nodes"),
    ("horovod_tensorflow.sbatch", {"CONTAINER": "docker"}, "CONTAINER must be none, pyxis or apptainer, got 'docker'"),
    ("horovod_tensorflow.sbatch", {"CONTAINER": "pyxis"}, "CONTAINER=pyxis needs IMAGE"),
    ("horovod_tensorflow.sbatch", {"CONTAINER": "apptainer", "IMAGE": "tf.sif", "LAUNCHER": "horovodrun"},
     "CONTAINER=apptainer works with LAUNCHER=srun only"),
    ("horovod_tensorflow.sbatch", {"SLURM_NTASKS": "3"}, "SLURM_NTASKS=3 does not divide over 2 nodes"),
    ("tf_multiworker.sbatch", {"SLURM_NTASKS": ""}, "SLURM_NTASKS is not set"),
    ("mxnet_parameter_server.sbatch", {"MODE": "sync"}, "MODE must be dist_sync or dist_async, got 'sync'"),
    ("mxnet_parameter_server.sbatch", {"NUM_SERVERS": "two"}, "NUM_SERVERS must be a positive integer"),
])
def test_templates_name_what_is_wrong(fake_slurm, template, extra, message):
    completed = subprocess.run(["bash", str(CLUSTER / template)], env={**fake_slurm, **extra}, capture_output=True,
                               text=True, timeout=30, cwd=REPO_ROOT)
    assert completed.returncode == 2 and message in completed.stderr, completed.stderr
    assert completed.stdout == ""
