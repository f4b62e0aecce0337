"""Execution backends other than this process: Ray (``execution: {backend: ray}``).

The stages dispatch here when the config asks; each backend runs the same units of work as
the local code (the same functions, on other processes or machines) and writes the same files,
so results do not depend on where they were computed.
"""
