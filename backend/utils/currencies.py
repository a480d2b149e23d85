"""ISO 4217 currency codes (a leaf: no imports from the project).

The codes of currencies in circulation, from the ISO 4217 list one, without fund codes
(BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals (XAU, XAG, XPD, XPT), bond-market
units (XBA…XBD), the SDR and the testing / no-currency codes (XTS, XXX): none of them is a
currency a business sells or reports in. Codes withdrawn since 2020 (ANG, CUC, HRK, SLL, ZWL)
stay valid, so two years of history in them can still be loaded and converted.
"""

from __future__ import annotations

import re

_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES
    KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
    MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
    RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY
    TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """
ISO_4217_CODES: frozenset[str] = frozenset(_CODES.split())

CURRENCY_PATTERN = r"^[A-Z]{3}$"
_SHAPE = re.compile(CURRENCY_PATTERN)


def currency_problem(code: str) -> str | None:
    """Why ``code`` is not a currency we accept, or None."""
    if not _SHAPE.match(code):
        return f"{code!r} is not an ISO 4217 code (three capital letters, e.g. USD, EUR)"
    if code not in ISO_4217_CODES:
        return f"{code!r} is not the ISO 4217 code of a currency in circulation"
    return None
