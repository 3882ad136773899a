"""Kamailio KEMI glue (app_python3) for commcredits call control (PLAT-1).

It owns the SIP side of CALL-1/CALL-7: an INVITE is authorized before it is relayed, a deny
becomes a SIP final response with a `Reason` header, an allowed call's dialog ends at
`max_seconds`, grants are renewed with update, and the end of the dialog (BYE from either
side, or its timeout) sends end with the real duration.

Settings come from the environment (see docs/kamailio.md):

- COMMCREDITS_URL           base URL, e.g. http://127.0.0.1:8000 (required)
- COMMCREDITS_API_KEY       the key sent as Bearer (a platform key, or the operator key)
- COMMCREDITS_TENANT_KEYS   optional "tenant=key,tenant=key": a platform key per tenant
- COMMCREDITS_UPSTREAM      where allowed calls go, e.g. sip:127.0.0.1:5080 (required)
- COMMCREDITS_UPDATE_SECONDS send update this many seconds after the last grant began
                            (default 240, inside the 300-second grant)
- COMMCREDITS_TIMEOUT       HTTP timeout in seconds (default 3)
- COMMCREDITS_EMERGENCY     numbers let through when commcredits cannot be reached
                            (default 911,112,999,000,110,118,119)

Only the standard library is used: Kamailio's embedded interpreter is the system Python.
"""

import hashlib
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import KSR  # provided by app_python3

TABLE = "cccalls"  # htable shared by all Kamailio processes: SIP Call-ID -> call state

# PLAT-1: the SIP final response for each deny reason; other refusals answer 403.
SIP_FOR_REASON = {
    "INSUFFICIENT_BALANCE": (402, "Payment Required"),
    "TOLL_FREE_SUSPENDED": (402, "Payment Required"),
    "INVALID_NUMBER": (484, "Address Incomplete"),
    "DESTINATION_BLOCKED": (603, "Decline"),
    "SPEND_LIMIT_REACHED": (603, "Decline"),
    "DESTINATION_NOT_RATED": (603, "Decline"),
}
SAFETY_SECONDS = 2  # the dialog's own timeout, after the limit the cut timer enforces
FORBIDDEN = (403, "Forbidden")  # NO_CREDITS_LICENSE, NO_CALLING_PLAN, USER_BLOCKED, ...


def _env(name, default=None):
    value = os.environ.get(name, "").strip()
    return value or default


def _tenant_keys():
    keys = {}
    for pair in (_env("COMMCREDITS_TENANT_KEYS", "") or "").split(","):
        if "=" in pair:
            tenant, key = pair.split("=", 1)
            keys[tenant.strip()] = key.strip()
    return keys


class CommCredits:
    """The three call-control requests, over HTTP with JSON."""

    def __init__(self):
        self.url = (_env("COMMCREDITS_URL", "http://127.0.0.1:8000")).rstrip("/")
        self.key = _env("COMMCREDITS_API_KEY", "")
        self.keys = _tenant_keys()
        self.timeout = float(_env("COMMCREDITS_TIMEOUT", "3"))

    def post(self, tenant, path, body):
        """(HTTP status, JSON body); status 0 when commcredits did not answer."""
        url = "%s/api/v1/tenants/%s%s" % (self.url, urllib.parse.quote(tenant, safe=""), path)
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json",
                     "Authorization": "Bearer " + self.keys.get(tenant, self.key)})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {}
        except (OSError, ValueError) as exc:
            KSR.err("commcredits: %s %s failed: %s\n" % (path, tenant, exc))
            return 0, {}

    def call_path(self, call_id, action):
        return "/calls/%s/%s" % (urllib.parse.quote(call_id, safe=""), action)


def _user(uri_pv):
    """The user part of a URI pseudo-variable, or ''."""
    return KSR.pv.gete(uri_pv) or ""


def _number(text):
    """A SIP user part as commcredits expects a number: E.164 with +, or a short number."""
    text = text.strip()
    if text.startswith("tel:"):
        text = text[4:]
    digits = text.lstrip("+")
    if digits.isdigit() and len(digits) > 6 and not text.startswith("+"):
        return "+" + digits
    return text


def _pai_user():
    pai = KSR.hdr.get("P-Asserted-Identity") or ""
    start, end = pai.find("sip:"), pai.find("@")
    if start >= 0 and end > start:
        return pai[start + 4:end]
    if "tel:" in pai:
        return pai[pai.find("tel:") + 4:].split(">")[0].split(";")[0]
    return ""


def commcredits_call_id(sip_call_id):
    """commcredits call ids are at most 64 characters: a longer SIP Call-ID is hashed."""
    if len(sip_call_id) <= 64:
        return sip_call_id
    return hashlib.sha1(sip_call_id.encode()).hexdigest()


