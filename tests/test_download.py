"""course_utils.data downloads against a small HTTP server on 127.0.0.1 (nothing leaves the host):
good, corrupted, missing, dropped and slow files, and the book's lookup order."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time
from pathlib import Path

import pytest

from course_utils import data
from course_utils.data import DownloadError, download, timemachine_path

GOOD = b"It was the time machine.\n" * 400
GOOD_SHA1 = hashlib.sha1(GOOD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.hits.append(self.path)
        if self.path == "/dropped":  # promise 10 000 bytes, send 100, hang up
            self.send_response(200)
            self.send_header("Content-Length", "10000")
            self.end_headers()
            self.wfile.write(GOOD[:100])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path == "/slow":
            time.sleep(3)
        body = self.routes.get(self.path.split("/", 2)[-1] if self.path != "/slow" else "good")
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def book_bytes():
    return data.timemachine_path(download_if_missing=False).read_bytes()


@pytest.fixture(scope="module")
def server(book_bytes):
    _Handler.routes = {
        "good": GOOD,
        "corrupt": GOOD[:-1] + b"?",  # same length, wrong bytes
        "timemachine.txt": book_bytes,
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def closed_port_url():
    with socket.socket() as s:  # a port nobody listens on: connection refused, no network
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/timemachine.txt"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- download() ------------------------------------------------------------------------------


def test_good_file_appears_with_the_right_hash(server, tmp_path):
    dest = tmp_path / "sub" / "good.txt"
    assert download(f"{server}/good", dest, GOOD_SHA1) == dest
    assert dest.read_bytes() == GOOD and data.sha1_of(dest) == GOOD_SHA1
    assert _leftovers(dest.parent) == ["good.txt"]  # no temporary file left


def test_good_download_replaces_an_old_file(server, tmp_path):
    dest = tmp_path / "good.txt"
    dest.write_bytes(b"old and wrong")
    download(f"{server}/good", dest, GOOD_SHA1)
    assert dest.read_bytes() == GOOD


@pytest.mark.parametrize(
    "path, message",
    [
        ("/corrupt", f"expected {GOOD_SHA1}"),
        ("/missing", "HTTP 404"),
        ("/dropped", "dropped after 100 of 10000 bytes"),
    ],
)
def test_failures_leave_no_file(server, tmp_path, path, message):
    dest = tmp_path / "good.txt"
    with pytest.raises(DownloadError, match=message) as err:
        download(f"{server}{path}", dest, GOOD_SHA1)
    assert "Nothing was saved" in str(err.value)
    assert _leftovers(tmp_path) == []  # neither the file nor a .part file


def test_failure_keeps_an_existing_good_file_untouched(server, tmp_path):
    dest = tmp_path / "good.txt"
    dest.write_bytes(GOOD)
    with pytest.raises(DownloadError):
        download(f"{server}/corrupt", dest, GOOD_SHA1)
    assert dest.read_bytes() == GOOD and _leftovers(tmp_path) == ["good.txt"]


def test_timeout_is_a_download_error(server, tmp_path):
    with pytest.raises(DownloadError, match="could not download .*/slow"):
        download(f"{server}/slow", tmp_path / "good.txt", GOOD_SHA1, timeout=0.5)
    assert _leftovers(tmp_path) == []


def test_refused_connection_is_a_download_error(closed_port_url, tmp_path):
    with pytest.raises(DownloadError, match="could not download"):
        download(closed_port_url, tmp_path / "x.txt", GOOD_SHA1, timeout=5)
    assert _leftovers(tmp_path) == []


def test_download_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="url must be an http"):
        download("ftp://example.org/x", tmp_path / "x", GOOD_SHA1)
    with pytest.raises(ValueError, match="sha1 must be 40 lowercase hex digits"):
        download("http://127.0.0.1:9/x", tmp_path / "x", "abc")
    assert _leftovers(tmp_path) == []


# --- timemachine_path(): lookup order --------------------------------------------------------


@pytest.fixture
def folders(tmp_path, monkeypatch, closed_port_url):
    """Empty data and cache folders; the module's URL points at a closed port by default."""
    data_dir, cache = tmp_path / "data_dir", tmp_path / "cache"
    data_dir.mkdir()
    cache.mkdir()
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    monkeypatch.setattr(data, "TIMEMACHINE_URL", closed_port_url)
    return data_dir, cache


