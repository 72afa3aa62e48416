"""libdib: a self-hosted REST API for the US Census Bureau's historical income table P-8."""

__version__ = "0.1.0"
