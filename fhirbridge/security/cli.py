"""``fhirbridge token``: mint a development token for one of the role presets."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fhirbridge.config import Settings
from fhirbridge.security.roles import ROLES, role_claims
from fhirbridge.security.tokens import MIN_SECRET_BYTES, mint_token


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "token",
        help="mint a development bearer token (HS256, FHIRBRIDGE_JWT_SECRET) for a role preset",
    )
    parser.add_argument("--role", required=True, choices=sorted(ROLES), help="role preset (see docs/security.md)")
    parser.add_argument("--patient", help="Patient id the token is confined to (required for family)")
    parser.add_argument("--org", help="Organization id the caller acts for (required for outside organizations)")
    parser.add_argument("--user", help="fhirUser reference, e.g. Practitioner/12 or RelatedPerson/4")
    parser.add_argument("--subject", help="sub and client_id claims (default: the role name)")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    parser.set_defaults(handler=mint)


def mint(args: argparse.Namespace) -> int:
    settings = Settings()
    if len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
        print(f"FHIRBRIDGE_JWT_SECRET must be set (at least {MIN_SECRET_BYTES} bytes) to mint tokens", file=sys.stderr)
        return 2
    if not settings.jwt_issuer or not settings.jwt_audience:
        print("FHIRBRIDGE_JWT_ISSUER and FHIRBRIDGE_JWT_AUDIENCE must be set to mint tokens", file=sys.stderr)
        return 2
    if args.ttl <= 0:
        print("--ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    try:
        claims = role_claims(args.role, patient=args.patient, org=args.org, user=args.user)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    token = mint_token(
        claims,
        secret=settings.jwt_secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl=args.ttl,
        subject=args.subject or args.role,
    )
    print(token)
    return 0


__all__ = ["register"]
