"""The per-environment secrets store: ``inventories/<env>/secrets.age`` + ``recipients.txt``.

Contract:

* :meth:`SecretStore.open` decrypts an existing store or raises :class:`SecretsError`
  (no key / wrong key / damaged / not a store: distinct messages, see
  :mod:`.messages`); a missing file gives an empty store with ``exists == False``.
  Opening never writes.
* :meth:`ensure` returns every required secret, generating only the missing ones (in
  memory); a stored value is never regenerated.
* :meth:`save` writes only if something changed (age output is randomised, so an
  unchanged store stays byte-identical), atomically, mode 0600, encrypted to every
  key in ``recipients.txt``; it refuses to overwrite a file that changed since it was
  read, to create a store where one appeared, and to lock the current user out.
* :meth:`rotate` refuses a ``never_rotate`` secret unless ``force``; its message (and
  the refusal) says what breaks. Rotating or setting a bcrypt source re-hashes the
  bcrypt secrets made from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import bcrypt

from ..errors import ConfigError, Location, Problem, SecretsError
from ..models.secret_spec import SecretSpec
from . import agefile, document, messages
from ._fs import atomic_write, read_or_none
from .document import Entry, now_iso
from .generators import NAME_RE, generate, generation_order, resolve_of
from .identity import Identity, load_identity
from .recipients import FILENAME as RECIPIENTS_FILE
from .recipients import RecipientsFile, is_public_key
from .value import Secret

STORE_FILE = "secrets.age"
STORE_MODE = 0o600
RECIPIENTS_MODE = 0o644


class SecretStore:
    """An opened store. Build it with :meth:`open` or :meth:`create`, not the constructor."""

    def __init__(
        self,
        env_dir: Path,
        identity: Identity | None,
        entries: dict[str, Entry],
        raw: bytes | None,
        recipients: RecipientsFile,
        recipients_raw: bytes | None,
        header: agefile.Header | None,
    ) -> None:
        self.env_dir = env_dir
        self.identity = identity
        self._entries = dict(entries)
        self._saved_entries = dict(entries)
        self._raw = raw
        self._recipients = recipients
        self._saved_recipients = recipients
        self._recipients_raw = recipients_raw
        self._header = header
        self._allow_lockout = False

    # -- opening ---------------------------------------------------------------------
    @classmethod
    def open(cls, env_dir: Path, identity: Identity | None = None) -> SecretStore:
        """Open ``env_dir/secrets.age``; ``identity`` defaults to :func:`load_identity`."""
        identity = identity if identity is not None else load_identity()
        recipients_raw = read_or_none(env_dir / RECIPIENTS_FILE)
        recipients = RecipientsFile.parse(env_dir / RECIPIENTS_FILE, recipients_raw)
        path = env_dir / STORE_FILE
        raw = read_or_none(path)
        if raw is None:
            return cls(env_dir, identity, {}, None, recipients, recipients_raw, None)
        keys = recipients.keys()
        try:
            header = None if raw.startswith(agefile.ARMOR) else agefile.parse_header(raw)
            if identity is None:
                raise messages.no_key(path, env_dir.name, header, keys)
            plaintext = agefile.decrypt(raw, identity)
        except agefile.Damaged as exc:
            raise messages.damaged(path, str(exc)) from None
        except agefile.NotForYou:
            assert identity is not None
            raise messages.wrong_key(path, env_dir.name, identity, header, keys) from None
        try:
            entries = document.loads(plaintext)
        except document.DocumentError as exc:
            raise messages.not_a_store(path, str(exc)) from None
        return cls(env_dir, identity, entries, raw, recipients, recipients_raw, header)

    @classmethod
    def create(cls, env_dir: Path, identity: Identity) -> SecretStore:
        """Create an empty store (``secrets init``), adding ``identity``'s key to recipients.txt.

        Refuses if the store exists: a fresh store never replaces one.
        """
        path = env_dir / STORE_FILE
        if path.exists():
            raise SecretsError(f"{path}: a store already exists; nothing was written")
        env_dir.mkdir(parents=True, exist_ok=True)
        store = cls.open(env_dir, identity)
        if not set(identity.public_keys) & set(store.recipients):
            store._recipients = store._recipients.with_key(identity.public_keys[0])
        store._write()
        return store

    # -- reading ---------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """``<env_dir>/secrets.age``."""
        return self.env_dir / STORE_FILE

    @property
    def exists(self) -> bool:
        """True if the store file existed when opened (or has been saved since)."""
        return self._raw is not None

    @property
    def changed(self) -> bool:
        """True if :meth:`save` would write."""
        return self._entries != self._saved_entries or self._recipients != self._saved_recipients

    @property
    def recipients(self) -> tuple[str, ...]:
        """Public keys in recipients.txt (including unsaved additions/removals)."""
        return tuple(self._recipients.keys())

    @property
    def encrypted_key_count(self) -> int | None:
        """How many keys the file on disk is encrypted to (from the age header), if known."""
        return self._header.x25519_count if self._header else None

    def names(self) -> list[str]:
        """Stored secret names, sorted."""
        return sorted(self._entries)

    def get(self, name: str) -> Secret | None:
        """The stored value, or ``None``."""
        entry = self._entries.get(name)
        return entry.value if entry else None

    def entry(self, name: str) -> Entry | None:
        """The stored value with its metadata (type, created, rotated ...), or ``None``."""
        return self._entries.get(name)

    # -- changing --------------------------------------------------------------------
    def ensure(self, required: Mapping[str, SecretSpec]) -> tuple[dict[str, Secret], list[str]]:
        """Every required secret (name -> value) and the names generated now, in generation order.

        Stored values are returned as they are, never regenerated, even if the spec changed.
        """
        _check_names(required)
        pool = {name: entry.value for name, entry in self._entries.items()}
        out: dict[str, Secret] = {}
        added: list[str] = []
        for name in generation_order(required, frozenset(pool)):
            if name not in pool:
                spec = required[name]
                pool[name] = generate(name, spec, pool)
                self._entries[name] = _new_entry(name, pool[name], spec)
                added.append(name)
                for dependent in self._rehash_dependents(name):  # a stored hash of a lost source follows it
                    pool[dependent] = self._entries[dependent].value
                    out[dependent] = pool[dependent]
            out[name] = pool[name]
        return {name: out[name] for name in sorted(out)}, added

    def set(self, name: str, value: Secret | str, spec: SecretSpec | None = None, force: bool = False) -> list[str]:
        """Store a value chosen by the user; returns the bcrypt secrets re-hashed from it.

        Overwriting a ``never_rotate`` secret (per ``spec`` or the stored metadata) with a
        different value is refused unless ``force``. Setting the same value changes nothing.
        """
        _check_names([name])
        secret = value if isinstance(value, Secret) else Secret(value)
        if not secret.reveal():
            raise SecretsError(f"{name}: refusing to store an empty value")
        old = self._entries.get(name)
        if old is not None and old.value == secret:
            if spec is not None and (old.type, old.never_rotate) != (spec.type, spec.never_rotate):
                self._entries[name] = _with_spec(name, old, spec)  # metadata recorded before the catalog was asked
            return []
        if old is None:
            self._entries[name] = _new_entry(name, secret, spec or SecretSpec(type="password"))
            return self._rehash_dependents(name)
        reason = (spec.never_rotate if spec else None) or old.never_rotate
        if reason and not force:
            raise SecretsError(f"{name}: refusing to overwrite a key that must never change: {reason} (use --force)")
        new = old.rotated_to(secret)
        self._entries[name] = _with_spec(name, new, spec) if spec is not None else new
        return self._rehash_dependents(name)

    def rotate(self, name: str, spec: SecretSpec, force: bool = False) -> str:
        """Generate a new value for a stored secret; return a one-line report of what happened.

        Refuses a secret whose ``spec.never_rotate`` (or stored ``never_rotate``) is set
        unless ``force``; then the report starts with ``WARNING`` and says what breaks.
        """
        old = self._entries.get(name)
        if old is None:
            raise SecretsError(f"{name}: not in {self.path}; nothing to rotate (it is generated on first render)")
        reason = spec.never_rotate or old.never_rotate
        if reason and not force:
            raise SecretsError(
                f"{name}: refusing to rotate, this key must never change: {reason}. "
                "Re-run with --force only if you accept that."
            )
        pool = {n: e.value for n, e in self._entries.items()}
        new = generate(name, spec, pool)
        of = resolve_of(name, spec.of) if spec.type == "bcrypt" and spec.of else old.of
        self._entries[name] = Entry(new, spec.type, old.created, now_iso(), of, reason)
        rehashed = self._rehash_dependents(name)
        report = f"rotated {name} (new fingerprint {new.fingerprint()})"
        if rehashed:
            report += f"; re-hashed {', '.join(rehashed)}"
        report += "; it takes effect on the next deploy"
        return f"WARNING: {reason}. {report}" if reason else report

    def adopt(self, entries: Mapping[str, Entry]) -> None:
        """Take *entries* (with their metadata) as the content of a store not created yet (``secrets recover``).

        :meth:`save` then creates the file exclusively: a store that exists, or appears
        meanwhile, is never replaced.
        """
        if self.exists or self._entries:
            raise SecretsError(f"{self.path}: a store exists; nothing was written")
        _check_names(list(entries))
        self.env_dir.mkdir(parents=True, exist_ok=True)
        self._entries = dict(entries)

    def add_recipient(self, key: str, comment: str = "") -> bool:
        """Add a public key; :meth:`save` then re-encrypts to it. False if already present."""
        if not is_public_key(key):
            raise SecretsError(f"{key!r} is not an age public key (age1...)")
        if key in self.recipients:
            return False
        self._recipients = self._recipients.with_key(key, comment)
        return True

    def remove_recipient(self, key: str, force: bool = False) -> bool:
        """Remove a public key; :meth:`save` then re-encrypts without it. False if absent.

        Refuses to remove the last key, and your own key unless ``force``.
        """
        if key not in self.recipients:
            return False
        if self.recipients == (key,):
            raise SecretsError(f"{key}: is the only recipient; add another key first")
        if self.identity and key in self.identity.public_keys and not force:
            raise SecretsError(f"{key}: is your own key; removing it locks you out (use --force)")
        self._recipients = self._recipients.without_key(key)
        self._allow_lockout = self._allow_lockout or force
        return True

    def save(self, reencrypt: bool = False) -> bool:
        """Write what changed; return whether anything was written.

        ``reencrypt`` rewrites an existing store even if unchanged (a fresh encryption to
        every key in recipients.txt). Without secrets and without a store file, only
        recipients.txt is written: saving never creates an empty store (that is :meth:`create`).
        """
        if not (self.changed or (reencrypt and self.exists)):
            return False
        if self.exists or self._entries:
            self._write()
        elif self._recipients != self._saved_recipients:
            self._check_unchanged_recipients()
            self._write_recipients()
        return True

    # -- internals -------------------------------------------------------------------
    def _rehash_dependents(self, source: str) -> list[str]:
        done: list[str] = []
        for name in sorted(n for n, e in self._entries.items() if e.of == source and e.type == "bcrypt"):
            entry = self._entries[name]
            if _hashes(entry.value, self._entries[source].value):
                continue  # already a hash of this value (e.g. a recovered hash, its password set again)
            value = generate(name, SecretSpec(type="bcrypt", of=source), {source: self._entries[source].value})
            self._entries[name] = entry.rotated_to(value)
            done += [name, *self._rehash_dependents(name)]
        return done

    def _write(self) -> None:
        keys = self.recipients
        if not keys:
            raise SecretsError(
                f"{self.env_dir / RECIPIENTS_FILE}: no recipients; run `zixly secrets init {self.env_dir.name}` "
                "or add a public key. Nothing was written."
            )
        if self.identity and not self._allow_lockout and not set(self.identity.public_keys) & set(keys):
            raise SecretsError(
                f"{self.path}: your key {self.identity.public_keys[0]} is not in recipients.txt; saving would "
                f"lock you out. Nothing was written."
            )
        self._check_unchanged_recipients()
        data = agefile.encrypt(document.dumps(self._entries), keys)
        atomic_write(self.path, data, STORE_MODE, self._raw)
        self._raw = data
        self._header = agefile.parse_header(data)
        self._saved_entries = dict(self._entries)
        if self._recipients != self._saved_recipients:
            self._write_recipients()

    def _check_unchanged_recipients(self) -> None:
        path = self.env_dir / RECIPIENTS_FILE
        if read_or_none(path) != self._recipients_raw:
            raise SecretsError(f"{path}: changed on disk while zixly was working; nothing was written")

    def _write_recipients(self) -> None:
        text = self._recipients.text().encode()
        self.env_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.env_dir / RECIPIENTS_FILE, text, RECIPIENTS_MODE, self._recipients_raw)
        self._saved_recipients = self._recipients
        self._recipients_raw = text


def _new_entry(name: str, value: Secret, spec: SecretSpec) -> Entry:
    of = resolve_of(name, spec.of) if spec.type == "bcrypt" and spec.of else None
    return Entry(value, spec.type, now_iso(), None, of, spec.never_rotate)


def _hashes(hashed: Secret, value: Secret) -> bool:
    """True when *hashed* is a bcrypt hash of *value*."""
    try:
        return bool(bcrypt.checkpw(value.reveal().encode("utf-8"), hashed.reveal().encode("utf-8")))
    except ValueError:  # not a bcrypt hash, or a value bcrypt cannot take
        return False


def _with_spec(name: str, entry: Entry, spec: SecretSpec) -> Entry:
    """*entry* with the type, bcrypt source and never-rotate reason the catalog declares."""
    of = resolve_of(name, spec.of) if spec.type == "bcrypt" and spec.of else entry.of
    return replace(entry, type=spec.type, of=of, never_rotate=spec.never_rotate or entry.never_rotate)


def _check_names(names: Mapping[str, object] | list[str]) -> None:
    bad = [n for n in names if not NAME_RE.match(n)]
    if bad:
        raise ConfigError(
            problems=[
                Problem(Location("<secrets>"), n, "secret names are '<service>.<name>' (lower-case, digits, _ -)")
                for n in bad
            ]
        )
