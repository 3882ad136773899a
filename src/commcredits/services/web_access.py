"""Who is signed in to the web admin center (AUTH-1): admin accounts, sessions, sign-in links.

- Admin accounts have an email and a password hashed with Argon2id (argon2-cffi). They are
  created by the operator (CLI) or by a global admin of the same tenant, with a tenant role.
- Signing in (password, API key, or a one-time link) opens a session: a random token in an
  HttpOnly cookie, stored here only as a SHA-256 hash, with its own CSRF token. A session
  carries the principal it acts as, so every page goes through the same `authorize` as the
  API. Sessions signed in with an API key stop working when that key is gone.
- Sessions and links run on the wall clock, not the simulated clock: moving the simulated
  clock a year ahead must not sign everybody out.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from commcredits.domain.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from commcredits.domain.tenants import CONTACT_ROLES, Role
from commcredits.services import signin_throttle
from commcredits.services.auth import (
    Principal,
    authenticate,
    hash_key,
    require_operator,
    tenant_not_found,
)
from commcredits.services.context import Services
from commcredits.services.ports import AdminAccountRecord, WebSessionRecord

SESSION_TTL = timedelta(hours=12)
LINK_TTL = timedelta(hours=24)
MIN_PASSWORD = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so timing does not reveal which emails
    exist. Hashed on first use, not on import: an Argon2 hash costs about 0.3 s of CPU,
    which every `commcredits` command paid at start-up."""
    return _hasher.hash("not-a-real-password")


def _now() -> datetime:
    return datetime.now(UTC)


def _require_admin_manager(principal: Principal, tenant_id: str | None) -> None:
    """The operator manages every admin account; a global admin those of its own tenant."""
    if principal.role is not Role.OPERATOR and (
            principal.role is not Role.GLOBAL_ADMIN or tenant_id is None
            or principal.tenant_id != tenant_id):
        require_operator(principal)


@dataclass(frozen=True, slots=True)
class WebSession:
    token: str
    principal: Principal
    csrf_token: str
    account_id: str | None
    email: str | None


def _sign_in_failed() -> Unauthenticated:
    return Unauthenticated(
        "SIGN_IN_FAILED", "The email or password is not right. Try again, or ask a global "
        "admin to reset your password.",
    )


def create_admin(
    svc: Services, principal: Principal, *, email: object, password: object, role: object,
    tenant_id: str | None, name: object = "",
) -> AdminAccountRecord:
    """Create a local admin account. The operator may create any; a global admin only in its
    own tenant. Tenant accounts take a tenant role; operator accounts have no tenant."""
    email_s = str(email or "").strip().lower()
    if not _EMAIL.match(email_s) or len(email_s) > 254:
        raise InvalidInput("INVALID_EMAIL", "Give an email address like admin@example.com.",
                           {"email": email_s})
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(
            "WEAK_PASSWORD", f"Choose a password of at least {MIN_PASSWORD} characters.",
        )
    try:
        role_v = Role(str(role))
    except ValueError:
        role_v = None
    allowed = (*CONTACT_ROLES, Role.OPERATOR)
    if role_v not in allowed:
        raise InvalidInput(
            "INVALID_ROLE", "The role must be one of: " + ", ".join(r.value for r in allowed)
            + ".", {"role": str(role)},
        )
    assert role_v is not None
    if (role_v is Role.OPERATOR) != (tenant_id is None):
        raise InvalidInput(
            "INVALID_ROLE", "Operator accounts have no tenant; every other role needs one.",
            {"role": role_v.value},
        )
    _require_admin_manager(principal, tenant_id)
    with svc.uow() as uow:
        if tenant_id is not None and uow.tenants.get(tenant_id) is None:
            raise tenant_not_found(tenant_id)
        if uow.web.account_by_email(email_s) is not None:
            raise Conflict("ADMIN_EXISTS", f"An admin account for {email_s} already exists.",
                           {"email": email_s})
        account = AdminAccountRecord(
            id="adm_" + secrets.token_hex(8), email=email_s,
            name=str(name or "").strip()[:200] or email_s, password_hash=_hasher.hash(password),
            role=role_v, tenant_id=tenant_id, created_at=_now(),
        )
        uow.web.add_account(account)
        if tenant_id is not None:
            uow.audit.add(tenant_id, svc.clock.now(), principal.actor, "admin_created",
                          {"email": email_s, "role": role_v.value})
        uow.commit()
    return account


