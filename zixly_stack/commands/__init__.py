"""PURE argv builders for the tools zixly drives (docker, compose, ...).

Every function returns ``list[str]``; nothing here runs anything or touches a shell.
Callers that must go through a remote shell quote with :func:`shlex.join`.
"""
