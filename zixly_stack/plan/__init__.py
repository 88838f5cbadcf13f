"""PURE planning: (rendered files, host facts) -> Plan -> steps.

* :mod:`.facts` — the one-round-trip fact script and its parser (:class:`HostFacts`);
* :mod:`.compute` — :func:`plan_host`, the planner;
* :mod:`.model` — :class:`Plan`, :class:`HostPlan` and their parts;
* :mod:`.steps` — the plan as ordered executable steps, and the printing executor;
* :mod:`.spec` — planner inputs from a loaded environment;
* :mod:`.text` — text views.

Nothing here touches a host: the deploy package gathers facts and executes steps.
"""

from .compute import ProjectSpec, Target, compose_shape, plan_host, texts_needed
from .facts import ContainerFact, HostFacts, LockInfo, facts_script, parse_facts
from .model import FileChange, HostPlan, Plan, ProjectChange, ServiceChange
from .paths import EnvPaths
from .steps import HostSteps, host_steps, print_steps

__all__ = [
    "ContainerFact",
    "EnvPaths",
    "FileChange",
    "HostFacts",
    "HostPlan",
    "HostSteps",
    "LockInfo",
    "Plan",
    "ProjectChange",
    "ProjectSpec",
    "ServiceChange",
    "Target",
    "compose_shape",
    "facts_script",
    "host_steps",
    "parse_facts",
    "plan_host",
    "print_steps",
    "texts_needed",
]
