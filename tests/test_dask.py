"""Every batch command (palette included) on a real Dask cluster (``--scheduler``): a scheduler
and three workers started as processes on 127.0.0.1, kmimg run as a process against them, and
every output compared byte for byte with a local run. Also: a worker killed mid-batch, an
unreachable scheduler, a file that fails, and kmimg without Dask installed; a TLS cluster; a
cluster behind a real dask-gateway server."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.jobs.dask_pool import NO_TLS

pytest.importorskip("distributed")

#: Every test here starts real Dask processes: ``pytest -m "not dask"`` leaves them out while
#: iterating; ``make test`` and CI run them.
pytestmark = pytest.mark.dask

DASK = Path(sys.executable).with_name("dask")
#: Workers share the two cores; one engine thread each, as Dask's nanny would set.
WORKER_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
runner = CliRunner()


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``dask ARGS`` as a process, its output in ``log``."""
    return _spawn([str(DASK), *args], log)


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=WORKER_ENV, cwd=log.parent
        )


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"{log.name}: no {text!r} within {seconds} s"
        time.sleep(0.05)


def _scheduler_args(info: Path) -> list[str]:
    """``dask scheduler`` on a free loopback port, writing its address to ``info``."""
    loopback = ["--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    return ["scheduler", *loopback, "--scheduler-file", str(info)]


def _scheduler_address(info: Path, seconds: float = 30) -> str:
    """The address in a scheduler file, once the scheduler has finished writing it (its log
    line can come first: an empty or partial file was read under load)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return str(json.loads(info.read_text())["address"])
        except (OSError, ValueError, KeyError):
            assert time.monotonic() < deadline, f"{info.name}: no address within {seconds} s"
            time.sleep(0.05)


def start_workers(address: str, folder: Path, names: list[str]) -> list[subprocess.Popen[bytes]]:
    """Worker processes (no nanny: killing one kills the worker), registered with the scheduler."""
    args = ["worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name"]
    workers = [_start([*args, name], folder / f"{name}.log") for name in names]
    for name, worker in zip(names, workers, strict=True):
        _wait_for(folder / f"{name}.log", "Registered to:", worker)
    return workers


@dataclass(frozen=True)
class Cluster:
    address: str
    #: A third worker, for the test that kills one mid-batch (the other two stay).
    victim: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A scheduler with three single-threaded workers, all on loopback."""
    folder = tmp_path_factory.mktemp("cluster")
    info = folder / "scheduler.json"
    args = _scheduler_args(info)
    processes = [_start(args, folder / "scheduler.log")]
    try:
        _wait_for(folder / "scheduler.log", "Scheduler at:", processes[0])
        address = _scheduler_address(info)
        processes += start_workers(address, folder, ["w0", "w1", "victim"])
        yield Cluster(address, processes[-1])
    finally:
        for process in processes:  # a throw-away cluster: no graceful shutdown to wait for
            process.kill()
        for process in processes:
            process.wait()


def kmimg(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmimg", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight small photos-like images (gradients and noise, two with alpha) and a bad file."""
    folder = tmp_path_factory.mktemp("images") / "in"
    folder.mkdir()
    rng = np.random.default_rng(14)
    y, x = np.mgrid[0:48, 0:64]
    for index in range(8):
        base = np.stack([x * (2 + index), y * 4, (x + y) * 2 + 20 * index], axis=-1).astype(np.float64)
        pixels = np.clip(base + rng.normal(0, 14, base.shape), 0, 255).astype(np.uint8)
        if index % 4 == 3:
            alpha = np.where(x > 8 * (index // 4 + 2), 255, 0).astype(np.uint8)
            pixels = np.dstack([pixels, alpha])
        Image.fromarray(pixels).save(folder / f"img{index}.png")
    (folder / "notes.png").write_text("not an image\n")
    return folder


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (links as their targets' names) by relative path."""
    found: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(folder))] = os.readlink(path).encode()
        elif path.is_file():
            found[str(path.relative_to(folder))] = path.read_bytes()
    return found


def local_and_cluster(
    command: list[str], out: str, tmp_path: Path, address: str
) -> tuple[CliRunner, subprocess.CompletedProcess[str]]:
    """The same command run locally (two worker processes) into tmp_path/local and on the
    cluster into tmp_path/cluster; ``out`` in ``command`` stands for that folder."""
    local = runner.invoke(app, [arg.replace(out, str(tmp_path / "local")) for arg in command] + ["-j", "2"])
    remote = kmimg(*(arg.replace(out, str(tmp_path / "cluster")) for arg in command), "--scheduler", address)
    return local, remote  # type: ignore[return-value]


def same_lines(local: str, remote: str, tmp_path: Path) -> None:
    """The same stderr lines (in the order inputs finished, which varies with any executor)."""
    mine = sorted(local.replace(str(tmp_path / "local"), "OUT").splitlines())
    assert mine == sorted(remote.replace(str(tmp_path / "cluster"), "OUT").splitlines())


def test_quantize_on_the_cluster_writes_the_local_bytes(
    images: Path, tmp_path: Path, cluster: Cluster
) -> None:
    command = ["quantize", str(images), "--out-dir", "OUT", "-k", "16", "--dither", "0.8"]
    command += ["--json", "OUT.json"]
    local, remote = local_and_cluster(command, "OUT", tmp_path, cluster.address)
    assert (local.exit_code, remote.returncode) == (1, 1)  # notes.png fails, the same way
    same_lines(local.stderr, remote.stderr, tmp_path)
    reason = "a text file, not an image"
    assert remote.stderr == f"kmimg: error: {images / 'notes.png'}: {reason}\n"
    assert files_under(tmp_path / "cluster") == files_under(tmp_path / "local")
    assert len(files_under(tmp_path / "local")) == 8

    def document(name: str) -> dict[str, object]:
        data = json.loads((tmp_path / f"{name}.json").read_text().replace(str(tmp_path / name), "OUT"))
        for record in data["results"]:
            record.pop("seconds")
        return data  # type: ignore[no-any-return]

    assert document("cluster") == document("local")


def test_fail_fast_on_the_cluster_lists_every_file_it_wrote(
    images: Path, tmp_path: Path, cluster: Cluster
) -> None:
    out = tmp_path / "out"
    done = kmimg(
        "quantize",
        str(images),
        "--out-dir",
        str(out),
        "--fail-fast",
        "--json",
        "-",
        "--scheduler",
        cluster.address,
    )
    assert done.returncode == 1
    document = json.loads(done.stdout)
    written = sorted(str(p) for p in out.glob("*.png")) if out.exists() else []
    assert sorted(r["output"] for r in document["results"]) == written
    assert [Path(f["input"]).name for f in document["failures"]] == ["notes.png"]


def test_segment_on_the_cluster_writes_the_local_bytes(
    images: Path, tmp_path: Path, cluster: Cluster
) -> None:
    command = ["segment", str(images), "--out-dir", "OUT", "-k", "3", "--emit", "all"]
    local, remote = local_and_cluster(command, "OUT", tmp_path, cluster.address)
    assert (local.exit_code, remote.returncode) == (1, 1)
    same_lines(local.stderr, remote.stderr, tmp_path)
    assert files_under(tmp_path / "cluster") == files_under(tmp_path / "local")
    assert len(files_under(tmp_path / "local")) == 8 * 7  # seg, labels, 3 masks, cut-out, contours


def test_compress_report_on_the_cluster_writes_the_local_bytes(
    images: Path, tmp_path: Path, cluster: Cluster
) -> None:
    command = ["compress-report", str(images), "--ks", "4,8", "--target-psnr", "20"]
    command += ["--write-best", "OUT/best", "--sheet", "OUT/sheets"]
    local, remote = local_and_cluster(command, "OUT", tmp_path, cluster.address)
    assert (local.exit_code, remote.returncode) == (1, 1)
    same_lines(local.stderr, remote.stderr, tmp_path)
    assert files_under(tmp_path / "cluster") == files_under(tmp_path / "local")
    assert len(files_under(tmp_path / "local" / "best")) == 8
    # A rerun: the best PNG's name is known only after the sweep; it is refused, as locally.
    rerun = kmimg(
        *command[:-4], "--write-best", str(tmp_path / "cluster" / "best"), "--scheduler", cluster.address
    )
    assert rerun.returncode == 1
    assert rerun.stderr.count("exists (use --force to overwrite)") == 8


def test_classify_on_the_cluster_gives_the_local_clusters(
    images: Path, tmp_path: Path, cluster: Cluster
) -> None:
    command = [
        "classify",
        str(images),
        "-k",
        "2",
        "--csv",
        "OUT/groups.csv",
        "--link-dir",
        "OUT/links",
        "--copy",
    ]
    local, remote = local_and_cluster(command, "OUT", tmp_path, cluster.address)
    assert (local.exit_code, remote.returncode) == (1, 1)
    same_lines(local.stderr, remote.stderr, tmp_path)
    local_files = files_under(tmp_path / "local")
    csv = "groups.csv"
    assert local_files.pop(csv).replace(str(tmp_path / "local").encode(), b"OUT") == files_under(
        tmp_path / "cluster"
    ).pop(csv).replace(str(tmp_path / "cluster").encode(), b"OUT")
    remote_files = files_under(tmp_path / "cluster")
    remote_files.pop(csv)
    assert remote_files == local_files
    assert len(local_files) == 8


def test_classify_in_batches_on_the_cluster_gives_the_local_clusters(
    images: Path, tmp_path: Path, cluster: Cluster
) -> None:
    """--batch-size: the vectors arrive from the workers into this process's temporary file."""
    command = ["classify", str(images), "-k", "2", "--batch-size", "4", "--csv", "OUT.csv"]
    local, remote = local_and_cluster(command, "OUT", tmp_path, cluster.address)
    assert (local.exit_code, remote.returncode) == (1, 1)
    same_lines(local.stderr, remote.stderr, tmp_path)
    assert (tmp_path / "cluster.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert len((tmp_path / "local.csv").read_text().splitlines()) == 1 + 8


def test_palettes_on_the_cluster_are_the_local_ones(images: Path, tmp_path: Path, cluster: Cluster) -> None:
    photos = [str(path) for path in sorted(images.glob("img*.png"))]
    for command in (
        ["palette", *photos, "-k", "8", "-o", "OUT/shared.gpl"],
        ["quantize", *photos, "-k", "8", "--shared-palette", "--out-dir", "OUT/q"],
    ):
        local, remote = local_and_cluster(command, "OUT", tmp_path, cluster.address)
        assert (local.exit_code, remote.returncode) == (0, 0), remote.stderr
    assert files_under(tmp_path / "cluster") == files_under(tmp_path / "local")
    assert len(files_under(tmp_path / "local")) == 9


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path, cluster: Cluster) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for index in range(8):
        Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(folder / f"n{index}.png")
    command = ["quantize", str(folder), "-k", "16", "--sample", "0"]
    expected = runner.invoke(app, [*command, "--out-dir", str(tmp_path / "local"), "-j", "2"])
    assert expected.exit_code == 0
    out = tmp_path / "cluster"
    run = subprocess.Popen(
        [sys.executable, "-m", "kmimg", *command, "--out-dir", str(out), "--scheduler", cluster.address],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.iterdir())) and run.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert cluster.victim.poll() is None
    cluster.victim.send_signal(signal.SIGKILL)  # as the out-of-memory killer would
    _, errors = run.communicate(timeout=120)
    assert run.returncode == 0, errors
    assert errors == ""
    assert files_under(out) == files_under(tmp_path / "local")


def never_ready(tmp_path: Path) -> Path:
    """The last input of a batch that cannot finish: a named pipe nobody writes to. A cluster
    run's client reads each input before it sends its task, and waits at this one (after the
    tasks before it were sent and some of their outputs written) until the test acts."""
    fifo = tmp_path / "zz-never.png"
    os.mkfifo(fifo)
    return fifo


def feed_when_read(fifo: Path, data: bytes, run: subprocess.Popen[str], seconds: float = 120) -> None:
    """Write ``data`` into the pipe once ``run`` opens it for reading; nothing if it ends first
    (it may find the scheduler gone before it reaches the pipe)."""
    deadline = time.monotonic() + seconds
    while run.poll() is None:
        assert time.monotonic() < deadline, "kmimg neither read the pipe nor ended"
        try:
            descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            assert exc.errno == errno.ENXIO, exc  # no reader yet
            time.sleep(0.01)
            continue
        os.set_blocking(descriptor, True)
        with contextlib.suppress(BrokenPipeError), os.fdopen(descriptor, "wb") as pipe:
            pipe.write(data)
        return


def test_ctrl_c_cancels_the_cluster_work_and_leaves_no_partial_file(tmp_path: Path, cluster: Cluster) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for index in range(15):
        Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(folder / f"n{index:02d}.png")
    out = tmp_path / "out"
    command = ["quantize", str(folder), str(never_ready(tmp_path)), "-k", "16", "--sample", "0"]
    command += ["--out-dir", str(out)]
    run = subprocess.Popen(
        [sys.executable, "-m", "kmimg", *command, "--scheduler", cluster.address],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.glob("*-k16.png"))) and run.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    run.send_signal(signal.SIGINT)
    _, errors = run.communicate(timeout=60)
    assert (run.returncode, errors) == (130, "kmimg: error: interrupted\n")
    written = sorted(out.iterdir())
    assert 0 < len(written) < 16  # the pipe's input never started: the batch cannot have finished
    assert all(path.name.endswith("-k16.png") for path in written), written  # no temporary file left
    for path in written:
        with Image.open(path) as image:
            image.load()  # complete


def free_port() -> int:
    """A loopback port nothing listens on (for a gateway to take, or to find closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_scheduler_is_one_line_and_exit_2_before_any_work(
    images: Path, tmp_path: Path
) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    done = kmimg(
        "quantize", str(images), "--out-dir", str(tmp_path / "out"), "--scheduler", address, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr == f"kmimg: error: cannot reach the Dask scheduler at {address}: connection refused\n"
    assert not (tmp_path / "out").exists()


def test_the_environment_variable_names_the_scheduler_unless_jobs_is_given(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    image = str(images / "img0.png")
    assert (
        kmimg(
            "quantize", image, "-o", str(tmp_path / "a.png"), env={"DASK_SCHEDULER_ADDRESS": address}
        ).returncode
        == 2
    )
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    assert runner.invoke(app, ["quantize", image, "-o", str(tmp_path / "a.png"), "-j", "1"]).exit_code == 0
    # Standard input and output are this process's own: such a run stays here.
    piped = runner.invoke(app, ["quantize", "-", "-o", "-"], input=(images / "img0.png").read_bytes())
    assert piped.exit_code == 0
    assert piped.stdout_bytes == (tmp_path / "a.png").read_bytes()


def test_jobs_and_scheduler_together_are_a_usage_error(images: Path) -> None:
    result = runner.invoke(app, ["quantize", str(images), "-j", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2
    assert result.stderr == "kmimg: error: give --jobs or --scheduler, not both\n"


def test_without_dask_scheduler_says_what_to_install(images: Path, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['distributed'] = None; from kmimg.cli import main; "
        f"sys.argv = ['kmimg', 'quantize', {str(images)!r}, '--out-dir', {str(tmp_path)!r}, "
        "'--scheduler', 'tcp://127.0.0.1:8786']; main()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert (
        done.stderr
        == "kmimg: error: --scheduler needs Dask's distributed package: pip install 'kmimg[dask]'\n"
    )


def test_the_command_line_loads_nothing_of_dask() -> None:
    code = "import sys, kmimg.cli; print(sorted(m for m in sys.modules if m.startswith(('dask', 'distrib'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- TLS, threads


def make_certificates(folder: Path) -> dict[str, tuple[Path, Path]]:
    """A throw-away CA and, signed by it, certificates for a scheduler, a worker and a client
    (each valid for 127.0.0.1 and localhost): ``name -> (cert.pem, key.pem)``, the CA's too."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def write(name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
        paths = folder / f"{name}.pem", folder / f"{name}.key"
        paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[1].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return paths

    def builder(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        builder("kmimg test CA", "kmimg test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    found = {"ca": write("ca", ca, ca_key)}
    names = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    for name in ("scheduler", "worker", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            builder(name, "kmimg test CA", key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(names, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        found[name] = write(name, cert, key)
    return found


@dataclass(frozen=True)
class TlsCluster:
    address: str
    #: Dask's security configuration of a client, as environment variables (Dask reads them).
    client_env: dict[str, str]


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    """A TLS-only scheduler and one worker running two tasks at once (two threads), on loopback."""
    folder = tmp_path_factory.mktemp("tls")
    certs = make_certificates(folder)
    info = folder / "scheduler.json"

    def tls(name: str) -> list[str]:
        cert, key = certs[name]
        return ["--tls-ca-file", str(certs["ca"][0]), "--tls-cert", str(cert), "--tls-key", str(key)]

    scheduler_args = ["scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", "0"]
    scheduler_args += ["--no-dashboard", "--scheduler-file", str(info), *tls("scheduler")]
    processes = [_start(scheduler_args, folder / "scheduler.log")]
    try:
        _wait_for(folder / "scheduler.log", "Scheduler at:", processes[0])
        address = _scheduler_address(info)
        assert address.startswith("tls://127.0.0.1:")
        worker_args = ["worker", address, "--nthreads", "2", "--no-nanny", "--no-dashboard", *tls("worker")]
        processes.append(_start(worker_args, folder / "worker.log"))
        _wait_for(folder / "worker.log", "Registered to:", processes[1])
        cert, key = certs["client"]
        env = {
            "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(certs["ca"][0]),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(cert),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(key),
        }
        yield TlsCluster(address, env)
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight truncated PNGs: each decodes with --allow-truncated and one warning naming it."""
    folder = tmp_path_factory.mktemp("damaged") / "in"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for index in range(8):
        whole = folder / f"cut{index}.png"
        Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(whole)
        whole.write_bytes(whole.read_bytes()[: -300 - 40 * index])
    return folder


def test_tls_with_certificates_writes_the_local_bytes_and_warnings_stay_with_their_files(
    damaged: Path, tmp_path: Path, tls_cluster: TlsCluster
) -> None:
    """Over TLS, Dask's security configuration from the environment; on a worker running two
    tasks at once, every warning names its own file, once."""
    command = ["quantize", str(damaged), "--out-dir", "OUT", "-k", "8", "--allow-truncated"]
    local = runner.invoke(app, [arg.replace("OUT", str(tmp_path / "local")) for arg in command] + ["-j", "2"])
    remote = kmimg(
        *(arg.replace("OUT", str(tmp_path / "cluster")) for arg in command),
        "--scheduler",
        tls_cluster.address,
        env=tls_cluster.client_env,
    )
    assert (local.exit_code, remote.returncode) == (0, 0), remote.stderr
    assert files_under(tmp_path / "cluster") == files_under(tmp_path / "local")
    assert len(files_under(tmp_path / "local")) == 8
    lines = remote.stderr.splitlines()
    assert sorted(lines) == sorted(local.stderr.splitlines())
    assert sorted(line.split(": ")[2] for line in lines) == sorted(str(p) for p in damaged.iterdir())
    assert all("--allow-truncated" in line for line in lines), lines


def test_tls_without_good_client_certificates_is_one_line_and_exit_2(
    images: Path, tmp_path: Path, tls_cluster: TlsCluster
) -> None:
    """No configuration, a CA but no client certificate, a client certificate of another CA."""
    ca = "DASK_DISTRIBUTED__COMM__TLS__CA_FILE"
    strangers = make_certificates(tmp_path)
    forged = {
        **tls_cluster.client_env,
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(strangers["client"][0]),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(strangers["client"][1]),
    }
    out = tmp_path / "out"
    lines = []
    for env in ({}, {ca: tls_cluster.client_env[ca]}, forged):
        done = kmimg(
            *["quantize", str(images), "--out-dir", str(out)], "--scheduler", tls_cluster.address, env=env
        )
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
        lines.append(done.stderr)
        assert not out.exists()
    prefix = f"kmimg: error: cannot connect to the Dask scheduler at {tls_cluster.address}: "
    assert lines[:2] == [f"{prefix}{NO_TLS}\n"] * 2
    assert lines[2].startswith(prefix), lines[2]


# ----------------------------------------------------------------------------- losing the scheduler


def test_losing_the_scheduler_mid_run_is_one_line_exit_3_and_no_partial_file(tmp_path: Path) -> None:
    """The scheduler killed (SIGKILL) while a batch runs: one error line, exit 3; the outputs
    completed before stay, whole, and no temporary file is left."""
    folder = tmp_path / "in"
    folder.mkdir()
    fifo = never_ready(tmp_path)
    rng = np.random.default_rng(11)
    for index in range(15):
        Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(folder / f"n{index:02d}.png")
    info = tmp_path / "scheduler.json"
    args = _scheduler_args(info)
    scheduler = _start(args, tmp_path / "scheduler.log")
    workers: list[subprocess.Popen[bytes]] = []
    try:
        _wait_for(tmp_path / "scheduler.log", "Scheduler at:", scheduler)
        address = _scheduler_address(info)
        workers = start_workers(address, tmp_path, ["lone"])
        out = tmp_path / "out"
        command = ["quantize", str(folder), str(fifo), "-k", "16", "--sample", "0", "--out-dir", str(out)]
        run = subprocess.Popen(
            [sys.executable, "-m", "kmimg", *command, "--scheduler", address],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not (out.exists() and any(out.glob("*-k16.png"))) and run.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        scheduler.kill()
        scheduler.wait()
        # Only now can the last input be read (and its task be sent, to a scheduler that is gone).
        feed_when_read(fifo, (folder / "n00.png").read_bytes(), run)
        _, errors = run.communicate(timeout=120)
    finally:
        for process in [scheduler, *workers]:
            process.kill()
            process.wait()
    assert run.returncode == 3, errors
    assert errors == (
        f"kmimg: error: lost the Dask scheduler at {address} mid-run: the outputs completed before are "
        "in place, the other inputs were not done\n"
    )
    written = sorted(out.iterdir())
    assert 0 < len(written) < 16  # the pipe's input was sent after the scheduler died
    assert all(path.name.endswith("-k16.png") for path in written), written  # no temporary file
    for path in written:
        with Image.open(path) as image:
            image.load()


# dask-gateway: ``--scheduler gateway://PROXY/NAME``. A real gateway server on 127.0.0.1 (its proxy,
# its API and its local-process backend) starts a cluster of two worker processes; kmimg, run as a
# process, asks the gateway for the cluster's credentials and writes the bytes of a local run.

CONFIG = """
c.DaskGateway.address = "127.0.0.1:{api}"
c.Proxy.address = "127.0.0.1:{web}"
c.Proxy.tcp_address = "127.0.0.1:{tcp}"
c.DaskGateway.backend_class = "dask_gateway_server.backends.local.UnsafeLocalBackend"
c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.LocalBackend.clusters_directory = {clusters!r}
c.ClusterConfig.scheduler_cmd = [{dask!r}, "scheduler"]
c.ClusterConfig.worker_cmd = [{dask!r}, "worker"]
c.ClusterConfig.worker_cores = 1
c.ClusterConfig.environment = {{"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}}
c.ClusterConfig.idle_timeout = 0
"""


def _serving(port: int, server: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    """Wait until the gateway answers on ``port`` through its proxy (the proxy listens before
    the gateway has given it the API's route)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        assert server.poll() is None, log.read_text(errors="replace")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        assert time.monotonic() < deadline, f"no gateway on port {port} within {seconds} s"
        time.sleep(0.1)


@dataclass(frozen=True)
class GatewayCluster:
    #: What ``GatewayCluster.scheduler_address`` gives: ``gateway://127.0.0.1:PORT/NAME``.
    address: str
    #: The environment naming the gateway server, as a dask-gateway user has it configured.
    env: dict[str, str]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayCluster]:
    Gateway = pytest.importorskip("dask_gateway").Gateway
    pytest.importorskip("dask_gateway_server")
    folder = tmp_path_factory.mktemp("gateway")
    api, web, tcp = free_port(), free_port(), free_port()
    config = folder / "dask_gateway_config.py"
    clusters = str(folder / "clusters")
    config.write_text(CONFIG.format(api=api, web=web, tcp=tcp, clusters=clusters, dask=str(DASK)))
    log = folder / "gateway.log"
    server = _spawn([sys.executable, "-m", "dask_gateway_server", "-f", str(config)], log)
    try:
        _serving(web, server, log)
        env = {"DASK_GATEWAY__ADDRESS": f"http://127.0.0.1:{web}"}  # the proxy: from the address

        # dask-gateway's synchronous client objects raise from __del__ once closed: the
        # asynchronous ones, as kmimg uses them, do not.
        async def start() -> str:
            address = env["DASK_GATEWAY__ADDRESS"]
            async with Gateway(address, proxy_address=tcp, auth="basic", asynchronous=True) as client:
                cluster = await client.new_cluster(shutdown_on_close=False)
                await cluster.scale(2)
                async with cluster.get_client(set_as_default=False) as dask_client:
                    await dask_client.wait_for_workers(2, timeout=90)
                await cluster.close(shutdown=False)
                return str(cluster.scheduler_address)

        yield GatewayCluster(asyncio.run(start()), env)
    finally:  # the gateway stops its clusters (their scheduler and workers) when it stops
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_quantize_on_a_gateway_cluster_writes_the_local_bytes(
    images: Path, tmp_path: Path, gateway: GatewayCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert gateway.address.startswith("gateway://127.0.0.1:")
    for name, value in gateway.env.items():  # the remote run reads them; the local one ignores them
        monkeypatch.setenv(name, value)
    photos = [str(path) for path in sorted(images.glob("img*.png"))]
    for command in (
        ["quantize", str(images), "--out-dir", "OUT/each", "-k", "12", "--json", "OUT/each.json"],
        ["quantize", *photos, "-k", "8", "--shared-palette", "--out-dir", "OUT/shared"],
    ):
        local, remote = local_and_cluster(command, "OUT", tmp_path, gateway.address)
        failed = 1 if str(images) in command else 0  # notes.png fails, the same way
        assert (local.exit_code, remote.returncode) == (failed, failed), remote.stderr
        same_lines(local.stderr, remote.stderr, tmp_path)
    found = files_under(tmp_path / "cluster")
    assert found.keys() == files_under(tmp_path / "local").keys()
    assert len(found) == 8 + 8 + 1
    pngs = {name: data for name, data in found.items() if name.endswith(".png")}
    assert pngs == {name: data for name, data in files_under(tmp_path / "local").items() if name in pngs}


def test_an_unknown_gateway_cluster_is_one_line_and_exit_2(
    images: Path, tmp_path: Path, gateway: GatewayCluster
) -> None:
    proxy = gateway.address.rsplit("/", 1)[0]
    unknown = f"{proxy}/nosuch"
    done = kmimg("quantize", str(images), "--out-dir", str(tmp_path), "--scheduler", unknown, env=gateway.env)
    assert done.returncode == 2
    assert done.stderr.startswith(f"kmimg: error: cannot connect to the dask-gateway cluster {unknown}: ")
    assert done.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_gateway_address_without_a_gateway_server_configured_is_one_line_and_exit_2(
    images: Path, tmp_path: Path
) -> None:
    pytest.importorskip("dask_gateway")
    done = kmimg(
        "quantize", str(images), "--out-dir", str(tmp_path), "--scheduler", "gateway://127.0.0.1:1/abc"
    )
    assert done.returncode == 2
    assert "Set gateway.address in Dask's configuration (or DASK_GATEWAY__ADDRESS=" in done.stderr
    assert done.stderr.count("\n") == 1


def test_without_dask_gateway_a_gateway_address_says_what_to_install(images: Path, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['dask_gateway'] = None; from kmimg.cli import main; "
        f"sys.argv = ['kmimg', 'quantize', {str(images)!r}, '--out-dir', {str(tmp_path)!r}, "
        "'--scheduler', 'gateway://127.0.0.1:8786/abc']; main()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    expected = "a dask-gateway cluster needs pip install dask-gateway"
    assert done.stderr == f"kmimg: error: --scheduler gateway://127.0.0.1:8786/abc: {expected}\n"


def test_native_decoder_chatter_on_a_dask_worker_is_kmimgs_one_line(tmp_path: Path, cluster: Cluster) -> None:
    from test_io_formats import chatty_tiff  # libtiff prints to the worker's fd 2 and fails

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "chatty.tif").write_bytes(chatty_tiff())
    Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / "good.tga")
    remote = kmimg(
        "quantize", str(folder), "-k", "4", "--out-dir", str(tmp_path / "out"), "--scheduler", cluster.address
    )
    assert remote.returncode == 1
    lines = remote.stderr.splitlines()
    assert len(lines) == 1, remote.stderr
    assert lines[0].startswith(f"kmimg: error: {folder / 'chatty.tif'}: ")
    assert 'decoder said: TIFFFetchNormalTag: Incompatible type for "RowsPerStrip"' in lines[0]
    assert (tmp_path / "out" / "good-k4.png").exists()