def _open_session(svc: Services, principal: Principal, *, account_id: str | None,
                  key_hash: str | None) -> WebSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = _now()
    record = WebSessionRecord(
        account_id, key_hash, principal.role, principal.tenant_id, principal.partner_id,
        principal.name, csrf, now + SESSION_TTL,
    )
    with svc.uow() as uow:
        uow.web.purge_sessions(now)
        uow.web.add_session(hash_key(token), record, now)
        uow.commit()
    return WebSession(token, principal, csrf, account_id, None)


def _principal(account: AdminAccountRecord) -> Principal:
    return Principal(account.role, account.tenant_id, None, account.email)


def sign_in_password(svc: Services, email: object, password: object,
                     address: str | None = None) -> WebSession:
    """Email and password, throttled per account and per address (`signin_throttle`)."""
    email_s = str(email or "").strip().lower()
    now = _now()
    signin_throttle.check(svc, email_s, address, now)
    with svc.uow(readonly=True) as uow:
        account = uow.web.account_by_email(email_s)
    ok: bool
    try:
        ok = _hasher.verify(account.password_hash if account else _dummy_hash(), str(password))
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or account is None:
        signin_throttle.failed(svc, email_s, address, now)
        raise _sign_in_failed()
    if _hasher.check_needs_rehash(account.password_hash):
        with svc.uow() as uow:
            uow.web.set_password(account.id, _hasher.hash(str(password)))
            uow.commit()
    signin_throttle.succeeded(svc, email_s, address)
    return _open_session(svc, _principal(account), account_id=account.id, key_hash=None)


def sign_in_key(svc: Services, key: object, address: str | None = None) -> WebSession:
    """An API key, throttled per address (`signin_throttle`)."""
    key_s = str(key or "").strip()
    now = _now()
    signin_throttle.check(svc, None, address, now)
    try:
        with svc.uow(readonly=True) as uow:
            principal = authenticate(uow, key_s, svc.operator_key)
    except Unauthenticated:
        signin_throttle.failed(svc, None, address, now)
        raise
    if principal.role is Role.PLATFORM:
        raise Unauthenticated(
            "SIGN_IN_FAILED", "A platform key is for call control only and cannot sign in.",
        )
    return _open_session(svc, principal, account_id=None, key_hash=hash_key(key_s))


def create_sign_in_link(svc: Services, account_id: str) -> str:
    """A one-time sign-in token for `account_id`, valid for LINK_TTL (used by `make run`)."""
    token = secrets.token_urlsafe(32)
    now = _now()
    with svc.uow() as uow:
        uow.web.add_link(hash_key(token), account_id, now, now + LINK_TTL)
        uow.commit()
    return token


def sign_in_link(svc: Services, token: object) -> WebSession:
    with svc.uow() as uow:
        account_id = uow.web.use_link(hash_key(str(token or "")), _now())
        account = uow.web.account(account_id) if account_id else None
        uow.commit()
    if account is None:
        raise Unauthenticated(
            "SIGN_IN_LINK_INVALID", "This sign-in link was used already or has expired. "
            "Sign in with your email and password, or print a new link with "
            "`commcredits admin link`.",
        )
    return _open_session(svc, _principal(account), account_id=account.id, key_hash=None)


