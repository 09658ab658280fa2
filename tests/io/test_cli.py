"""The ``mrisynth`` entry point: exact usage accounting on every command, clear errors for missing inputs."""

import os
import re
import subprocess
import sys

from mrisynth.cli import main, usage_line

USAGE = re.compile(r"^mrisynth (\S+): ([\d.]+) s wall, ([\d.]+) s CPU, peak RSS (\d+) MiB$")


def test_usage_line_counts_cpu_of_waited_children():
    # a child burning ~0.3 s of CPU must show up in the parent's usage line (torchrun workers are children)
    code = "import sys; sys.path.insert(0, '.');\nfrom mrisynth.cli import usage_line\nimport subprocess, time\n" \
           "subprocess.run([sys.executable, '-c', 't=__import__(\"time\").process_time\\nwhile t() < 0.3: pass'])\n" \
           "print(usage_line('x', 1.0))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    command, wall, cpu, rss = USAGE.match(out).groups()
    assert command == "x" and float(wall) == 1.0 and float(cpu) >= 0.3 and int(rss) > 10


def test_every_command_ends_with_its_usage_line_and_missing_files_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    rc = main(["split", "--manifest", str(tmp_path / "m.csv"), "--qc-summary", str(missing), "--out-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert "no such file or directory" in err[-2] and "Traceback" not in "\n".join(err)
    assert USAGE.match(err[-1]).group(1) == "split"
    assert not (tmp_path / "o").exists()
    assert USAGE.match(usage_line("report", 2.5)).group(2) == "2.5"


def test_openmp_waits_passively_unless_the_user_chose(monkeypatch, capsys):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    main(["zoo", "list"])
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    main(["zoo", "list"])
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_a_command_imports_only_its_own_module():
    """`mrisynth preprocess` (its parser) loads neither torch nor the other commands' heavy modules; --help
    still lists every command."""
    code = ("import sys\nfrom mrisynth.cli import build_parser\nbuild_parser('preprocess')\n"
            "print(sorted(m for m in ('torch', 'monai', 'pandas', 'scipy.stats', 'jsonschema') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    help_text = subprocess.run([sys.executable, "-m", "mrisynth.cli", "--help"], capture_output=True, text=True,
                               check=True).stdout
    assert "preprocess-templates" in help_text and "classify" in help_text and "zoo" in help_text


def test_the_console_script_flushes_its_output_keeps_the_exit_code_and_skips_the_teardown(tmp_path):
    """``run`` (the ``mrisynth`` script) leaves by os._exit after main: buffered output must still arrive,
    the exit code must be main's, and Python's teardown (here an atexit hook) must not run."""
    code = ("import atexit, sys\nfrom mrisynth.cli import run\natexit.register(print, 'TEARDOWN')\n"
            "sys.argv = ['mrisynth', *sys.argv[1:]]\nrun()")
    listed = subprocess.run([sys.executable, "-c", code, "zoo", "list"], capture_output=True, text=True)
    assert listed.returncode == 0 and "pix2pix" in listed.stdout and "TEARDOWN" not in listed.stdout
    assert USAGE.match(listed.stderr.strip().splitlines()[-1]).group(1) == "zoo"
    missing = subprocess.run([sys.executable, "-c", code, "split", "--manifest", str(tmp_path / "m.csv"),
                              "--qc-summary", str(tmp_path / "nope.json"), "--out-dir", str(tmp_path / "o")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr
    assert USAGE.match(missing.stderr.strip().splitlines()[-1]).group(1) == "split"
