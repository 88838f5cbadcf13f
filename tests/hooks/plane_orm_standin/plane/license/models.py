"""``plane.license.models.Instance`` / ``InstanceAdmin`` (user, instance, role)."""

from __future__ import annotations

from typing import Any, ClassVar

from plane._store import Manager, Model


class Instance(Model):
    table = "instances"
    fields = ("is_setup_done",)
    objects: ClassVar[Any]


class InstanceAdmin(Model):
    table = "instance_admins"
    fields = ("user", "instance", "role")
    objects: ClassVar[Any]


Instance.objects = Manager(Instance)
InstanceAdmin.objects = Manager(InstanceAdmin)
