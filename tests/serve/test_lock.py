"""One dmarcd serve per data folder: a second one would put the first one's
claimed spool entries back and process them twice."""
import subprocess

from conftest import BIN, Server, catch_all, free_port


def test_second_server_on_the_same_data_folder_refuses_to_start(tmp_path):
    data = tmp_path / "data"
    catch_all(data)
    first = Server(data).start()
    try:
        p = subprocess.run([BIN, "serve", "--data", str(data), "--smtp", "127.0.0.1:%d" % free_port(), "--http", "none"],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert "another dmarcd serve is running" in p.stderr, p.stderr
        first.check_alive()
    finally:
        assert first.stop()[0] == 0
    # the lock goes with the process: a new server starts
    again = Server(data).start()
    assert again.stop()[0] == 0
