"""`kubelab certs`: a cluster CA, the apiserver's serving certificate, a token per component and kubeconfigs.

What a VM lab needs before the apiserver listens beyond loopback:

    DIR/ca.crt, ca.key                  the cluster CA (clients trust it)
    DIR/apiserver.crt, apiserver.key    signed by it, for every --ip/--dns name the apiserver is reached by
    DIR/tokens.csv                      --token-auth-file: one random token per component and node
    DIR/<who>.kubeconfig                server URL, the CA inline, that component's token
    DIR/kubelet-<node>.crt, .key        each kubelet's serving certificate (its API on port 10250), for the
                                        node's name and the IP given with --node NAME=IP
    DIR/apiserver-kubelet-client.crt, .key
                                        the apiserver's client certificate towards kubelets, which accept
                                        only callers with a certificate of this CA (--client-ca-file)

Tokens are 32 random bytes (hex); files holding secrets are mode 0600.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import ipaddress
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=365)
# Who gets a token, and the groups upstream would put them in (kept in tokens.csv for later authorization).
COMPONENTS = {
    "admin": ("kubelab-admin", "system:masters"),
    "scheduler": ("system:kube-scheduler", ""),
    "controller-manager": ("system:kube-controller-manager", ""),
    "kube-proxy": ("system:kube-proxy", ""),
    "dns": ("system:serviceaccount:kube-system:coredns", "system:serviceaccounts"),
}


@dataclass
class Bundle:
    directory: Path
    server: str

    def kubeconfig(self, who: str) -> Path:
        return self.directory / f"{who}.kubeconfig"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str = "kubelab-ca") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALID_FOR * 10)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def make_serving_cert(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, ips: list[str],
                      dns_names: list[str], common_name: str = "kube-apiserver",
                      ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server's certificate (the apiserver's, a kubelet's): valid for every address and name it is reached by."""
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    return _leaf(ca, ca_key, _name(common_name), ExtendedKeyUsageOID.SERVER_AUTH, names)


def make_client_cert(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, user: str, group: str,
                     ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A client certificate: CN the user, O the group, as upstream's x509 authenticator reads them."""
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, group),
                         x509.NameAttribute(NameOID.COMMON_NAME, user)])
    return _leaf(ca, ca_key, subject, ExtendedKeyUsageOID.CLIENT_AUTH, [])


def _leaf(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, subject: x509.Name, usage: x509.ObjectIdentifier,
          names: list[x509.GeneralName]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALID_FOR)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, secret: bool) -> None:
    path.write_bytes(data)
    path.chmod(0o600 if secret else 0o644)


def kubeconfig_text(server: str, ca_pem: bytes, user: str, token: str) -> str:
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "kubelab", "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "kubelab", "context": {"cluster": "kubelab", "user": user}}],
        "current-context": "kubelab",
    }
    return yaml.safe_dump(config, sort_keys=False)


def create(directory: Path, server: str, ips: list[str], dns_names: list[str], nodes: list[str]) -> Bundle:
    """Everything in the module docstring, into `directory` (created); existing files are replaced.
    `nodes` are node names, each optionally NAME=IP (the address its kubelet's certificate is valid for)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = make_ca()
    ca_pem = _pem_cert(ca)
    _write(directory / "ca.crt", ca_pem, secret=False)
    _write(directory / "ca.key", _pem_key(ca_key), secret=True)
    _write_pair(directory, "apiserver", make_serving_cert(ca, ca_key, ips, dns_names), ca_pem)
    _write_pair(directory, "apiserver-kubelet-client",
                make_client_cert(ca, ca_key, "kube-apiserver-kubelet-client", "system:masters"), ca_pem)
    node_ips = dict(node.partition("=")[::2] for node in nodes)
    for node, ip in node_ips.items():
        _write_pair(directory, f"kubelet-{node}",
                    make_serving_cert(ca, ca_key, [ip] if ip else [], [node], f"kubelet-{node}"), ca_pem)
    nodes = list(node_ips)
    users = {who: (name, groups) for who, (name, groups) in COMPONENTS.items()}
    users.update({f"kubelet-{node}": (f"system:node:{node}", "system:nodes") for node in nodes})
    lines = []
    for who, (name, groups) in users.items():
        token = secrets.token_hex(32)
        lines.append(f'{token},{name},{name},"{groups}"' if groups else f"{token},{name},{name}")
        _write(directory / f"{who}.kubeconfig", kubeconfig_text(server, ca_pem, name, token).encode(), secret=True)
    _write(directory / "tokens.csv", ("\n".join(lines) + "\n").encode(), secret=True)
    return Bundle(directory, server)


def _write_pair(directory: Path, name: str, pair: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
                ca_pem: bytes) -> None:
    cert, key = pair
    _write(directory / f"{name}.crt", _pem_cert(cert) + ca_pem, secret=False)
    _write(directory / f"{name}.key", _pem_key(key), secret=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path(os.environ.get("KUBELAB_HOME", ".kubelab")) / "pki",
                   help="where to write them (default .kubelab/pki)")
    p.add_argument("--server", required=True, help="the URL clients use, e.g. https://10.0.0.10:6443")
    p.add_argument("--ip", action="append", default=[], help="an address the apiserver is reached at (repeat)")
    p.add_argument("--dns", action="append", default=[], help="a DNS name the apiserver is reached at (repeat)")
    p.add_argument("--node", action="append", default=[], metavar="NAME[=IP]",
                   help="a node: its kubelet gets a token and a serving certificate for NAME and IP (repeat)")


def run(args: argparse.Namespace) -> int:
    host = args.server.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    ips, names = list(args.ip), list(args.dns) or ["localhost", "kubernetes", "kubernetes.default.svc"]
    try:
        ipaddress.ip_address(host)
        ips.append(host)
    except ValueError:
        names.append(host)
    ips += [ip for ip in ("127.0.0.1", "10.96.0.1") if ip not in ips]  # loopback and the kubernetes Service
    try:
        bundle = create(args.dir, args.server, sorted(set(ips)), sorted(set(names)), args.node)
    except (OSError, ValueError) as exc:
        print(f"kubelab certs: {exc}", file=sys.stderr)
        return 1
    print(f"wrote the CA, the apiserver certificate (for {', '.join(sorted(set(ips + names)))}), "
          f"tokens.csv and kubeconfigs to {bundle.directory}")
    d = bundle.directory
    print(f"apiserver flags: --tls-cert-file {d}/apiserver.crt --tls-private-key-file {d}/apiserver.key "
          f"--token-auth-file {d}/tokens.csv --kubelet-client-certificate {d}/apiserver-kubelet-client.crt "
          f"--kubelet-client-key {d}/apiserver-kubelet-client.key --kubelet-certificate-authority {d}/ca.crt")
    print(f"kubelet flags: --tls-cert-file {d}/kubelet-NODE.crt --tls-private-key-file {d}/kubelet-NODE.key "
          f"--client-ca-file {d}/ca.crt")
    return 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="kubelab certs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    sys.exit(run(p.parse_args(argv)))


if __name__ == "__main__":
    main()