def resume(svc: Services, token: str | None) -> WebSession | None:
    """The session behind a cookie, or None when it is unknown, expired or its key is gone."""
    if not token:
        return None
    with svc.uow(readonly=True) as uow:
        record = uow.web.session(hash_key(token))
        if record is None or record.expires_at <= _now():
            return None
        email = None
        if record.key_hash is not None and not (
            svc.operator_key and hmac.compare_digest(record.key_hash, hash_key(svc.operator_key))
        ) and uow.access.key_by_hash(record.key_hash) is None:
            return None
        if record.account_id is not None:
            account = uow.web.account(record.account_id)
            if account is None:
                return None
            email = account.email
    principal = Principal(record.role, record.tenant_id, record.partner_id, record.name)
    return WebSession(token, principal, record.csrf_token, record.account_id, email)


def check_csrf(session: WebSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf_token.encode(), str(sent).encode())


def sign_out(svc: Services, token: str | None) -> None:
    if not token:
        return
    with svc.uow() as uow:
        uow.web.delete_session(hash_key(token))
        uow.commit()


@dataclass(frozen=True, slots=True)
class Invitation:
    account: AdminAccountRecord
    link_token: str  # shown once: the path is /signin/link/{link_token}


def invite_admin(
    svc: Services, principal: Principal, tenant_id: str, *, email: object, role: object,
    name: object = "",
) -> Invitation:
    """A global admin (or the operator) creates a tenant admin account and gets a one-time
    sign-in link for it. The account gets a random password that nobody is shown: the new
    admin signs in with the link, and a global admin can make a new link when it is used."""
    if str(role) == Role.OPERATOR.value:
        raise InvalidInput(
            "INVALID_ROLE", "The role must be one of: "
            + ", ".join(r.value for r in CONTACT_ROLES) + ".", {"role": str(role)},
        )
    account = create_admin(svc, principal, email=email, password=secrets.token_urlsafe(24),
                           role=role, tenant_id=tenant_id, name=name)
    return Invitation(account, create_sign_in_link(svc, account.id))


def new_link_for(svc: Services, principal: Principal, tenant_id: str,
                 account_id: str) -> Invitation:
    """A new one-time sign-in link for an admin of the tenant (audit-logged)."""
    _require_admin_manager(principal, tenant_id)
    with svc.uow() as uow:
        account = uow.web.account(account_id)
        if account is None or account.tenant_id != tenant_id:
            raise NotFound("ADMIN_NOT_FOUND", "No such admin account in this tenant.",
                           {"id": account_id})
        uow.audit.add(tenant_id, svc.clock.now(), principal.actor, "admin_link_created",
                      {"email": account.email})
        uow.commit()
    return Invitation(account, create_sign_in_link(svc, account.id))


def list_admins(svc: Services, principal: Principal, tenant_id: str | None) -> list[
        AdminAccountRecord]:
    _require_admin_manager(principal, tenant_id)
    with svc.uow(readonly=True) as uow:
        return uow.web.accounts(tenant_id)


DEMO_ADMIN_EMAIL = "admin@contoso.example"


def ensure_demo_admin(svc: Services, principal: Principal, tenant_id: str) -> tuple[
        AdminAccountRecord, str | None]:
    """The demo tenant's global admin account; on first creation also its new password."""
    with svc.uow(readonly=True) as uow:
        existing = uow.web.account_by_email(DEMO_ADMIN_EMAIL)
    if existing is not None:
        return existing, None
    password = secrets.token_urlsafe(12)
    account = create_admin(svc, principal, email=DEMO_ADMIN_EMAIL, password=password,
                           role="global_admin", tenant_id=tenant_id, name="Demo global admin")
    return account, password


def account_by_email(svc: Services, principal: Principal, email: str) -> AdminAccountRecord:
    require_operator(principal)
    with svc.uow(readonly=True) as uow:
        account = uow.web.account_by_email(email.strip().lower())
    if account is None:
        raise NotFound("ADMIN_NOT_FOUND", f"No admin account for {email!r}. Create one with "
                       "`commcredits admin create`.", {"email": email})
    return account
