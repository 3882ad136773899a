"""The framework's ceiling for bench/call_control.py: a FastAPI app that does nothing.

``POST /noop/tenants/{tid}/calls/authorize`` validates a pydantic body of the same five
fields as the project's authorize (call_id, call_type, user, caller, callee) and answers a
small JSON object; ``GET /noop`` answers one too. The bench serves it with the same uvicorn
settings and worker count as ``commcredits serve``:
``uvicorn noop_app:app --app-dir bench --workers N --no-access-log``.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Authorize(BaseModel):
    call_id: str
    call_type: str
    user: str | None = None
    caller: str
    callee: str


@app.post("/noop/tenants/{tid}/calls/authorize")
async def authorize(tid: str, body: Authorize) -> dict[str, str]:
    return {"decision": "allow", "call_id": body.call_id}


@app.get("/noop")
async def noop() -> dict[str, str]:
    return {"status": "ok"}
