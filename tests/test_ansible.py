"""ansible-core from PyPI runs the probe script; iodetect reads what it collected.

Ansible's `script` module runs `iodetect probe-script` on this host (`ansible_connection=local`)
and over ssh (the `sshd` fixture), with a different interpreter or lowered limits per host; its
`command` module pipes it to interpreters that cannot see the controller's files (the sid
chroot's CPython 3.15 and PyPy), as `kubectl exec -i` would. The playbook keeps each host's
output in a file named after it, and also its whole registered result (an unreachable host's
too); the playbook is the one of docs/fleet.md. `iodetect fleet` and `diff` must give the same
table and the same verdicts from those files as from iodetect reaching the same targets itself.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from iodetect import fleet
from iodetect.fleet.live import observe

from interpreters import PYPY, find
from sshd_server import Sshd
from support import run_cli

pytestmark = pytest.mark.fleet

ROOT = Path(__file__).resolve().parent.parent


def playbook_from_docs() -> str:
    """The playbook of docs/fleet.md, word for word: the one the docs promise works."""
    text = (ROOT / "docs" / "fleet.md").read_text(encoding="utf-8")
    start = text.index("```yaml\n# probe.yml") + len("```yaml\n")
    return text[start : text.index("```", start)]


def ansible_playbook() -> str:
    found = shutil.which("ansible-playbook") or str(
        Path(sys.executable).with_name("ansible-playbook")
    )
    if not os.access(found, os.X_OK):
        pytest.skip("ansible-core is not installed (`tox -e fleet` installs it from PyPI)")
    return found


def targets(sshd: Sshd) -> dict[str, dict[str, Any]]:
    """Host name -> how Ansible reaches it, and the --python command iodetect would use."""
    out: dict[str, dict[str, Any]] = {}
    for version in ("3.8", "3.12"):
        interp = find(version)
        if interp is not None and not interp.chroot:
            python = interp.argv[0]
            out[f"local-py{version.replace('.', '')}"] = {
                "group": "local",
                "vars": {"probe_python": python},
                "command": [python],
            }
    for name, version in (("sid-py315", "3.15"), ("sid-pypy", PYPY)):
        interp = find(version)
        if interp is not None and interp.chroot:  # its files are not the controller's
            argv = [*interp.command(), "-"]
            out[name] = {
                "group": "local",
                "vars": {"probe_argv": json.dumps(argv)},
                "command": argv,
            }
    for name, remote in (("ssh-py3", "python3"), ("ssh-low", "prlimit --nofile=256:256 python3")):
        out[name] = {
            "group": "ssh",
            "vars": {"probe_python": remote},
            "command": sshd.command(remote),
        }
    return out


def inventory(sshd: Sshd, hosts: dict[str, dict[str, Any]]) -> str:
    def line(name: str, values: dict[str, str]) -> str:
        return name + "".join(f" {k}={shlex.quote(v)}" for k, v in values.items())

    ssh_args = "-o ControlMaster=no -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    groups = {"local": [], "ssh": []}  # type: dict[str, list[str]]
    for name, h in hosts.items():
        groups[h["group"]].append(line(name, h["vars"]))
    groups["dead"] = [line("ssh-dead", {"probe_python": "python3", "ansible_port": "1"})]
    return (
        "[local]\n" + "\n".join(groups["local"]) + "\n"
        "[local:vars]\nansible_connection=local\n"
        "[ssh]\n" + "\n".join(groups["ssh"]) + "\n"
        "[dead]\n" + "\n".join(groups["dead"]) + "\n"
        "[ssh:children]\ndead\n"
        "[ssh:vars]\n"
        f"ansible_host=127.0.0.1\nansible_port={sshd.port}\nansible_user={sshd.user}\n"
        f"ansible_ssh_private_key_file={sshd.key}\nansible_ssh_args='{ssh_args}'\n"
        "[all:vars]\nansible_python_interpreter={{ ansible_playbook_python }}\n"
    )


@pytest.fixture(scope="module")
def collected(sshd: Sshd, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the playbook once; what it collected, and the targets it ran on."""
    playbook = ansible_playbook()
    work = tmp_path_factory.mktemp("ansible")
    script = work / "probe.py"
    script.write_text(run_cli("probe-script").stdout, encoding="utf-8")
    hosts = targets(sshd)
    (work / "hosts.ini").write_text(inventory(sshd, hosts), encoding="utf-8")
    (work / "play.yml").write_text(playbook_from_docs(), encoding="utf-8")
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(work / "home"),
        "ANSIBLE_LOCAL_TEMP": str(work / "local-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(work / "remote-tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_TIMEOUT": "30",
    }
    done = subprocess.run(
        [
            playbook,
            "-i",
            str(work / "hosts.ini"),
            str(work / "play.yml"),
            "-e",
            f"probe_script={script}",
            "-e",
            f"collected={work}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert (work / "facts").is_dir(), done.stdout[-3000:] + done.stderr[-3000:]
    return {"work": work, "hosts": hosts, "run": done}


def test_ansible_collected_a_file_per_reachable_host(collected: dict[str, Any]) -> None:
    work, hosts = collected["work"], collected["hosts"]
    assert sorted(p.name for p in (work / "facts").iterdir()) == sorted(f"{h}.json" for h in hosts)
    assert sorted(p.name for p in (work / "results").iterdir()) == sorted([*hosts, "ssh-dead"])
    assert "ssh-dead" in collected["run"].stdout  # it was tried, and found unreachable


def test_the_fleet_of_collected_files_is_the_fleet_iodetect_sees_live(
    collected: dict[str, Any], tmp_path: Path
) -> None:
    work, hosts = collected["work"], collected["hosts"]
    from_ansible = run_cli("fleet", str(work / "facts"))
    assert from_ansible.returncode == 1, from_ansible.stderr  # ssh-low's limits are too low
    # iodetect reaches the same targets itself (as `--python` does) and saves the fleet.
    live = [observe(name, hosts[name]["command"], timeout=120) for name in sorted(hosts)]
    assert all(o.facts is not None for o in live), [o.error for o in live]
    built = fleet.build(live, fleet.Options())
    saved = tmp_path / "live.json"
    saved.write_text(json.dumps(fleet.to_dict(built)), encoding="utf-8")
    from_live = run_cli("fleet", str(saved))
    assert from_live.stdout == from_ansible.stdout
    assert from_live.returncode == from_ansible.returncode
    assert "FAIL  ssh-low: hard descriptor limit 256 is below the 364 this service needs" in (
        from_ansible.stdout
    )
    assert "256*" in from_ansible.stdout
    if "local-py38" in hosts:
        assert "CPython 3.8." in from_ansible.stdout


def test_engine_results_give_the_same_rows_and_an_error_for_the_dead_host(
    collected: dict[str, Any],
) -> None:
    work = collected["work"]
    facts = json.loads(run_cli("fleet", "--json", str(work / "facts")).stdout)
    results = json.loads(run_cli("fleet", "--json", str(work / "results")).stdout)
    rows = {t["name"]: (t["row"], t["verdict"]) for t in facts["targets"]}
    got = {
        t["name"]: (t["row"], t["verdict"]) for t in results["targets"] if t["name"] != "ssh-dead"
    }
    assert got == rows
    dead = next(t for t in results["targets"] if t["name"] == "ssh-dead")
    assert dead["verdict"] == "error"
    assert dead["error"].startswith("the engine reported: unreachable")
    assert "ssh-dead" in {f["name"] for f in results["summary"]["failed"]}


def test_diff_reads_what_ansible_collected(collected: dict[str, Any], tmp_path: Path) -> None:
    work, hosts = collected["work"], collected["hosts"]
    a, b = work / "facts" / "ssh-py3.json", work / "facts" / "ssh-low.json"
    from_ansible = run_cli("diff", "--json", str(a), str(b))
    assert from_ansible.returncode == 1, from_ansible.stderr
    # The same two targets, reached by iodetect.
    for name in ("ssh-py3", "ssh-low"):
        done = run_cli("report", "--json", "--python", hosts[name]["command"])
        (tmp_path / f"{name}.json").write_text(done.stdout, encoding="utf-8")
    direct = run_cli(
        "diff", "--json", str(tmp_path / "ssh-py3.json"), str(tmp_path / "ssh-low.json")
    )
    assert direct.returncode == 1

    def comparable(text: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(text)
        for side in ("a", "b"):
            data[side].pop("location")
        return data

    assert comparable(from_ansible.stdout) == comparable(direct.stdout)
    (pair,) = json.loads(from_ansible.stdout)["pairs"]
    assert {d["field"] for d in pair["differences"] if d["lower_on_b"]} == {
        "limits.nofile_soft",
        "limits.nofile_hard",
    }
