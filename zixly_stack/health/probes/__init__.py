"""Probes: each executes one kind of check spec and returns :class:`~..model.Result` objects.

Network probes are async (httpx / asyncio) and never raise for a failing target: a failure
is a result. Host-side probes run argv lists through a :class:`~.hostcmd.HostRunner`.
"""
