"""A real single-node Apache Kafka broker (KRaft combined mode) on 127.0.0.1.

The jars are the official ones, resolved from Maven Central by the ``pom.xml``
beside this file and cached in ``~/.m2``; the broker's data, log and pid file live
under ``DATA_DIR/kafka``. ``up`` is idempotent and waits until the broker answers;
``down`` stops only the broker that ``up`` started (it checks the pid's command
line, so a recycled pid is never killed).

Run it::

    distillery kafka up      # resolve jars (first time), format storage, start, wait
    distillery kafka status
    distillery kafka down

A second, secured broker (tests, trying TLS and SASL locally) adds a SASL_SSL
listener with SCRAM users created by the broker's own ``kafka-storage format
--add-scram``, and a PKCS12 keystore such as :func:`~devkit.localkafka.tls.local_pki`
makes::

    pki = local_pki(home / "tls")
    LocalBroker(home, port=19092, controller_port=19093, sasl_ssl_port=19094,
                keystore=pki.keystore, keystore_password=pki.password,
                scram_users=(("alice", "alice-secret"),)).up()
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from distillery.errors import BrokerCommandError, BrokerUnavailableError
from distillery.settings import KafkaSettings

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J = HERE / "log4j2.properties"


def new_cluster_id(draw: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A random KRaft cluster id: 16 bytes as unpadded URL-safe base64 that does not start with ``-``.

    ``kafka-storage format -t ID`` reads an id starting with ``-`` as an option and
    fails ("expected one argument"): one random id in 64. Kafka's own
    ``Uuid.randomUuid()`` draws again in that case, and so does this.

    >>> draws = iter([bytes([0xF8]) + bytes(15), bytes(16)])  # the first encodes as "-AAA..."
    >>> new_cluster_id(lambda: next(draws))
    'AAAAAAAAAAAAAAAAAAAAAA'
    """
    while True:
        cid = base64.urlsafe_b64encode(draw()[:16]).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass(frozen=True)
