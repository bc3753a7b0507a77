"""Agreement with the HL7 reference (Java) validator on the fhir-test-cases validator suite.

A case is a resource plus the OperationOutcome the reference validator gave for it (``outcomes/``,
named by the ``java`` field of ``manifest-*.json``). When a case names a profile (``profile.source``),
the outcome of validating against that profile is the one compared. The verdict is "invalid" when the
outcome has an error or fatal issue. Definitions the case brings (``profiles``, ``supporting``) are
registered for it; IG packages (``packages``) are not available offline and are not loaded.

Each case gets one category, from what its expected errors are about (or, for a valid case, from its
test module): ``structure``, ``cardinality``, ``codes``, ``invariants``, ``questionnaire`` (validation
of answers against a Questionnaire, not in scope here) or ``other`` (references inside bundles,
narrative links, digital signatures, display names that need a terminology server, ...).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhirbridge.formats.json import loads
from fhirbridge.validation.definitions import Definitions, package_definitions
from fhirbridge.validation.validator import Validator

CATEGORIES = ("structure", "cardinality", "codes", "invariants", "questionnaire", "other")
TARGET_CATEGORIES = ("structure", "cardinality", "codes", "invariants")

_VALID_MODULE_CATEGORY = {
    "general": "structure",
    "fmt": "structure",
    "base": "structure",
    "xhtml": "structure",
    "security": "structure",
    "extensions": "structure",
    "xver": "structure",
    "profile": "cardinality",
    "tx": "codes",
    "tx-advanced": "codes",
    "invariants": "invariants",
    "questionnaire": "questionnaire",
}

# Errors only a terminology server can find (display names, content of LOINC, SNOMED CT, CVX ...).
_TERMINOLOGY_SERVER = re.compile(r"Wrong Display Name|Unknown code .* in the CodeSystem|CodeSystem .* unknown")
_CARDINALITY = re.compile(r"minimum required|max allowed|a matching slice is required|does not match any")
_STRUCTURE = re.compile(
    r"Unrecognized property|Undefined element|not a valid|could not be found so is not allowed|"
    r"must be an absolute|Extension\.url is required|not allowed (?:to be used )?(?:here|at this point|on)|"
    r"Invalid Resource id|must be an Object|Text should not be present|The property .* must be",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CaseResult:
    name: str
    category: str
    expected_invalid: bool
    actual_invalid: bool | None  # None: the case could not be run
    reason: str

    @property
    def agrees(self) -> bool:
        return self.actual_invalid is not None and self.actual_invalid == self.expected_invalid


@dataclass(frozen=True)
class Report:
    results: tuple[CaseResult, ...]

    def rate(self, categories: Iterable[str] | None = None) -> float:
        chosen = set(categories) if categories is not None else set(CATEGORIES)
        run = [r for r in self.results if r.category in chosen and r.actual_invalid is not None]
        return sum(r.agrees for r in run) / len(run) if run else 0.0

    def counts(self) -> dict[str, tuple[int, int]]:
        """(agreeing, run) per category."""
        out: dict[str, tuple[int, int]] = {}
        for category in CATEGORIES:
            run = [r for r in self.results if r.category == category and r.actual_invalid is not None]
            out[category] = (sum(r.agrees for r in run), len(run))
        return out

    @property
    def disagreements(self) -> list[CaseResult]:
        return [r for r in self.results if r.actual_invalid is not None and not r.agrees]

    @property
    def skipped(self) -> list[CaseResult]:
        return [r for r in self.results if r.actual_invalid is None]


Reader = Callable[[bytes], Any]


def _xml_reader() -> Reader | None:
    try:
        from fhirbridge.formats.xml import parse_xml  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    reader: Reader = parse_xml
    return reader


def read_resource(path: Path) -> Any:
    """A JSON or XML resource file as FHIR JSON; LookupError when XML cannot be read here."""
    if path.suffix == ".xml":
        reader = _xml_reader()
        if reader is None:
            raise LookupError("no FHIR XML reader (fhirbridge.formats.xml) available")
        return reader(path.read_bytes())
    return loads(path.read_bytes())


def expected_outcome(case_dir: Path, java: Any) -> dict[str, Any] | None:
    if isinstance(java, dict):
        outcome = java.get("outcome", java)
        return outcome if isinstance(outcome, dict) else None
    path = case_dir / "outcomes" / str(java)
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _errors(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in outcome.get("issue", []) if i.get("severity") in ("error", "fatal")]


def _text(issue: dict[str, Any]) -> str:
    return str(issue.get("details", {}).get("text") or issue.get("diagnostics") or "")


def categorize(case: dict[str, Any], outcome: dict[str, Any]) -> str:
    module = str(case.get("module", ""))
    if module == "questionnaire":
        return "questionnaire"
    errors = _errors(outcome)
    if not errors:
        return _VALID_MODULE_CATEGORY.get(module, "other")
    first = errors[0]
    text = _text(first)
    if _TERMINOLOGY_SERVER.search(text):
        return "other"
    if _CARDINALITY.search(text):
        return "cardinality"
    if first.get("code") == "invariant":
        return "invariants"
    if first.get("code") in ("code-invalid",) or "ValueSet" in text or "value set" in text:
        return "codes"
    if first.get("code") == "structure" or _STRUCTURE.search(text):
        return "structure"
    return "other"


def run_case(case_dir: Path, case: dict[str, Any], base: Definitions) -> CaseResult:
    profile = case.get("profile") if isinstance(case.get("profile"), dict) else None
    java = profile.get("java") if profile and "java" in profile else case.get("java")
    outcome = expected_outcome(case_dir, java)
    name = str(case["name"])
    if outcome is None:
        return CaseResult(name, "other", False, None, f"no expected outcome ({java})")
    expected_invalid = bool(_errors(outcome))
    category = categorize(case, outcome)
    files = [
        *case.get("profiles", []),
        *case.get("supporting", []),
        *case.get("supporting5", []),
        *(profile.get("supporting", []) if profile else []),
    ]
    profile_source = profile.get("source") if profile else None
    # Definitions the suite keeps outside this subset (or in IG packages) are missing: the case still
    # runs, and a disagreement says what was missing.
    missing = [str(f) for f in [*files, profile_source] if f and not (case_dir / str(f)).exists()]
    try:
        resource = read_resource(case_dir / case["file"])
        extra = [read_resource(case_dir / f) for f in files if str(f) not in missing]
        source = read_resource(case_dir / profile_source) if profile_source and profile_source not in missing else None
    except LookupError as exc:
        return CaseResult(name, category, expected_invalid, None, str(exc))
    except Exception as exc:  # a file the readers reject is a verdict of its own
        return CaseResult(name, category, expected_invalid, True, f"not readable: {exc}")
    if source is not None:
        extra.append(source)
    definitions = base.extended(extra) if extra else base
    profiles = [
        str(entry["profile"])
        for guide in extra
        if isinstance(guide, dict) and guide.get("resourceType") == "ImplementationGuide"
        for entry in guide.get("global", [])
        if entry.get("type") == (resource.get("resourceType") if isinstance(resource, dict) else None)
    ]
    if profile_source:
        url = source.get("url") if isinstance(source, dict) else None
        # A profile known only by its file name cannot be asked for; its absence is in ``missing``.
        if url:
            profiles.append(str(url))
    issues = Validator(definitions).validate(resource, profiles)
    ours = [i for i in issues if i.severity in ("error", "fatal")]
    actual_invalid = bool(ours)
    if actual_invalid == expected_invalid:
        reason = ""
    elif expected_invalid:
        reason = "missed: " + "; ".join(_text(i)[:160] for i in _errors(outcome)[:2])
    else:
        reason = "extra: " + "; ".join(
            f"{i.expression[0] if i.expression else ''}: {i.diagnostics[:140]}" for i in ours[:2]
        )
    if missing:
        # Without the definitions the reference validator had, the verdicts are not comparable.
        return CaseResult(
            name,
            category,
            expected_invalid,
            None,
            f"definitions not in the subset ({', '.join(missing)}); fhirbridge alone says "
            f"{_verdict(actual_invalid)}, the reference validator {_verdict(expected_invalid)}",
        )
    if reason and case.get("packages"):
        reason += f" [needs packages {', '.join(case['packages'])}]"
    return CaseResult(name, category, expected_invalid, actual_invalid, reason)


def run(case_dir: Path, definitions: Definitions | None = None) -> Report:
    """Run every case of the ``manifest-*.json`` files in ``case_dir``."""
    base = definitions or package_definitions()
    results: list[CaseResult] = []
    for manifest in sorted(case_dir.glob("manifest-*.json")):
        for case in json.loads(manifest.read_text())["test-cases"]:
            if str(case.get("version", "4.0")).startswith("4.0"):
                results.append(run_case(case_dir, case, base))
    return Report(tuple(results))


def markdown(report: Report) -> str:
    """The agreement table and the list of disagreements, for docs/validation.md."""
    lines = ["| category | agree | cases | rate |", "|---|---:|---:|---:|"]
    for category, (agree, total) in report.counts().items():
        rate = f"{agree / total:.0%}" if total else "-"
        lines.append(f"| {category} | {agree} | {total} | {rate} |")
    target = [r for r in report.results if r.category in TARGET_CATEGORIES and r.actual_invalid is not None]
    lines.append(
        f"| **structure + cardinality + codes + invariants** | {sum(r.agrees for r in target)} | "
        f"{len(target)} | {report.rate(TARGET_CATEGORIES):.0%} |"
    )
    every = [r for r in report.results if r.actual_invalid is not None]
    lines.append(f"| all cases run | {sum(r.agrees for r in every)} | {len(every)} | {report.rate():.0%} |")
    lines += [
        "",
        "Disagreements:",
        "",
        "| case | category | reference | fhirbridge | why |",
        "|---|---|---|---|---|",
    ]
    for result in report.disagreements:
        lines.append(
            f"| {result.name} | {result.category} | {_verdict(result.expected_invalid)} | "
            f"{_verdict(bool(result.actual_invalid))} | {result.reason.replace('|', '/')} |"
        )
    counts = Counter(r.reason.split(" (", 1)[0] for r in report.skipped)
    if counts:
        lines += ["", "Not run:", ""] + [f"- {reason}: {n}" for reason, n in sorted(counts.items())]
    return "\n".join(lines) + "\n"


def _verdict(invalid: bool) -> str:
    return "invalid" if invalid else "valid"


__all__ = ["CATEGORIES", "TARGET_CATEGORIES", "CaseResult", "Report", "categorize", "markdown", "run"]
