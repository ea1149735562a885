"""import-logs: import web server access logs into web analytics, fast and exactly once."""

__version__ = "0.1.0"

__all__ = ["__version__"]
