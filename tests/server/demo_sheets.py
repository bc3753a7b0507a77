"""What the demo children's summaries must show, as recorded (checked in JSON and on the printed page)."""

from __future__ import annotations

# What an emergency department must find on Jordan's sheet, each as recorded.
JORDAN_EMERGENCY = (
    "Nonverbal, uses eye gaze; spastic quadriplegia; baseline saturation 95%; fed only by G-tube",
    "Seizure longer than 5 minutes: Rectal diazepam 10 mg; call 911 if not stopped in 5 minutes",
    "G-tube button comes out: Cover the stoma; come to the ED within 1 hour, the stoma closes quickly",
    "Fever with fast breathing: Suspect aspiration pneumonia; chest X-ray",
    "Latex gloves and catheters",
    "Nothing by mouth",
    "Latex (hives)",
    "Levetiracetam 250 mg via G-tube twice daily",
    "Baclofen 10 mg via G-tube three times daily",
    "Diazepam rectal gel 10 mg for seizures over 5 minutes",
    "Karen Lee (mother): 555-0210",
    "Grace Lee (grandmother): 555-0211",
    "Children&#x27;s Hospital, 555-0300",
)

JORDAN_TEAM = (
    "Dana Whitfield — Nurse care coordinator, Riverside Pediatrics, phone 555-0101",
    "Priya Raman — Pediatrician, Riverside Pediatrics, phone 555-0100",
    "Tom Becker — School nurse, Lincoln Elementary School, phone 555-0500",
)
