"""Code bindings checked against the value sets the package carries.

Only value sets that expand without a terminology server are carried (see
``tools/gen_validation_data.py``); a binding to any other value set is not checked, as the reference
validator does when it cannot reach a terminology server. Required bindings that fail are errors,
extensible ones warnings; preferred and example bindings are not checked.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.errors import Issue
from fhirbridge.validation.definitions import Definitions

CHECKED_STRENGTHS = {"required": "error", "extensible": "warning"}


def binding_issues(
    value: Any, type_code: str, binding: tuple[str, str], element: str, path: str, definitions: Definitions
) -> list[Issue]:
    strength, value_set_url = binding
    severity = CHECKED_STRENGTHS.get(strength)
    codes = definitions.value_sets.get(value_set_url)
    if severity is None or codes is None:
        return []
    if type_code == "code":
        if isinstance(value, str) and not any(value in by_system for by_system in codes.values()):
            return [_issue(severity, path, f"'{value}'", value_set_url, strength)]
        return []
    if type_code == "Coding":
        codings = [value]
    elif type_code == "CodeableConcept":
        codings = [c for c in value.get("coding", []) if isinstance(c, dict)]
        if not codings:
            if strength == "required":
                return [
                    Issue(
                        f"No code provided, and a code is required from the value set {value_set_url}",
                        "code-invalid",
                        severity,
                        (path,),
                    )
                ]
            return []
    else:
        return []
    if any(_member(coding, codes) for coding in codings):
        return []
    if strength == "extensible" and any(coding.get("system") not in codes for coding in codings):
        # Extensible: a code from another system is allowed when the value set has no fitting concept.
        return []
    shown = ", ".join(f"{c.get('system', '')}#{c.get('code', '')}" for c in codings)
    return [_issue(severity, path, shown, value_set_url, strength)]


def _member(coding: dict[str, Any], codes: dict[str, frozenset[str]]) -> bool:
    system = coding.get("system")
    code = coding.get("code")
    return isinstance(system, str) and isinstance(code, str) and code in codes.get(system, frozenset())


def _issue(severity: str, path: str, shown: str, value_set_url: str, strength: str) -> Issue:
    qualifier = "is required" if strength == "required" else "should come"
    return Issue(
        f"The value provided ({shown}) was not found in the value set {value_set_url}, and a code "
        f"{qualifier} from this value set",
        "code-invalid",
        severity,
        (path,),
    )


__all__ = ["binding_issues"]
