"""Attack the grading sandbox (grader.sandbox) for real: real bwrap, real files, a real server.

Each test plays a hostile submission: it tries to read the course (gradebook, source/), the home
folder and the host's /tmp, to write outside its folder, to reach a server on the host's
loopback, to leave a process behind, and to exhaust memory, processes, disk and CPU. Every
attack must fail, and every limit must be reported by name. A control beside each attack shows
that the thing attacked is really there (the server answers the host; the secret is readable
outside the sandbox), so that a test cannot pass because the attack was broken.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from grader.sandbox import Limits, SandboxUnavailable, run_sandboxed

SMALL = Limits(memory_mb=1536, processes=64, file_size_mb=20, cpu_seconds=3)


def sandboxed_python(code: str, workdir: Path, **kwargs):
    """Run ``code`` with the venv's Python inside a sandbox whose folder is ``workdir``."""
    kwargs.setdefault("timeout", 60)
    return run_sandboxed([sys.executable, "-c", code], workdir=workdir, **kwargs)


@pytest.fixture
def course(tmp_path) -> Path:
    """A course folder with a gradebook and a solution, beside the student's scratch folder."""
    root = tmp_path / "course"
    (root / "source" / "lesson").mkdir(parents=True)
    (root / "gradebook.db").write_text("grades")
    (root / "source" / "lesson" / "lesson.ipynb").write_text("### BEGIN SOLUTION secret")
    (root / "scratch").mkdir()
    return root


def test_runs_as_uid_1000_in_its_folder_with_a_clean_environment(course):
    os.environ["RNN_TEST_SECRET_ENV"] = "leaked"
    try:
        done = sandboxed_python(
            "import os, torch; print(os.getuid(), os.getgid(), os.getcwd(), os.environ['HOME'],"
            " os.environ.get('RNN_TEST_SECRET_ENV'), os.environ.get('JPY_PARENT_PID'))",
            course / "scratch",
            env={"JPY_PARENT_PID": "1"},
        )
    finally:
        del os.environ["RNN_TEST_SECRET_ENV"]
    scratch = str((course / "scratch").resolve())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1000", "1000", scratch, scratch, "None", "None"]
    assert done.limit is None


