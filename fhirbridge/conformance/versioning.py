"""Scenario: version-aware updates. An update with the current version in If-Match succeeds; one made
from a stale copy is refused with 412 (FHIR R4 http.html#concurrency), so no partner overwrites
another's change unseen."""

from __future__ import annotations

from fhirbridge.client import VersionConflict
from fhirbridge.conformance.run import Run

CHILD_SYSTEM = "http://fhirbridge.org/fhir/sid/conformance"


def versioning(run: Run) -> None:
    with run.step("create a Patient") as step:
        patient = run.client.create(
            {
                "resourceType": "Patient",
                "identifier": [{"system": CHILD_SYSTEM, "value": f"versioning-{run.tag}"}],
                "name": [{"family": "Conformance", "given": ["Versioning"]}],
                "gender": "unknown",
                "birthDate": "2019-05-01",
            }
        )
        run.made_resource("Patient", str(patient["id"]))
        first = str((patient.get("meta") or {}).get("versionId", ""))
        step.expect(bool(first), "the created Patient carries no meta.versionId")
        step.detail = f"Patient/{patient['id']} version {first}"
    with run.step("update with If-Match of the current version") as step:
        patient["birthDate"] = "2019-05-02"
        updated = run.client.update(patient, if_match=first)
        second = str((updated.get("meta") or {}).get("versionId", ""))
        step.expect(bool(second) and second != first, f"the version went from {first} to '{second}'")
        step.expect(updated.get("birthDate") == "2019-05-02", "the update was not kept")
        step.detail = f"version {first} -> {second}"
    with run.step("update with a stale If-Match is refused with 412") as step:
        patient["birthDate"] = "2019-05-03"
        try:
            run.client.update(patient, if_match=first)
        except VersionConflict as exc:
            step.expect(exc.status == 412, f"refused with {exc.status}, FHIR asks for 412 Precondition Failed")
            step.detail = f"412 for If-Match: {first} (current {second})"
        else:
            step.expect(False, f"the server accepted an update of version {first} while holding {second}")
    with run.step("the refused update left the resource alone") as step:
        current = run.client.read("Patient", str(patient["id"]))
        version = str((current.get("meta") or {}).get("versionId", ""))
        step.expect(version == second, f"version is {version}, expected {second}")
        step.expect(current.get("birthDate") == "2019-05-02", f"birthDate is {current.get('birthDate')}")
        step.detail = f"still version {version}"


__all__ = ["versioning"]
