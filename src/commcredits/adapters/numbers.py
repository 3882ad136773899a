"""Phone number classification with libphonenumber (the `phonenumbers` package): validity,
country, number type, and emergency short numbers dialled from a country (CALL-2, CALL-3).
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType, shortnumberinfo

from commcredits.domain.rating import Classified, NumberType

_TYPES = {
    PhoneNumberType.FIXED_LINE: NumberType.FIXED,
    PhoneNumberType.MOBILE: NumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberType.FIXED,
    PhoneNumberType.TOLL_FREE: NumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: NumberType.PREMIUM,
    PhoneNumberType.SHARED_COST: NumberType.PREMIUM,
}


class PhoneNumbers:
    """The `NumberClassifier` port over libphonenumber, with a small cache."""

    @staticmethod
    @lru_cache(maxsize=65_536)
    def classify(dialled: str, from_country: str) -> Classified:
        text = dialled.strip()
        region = from_country.upper() if from_country else "US"
        if text and not text.startswith("+") and text.isdigit() and len(text) <= 6 \
                and shortnumberinfo.is_emergency_number(text, region):
            return Classified(True, text, region, NumberType.OTHER, emergency=True)
        try:
            parsed = phonenumbers.parse(text, None if text.startswith("+") else region)
        except phonenumbers.NumberParseException:
            return Classified(False)
        if not phonenumbers.is_valid_number(parsed):
            return Classified(False)
        kind = _TYPES.get(phonenumbers.number_type(parsed), NumberType.OTHER)
        digits = f"{parsed.country_code}{parsed.national_number}"
        if parsed.italian_leading_zero:
            digits = f"{parsed.country_code}{'0' * (parsed.number_of_leading_zeros or 1)}" \
                     f"{parsed.national_number}"
        country = phonenumbers.region_code_for_number(parsed) or ""
        return Classified(True, digits, country, kind)
