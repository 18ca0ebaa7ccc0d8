"""A throw-away certification authority made in the test: root → intermediate → signers, as the national
CA (a root, a subordinate CA that issues the agencies' certificates) does. Nothing here is ever committed:
keys live in memory and in the test's temp folder.

``TestCA.make(tmp)`` builds the root and the intermediate; ``ca.issue("Nguyễn Hữu Phước", …)`` a signer
(the Vietnamese name in the subject's CN, the organisation in O), ``ca.pkcs12(signer, path, passphrase)``
writes it as agencies get it (a .p12 with the chain), ``ca.timestamping()`` a TSA certificate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


@dataclass
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str, organisation: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(subject: x509.Name, issuer: Issued | None, key: rsa.RSAPrivateKey, days: int):
    issuer_name = issuer.cert.subject if issuer else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    return builder


def _ca(subject: x509.Name, issuer: Issued | None, path_length: int | None) -> Issued:
    key = _key()
    builder = (
        _builder(subject, issuer, key, 3650)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    signing_key = issuer.key if issuer else key
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


@dataclass
class TestCA:
    __test__ = False  # not a test class, whatever its name

    root: Issued
    intermediate: Issued
    folder: Path
    issued: list[Issued] = field(default_factory=list)

    @classmethod
    def make(cls, folder: Path, name: str = "Test Root CA") -> TestCA:
        folder.mkdir(parents=True, exist_ok=True)
        root = _ca(_name(name, "Hopthu Test PKI"), None, path_length=1)
        intermediate = _ca(_name(f"{name} - Sub CA", "Hopthu Test PKI"), root, path_length=0)
        ca = cls(root, intermediate, folder)
        (folder / "root.pem").write_bytes(root.cert_pem())
        return ca

    def issue(
        self, common_name: str, organisation: str | None = None, *, days: int = 365, usage: str = "signing"
    ) -> Issued:
        """A signer (``usage="signing"``: digital signature, non-repudiation) or a TSA
        (``"timestamping"``)."""
        key = _key()
        builder = (
            _builder(_name(common_name, organisation), self.intermediate, key, days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=usage == "signing",
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        )
        if usage == "timestamping":
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
        issued = Issued(builder.sign(self.intermediate.key, hashes.SHA256()), key)
        self.issued.append(issued)
        return issued

    def pkcs12(self, signer: Issued, path: Path, passphrase: str) -> Path:
        """The signer as agencies receive it: key, certificate and the chain up to (not with) the root."""
        data = pkcs12.serialize_key_and_certificates(
            b"hopthu",
            signer.key,
            signer.cert,
            [self.intermediate.cert],
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
        path.write_bytes(data)
        return path


class TimestampServer:
    """An RFC 3161 timestamp server on 127.0.0.1 (HTTP POST of application/timestamp-query), answering
    with pyHanko's test TSA signed by a certificate of ``ca``. ``requests`` counts what it answered."""

    def __init__(self, ca: TestCA) -> None:
        import http.server
        import threading

        from asn1crypto import keys as asn1_keys
        from asn1crypto import tsp
        from asn1crypto import x509 as asn1_x509
        from pyhanko.sign.timestamps import DummyTimeStamper

        tsa = ca.issue("Hopthu Test TSA", "Hopthu Test PKI", usage="timestamping")
        stamper = DummyTimeStamper(
            tsa_cert=asn1_x509.Certificate.load(tsa.cert.public_bytes(serialization.Encoding.DER)),
            tsa_key=asn1_keys.PrivateKeyInfo.load(
                tsa.key.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            ),
            certs_to_embed=[
                asn1_x509.Certificate.load(ca.intermediate.cert.public_bytes(serialization.Encoding.DER))
            ],
        )
        server_self = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                response = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
                server_self.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(response)))
                self.end_headers()
                self.wfile.write(response)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tsa"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> TimestampServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def nss_trusting(folder: Path, root_pem: Path) -> Path:
    """An NSS database (what poppler's pdfsig checks certificates with) that trusts ``root_pem``."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True, capture_output=True
    )
    subprocess.run(
        [
            "certutil",
            "-A",
            "-d",
            f"sql:{folder}",
            "-n",
            "hopthu-test-root",
            "-t",
            "CT,C,C",
            "-i",
            str(root_pem),
        ],
        check=True,
        capture_output=True,
    )
    return folder
