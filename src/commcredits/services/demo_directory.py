"""The demo tenant's directory: users in the US (and Puerto Rico), GB and DE with a realistic
mix of E5, Teams Phone, calling plans, Audio Conferencing and Communications Credits,
their numbers, an auto attendant, a call queue and a conference bridge (with a toll-free
number). The minute pools are used only by the demo's rated calls (`demo_calls`).

Seeded through the real services, two months back on a stepping clock, so the licenses
count for every call the demo rates (LIC-5).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from commcredits.services import directory, licenses
from commcredits.services.auth import OPERATOR_CLI
from commcredits.services.context import Services
from commcredits.services.demo_clock import SteppingClock

SEATS = {"SPE_E5": 10, "MCOEV": 15, "MCOPSTN1": 12, "MCOPSTN2": 4, "MCOPSTN_PAYG_1": 2,
         "MCOMEETADV": 3}

# upn, display name, usage location, phone number, licenses
USERS: list[tuple[str, str, str | None, str | None, list[str]]] = [
    ("megan.bowen", "Megan Bowen", "US", "+14255550101", ["SPE_E5", "MCOPSTN2", "MCOPSTNC"]),
    ("alex.wilber", "Alex Wilber", "US", "+14255550102", ["SPE_E5", "MCOPSTN1", "MCOPSTNC"]),
    ("adele.vance", "Adele Vance", "US", "+14255550103", ["SPE_E5", "MCOPSTN1"]),
    ("lee.gu", "Lee Gu", "US", "+14255550104", ["MCOEV", "MCOPSTN1", "MCOMEETADV"]),
    ("isaiah.langer", "Isaiah Langer", "US", "+14255550105", ["MCOEV", "MCOPSTN1"]),
    ("nestor.wilke", "Nestor Wilke", "US", "+14255550106", ["SPE_E5", "MCOPSTN1"]),
    ("joni.sherman", "Joni Sherman", "PR", "+17875550107", ["MCOEV", "MCOPSTN1"]),
    ("lynne.robbins", "Lynne Robbins", "GB", "+442079460108", ["SPE_E5", "MCOPSTN1"]),
    ("diego.siciliani", "Diego Siciliani", "GB", "+442079460109",
     ["MCOEV", "MCOPSTN2", "MCOPSTNC"]),
    ("grady.archie", "Grady Archie", "GB", "+442079460110",
     ["MCOEV", "MCOPSTN_PAYG_1", "MCOPSTNC"]),
    ("johanna.lorenz", "Johanna Lorenz", "DE", "+4930901820111", ["SPE_E5", "MCOPSTN1"]),
    ("pradeep.gupta", "Pradeep Gupta", "DE", "+4930901820112",
     ["MCOEV", "MCOPSTN2", "MCOMEETADV", "MCOPSTNC"]),
    ("henrietta.mueller", "Henrietta Mueller", "DE", None, ["MCOEV", "MCOPSTN1"]),
    ("patti.fernandez", "Patti Fernandez", "US", None, ["SPE_E5"]),
    ("miriam.graham", "Miriam Graham", None, None, []),  # joined today: no location yet
]
DOMAIN = "contoso.com"

# upn, display name, kind, numbers (number, type)
RESOURCE_ACCOUNTS = [
    ("reception", "Contoso Main Line", "auto_attendant", [("+14255550100", "service")]),
    ("support", "Contoso Support", "call_queue", [("+14255550190", "service")]),
    ("conference", "Contoso Audio Conferencing", "conference_bridge",
     [("+14255550180", "service"), ("+18005550100", "toll_free")]),
]
SPARE_NUMBERS = [("+14255550120", "user"), ("+442079460120", "user")]

def seed_directory(svc: Services, tenant_id: str) -> bool:
    """Seed the demo directory once (when the tenant has no users); True if it did."""
    if directory.list_users(svc, OPERATOR_CLI, tenant_id, limit=1):
        return False
    now = svc.clock.now()
    clock = SteppingClock(now - timedelta(days=60))
    past = replace(svc, clock=clock)
    for sku, quantity in SEATS.items():
        licenses.buy_seats(past, OPERATOR_CLI, tenant_id, sku=sku, quantity=quantity)
    for name, display, location, phone, skus in USERS:
        upn = f"{name}@{DOMAIN}"
        directory.create_user(past, OPERATOR_CLI, tenant_id, upn=upn, display_name=display,
                              usage_location=location, phone_number=phone)
        if skus:
            licenses.change_licenses(past, OPERATOR_CLI, tenant_id, upn, add=skus)
    for name, display, kind, numbers in RESOURCE_ACCOUNTS:
        upn = f"{name}@{DOMAIN}"
        directory.create_resource_account(past, OPERATOR_CLI, tenant_id, upn=upn,
                                          display_name=display, kind=kind)
        for number, number_type in numbers:
            directory.add_number(past, OPERATOR_CLI, tenant_id, number=number,
                                 type=number_type, assigned_to=upn)
    for number, number_type in SPARE_NUMBERS:
        directory.add_number(past, OPERATOR_CLI, tenant_id, number=number, type=number_type)
    return True
