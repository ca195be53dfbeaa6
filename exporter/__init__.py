"""inventory-exporter: a Prometheus exporter for the smart-inventory stack."""

__version__ = "0.1.0"
