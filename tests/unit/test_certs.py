"""`kubelab certs`: what each certificate is valid for, and who the tokens and client certificate name."""
from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubelab import certs


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]  # the leaf; the CA follows it


def names(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in san}


def usages(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_kubelet_serving_certificates_name_the_node_and_its_ip(tmp_path: Path) -> None:
    d = certs.create(tmp_path, "https://10.0.0.10:6443", ["10.0.0.10"], ["cp"], ["w1=10.0.0.11", "w2"]).directory
    w1, w2 = load(d / "kubelet-w1.crt"), load(d / "kubelet-w2.crt")
    assert names(w1) == {"w1", str(ipaddress.ip_address("10.0.0.11"))} and names(w2) == {"w2"}
    assert usages(w1) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ca = load(d / "ca.crt")
    for cert in (w1, w2, load(d / "apiserver.crt")):
        assert cert.issuer == ca.subject
        cert.verify_directly_issued_by(ca)
    tokens = (d / "tokens.csv").read_text()
    assert "system:node:w1," in tokens and "system:node:w2," in tokens and "10.0.0.11" not in tokens
    assert (d / "kubelet-w1.kubeconfig").exists() and not (d / "kubelet-w1=10.0.0.11.kubeconfig").exists()
    assert (d / "kubelet-w1.key").stat().st_mode & 0o777 == 0o600


def test_the_apiserver_client_certificate_is_a_client_of_system_masters(tmp_path: Path) -> None:
    d = certs.create(tmp_path, "https://127.0.0.1:6443", ["127.0.0.1"], [], []).directory
    client = load(d / "apiserver-kubelet-client.crt")
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kube-apiserver-kubelet-client"
    assert client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert usages(client) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    client.verify_directly_issued_by(load(d / "ca.crt"))
