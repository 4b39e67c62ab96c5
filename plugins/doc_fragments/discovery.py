# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mail domains and their defaults, shared by postmaster.tls.mail_discovery and mail_discovery_verify
(postmaster.tls.discovery); the argument spec is _discovery.domains_argument_spec()."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  domains:
    description:
      - The mail domains (the part after C(@) in addresses). Names are used in lower case without a trailing dot.
      - The entries take the keys of the C(postmaster.tls.dns_records) role's C(dns_records_domains) too, so one list
        can feed both (O(domains[].tls_rpt_rua), O(domains[].srv) and O(domains[].zone) are accepted and left to that role).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The mail domain.
        type: str
        required: true
      mail_host:
        description: The host name clients connect to for every service of this domain. Default O(mail_host).
        type: str
      services:
        description: The client services offered. Default O(services).
        type: list
        elements: str
        choices: [submissions, submission, imaps, imap, pop3s, pop3]
      service_hosts:
        description: "Another host name for single services, such as C({imaps: imap.example.org})."
        type: dict
      mx:
        description: MX host names (or C(*.) patterns) for the MTA-STS policy. Default O(mx).
        type: list
        elements: str
      mta_sts:
        description: Publish an MTA-STS policy (and serve it on C(mta-sts.<domain>)).
        type: bool
        default: true
      mta_sts_mode:
        description:
          - V(testing) reports failures but still delivers; V(enforce) makes senders refuse to deliver without valid TLS
            (M(postmaster.tls.mail_discovery) refuses it unless every MX verifies); V(none) withdraws a policy (keep
            serving it, with its new id, for at least the old O(domains[].mta_sts_max_age)). Default O(mta_sts_mode).
        type: str
        choices: [none, testing, enforce]
      mta_sts_max_age:
        description: Seconds senders may cache the policy (at most 31557600). Default O(mta_sts_max_age).
        type: int
      autoconfig:
        description: Publish a Thunderbird autoconfig file (served on C(autoconfig.<domain>)).
        type: bool
        default: true
      autodiscover:
        description: Publish an Autodiscover response (served on C(autodiscover.<domain>)).
        type: bool
        default: true
      display_name:
        description: The provider name shown by mail clients. Default the domain.
        type: str
      username:
        description: The login name clients use (C(%EMAILADDRESS%), C(%EMAILLOCALPART%) or a fixed name). Default O(username).
        type: str
      tls_rpt_rua:
        description: Accepted for the C(dns_records) role's entries; not used here.
        type: list
        elements: str
      srv:
        description:
          - Whether the C(dns_records) role publishes this domain's SRV records (V(true) when not set). With V(false)
            M(postmaster.tls.mail_discovery_verify) does not check them; M(postmaster.tls.mail_discovery) ignores it.
        type: bool
      zone:
        description: Accepted for the C(dns_records) role's entries (the DNS zone of this domain's records); not used here.
        type: str
  mail_host:
    description: Default host name of every service (usually the mail certificate's first name).
    type: str
  mx:
    description: Default MX host names for the policy; default the domain's mail host.
    type: list
    elements: str
  services:
    description: Default services offered; default all six.
    type: list
    elements: str
    choices: [submissions, submission, imaps, imap, pop3s, pop3]
  mta_sts_mode:
    description: Default policy mode.
    type: str
    choices: [none, testing, enforce]
    default: testing
  mta_sts_max_age:
    description: Default policy lifetime in senders' caches, in seconds.
    type: int
    default: 604800
  username:
    description: Default login name template.
    type: str
    default: "%EMAILADDRESS%"
  ttl:
    description: TTL written into the record lines.
    type: int
    default: 3600
"""
