# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared unit-test helpers: a small PKI factory (keys, CSRs, certificates of any shape) and a way
to run a module's main() in-process.

The factory builds real objects with cryptography; weak signatures (MD5, SHA-1), which current
cryptography refuses to create, are made by re-signing a certificate's TBS bytes by hand.
"""

from __future__ import annotations

import datetime
import json
import socket
import typing as t

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_KEY_CACHE: dict[tuple[str, str, int], t.Any] = {}

# DER of the AlgorithmIdentifier OIDs: sha256WithRSAEncryption and the weak ones of the same length.
_OID_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")
_WEAK_OIDS = {"sha1": bytes.fromhex("06092a864886f70d010105"), "md5": bytes.fromhex("06092a864886f70d010104")}
_WEAK_HASHES = {"sha1": hashes.SHA1, "md5": hashes.MD5}

EKU = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH, "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH}


def key_usage_of(**usages: bool) -> x509.KeyUsage:
    """A keyUsage with the named bits set (``digital_signature=True``) and every other bit clear."""
    bits = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                          "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
    bits.update(usages)
    return x509.KeyUsage(**bits)


class PKI:
    """Keys, CSRs and certificates for tests, plus writing them into a temporary directory."""

    def __init__(self, directory) -> None:
        self.dir = directory
        self.now = datetime.datetime.now(datetime.timezone.utc)

    # -- keys -----------------------------------------------------------------------------------
    def key(self, label: str = "default", kind: str = "ec", size: int = 2048):
        """A key, the same one for the same label within the test session (RSA is slow to make)."""
        cache_key = (label, kind, size)
        if cache_key not in _KEY_CACHE:
            if kind == "rsa":
                _KEY_CACHE[cache_key] = rsa.generate_private_key(public_exponent=65537, key_size=size)
            else:
                _KEY_CACHE[cache_key] = ec.generate_private_key(ec.SECP256R1())
        return _KEY_CACHE[cache_key]

    @staticmethod
    def name(common_name: str | None) -> x509.Name:
        if common_name is None:
            return x509.Name([])
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    # -- CSRs and certificates ------------------------------------------------------------------
    def csr(self, key, common_name: str | None = "mail.example.org", sans: t.Sequence[str] | None = ("mail.example.org",)):
        builder = x509.CertificateSigningRequestBuilder().subject_name(self.name(common_name))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
        return builder.sign(key, hashes.SHA256())

    def cert(
        self,
        common_name: str,
        key,
        *,
        issuer: x509.Certificate | None = None,
        issuer_key=None,
        issuer_name: str | None = None,
        ca: bool = False,
        sans: t.Sequence[str] | None = None,
        eku: t.Sequence[str] | None = None,
        days: float = 90,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        key_usage: bool = True,
        usage: x509.KeyUsage | None = None,
        path_length: int | None = None,
        name_constraints: x509.NameConstraints | None = None,
        critical_oid: str | None = None,
    ) -> x509.Certificate:
        """A certificate; self-signed unless ``issuer``/``issuer_key`` are given.

        Conforming to RFC 5280 unless asked otherwise (SKI, AKI, keyUsage as a CA or a TLS server needs it):
        ``usage`` replaces the keyUsage, ``path_length`` and ``name_constraints`` constrain a CA, ``critical_oid``
        adds a critical extension nobody knows.
        """
        signer = issuer_key or key
        if issuer is not None:
            issuer_dn = issuer.subject
        elif issuer_name is not None:
            issuer_dn = self.name(issuer_name)
        else:
            issuer_dn = self.name(common_name)
        start = not_before or (self.now - datetime.timedelta(hours=1))
        end = not_after or (self.now + datetime.timedelta(days=days))
        builder = (
            x509.CertificateBuilder()
            .subject_name(self.name(common_name))
            .issuer_name(issuer_dn)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        )
        if usage is not None:
            builder = builder.add_extension(usage, critical=True)
        elif key_usage:
            builder = builder.add_extension(key_usage_of(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca), critical=True)
        if name_constraints is not None:
            builder = builder.add_extension(name_constraints, critical=True)
        if critical_oid is not None:
            builder = builder.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(critical_oid), b"\x05\x00"), critical=True)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([EKU[name] for name in eku]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def chain(self, *, leaf_key=None, leaf_names: t.Sequence[str] = ("mail.example.org",), prefix: str = "Test"):
        """root -> intermediate -> leaf; returns (root, intermediate, leaf, leaf_key, intermediate_key)."""
        root_key = self.key(f"{prefix}-root")
        int_key = self.key(f"{prefix}-int")
        leaf_key = leaf_key or self.key(f"{prefix}-leaf")
        root = self.cert(f"{prefix} Root CA", root_key, ca=True, days=3650)
        intermediate = self.cert(f"{prefix} Intermediate CA", int_key, issuer=root, issuer_key=root_key, ca=True, days=1000)
        leaf = self.cert(leaf_names[0], leaf_key, issuer=intermediate, issuer_key=int_key, sans=leaf_names, eku=["serverAuth"])
        return root, intermediate, leaf, leaf_key, int_key

    @staticmethod
    def weaken(cert: x509.Certificate, issuer_key, hash_name: str) -> x509.Certificate:
        """The same certificate re-signed (by an RSA ``issuer_key``) with MD5 or SHA-1."""
        der = cert.public_bytes(serialization.Encoding.DER)
        if der.count(_OID_SHA256_RSA) != 2:
            raise ValueError("weaken() needs a certificate signed with sha256WithRSAEncryption")
        swapped = x509.load_der_x509_certificate(der.replace(_OID_SHA256_RSA, _WEAK_OIDS[hash_name]))
        tbs = swapped.tbs_certificate_bytes
        signature = issuer_key.sign(tbs, padding.PKCS1v15(), _WEAK_HASHES[hash_name]())
        out = swapped.public_bytes(serialization.Encoding.DER).replace(swapped.signature, signature)
        return x509.load_der_x509_certificate(out)

    # -- files ----------------------------------------------------------------------------------
    @staticmethod
    def pem(obj) -> bytes:
        if isinstance(obj, (list, tuple)):
            return b"".join(PKI.pem(item) for item in obj)
        if isinstance(obj, bytes):
            return obj
        if hasattr(obj, "private_bytes"):
            return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return obj.public_bytes(serialization.Encoding.PEM)

    def write(self, name: str, obj) -> str:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.pem(obj))
        return str(path)


@pytest.fixture
def pki(tmp_path) -> PKI:
    return PKI(tmp_path)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """An RSA 2048 key, one per test file (RSA keys are slow to make)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    """A P-256 key, one per test file."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound once to pick a free one, then released."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def ansible_module(monkeypatch, tmp_path) -> t.Callable[..., t.Any]:
    """A real AnsibleModule without options (``ansible_module(check_mode=False)``), for the file helpers that use its
    own attribute, backup and SELinux functions."""
    from ansible.module_utils import _internal
    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.testing import patch_module_args

    monkeypatch.setattr(_internal, "is_controller", False)

    def make(*, check_mode: bool = False) -> AnsibleModule:
        args = {"_ansible_check_mode": check_mode, "_ansible_remote_tmp": str(tmp_path / "ansible-tmp"), "_ansible_keep_remote_files": False}
        with patch_module_args(args):
            return AnsibleModule(argument_spec={}, supports_check_mode=True)

    return make


class ModuleResult(dict):
    """A module's result; ``text`` is the JSON exactly as the module printed it, to search for secrets."""

    text: str = ""


