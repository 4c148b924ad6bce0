"""A throwaway certificate authority and broker keystore, made with the JDK's ``keytool``.

For a local secured broker (tests, trying TLS and SASL before a managed
cluster): a CA, a broker certificate for ``localhost`` and ``127.0.0.1`` signed
by it, the broker's PKCS12 keystore, and the CA as PEM for clients'
``kafka.ssl_cafile``. ``keytool`` ships with the Java the broker needs anyway,
so nothing else is installed. Never use these files for a real cluster.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from distillery.errors import BrokerCommandError


@dataclass(frozen=True)
class LocalPki:
    """The files :func:`local_pki` made."""

    ca_pem: Path
    """The CA certificate, PEM: what clients trust (``kafka.ssl_cafile``)."""
    keystore: Path
    """The broker's PKCS12 keystore: its key and the CA-signed certificate chain."""
    password: str = field(repr=False)
    """Password of the keystore and of the key in it."""


def _keytool(*args: str) -> None:
    tool = shutil.which("keytool")
    if tool is None:
        raise BrokerCommandError("keytool is not on PATH; it comes with the JDK (Java 17 or newer)")
    proc = subprocess.run([tool, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BrokerCommandError(f"keytool {args[0]} failed:\n{(proc.stdout + proc.stderr)[-2000:]}")


def local_pki(folder: Path, *, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"), days: int = 30) -> LocalPki:
    """Make (once) a CA and a broker keystore for ``hosts`` under ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    pki = LocalPki(folder / "ca.pem", folder / "broker.p12", _password(folder))
    if pki.ca_pem.is_file() and pki.keystore.is_file():
        return pki
    ca, csr, signed = folder / "ca.p12", folder / "broker.csr", folder / "broker.pem"
    for stale in (ca, csr, signed, pki.ca_pem, pki.keystore):
        stale.unlink(missing_ok=True)
    pw = pki.password
    store = ["-storetype", "PKCS12", "-storepass", pw, "-keypass", pw]
    san = ",".join(f"ip:{h}" if h.replace(".", "").isdigit() or ":" in h else f"dns:{h}" for h in hosts)
    _keytool("-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-validity", str(days),
             "-dname", "CN=distillery local CA", "-ext", "bc:c", "-keystore", str(ca), *store)
    _keytool("-exportcert", "-alias", "ca", "-rfc", "-keystore", str(ca), "-storepass", pw,
             "-file", str(pki.ca_pem))
    _keytool("-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-validity", str(days),
             "-dname", f"CN={hosts[0]}", "-keystore", str(pki.keystore), *store)
    _keytool("-certreq", "-alias", "broker", "-keystore", str(pki.keystore), "-storepass", pw, "-file", str(csr))
    _keytool("-gencert", "-alias", "ca", "-keystore", str(ca), "-storepass", pw, "-infile", str(csr),
             "-outfile", str(signed), "-rfc", "-validity", str(days), "-ext", f"SAN={san}")
    _keytool("-importcert", "-alias", "ca", "-noprompt", "-file", str(pki.ca_pem),
             "-keystore", str(pki.keystore), "-storepass", pw)
    _keytool("-importcert", "-alias", "broker", "-file", str(signed), "-keystore", str(pki.keystore),
             "-storepass", pw)
    return pki


@dataclass(frozen=True)
class ClientCert:
    """A client certificate signed by the local CA, as PEM files for ``kafka.ssl_certfile`` / ``ssl_keyfile``."""

    certfile: Path
    keyfile: Path
    """The private key, PKCS8 PEM, encrypted with ``passphrase`` when one was given."""


def client_cert(pki_folder: Path, name: str, *, passphrase: str | None = None, days: int = 30) -> ClientCert:
    """Make a client certificate for ``CN=name`` signed by the CA of :func:`local_pki` (mutual TLS).

    ``keytool`` cannot write a private key as PEM, so ``openssl`` converts it.
    """
    pki = local_pki(pki_folder, days=days)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BrokerCommandError("openssl is not on PATH; it converts the client key to PEM")
    store, csr, cert = (pki_folder / f"{name}.p12", pki_folder / f"{name}.csr", pki_folder / f"{name}.pem")
    key = pki_folder / f"{name}.key.pem"
    for stale in (store, csr, cert, key):
        stale.unlink(missing_ok=True)
    pw = pki.password
    _keytool("-genkeypair", "-alias", name, "-keyalg", "RSA", "-keysize", "2048", "-validity", str(days),
             "-dname", f"CN={name}", "-keystore", str(store), "-storetype", "PKCS12", "-storepass", pw, "-keypass", pw)
    _keytool("-certreq", "-alias", name, "-keystore", str(store), "-storepass", pw, "-file", str(csr))
    _keytool("-gencert", "-alias", "ca", "-keystore", str(pki_folder / "ca.p12"), "-storepass", pw,
             "-infile", str(csr), "-outfile", str(cert), "-rfc", "-validity", str(days))
    out = ["-passout", f"pass:{passphrase}"] if passphrase else ["-nodes"]
    proc = subprocess.run([openssl, "pkcs12", "-in", str(store), "-nocerts", "-passin", f"pass:{pw}",
                           "-out", str(key), *out], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BrokerCommandError(f"openssl could not export the client key:\n{proc.stderr[-2000:]}")
    key.chmod(0o600)
    return ClientCert(cert, key)


def _password(folder: Path) -> str:
    """The keystore password, made once and kept beside it (owner-only)."""
    path = folder / "keystore.password"
    if not path.is_file():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()