class LocalBroker:
    """Where the local broker lives and which ports it binds."""

    home: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "768m"
    sasl_ssl_port: int | None = None
    """A SASL_SSL listener on this port (SCRAM-SHA-256 and -512); needs ``keystore``."""
    keystore: Path | None = None
    """PKCS12 keystore with the broker's key and certificate chain (for ``sasl_ssl_port``)."""
    keystore_password: str | None = field(default=None, repr=False)
    scram_users: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """(name, password) pairs created at format time for both SCRAM mechanisms."""
    ssl_port: int | None = None
    """An SSL listener that requires a client certificate signed by ``truststore`` (mutual TLS)."""
    truststore: Path | None = None
    """PEM file of the CA whose client certificates the SSL listener accepts."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        """The SASL_SSL listener's address."""
        if self.sasl_ssl_port is None:
            raise BrokerCommandError("this broker has no SASL_SSL listener; give sasl_ssl_port")
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def ssl_bootstrap(self) -> str:
        """The mutual-TLS listener's address."""
        if self.ssl_port is None:
            raise BrokerCommandError("this broker has no SSL listener; give ssl_port")
        return f"127.0.0.1:{self.ssl_port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def classpath_file(self) -> Path:
        return self.home / "classpath.txt"

    # ------------------------------------------------------------------ set-up
    def classpath(self) -> str:
        """The broker's classpath; resolves the jars with Maven the first time."""
        pom_stamp = str(POM.stat().st_mtime_ns)
        stamp = self.home / "classpath.stamp"
        if self.classpath_file.exists() and stamp.exists() and stamp.read_text() == pom_stamp:
            cp = self.classpath_file.read_text().strip()
            if all(Path(j).exists() for j in cp.split(os.pathsep)):
                return cp
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerCommandError("Maven (mvn) is not on PATH; install it (apt-get install maven)")
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = [mvn, "-q", "-B", "-f", str(POM), "dependency:build-classpath",
               f"-Dmdep.outputFile={self.classpath_file.resolve()}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not self.classpath_file.exists():
            tail = (proc.stdout + proc.stderr).strip()[-2000:]
            raise BrokerCommandError(f"Maven could not resolve the Kafka jars from {POM}:\n{tail}")
        stamp.write_text(pom_stamp)
        return self.classpath_file.read_text().strip()

    def _secure_lines(self) -> list[str]:
        """The SASL_SSL and SSL listeners' settings (SCRAM users are added by ``format_storage``)."""
        if self.sasl_ssl_port is None and self.ssl_port is None:
            return []
        if self.keystore is None or not self.keystore.is_file() or not self.keystore_password:
            raise BrokerCommandError("a SASL_SSL or SSL listener needs keystore= (an existing PKCS12 file) and "
                                     "keystore_password=; make them with devkit.localkafka.tls.local_pki")
        lines = [
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={self.keystore}",
            f"ssl.keystore.password={self.keystore_password}",
            f"ssl.key.password={self.keystore_password}",
            "ssl.client.auth=none",
        ]
        if self.sasl_ssl_port is not None:
            jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            lines += [
                "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
                f"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={jaas}",
                f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
            ]
        if self.ssl_port is not None:
            if self.truststore is None or not self.truststore.is_file():
                raise BrokerCommandError("an SSL listener needs truststore= (the CA's PEM file) to check "
                                         "client certificates")
            lines += [
                "listener.name.ssl.ssl.client.auth=required",
                "listener.name.ssl.ssl.truststore.type=PEM",
                f"listener.name.ssl.ssl.truststore.location={self.truststore}",
            ]
        return lines

    def write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        listeners = f"PLAINTEXT://127.0.0.1:{self.port}"
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        if self.sasl_ssl_port is not None:
            listeners += f",SASL_SSL://127.0.0.1:{self.sasl_ssl_port}"
            protocols += ",SASL_SSL:SASL_SSL"
        if self.ssl_port is not None:
            listeners += f",SSL://127.0.0.1:{self.ssl_port}"
            protocols += ",SSL:SSL"
        self.config_file.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners={listeners},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners={listeners}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"listener.security.protocol.map={protocols}",
                    *self._secure_lines(),
                    f"log.dirs={self.data_dir}",
                    "num.partitions=4",
                    "message.max.bytes=8388608",
                    "replica.fetch.max.bytes=8388608",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    "log.retention.hours=168",
                    "log.segment.bytes=67108864",
                    "",
                ]
            )
        )

    def _java(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise BrokerCommandError("java is not on PATH; Kafka 4 needs Java 17 or newer")
        return [java]

    def format_storage(self, classpath: str) -> None:
        """``StorageTool format`` once, before the first start."""
        if (self.data_dir / "meta.properties").exists():
            return
        cmd = self._java() + ["-cp", classpath, f"-Dlog4j2.configurationFile={LOG4J}",
                              "kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(self.config_file)]
        for name, password in self.scram_users:
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                cmd += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BrokerCommandError(f"kafka-storage format failed:\n{(proc.stdout + proc.stderr)[-2000:]}")

    # ---------------------------------------------------------------- process
    def pid(self) -> int | None:
        """The pid of the broker this folder started, if it is still that process."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return None
        return pid if "kafka.Kafka" in cmdline and str(self.config_file) in cmdline else None

    def answers(self, timeout: float = 1.0) -> bool:
        """True when something accepts connections on the broker port."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout):
                return True
        except OSError:
            return False

    def up(self, wait_s: float = 90.0) -> str:
        """Start the broker unless it runs already; wait until it serves metadata."""
        if self.pid() is not None:
            wait_until_ready(self.bootstrap, wait_s)
            return "already running"
        if self.answers():
            raise BrokerCommandError(
                f"port {self.port} is taken by another process; stop it, or set kafka.local_port "
                "in the config, or point KAFKA_BOOTSTRAP_SERVERS at that cluster"
            )
        classpath = self.classpath()
        self.write_config()
        self.format_storage(classpath)
        cmd = self._java() + [
            f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp", classpath, "kafka.Kafka", str(self.config_file),
        ]
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerCommandError(
                    f"the broker exited with code {proc.returncode}; last log lines:\n{self.log_tail()}"
                )
            if self.answers(0.5):
                break
            time.sleep(0.3)
        wait_until_ready(self.bootstrap, max(5.0, deadline - time.monotonic()))
        return f"started (pid {proc.pid})"

    def down(self, wait_s: float = 30.0) -> str:
        """Stop the broker this folder started; anything else on the port is left alone."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return f"stopped (pid {pid})"

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return "down" + (" (but another process answers on the port)" if self.answers() else "")
        return f"up (pid {pid}, {self.bootstrap})" if self.answers() else f"starting (pid {pid})"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def wait_until_ready(bootstrap: KafkaSettings | str, timeout_s: float = 30.0) -> None:
    """Block until the cluster (settings, or a PLAINTEXT ``host:port``) answers a metadata request.

    A broker that refuses the TLS or SASL settings raises at once (:class:`BrokerAuthError`).
    """
    import asyncio

    from distillery.kafka import check_broker

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            asyncio.run(check_broker(bootstrap, timeout_s=min(5.0, max(1.0, deadline - time.monotonic()))))
            return
        except BrokerUnavailableError as exc:
            last = exc
            time.sleep(0.5)
    servers = bootstrap if isinstance(bootstrap, str) else bootstrap.bootstrap_servers
    raise BrokerUnavailableError(f"no Kafka broker answered at {servers} within {timeout_s:.0f}s ({last})")