@pytest.fixture
def run_module(capsys, monkeypatch) -> t.Callable[..., ModuleResult]:
    """Run a module's main() in-process: ``run_module(main, args, check_mode=False, diff=False)``.

    Returns the module's JSON result (with ``failed: true`` after fail_json); ``warnings`` are
    flattened to their message texts (ansible-core 2.19+ returns structured warnings).
    """
    from ansible.module_utils import _internal
    from ansible.module_utils.common import warnings
    from ansible.module_utils.testing import patch_module_args

    # Once any test imports controller code (a filter plugin, ansible.errors), module warnings would
    # go to the controller's display instead of the result; a module run is never the controller.
    monkeypatch.setattr(_internal, "is_controller", False)

    def run(main: t.Callable[[], None], args: dict[str, t.Any], *, check_mode: bool = False, diff: bool = False) -> ModuleResult:
        full = dict(args)
        full["_ansible_check_mode"] = check_mode
        full["_ansible_diff"] = diff
        capsys.readouterr()
        # Warnings are collected per process; start every in-process run with none.
        monkeypatch.setattr(warnings, "_global_warnings", {})
        with patch_module_args(full):
            with pytest.raises(SystemExit):
                main()
        text = capsys.readouterr().out
        result = ModuleResult(json.loads(text))
        result.text = text
        result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
        return result

    return run
