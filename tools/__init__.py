"""Tooling for maintaining the kit (running the notebooks, writing reports); learners never import it."""
