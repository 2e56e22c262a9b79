__version__ = "0.1.0"  # the facegate-client distribution's (pyproject.toml reads it here)
