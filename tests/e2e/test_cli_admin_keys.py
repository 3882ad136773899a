"""`commcredits admin key --rotate` (issue #11): a tenant's global-admin API key, shown once;
rotating prints a new one and revokes the one printed before. Keys are stored hashed."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from commcredits.adapters.db import tables as t
from commcredits.entrypoints.cli.main import app
from commcredits.services.context import Services
from tests.e2e.conftest import Api
from tests.support import make_tenant

runner = CliRunner(env={"COLUMNS": "250"})


def rotate(db_url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["admin", "key", *args, "--db", db_url])
    assert result.exit_code == code, result.output
    return result.output


def key_in(output: str) -> str:
    found = re.search(r"cck_[A-Za-z0-9_-]+", output)
    assert found, output
    return found.group(0)


@pytest.mark.rule("AUTH-2")
@pytest.mark.rule("ERR-1")
def test_admin_key_rotate_prints_a_new_key_and_revokes_the_previous_one(
    api: Api, svc: Services, engine: Engine, db_url: str,
) -> None:
    tid = make_tenant(svc, name="Fabrikam")  # not the demo tenant (Contoso)
    other = api.key(tid, "global_admin", "kept")  # a key someone else made stays valid
    first = key_in(rotate(db_url, "--tenant", tid, "--rotate"))
    assert api.get(f"/tenants/{tid}/credits", key=first).status_code == 200
    out = rotate(db_url, "--tenant", tid, "--rotate")
    second = key_in(out)
    assert "revoked 1 earlier key(s)" in out and second != first
    r = api.get(f"/tenants/{tid}/credits", key=first)
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
    assert api.get(f"/tenants/{tid}/credits", key=second).status_code == 200
    assert api.get(f"/tenants/{tid}/credits", key=other).status_code == 200
    with engine.connect() as conn:
        rows = conn.execute(select(t.api_keys.c.key_hash, t.api_keys.c.name)
                            .where(t.api_keys.c.tenant_id == tid)).all()
    assert hashlib.sha256(second.encode()).hexdigest() in {r.key_hash for r in rows}
    assert sorted(r.name for r in rows) == ["global admin (commcredits admin key)", "kept"]
    audit = api.ok(f"/tenants/{tid}/audit-log")
    assert "api_key.rotated" in str(audit)
    assert "error ROTATE_REQUIRED" in rotate(db_url, "--tenant", tid, code=2)
    assert "error DEMO_NOT_FOUND" in rotate(db_url, "--rotate", code=2)
    assert "error TENANT_NOT_FOUND" in rotate(db_url, "--tenant", "nope", "--rotate", code=2)
