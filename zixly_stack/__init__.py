"""zixly-stack: run a self-hosted business stack from one git repo."""

__version__ = "0.1.0"
