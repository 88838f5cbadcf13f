"""``plane.db.models.User`` (email, username, names, flags, set_password)."""

from __future__ import annotations

from typing import Any, ClassVar

from plane._store import Manager, Model, password_hash


class User(Model):
    table = "users"
    fields = ("email", "username", "first_name", "last_name", "is_active", "is_password_autoset",
              "is_email_verified", "password")
    objects: ClassVar[Any]

    def set_password(self, raw: str) -> None:
        self.password = password_hash(raw)


User.objects = Manager(User)
