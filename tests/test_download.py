"""`data download`: resumable HTTP against a loopback server serving an archive the test
builds, checks that refuse corrupt archives, and extraction to the SRN layout."""

import hashlib
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from latentscenes.cli.main import main
from latentscenes.data import load_scenes, write_srn_scene
from latentscenes.data.download import download_dataset, fetch
from latentscenes.errors import DataError


class ArchiveServer(ThreadingHTTPServer):
    """Serves `body` at any path with Range support; the first `drops` responses send only
    `drop_after` bytes of what they announce and then close the connection."""

    def __init__(self, body: bytes, drops: int = 0, drop_after: int = 0, ranges: bool = True):
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.body, self.drops, self.drop_after, self.ranges = body, drops, drop_after, ranges
        self.requests: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/cars_train.zip"


class RangeHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        server: ArchiveServer = self.server
        asked = self.headers.get("Range")
        server.requests.append(asked)
        start = int(asked[len("bytes="):].rstrip("-")) if asked and server.ranges else 0
        body = server.body[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(server.body) - 1}/{len(server.body)}")
        self.end_headers()
        if server.drops > 0:
            server.drops -= 1
            self.wfile.write(body[: server.drop_after])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(body: bytes, **options) -> ArchiveServer:
        server = ArchiveServer(body, **options)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _scenes(root):
    """Two 2-view SRN scenes with distinct random images, as cars_train.zip holds them."""
    generator = np.random.default_rng(0)
    intrinsics = np.array([[20.0, 0, 8], [0, 20.0, 8], [0, 0, 1]])
    poses = np.repeat(np.eye(4)[None], 2, axis=0)
    poses[:, 2, 3] = [1.3, 1.2]
    for name in ("1a2b", "3c4d"):
        images = generator.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
        write_srn_scene(root / "cars_train", name, images, poses, intrinsics)
    return root / "cars_train"


def _archive(tmp_path) -> bytes:
    source = _scenes(tmp_path / "source")
    path = tmp_path / "cars_train.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zipped:  # stored: corruption is a CRC error
        for file in sorted(source.rglob("*")):
            zipped.write(file, file.relative_to(source.parent).as_posix())
    return path.read_bytes()


def _same_scenes(out, tmp_path):
    got, expected = (load_scenes(root, num_test_views=1) for root in (out, tmp_path / "source" / "cars_train"))
    assert [s.scene_id for s in got.scenes] == ["1a2b", "3c4d"]
    for a, b in zip(got.scenes, expected.scenes):
        assert np.array_equal(a.images, b.images) and np.array_equal(a.cam2world, b.cam2world)


def test_an_interrupted_transfer_resumes_with_a_range_request(serve, tmp_path):
    body = _archive(tmp_path)
    server = serve(body, drops=1, drop_after=len(body) // 3)
    out = tmp_path / "cars"
    download_dataset("srn-cars", out, url=server.url, report=lambda line: None)
    assert server.requests == [None, f"bytes={len(body) // 3}-"]
    _same_scenes(out, tmp_path)
    assert not (out / ".download").exists()  # the archive is removed once extracted


def test_a_second_call_continues_a_partial_download(serve, tmp_path):
    body = _archive(tmp_path)
    server = serve(body, drops=2, drop_after=1000)
    target = tmp_path / "dl" / "cars_train.zip"
    with pytest.raises(DataError, match="run the command again to resume"):
        fetch(server.url, target, attempts=2, report=lambda line: None)
    assert (tmp_path / "dl" / "cars_train.zip.part").stat().st_size == 2000
    fetch(server.url, target, report=lambda line: None)
    assert server.requests == [None, "bytes=1000-", "bytes=2000-"]
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(body).digest()


def test_a_server_that_ignores_range_restarts_the_file(serve, tmp_path):
    body = _archive(tmp_path)
    server = serve(body, drops=1, drop_after=500, ranges=False)
    target = tmp_path / "cars_train.zip"
    fetch(server.url, target, report=lambda line: None)
    assert target.read_bytes() == body


def test_a_corrupt_archive_is_refused_and_deleted(serve, tmp_path):
    body = bytearray(_archive(tmp_path))
    offset = body.index(b"\x89PNG") + 40  # inside the first image's stored bytes
    body[offset] ^= 0xFF
    server = serve(bytes(body))
    out = tmp_path / "cars"
    with pytest.raises(DataError, match="CRC"):
        download_dataset("srn-cars", out, url=server.url, report=lambda line: None)
    assert sorted(p.name for p in out.rglob("*")) == [".download"]  # no scenes, no archive left
    with pytest.raises(DataError, match="SHA-256"):
        download_dataset("srn-cars", out, url=serve(_archive(tmp_path)).url, sha256="0" * 64, report=lambda line: None)


def test_a_local_archive_extracts_through_the_cli(tmp_path, capsys):
    archive = tmp_path / "cars_train.zip"
    archive.write_bytes(_archive(tmp_path))
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    out = tmp_path / "cars"
    assert main(["data", "download", "srn-cars", "--out", str(out), "--archive", str(archive), "--sha256", sha]) == 0
    _same_scenes(out, tmp_path)
    assert archive.is_file()  # a user's own archive is left alone
    assert main(["data", "download", "srn-cars", "--out", str(out), "--archive", str(archive)]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_an_unreachable_host_is_one_clear_line(tmp_path, capsys):
    out = tmp_path / "cars"
    port = ArchiveServer(b"")  # bound but never serving, then closed: the port refuses connections
    url = f"http://127.0.0.1:{port.server_address[1]}/cars_train.zip"
    port.server_close()
    assert main(["data", "download", "srn-cars", "--out", str(out), "--url", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach 127.0.0.1") and "--archive" in err and "\n" not in err
    assert not out.exists()
