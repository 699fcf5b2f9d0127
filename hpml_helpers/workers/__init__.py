"""Programs the launchers in ``hpml_helpers.distributed`` start; each is a plain script that also runs
by hand on a cluster (see the docstring at the top of each)."""