def test_nbgraders_execution_mode_reaches_the_sandbox(course, monkeypatch):
    """nbgrader sets NBGRADER_EXECUTION around its kernels and the lessons cut their training
    to the grading budget by it: inside the sandbox, course_utils must still see it."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    done = sandboxed_python(
        "import os, course_utils.grading as g; "
        "print(os.environ.get('NBGRADER_EXECUTION'), g.grading_mode(), g.budget(20.0, 2.0))",
        course / "scratch",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["autograde", "True", "2.0"], done.stdout


def test_cannot_read_the_course_home_host_tmp_or_grader(course):
    home_secret = Path.home() / f".rnn-sandbox-test-{os.getpid()}"
    home_secret.write_text("home secret")
    host_tmp_secret = Path("/tmp") / f"rnn-sandbox-test-{os.getpid()}"
    host_tmp_secret.write_text("tmp secret")
    targets = [
        course / "gradebook.db",
        course / "source" / "lesson" / "lesson.ipynb",
        home_secret,
        host_tmp_secret,
        Path(__file__).resolve().parents[1] / "grader" / "__init__.py",
    ]
    try:
        for target in targets:  # the control: each is readable outside the sandbox
            assert target.read_text()
        code = (
            "import sys\n"
            f"for path in {[str(t) for t in targets]!r}:\n"
            "    try:\n"
            "        print('READ', path, open(path).read()[:20])\n"
            "    except OSError as err:\n"
            "        print('refused', path, type(err).__name__)\n"
            "try:\n"
            "    import grader\n"
            "    print('READ grader package')\n"
            "except ImportError:\n"
            "    print('refused grader package')\n"
        )
        done = sandboxed_python(code, course / "scratch")
    finally:
        home_secret.unlink()
        host_tmp_secret.unlink()
    assert done.returncode == 0, done.stderr
    assert "READ" not in done.stdout, done.stdout
    assert done.stdout.count("refused") == len(targets) + 1


def test_the_course_gradebook_cannot_be_found_by_walking_up(course):
    code = (
        "import json, os\n"
        "found = []\n"
        "for top in ('/', os.path.expanduser('~'), '/tmp', '/work', '/root', '/home'):\n"
        "    for folder, dirs, files in os.walk(top):\n"
        "        dirs[:] = [d for d in dirs if d not in ('proc', 'sys', 'dev', 'usr')]\n"
        "        found += [os.path.join(folder, f) for f in files if f == 'gradebook.db']\n"
        "print(json.dumps(found))\n"
    )
    done = sandboxed_python(code, course / "scratch")
    assert done.returncode == 0, done.stderr
    # nbgrader ships a test fixture named gradebook.db inside the (read-only) Python environment
    python = (os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix))
    found = [p for p in json.loads(done.stdout) if not p.startswith(python)]
    assert found == [], found


def test_writes_land_only_in_the_work_folder(course):
    outside = [course / "gradebook.db", course / "new.txt", Path("/tmp/rnn-sandbox-new.txt")]
    outside += [Path(sys.prefix) / "rnn-sandbox-new.txt", Path("/usr/rnn-sandbox-new.txt")]
    code = (
        f"for path in {[str(p) for p in outside]!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('tampered')\n"
        "        print('WROTE', path)\n"
        "    except OSError as err:\n"
        "        print('refused', path, err.strerror)\n"
        "open('mine.txt', 'w').write('mine')\n"
    )
    done = sandboxed_python(code, course / "scratch")
    assert done.returncode == 0, done.stderr
    assert "WROTE" not in done.stdout, done.stdout
    assert (course / "gradebook.db").read_text() == "grades"
    assert not (course / "new.txt").exists() and not Path("/tmp/rnn-sandbox-new.txt").exists()
    assert (course / "scratch" / "mine.txt").read_text() == "mine"


def test_readonly_paths_are_visible_but_not_writable(course, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "inputs.json").write_text("[1, 2]")
    code = (
        f"print(open({str(extra / 'inputs.json')!r}).read())\n"
        "try:\n"
        f"    open({str(extra / 'inputs.json')!r}, 'w')\n"
        "    print('WROTE')\n"
        "except OSError as err:\n"
        "    print(err.strerror)\n"
    )
    done = sandboxed_python(code, course / "scratch", readonly=[extra])
    assert done.stdout.splitlines() == ["[1, 2]", "Read-only file system"], done.stderr


def test_the_corpus_is_found_through_a_symlinked_course_data_dir(course, tmp_path, monkeypatch):
    """COURSE_DATA_DIR may go through a symlink (a shared folder linked beside the course): the
    sandbox binds the real folder and points the variable at it, so the book is still found."""
    real = tmp_path / "real-data"
    real.mkdir()
    (real / "timemachine.txt").write_text("the time machine")
    link = tmp_path / "linked"
    link.symlink_to(real)
    monkeypatch.setenv("COURSE_DATA_DIR", str(link))
    code = (
        "import os\n"
        "print(open(os.path.join(os.environ['COURSE_DATA_DIR'], 'timemachine.txt')).read())"
    )
    done = sandboxed_python(code, course / "scratch")
    assert done.stdout.strip() == "the time machine", done.stderr


def test_no_connection_to_a_server_on_the_host_loopback(course):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []

    def serve():
        server.settimeout(20)
        try:
            while True:
                conn, _ = server.accept()
                accepted.append(conn.recv(16))
                conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as control:
        control.sendall(b"host")  # the control: the server is up and answers the host
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=5).sendall(b'sandbox')\n"
        "    print('CONNECTED')\n"
        "except OSError as err:\n"
        "    print('refused', err.errno)\n"
    )
    try:
        done = sandboxed_python(code, course / "scratch")
    finally:
        time.sleep(0.2)
        server.close()
        thread.join(5)
    assert done.stdout.startswith("refused"), done.stdout + done.stderr
    assert accepted == [b"host"]


def test_a_detached_process_is_gone_when_the_run_ends(course):
    tick = (course / "scratch" / "tick").resolve()
    code = (
        "import subprocess\n"
        "subprocess.Popen(['sh', '-c', 'while true; do echo x >> "
        f"{tick}; sleep 0.1; done'], start_new_session=True,\n"
        "    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "import time; time.sleep(0.5)\n"
    )
    done = sandboxed_python(code, course / "scratch")
    assert done.returncode == 0, done.stderr
    size = tick.stat().st_size
    assert size > 0  # the control: the detached process did run
    time.sleep(1.0)
    assert tick.stat().st_size == size, "a process started in the sandbox is still writing"


@pytest.mark.parametrize(
    ("attack", "limit"),
    [
        ("import os\nwhile True:\n    os.fork()", "processes"),
        ("chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 2**20))", "memory"),
        ("import torch\nx = torch.ones(2**31)", "memory"),
        ("f = open('fill', 'wb')\nwhile True:\n    f.write(bytes(2**20))", "file size"),
        ("while True:\n    pass", "cpu time"),
        ("import time\ntime.sleep(60)", "wall time"),
    ],
    ids=["fork-bomb", "memory-bomb", "torch-memory-bomb", "disk-fill", "busy-loop", "sleeper"],
)
def test_a_limit_stops_the_attack_and_is_reported_by_name(course, attack, limit):
    # The sleeper gets 5 s of wall time; the others get room enough on a loaded 2-CPU box to hit
    # their own limit first (3 s of CPU can take 20 s of wall time at a load of 10).
    timeout = 5 if limit == "wall time" else 120
    limits = SMALL if limit != "memory" else Limits(memory_mb=1536, cpu_seconds=None)
    done = sandboxed_python(attack, course / "scratch", limits=limits, timeout=timeout)
    assert done.limit == limit, (done.returncode, done.stderr[-500:])
    assert done.returncode != 0
    fill = course / "scratch" / "fill"
    if fill.exists():
        assert fill.stat().st_size <= SMALL.file_size_mb * 2**20


def test_torch_still_works_under_the_default_limits(course):
    done = sandboxed_python(
        "import torch\nx = torch.randn(256, 256, requires_grad=True)\n(x @ x).sum().backward()\n"
        "print(tuple(x.grad.shape))",
        course / "scratch",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(256, 256)"


def test_missing_bwrap_says_what_to_install(course, monkeypatch):
    venv_bin = str(Path(sys.executable).parent)
    assert not Path(venv_bin, "bwrap").exists()
    monkeypatch.setenv("PATH", venv_bin)  # a machine without bubblewrap installed
    with pytest.raises(SandboxUnavailable) as err:
        run_sandboxed(["true"], workdir=course / "scratch", timeout=10)
    assert "apt-get install bubblewrap" in str(err.value)
    assert "unprivileged_userns_clone" in str(err.value)


def test_bad_workdir_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        run_sandboxed(["true"], workdir=tmp_path / "missing", timeout=10)


# ----------------------------------------------------------------------------- the kernel


@pytest.mark.slow
def test_a_notebook_runs_in_a_sandboxed_kernel_that_cannot_see_the_course(course):
    """nbclient (what nbgrader's Execute is) runs a notebook through SandboxedKernelManager,
    from a folder inside the course as nbgrader autograde does."""
    from nbclient import NotebookClient

    from grader.sandbox.kernel import SandboxedKernelManager

    folder = course / "autograded" / "alice" / "lesson"
    folder.mkdir(parents=True)
    (folder / "data.txt").write_text("the submission's own file")
    marker = f"rnn-sandbox-detached-{os.getpid()}"
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os\n"
            "print(os.getuid(), open('data.txt').read())\n"
            "up = os.path.abspath('../../..')\n"
            "print(sorted(os.listdir(up)) if os.path.isdir(up) else 'no course')\n"
            f"print(os.path.exists({str(course / 'gradebook.db')!r}))\n"
            "open('written.txt', 'w').write('x')\n"
            "import subprocess, time\n"
            "subprocess.Popen(['sh', '-c', 'while true; do echo x >> tick; sleep 0.1; done; "
            f"# {marker}'], start_new_session=True)\n"
            "time.sleep(0.5)\n"
            "print('ticking' if os.path.getsize('tick') else 'not started')\n"
        )
    ]
    client = NotebookClient(
        nb,
        kernel_manager_class=SandboxedKernelManager,
        resources={"metadata": {"path": str(folder)}},
        timeout=60,
        startup_timeout=120,
    )
    client.execute()
    text = "".join(out.get("text", "") for out in nb.cells[0].outputs)
    lines = text.splitlines()
    assert lines[0] == "1000 the submission's own file", text
    assert "gradebook.db" not in lines[1] and "source" not in lines[1], text
    assert lines[2] == "False", text
    assert lines[3] == "ticking", text  # the control: the detached process ran
    assert not (folder / "written.txt").exists()  # it wrote into its scratch copy only
    time.sleep(0.5)
    survivors = [
        p.pid for p in psutil.process_iter(["cmdline"]) if marker in str(p.info["cmdline"])
    ]
    assert survivors == [], "a process the kernel started outlived it"
    assert (course / "gradebook.db").read_text() == "grades"


@pytest.mark.slow
def test_the_kernel_manager_refuses_to_start_without_bwrap(course, monkeypatch, tmp_path):
    from nbclient import NotebookClient

    from grader.sandbox.kernel import SandboxedKernelManager

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(
        nb, kernel_manager_class=SandboxedKernelManager, resources={"metadata": {"path": tmp_path}}
    )
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        client.execute()


def test_bwrap_is_installed_here():
    """The sandbox tests above need bubblewrap; `make test` installs it (ensure_bwrap.sh)."""
    assert shutil.which("bwrap"), "run: bash scripts/ensure_bwrap.sh"
    script = Path(__file__).resolve().parents[1] / "scripts" / "ensure_bwrap.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_validate_is_not_sandboxed(tmp_path):
    """nbgrader validate (the students' Validate button) runs on machines without user
    namespaces (Binder): with the course's config it must start an ordinary kernel, which sees
    the files beside the notebook's folder (a sandboxed one would not)."""
    from nbgrader.validator import Validator
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(__file__).resolve().parents[1]
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    (tmp_path / "beside.txt").write_text("x")
    folder = tmp_path / "lesson"
    folder.mkdir()
    meta = {"grade": True, "solution": False, "locked": True, "schema_version": 3}
    beside = str(tmp_path / "beside.txt")
    cell = nbformat.v4.new_code_cell(f"import os\nassert os.path.exists({beside!r})")
    cell.metadata["nbgrader"] = {**meta, "grade_id": "test_beside", "points": 1}
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "lesson.ipynb")
    assert Validator(config=config).validate(str(folder / "lesson.ipynb")) == {}


@pytest.mark.slow
def test_a_cell_past_its_timeout_is_interrupted_and_later_cells_run(tmp_path):
    """nbgrader's per-cell timeout interrupts the kernel: the interrupt must reach the kernel
    inside the sandbox (a signal to bwrap would kill the whole kernel instead)."""
    from nbclient import NotebookClient

    from grader.sandbox.kernel import SandboxedKernelManager

    nb = nbformat.v4.new_notebook()
    loop, after = "while True:\n    pass", "1 + 1"
    nb.cells = [nbformat.v4.new_code_cell(loop), nbformat.v4.new_code_cell(after)]
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(
        nb,
        kernel_manager_class=SandboxedKernelManager,
        resources={"metadata": {"path": str(tmp_path)}},
        timeout=5,
        interrupt_on_timeout=True,
        allow_errors=True,
        startup_timeout=120,
    )
    client.execute()
    assert [out.get("ename") for out in nb.cells[0].outputs] == ["KeyboardInterrupt"]
    assert nb.cells[1].outputs[0]["data"]["text/plain"] == "2"
