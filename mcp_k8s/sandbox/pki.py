"""The sandbox's PKI: a throw-away CA, the certificates it issues, and self-contained kubeconfigs.

Client certificates carry the user in CN and the groups in O, which is how the API server reads them; every
component (admin, controller manager, scheduler, KWOK's kubelet endpoint) gets its own, as in a kubeadm cluster.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_public_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_file(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """Write a key or certificate with explicit permissions (keys stay owner-only)."""
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class CertificateAuthority:
    """A throw-away CA: one week of validity is plenty for a sandbox, and nothing outside trusts it."""

    def __init__(self, common_name: str = "mcp-k8s-sandbox-ca") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(common_name)
        self.cert = self._builder(subject, subject, self.key.public_key(), ca=True).sign(self.key, hashes.SHA256())
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)

    @staticmethod
    def _builder(
        subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, *, ca: bool
    ) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )

    def issue(
        self,
        common_name: str,
        organizations: Sequence[str] = (),
        *,
        server: bool = False,
        hosts: Sequence[str] = (),
    ) -> tuple[bytes, bytes]:
        """Returns (cert PEM, key PEM). Client certs carry the user in CN and groups in O, as the apiserver reads."""
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = self._builder(_name(common_name, organizations), self.cert.subject, key.public_key(), ca=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if hosts:
            sans: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    sans.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(key)

    def write_pair(
        self, directory: Path, stem: str, common_name: str, *, server: bool = False, hosts: Sequence[str] = ()
    ) -> tuple[Path, Path]:
        """Issue a certificate and write `<stem>.crt` / `<stem>.key` into `directory`; returns both paths."""
        cert, key = self.issue(common_name, server=server, hosts=hosts)
        return write_file(directory / f"{stem}.crt", cert, 0o644), write_file(directory / f"{stem}.key", key)


def kubeconfig_yaml(
    server: str,
    ca_pem: bytes,
    *,
    user: str,
    cert_pem: bytes | None = None,
    key_pem: bytes | None = None,
    token: str | None = None,
    namespace: str | None = None,
    context: str = "sandbox",
) -> str:
    """A self-contained kubeconfig (certificates inlined) for one user."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    credentials: dict[str, str] = {}
    if token is not None:
        credentials["token"] = token
    if cert_pem is not None and key_pem is not None:
        credentials["client-certificate-data"] = b64(cert_pem)
        credentials["client-key-data"] = b64(key_pem)
    ctx: dict[str, str] = {"cluster": "sandbox", "user": user}
    if namespace:
        ctx["namespace"] = namespace
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [{"name": "sandbox", "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": context, "context": ctx}],
        },
        sort_keys=False,
    )


def write_user_kubeconfig(
    path: Path,
    server: str,
    ca: CertificateAuthority,
    user: str,
    groups: Sequence[str] = (),
    *,
    namespace: str | None = None,
) -> Path:
    """Mint a client certificate for `user` in `groups` and write a kubeconfig (0600) that uses it."""
    cert, key = ca.issue(user, groups)
    text = kubeconfig_yaml(server, ca.cert_pem, user=user, cert_pem=cert, key_pem=key, namespace=namespace)
    return write_file(path, text.encode())
