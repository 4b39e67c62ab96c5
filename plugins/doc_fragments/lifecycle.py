# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Revocation and certificate transparency options of the checking modules (use as postmaster.tls.lifecycle[.RENEWAL])."""

from __future__ import annotations


class ModuleDocFragment:
    # certificate_info and mail_tls_verify: revocation from CRLs, SCTs against a log list.
    DOCUMENTATION = r"""
options:
  crl_path:
    description:
      - CRL files (PEM or DER) to check revocation against, for example the local CA's CRL that
        M(postmaster.tls.local_ca_crl) keeps. Each certificate is checked against the CRL of its issuer, after the
        CRL's signature was verified with the issuer's key.
      - A CRL whose C(nextUpdate) has passed, or one that names a certificate's issuer but was signed by another key,
        fails the task - it is the wrong file, and checking against it would prove nothing. So does one that no checked
        certificate's issuer signed (M(postmaster.tls.mail_tls_verify) reports that as a failure of every endpoint,
        keeping the rest of the report).
    type: list
    elements: path
    default: []
  crl_fetch:
    description:
      - When no O(crl_path) file is from a certificate's issuer, fetch the CRL from the certificate's CRL distribution
        points (C(http) and C(https) URLs), from the host that runs the module. Each URL is fetched once per run.
      - A distribution point that cannot be reached within O(crl_timeout) is reported (status V(unknown) with the
        reason), not a failure.
    type: bool
    default: false
  crl_timeout:
    description:
      - Seconds allowed for fetching one CRL as a whole (connect, request and answer).
    type: float
    default: 5
  ct_log_list_path:
    description:
      - A CT log list in the public JSON format (Chrome's C(log_list.json) v3, or Apple's), as a file on the host
        running the module; nothing is downloaded. With it, the signature of every embedded SCT is verified offline
        against the log's key (RFC 6962), and an SCT of a log the list does not know is reported.
      - Without it, SCTs are listed and counted but their signatures are not checked.
      - A file that does not parse as a log list fails the task.
    type: path
"""

    # certificate_info: the renewal rule the certificate modules and the audit use.
    RENEWAL = r"""
options:
  renew_before_days:
    description:
      - With O(renew_fraction), the renewal rule reported as RV(certificates[].renewal) - due once fewer than this many
        days remain (counted as at most half the certificate's lifetime) or less than O(renew_fraction) of its
        lifetime, whichever comes first. The same rule as M(postmaster.tls.certificate).
    type: int
    default: 30
  renew_fraction:
    description:
      - The fraction of the lifetime below which a certificate is due (above 0, at most 0.5).
    type: float
    default: 0.3333333333333333
  renewal_now:
    description:
      - Decide renewal as if it were this time - relative (V(+14d) reports what falls due within two weeks; units
        V(w), V(d), V(h), V(m), V(s)), an ASN.1 time (V(20270101000000Z)) or an ISO 8601 time. Empty - now.
    type: str
"""