def test_course_data_dir_folder_or_file_wins(folders, monkeypatch, book_bytes):
    data_dir, cache = folders
    (data_dir / "timemachine.txt").write_bytes(book_bytes)
    (cache / "timemachine.txt").write_bytes(book_bytes)
    monkeypatch.setenv(data.DATA_ENV, str(data_dir))
    assert timemachine_path() == data_dir / "timemachine.txt"
    monkeypatch.setenv(data.DATA_ENV, str(data_dir / "timemachine.txt"))
    assert timemachine_path() == data_dir / "timemachine.txt"


def test_course_data_dir_with_a_wrong_file_names_it_and_both_hashes(folders, monkeypatch):
    data_dir, _ = folders
    wrong = data_dir / "timemachine.txt"
    wrong.write_bytes(GOOD)
    monkeypatch.setenv(data.DATA_ENV, str(data_dir))
    with pytest.raises(ValueError) as err:
        timemachine_path()
    msg = str(err.value)
    assert str(wrong) in msg and GOOD_SHA1 in msg and data.TIMEMACHINE_SHA1 in msg
    assert wrong.read_bytes() == GOOD  # the user's file is never deleted


def test_course_data_dir_pointing_at_nothing_says_so(folders, monkeypatch):
    data_dir, _ = folders
    monkeypatch.setenv(data.DATA_ENV, str(data_dir))  # empty folder
    with pytest.raises(FileNotFoundError, match=f"{data.DATA_ENV}=.*does not exist"):
        timemachine_path()


def test_cache_is_used_without_network(folders, book_bytes):
    _, cache = folders
    (cache / "timemachine.txt").write_bytes(book_bytes)
    assert timemachine_path() == cache / "timemachine.txt"  # the URL is a closed port


def test_empty_cache_downloads_once_then_reuses(folders, monkeypatch, server, book_bytes):
    _, cache = folders
    monkeypatch.setattr(data, "TIMEMACHINE_URL", f"{server}/timemachine.txt")
    before = len(_Handler.hits)
    path = timemachine_path()
    assert path == cache / "timemachine.txt" and path.read_bytes() == book_bytes
    assert timemachine_path() == path
    assert _Handler.hits[before:] == ["/timemachine.txt"]  # one request for two calls
    assert _leftovers(cache) == ["timemachine.txt"]


def test_wrong_cached_file_is_replaced(folders, monkeypatch, server, book_bytes):
    _, cache = folders
    (cache / "timemachine.txt").write_bytes(b"<html>captive portal</html>")
    monkeypatch.setattr(data, "TIMEMACHINE_URL", f"{server}/timemachine.txt")
    assert timemachine_path().read_bytes() == book_bytes


def test_offline_error_names_the_cache_folder(folders):
    _, cache = folders
    cache.rmdir()  # cache_dir() creates it on demand
    with pytest.raises(DownloadError) as err:
        timemachine_path()
    msg = str(err.value)
    assert f"Put timemachine.txt (sha1 {data.TIMEMACHINE_SHA1}) in {cache}" in msg
    assert data.DATA_ENV in msg
    assert _leftovers(cache) == []


def test_corrupt_server_file_leaves_an_empty_cache(folders, monkeypatch, server):
    _, cache = folders
    monkeypatch.setattr(data, "TIMEMACHINE_URL", f"{server}/corrupt")
    with pytest.raises(DownloadError, match=f"expected {data.TIMEMACHINE_SHA1}"):
        timemachine_path()
    assert _leftovers(cache) == []


def test_no_download_when_told_not_to(folders):
    _, cache = folders
    with pytest.raises(FileNotFoundError, match=str(cache)):
        timemachine_path(download_if_missing=False)


def test_interrupted_download_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data.urllib.request, "urlopen", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download("http://127.0.0.1:9/x", tmp_path / "x.txt", GOOD_SHA1)
    assert _leftovers(tmp_path) == []
