"""Plain-text views of a plan (the CLI adds colour). Pure; secret files never show content."""

from __future__ import annotations

from .drift import lines as drift_lines
from .model import HostPlan, Plan
from .prepare import change_lines
from .upgrade import upgrade_lines


def host_lines(plan: HostPlan, *, diffs: bool = True) -> list[str]:
    """The lines describing one host's plan."""
    rel = f"release {plan.release_from or '(none)'}"
    if plan.release_to:
        rel += f" -> {plan.release_to}"
    head = f"host {plan.host}: " + ("changes" if plan.changed else "no changes") + f" ({rel})"
    lines = [head]
    if plan.lock is not None:
        lines.append(f"  ! locked by {plan.lock.describe()}")
    lines.extend(f"  ! {w}" for w in plan.warnings)
    if plan.prepare:
        lines.append(f"  host preparation ({len(plan.prepare)}):")
        lines.extend("    " + line for line in change_lines(plan.prepare))
    if plan.files:
        lines.append(f"  files ({len(plan.files)}):")
        mark = {"added": "+", "changed": "~", "removed": "-", "mode": "m"}
        for f in plan.files:
            lines.append(f"    {mark[f.kind]} {f.summary()}")
            if diffs and f.diff and not f.secret:
                lines.extend("        " + d for d in f.diff.rstrip("\n").split("\n"))
    for p in plan.projects:
        why = "; ".join(p.reasons)
        lines.append(f"  {p.action} {p.project}" + (f" ({why})" if why else ""))
        lines.extend(f"      {s.action} {s.service}: {s.reason}" for s in p.services)
    lines.extend(upgrade_lines(plan.upgrades, plan.data_moves))
    if plan.networks:
        lines.append("  networks to create: " + ", ".join(plan.networks))
    for i in plan.images:
        lines.append(f"  image {i.action} {i.ref} ({i.reason})")
    if plan.hooks:
        lines.append("  hooks to run: " + ", ".join(plan.hooks))
    if plan.drift:
        lines.append(f"  drift ({len(plan.drift)}): the host differs from release {plan.release_from} "
                     "(not a change this plan makes; `zixly drift` explains each):")
        lines.extend("  " + line for line in drift_lines(plan.drift))
    if plan.edited:
        lines.append("  ! this deploy would overwrite file(s) edited by hand: " + ", ".join(plan.edited)
                     + " (`zixly deploy` refuses without --force)")
    return lines


def plan_lines(plan: Plan, *, diffs: bool = True) -> list[str]:
    """Every host, then a one-line total."""
    lines: list[str] = []
    for h in plan.hosts:
        lines.extend(host_lines(h, diffs=diffs))
    changed = sum(h.changed for h in plan.hosts)
    lines.append(
        f"plan {plan.env}: {changed} host(s) to change, {len(plan.hosts) - changed} unchanged"
        if plan.hosts
        else f"plan {plan.env}: no host could be planned"
    )
    return lines
