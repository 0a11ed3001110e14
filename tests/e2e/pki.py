"""A throw-away certificate authority made with the openssl command line, for the TLS
tests: a CA, server certificates for 127.0.0.1, and client certificates (EKU clientAuth).
Keys are P-256; everything lives in the test's temporary directory and expires in 2 days."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@dataclass
class Issued:
    cert: Path
    key: Path


@dataclass
class Authority:
    """A CA that signs server and client certificates."""

    directory: Path
    name: str

    @property
    def cert(self) -> Path:
        return self.directory / f"{self.name}.crt"

    @property
    def key(self) -> Path:
        return self.directory / f"{self.name}.key"

    @classmethod
    def create(cls, directory: Path, name: str) -> "Authority":
        ca = cls(directory, name)
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(ca.key), "-out", str(ca.cert), "-days", "2", "-subj", f"/CN={name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return ca

    def issue(self, name: str, *, client: bool = False) -> Issued:
        """A leaf certificate `name`: for clients (clientAuth), or for a server on 127.0.0.1
        and localhost (serverAuth)."""
        key, csr, cert = (self.directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
        ext = self.directory / f"{name}.ext"
        usage = "clientAuth" if client else "serverAuth"
        lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", f"extendedKeyUsage={usage}"]
        if not client:
            lines.append("subjectAltName=IP:127.0.0.1,DNS:localhost")
        ext.write_text("\n".join(lines) + "\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                 "-set_serial", str(secrets.randbits(63)), "-days", "2", "-extfile", str(ext), "-out", str(cert))
        return Issued(cert, key)
