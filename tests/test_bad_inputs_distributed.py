"""Bad arguments to the launchers and the allreduce model fail at once with an error naming the argument;
no worker is started for any of these cases."""
import math

import pytest

from hpml_helpers import allreduce_model, distributed

HVD, PS, TF = distributed.run_horovod, distributed.run_parameter_server, distributed.run_tf_multiworker
W = "allreduce_check"

CASES = [
    (HVD, (W,), {"timeout": math.nan}, ValueError, "timeout"),
    (HVD, (W,), {"timeout": math.inf}, ValueError, "timeout"),
    (HVD, (W,), {"timeout": 0}, ValueError, "timeout"),
    (HVD, (W,), {"timeout": -5}, ValueError, "timeout"),
    (HVD, (W,), {"timeout": True}, TypeError, "timeout"),
    (HVD, (W,), {"timeout": "60"}, TypeError, "timeout"),
    (PS, ("ps_roundtrip",), {"timeout": math.nan}, ValueError, "timeout"),
    (TF, ("tf_multiworker_mnist",), {"timeout": -1.0}, ValueError, "timeout"),
    (HVD, (W,), {"num_proc": True}, TypeError, "num_proc"),
    (HVD, (W,), {"num_proc": 0}, ValueError, "num_proc"),
    (HVD, (W,), {"num_proc": "2"}, TypeError, "num_proc"),
    (HVD, (W,), {"num_proc": 10**6, "oversubscribe": True}, ValueError, "num_proc"),
    (HVD, (W,), {"num_proc": 2.0}, TypeError, "num_proc"),
    (PS, ("ps_roundtrip",), {"num_workers": False}, TypeError, "num_workers"),
    (PS, ("ps_roundtrip",), {"num_workers": 0}, ValueError, "num_workers"),
    (PS, ("ps_roundtrip",), {"num_servers": 0}, ValueError, "num_servers"),
    (TF, ("tf_multiworker_mnist",), {"num_workers": 10**6, "oversubscribe": True}, ValueError, "num_workers"),
    (HVD, ("no_such_worker",), {}, ValueError, "script"),
    (HVD, ("/nonexistent/worker.py",), {}, ValueError, "script"),
    (HVD, (None,), {}, TypeError, "script"),
    (PS, (3,), {}, TypeError, "script"),
    (HVD, (W,), {"args": "--epochs 1"}, TypeError, "args"),
    (HVD, (W,), {"args": [None]}, TypeError, "args"),
    (PS, ("ps_roundtrip",), {"args": {"epochs": 1}}, TypeError, "args"),
    (HVD, (W,), {"env_vars": ["A=1"]}, TypeError, "env_vars"),
    (HVD, (W,), {"env_vars": {1: "x"}}, TypeError, "env_vars"),
    (HVD, (W,), {"env_vars": {"A": None}}, TypeError, "env_vars"),
    (HVD, (W,), {"env_vars": {"A=B": "1"}}, TypeError, "env_vars"),
    (HVD, (W,), {"hosts": 5}, TypeError, "hosts"),
    (HVD, (W,), {"hosts": "node1"}, ValueError, "hosts"),
    (HVD, (W,), {"hosts": "node1:0"}, ValueError, "hosts"),
    (HVD, (W,), {"hosts": "node1:2,"}, ValueError, "hosts"),
    (PS, ("ps_roundtrip",), {"port": 80}, ValueError, "port"),
    (PS, ("ps_roundtrip",), {"port": "9000"}, TypeError, "port"),
    (PS, ("ps_roundtrip",), {"port": 70000}, ValueError, "port"),
    (TF, ("tf_multiworker_mnist",), {"ports": 20001}, TypeError, "ports"),
    (TF, ("tf_multiworker_mnist",), {"ports": [20001]}, ValueError, "ports"),
    (TF, ("tf_multiworker_mnist",), {"ports": ["a", "b"]}, TypeError, "ports"),
    (HVD, (W,), {"controller": "nccl"}, ValueError, "controller"),
    (HVD, (W,), {"env": None}, ValueError, "env"),
    (HVD, (W,), {"bind_cores": 1}, TypeError, "bind_cores"),
    (HVD, (W,), {"oversubscribe": "yes"}, TypeError, "oversubscribe"),
    (HVD, (W,), {"threads_per_worker": 0}, ValueError, "threads_per_worker"),
    (HVD, (W,), {"threads_per_worker": True}, TypeError, "threads_per_worker"),
    (PS, ("ps_roundtrip",), {"mode": "sync"}, ValueError, "mode"),
    (PS, ("ps_roundtrip",), {"stream": "no"}, TypeError, "stream"),
    (distributed.tf_config, ([20001, 20002], 2), {}, ValueError, "index"),
    (distributed.tf_config, ([], 0), {}, TypeError, "ports"),
    (distributed.horovod_python, ("pytorch",), {}, ValueError, "env"),
    (allreduce_model.ring_allreduce_time, (math.nan, 2, 1e-5, 1e9), {}, ValueError, "num_bytes"),
    (allreduce_model.ring_allreduce_time, (1e6, True, 1e-5, 1e9), {}, TypeError, "num_workers"),
    (allreduce_model.ring_allreduce_time, (1e6, 2, 1e-5, 0), {}, ValueError, "bandwidth"),
    (allreduce_model.crossover_bytes, ("1e-5", 1e9, 2), {}, TypeError, "latency"),
]


@pytest.mark.parametrize("function, args, kwargs, error, name", CASES,
                         ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(CASES)])
def test_bad_argument_is_named(function, args, kwargs, error, name):
    with pytest.raises(error, match=name):
        function(*args, **kwargs)