def call_fields():
    """CALL-1's fields from the INVITE (the mapping in docs/kamailio.md)."""
    from_user, from_domain = _user("$fU"), _user("$fd")
    upn = KSR.hdr.get("X-UPN") or ""
    if not upn and from_user and not from_user.lstrip("+").isdigit():
        upn = "%s@%s" % (from_user, from_domain)
    caller = _pai_user() or (from_user if from_user.lstrip("+").isdigit() else "")
    body = {
        "call_id": commcredits_call_id(KSR.pv.get("$ci")),
        "call_type": (KSR.hdr.get("X-Call-Type") or "user_out").strip(),
        "caller": _number(caller or from_user),
        "callee": _number(_user("$rU")),
    }
    if upn:
        body["user"] = upn.strip()
    return body


class kamailio:
    """The object app_python3 instantiates: its ksr_* methods are the routes."""

    def __init__(self):
        self.cc = CommCredits()
        self.upstream = _env("COMMCREDITS_UPSTREAM", "sip:127.0.0.1:5080")
        self.update_after = int(_env("COMMCREDITS_UPDATE_SECONDS", "240"))
        self.emergency = set((_env("COMMCREDITS_EMERGENCY", "911,112,999,000,110,118,119")
                              or "").split(","))

    def child_init(self, rank):
        return 0

    def ksr_onsend_route(self, msg):
        return 1

    def ksr_reply_route(self, msg):
        return 1

    # -- requests ------------------------------------------------------------------------

    def ksr_request_route(self, msg):
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return 1
        if KSR.is_OPTIONS() and KSR.siputils.has_totag() < 0:
            KSR.sl.sl_send_reply(200, "OK")
            return 1
        if KSR.siputils.has_totag() > 0:  # in-dialog: ACK, BYE, re-INVITE
            if KSR.rr.loose_route() > 0 or KSR.is_ACK():
                self.relay()
            else:
                KSR.sl.sl_send_reply(404, "Not here")
            return 1
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                self.relay()
            return 1
        if not KSR.is_INVITE():
            KSR.sl.sl_send_reply(405, "Method Not Allowed")
            return 1
        self.invite()
        return 1

    def invite(self):
        # A retransmitted INVITE (the caller resends it while commcredits answers) belongs
        # to the transaction already being handled: absorbed here, never authorized again.
        if KSR.tm.t_check_trans() == 0 or KSR.tm.t_newtran() <= 0:
            return
        tenant = (KSR.hdr.get("X-Tenant-Id") or "").strip()
        if not tenant:
            self.refuse(403, "Forbidden", "TENANT_MISSING")
            return
        body = call_fields()
        status, reply = self.cc.post(tenant, "/calls/authorize", body)
        if status == 0 or status >= 500:
            if body["callee"] in self.emergency:  # CALL-2: never refused for our outage
                KSR.warn("commcredits: unreachable; emergency call %s relayed\n"
                         % body["call_id"])
                self.relay_new(tenant, body["call_id"], None)
                return
            self.refuse(503, "Service Unavailable", "COMMCREDITS_UNAVAILABLE")
            return
        if status != 200:
            code = (reply.get("error") or {}).get("code") or "HTTP_%d" % status
            KSR.notice("commcredits: authorize %s refused %d %s\n"
                       % (body["call_id"], status, code))
            self.refuse(400 if status == 422 else 403,
                        "Bad Request" if status == 422 else "Forbidden", code)
            return
        if reply.get("decision") != "allow":
            reason = reply.get("reason") or "DENIED"
            sip, text = SIP_FOR_REASON.get(reason, FORBIDDEN)
            KSR.notice("commcredits: authorize %s deny %s -> %d\n"
                       % (body["call_id"], reason, sip))
            self.refuse(sip, text, reason)
            return
        limit = reply.get("max_seconds")
        KSR.notice("commcredits: authorize %s allow %s max_seconds=%s\n"
                   % (body["call_id"], reply.get("funding"), limit))
        self.relay_new(tenant, body["call_id"], limit)

    def refuse(self, code, text, reason):
        """A final response carrying the reason code (PLAT-1)."""
        KSR.hdr.append_to_reply('Reason: SIP;cause=%d;text="%s"\r\n' % (code, reason))
        KSR.tm.t_reply(code, text)

    def relay_new(self, tenant, call_id, limit):
        """Relay an allowed INVITE inside a dialog whose timeout is max_seconds."""
        if limit is not None:
            KSR.pv.seti("$dlg_ctx(timeout_bye)", 1)
            # The dialog module's timeout (timeout_avp) is the safety net, 2 s after the
            # limit: the 100-ms cut timer ends the call at the limit itself, and the two
            # must not end the same dialog at once.
            KSR.pv.seti("$avp(cc_timeout)", int(limit) + SAFETY_SECONDS)
        KSR.dialog.dlg_manage()
        sip_call_id = KSR.pv.get("$ci")
        state = {"tenant": tenant, "call": call_id, "answered": 0, "limit": limit,
                 "next": 0, "final": False}
        KSR.htable.sht_sets(TABLE, sip_call_id, json.dumps(state))
        KSR.rr.record_route()
        KSR.setdsturi(self.upstream)
        self.relay()

    def relay(self):
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    # -- dialog events -------------------------------------------------------------------

    def ksr_dialog_event(self, msg, evname):
        try:
            return self.dialog_event(evname)
        except Exception as exc:  # never lose the end of a call to an unexpected error
            KSR.err("commcredits: %s failed: %r\n" % (evname, exc))
            return 1

    def dialog_event(self, evname):
        sip_call_id = KSR.pv.get("$dlg(callid)") or KSR.pv.get("$ci") or ""
        raw = KSR.htable.sht_get(TABLE, sip_call_id)
        if not raw:
            return 1
        state = json.loads(raw)
        if evname == "dialog:start":
            now = time.time()
            state["answered"] = now
            state["next"] = now + self.update_after
            state["he"] = KSR.pv.get("$dlg(h_entry)")
            state["hi"] = KSR.pv.get("$dlg(h_id)")
            KSR.htable.sht_sets(TABLE, sip_call_id, json.dumps(state))
        elif evname in ("dialog:end", "dialog:failed"):
            KSR.htable.sht_rm(TABLE, sip_call_id)
            self.end(state, evname)
        return 1

    def end(self, state, evname):
        """CALL-7 end with the real duration: whole seconds from the 200 OK to the end,
        rounded to the nearest second and never past the limit the platform enforced."""
        measured = time.time() - state["answered"] if state["answered"] else 0.0
        duration = int(math.floor(measured + 0.5))
        if state.get("limit") is not None:
            duration = min(duration, int(state["limit"]))
        status, reply = self.cc.post(state["tenant"], self.cc.call_path(state["call"], "end"),
                                     {"duration_seconds": duration})
        KSR.notice("commcredits: end %s %s measured=%.3f duration=%d -> %d charge=%s\n"
                   % (state["call"], evname, measured, duration, status, reply.get("charge")))

    # -- grants --------------------------------------------------------------------------

    def _calls(self):
        """(SIP Call-ID, state) of every call in the shared table."""
        found = []
        KSR.htable.sht_iterator_start("ccit", TABLE)
        while KSR.htable.sht_iterator_next("ccit") > 0:
            key = KSR.pv.get("$shtitkey(ccit)")
            value = KSR.pv.get("$shtitval(ccit)")
            if key and value:
                found.append((key, json.loads(value)))
        KSR.htable.sht_iterator_end("ccit")
        return found

    def ksr_cut_timer(self, msg, evname=None):
        """Every 100 ms: end (BYE both ways) the answered calls that reached their limit."""
        now = time.time()
        for sip_call_id, state in self._calls():
            limit = state.get("limit")
            if not state["answered"] or limit is None or state.get("cut") \
                    or now < state["answered"] + limit:
                continue
            state["cut"] = True
            KSR.notice("commcredits: cut %s at %.3f s (limit %d)\n"
                       % (state["call"], now - state["answered"], limit))
            if KSR.htable.sht_get(TABLE, sip_call_id):
                KSR.htable.sht_sets(TABLE, sip_call_id, json.dumps(state))
            KSR.jsonrpcs.execx(json.dumps({"jsonrpc": "2.0", "method": "dlg.end_dlg",
                                           "params": [int(state["he"]), int(state["hi"])],
                                           "id": 1}))
            # The dialog module does not always run dialog:end for a dialog ended by RPC
            # (it can end on the BYE replies, in another process): end the call here unless
            # the event already did. Should both send end, CALL-9 charges it once.
            if KSR.htable.sht_get(TABLE, sip_call_id):
                KSR.htable.sht_rm(TABLE, sip_call_id)
                self.end(state, "cut")
        return 1

    def ksr_update_timer(self, msg, evname=None):
        """Every second: send update for the answered calls whose grant is running out; a
        final grant shortens the dialog's timeout to what is left."""
        now = time.time()
        for sip_call_id, state in self._calls():
            if not state["answered"] or state["final"] or now < state["next"]:
                continue
            used = int(now - state["answered"])
            status, reply = self.cc.post(state["tenant"],
                                         self.cc.call_path(state["call"], "update"),
                                         {"used_seconds": used})
            if status != 200:
                KSR.err("commcredits: update %s -> %d\n" % (state["call"], status))
                state["next"] = now + 5  # try again soon; expiry is 2 grants away
            else:
                grant = int(reply.get("grant_seconds") or 0)
                # The next update is due on the call's own schedule (every update_after
                # seconds from the answer), not drifting with the timer's ticks.
                state["next"] = max(state["next"] + min(self.update_after, max(grant, 1)),
                                    now + 1)
                KSR.notice("commcredits: update %s used=%d -> grant=%d final=%s\n"
                           % (state["call"], used, grant, reply.get("final")))
                if reply.get("final"):
                    state["final"] = True
                    limit = used + grant
                    if state.get("limit") is None or limit < state["limit"]:
                        state["limit"] = limit
                    # What is left of the limit, from the answer's exact time.
                    left = max(1, int(math.ceil(state["limit"] - (now - state["answered"]))))
                    KSR.dialog.dlg_set_timeout_id(left + SAFETY_SECONDS, int(state["he"]),
                                                  int(state["hi"]))
            if KSR.htable.sht_get(TABLE, sip_call_id):  # not ended meanwhile
                KSR.htable.sht_sets(TABLE, sip_call_id, json.dumps(state))
        return 1


def mod_init():
    """app_python3's entry point: the object whose methods are the routes."""
    return kamailio()
