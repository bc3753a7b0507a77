"""The monthly time thresholds of the CMS chronic care management (CCM) codes, as data.

Source: the CY 2020 Medicare Physician Fee Schedule final rule, Table 21 "Chronic Care Management Codes"
(CPT 99490, 99491, 99487, 99489, each "per calendar month"), and the CMS add-on code 99439 for each
additional 20 minutes of clinical staff time beyond 99490 (CY 2021 fee schedule; CMS MLN booklet "Chronic
Care Management Services"). See docs/coordination-time.md. Only the time each code asks for is here: whether
a child, a month and a practitioner meet a code's other requirements (conditions, consent, who may bill,
caps on add-on units, codes that exclude each other) is the practice's billing decision, not fhirbridge's.
Principal care management codes are left out: their thresholds could not be confirmed from a source of record.
"""

from __future__ import annotations

from dataclasses import dataclass

CPT = "http://www.ama-assn.org/go/cpt"


@dataclass(frozen=True)
class Threshold:
    code: str
    display: str
    minutes: int  # the time the code asks for (a block of an add-on code)
    after: str | None = None  # an add-on: the base code whose time comes first

    def units(self, total: int) -> int:
        """How many times ``total`` minutes in a month reach this code: 0 or 1 for a base code, the number
        of full blocks beyond the base code's minutes for an add-on."""
        if self.after is None:
            return 1 if total >= self.minutes else 0
        return max(total - BY_CODE[self.after].minutes, 0) // self.minutes


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("99490", "CCM: at least 20 minutes of clinical staff time per calendar month", 20),
    Threshold("99439", "CCM add-on: each additional 20 minutes of clinical staff time", 20, after="99490"),
    Threshold("99491", "CCM provided personally by a physician or QHP: at least 30 minutes per calendar month", 30),
    Threshold("99487", "Complex CCM: first 60 minutes of clinical staff time per calendar month", 60),
    Threshold("99489", "Complex CCM add-on: each additional 30 minutes of clinical staff time", 30, after="99487"),
)
BY_CODE = {threshold.code: threshold for threshold in THRESHOLDS}

__all__ = ["CPT", "THRESHOLDS", "Threshold"]
