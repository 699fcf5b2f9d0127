"""Check functions for the notebooks' exercises: each prints a verdict and returns True or False.

A check never raises: a wrong answer, or one of the wrong kind (a string, None, a list, a function that
raises or takes the wrong arguments), prints one sentence saying what is wrong and returns False; any real
number is accepted (numpy scalars such as ``np.prod``'s results included). The ``...`` placeholder the
notebooks ship with prints "Not answered yet", so a notebook runs top to bottom before anyone fills it in.
Used by every notebook's Exercises section as ``exercises.check_*``; the checks live in
``exercise_checks_basics`` (notebooks 00 to 04) and ``exercise_checks_compute`` (notebooks 06 to 10), the
verdict machinery in ``exercise_verdicts``.
"""
from .exercise_checks_basics import (ZEILER_FERGUS_WORST, check_allreduce_sum, check_ascent_step,  # noqa: F401
                                     check_conv_macs, check_conv_parameters, check_gemm_flops,
                                     check_horizontal_edge_kernel, check_matmul_seconds, check_occlusion_minimum,
                                     check_output_size, check_parameters_saved, check_receptive_field,
                                     check_sgd_update, check_worst_removal)
from .exercise_checks_compute import (check_allreduce_prediction, check_arithmetic_intensity,  # noqa: F401
                                      check_attainable_gflops, check_crossover_bytes, check_forward_passes_saved,
                                      check_freeze_backbone, check_number_of_updates, check_roofline_bound,
                                      check_scaled_learning_rate, check_scaling_efficiency, check_stale_learning_rate,
                                      check_straggler_speedup,
                                      check_trainable_parameters, check_training_exaflops, check_warmup_learning_rate)
from .exercise_verdicts import NOT_ANSWERED, checked, verdict  # noqa: F401

__all__ = sorted(name for name in dir() if name.startswith("check_"))
