"""StashHost runs plugins exactly as Stash does: loading, spawning, stdin bytes, stdout and stderr rules."""

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from plexsync.sandbox.fake_stash import FakeStash
from plexsync.sandbox.manifest import ManifestError, go_yaml_tag, load_manifest
from plexsync.sandbox.stash_host import (SCENE_UPDATE_KEYS, GoStruct, HostError, StashHost, decode_plugin_output,
                                         go_json)

EXAMPLES = Path("/work/shared/examples/stash")
PROTOCOL = Path("/work/shared/docs/stash-plugin-protocol.md")

# One throwaway plugin script; its behaviour is picked by the "mode" arg or argv[1].
PROBE = r'''
import json, os, subprocess, sys, time

start = time.time()
if sys.argv[1:2] == ["noread"]:
    print(json.dumps({"output": "did not read stdin"}))
    sys.exit(0)
raw = sys.stdin.buffer.read()
args = json.loads(raw.decode("utf-8"))["args"]
mode = args.get("mode", "")


def record(**extra):
    out = os.environ.get("PROBE_OUT")
    if out:
        rec = {"stdin": raw.decode("utf-8"), "cwd": os.getcwd(), "pythonpath": os.environ.get("PYTHONPATH"),
               "argv": sys.argv, "executable": sys.executable, "start": start, "end": time.time(), **extra}
        with open(os.path.join(out, "%d-%d.json" % (time.time_ns(), os.getpid())), "w") as handle:
            json.dump(rec, handle)


def err(data):
    sys.stderr.buffer.write(data)
    sys.stderr.buffer.flush()


if mode == "logs":
    err(b"\x01t\x02 trace msg \n\x01d\x02debug msg\r\n\x01i\x02info msg\n\x01w\x02warning msg\n")
    err(b"\x01e\x02error msg\n\n\r\nplain line\n\x01i\x02\n\x01x\x02unknown level\n\x01\x00\x02dropped\n")
    err(b"\x01p\x020.25\n\x01p\x021.5\n\x01p\x02-2\n\x01p\x02half\n  spaced  \n\x01i\x02last, no newline")
elif mode == "stdout":
    sys.stdout.write(args["stdout"])
    sys.stdout.flush()
    sys.exit(int(args.get("code", 0)))
elif mode == "sleep":
    err(b"\x01p\x020.5\n\x01i\x02sleeping\n")
    time.sleep(30)
elif mode == "grandchild":
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.6)"])
elif mode == "overflow":
    err(b"\x01i\x02before\n")
    try:
        err(b"x" * 70000 + b"\n")
        time.sleep(0.3)
        for _ in range(100):
            err(b"\x01i\x02after\n")
            time.sleep(0.002)
        broke = False
    except BrokenPipeError:
        broke = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    record(broke=broke)
elif mode == "hook":
    time.sleep(0.05)
record()
print(json.dumps({"output": "ok:" + mode}))
'''

PROBE_YML = """\
name: Probe
# requires: PythonDepManager
exec:
  - python
  - "{pluginDir}/probe.py"
interface: raw
hooks:
  - name: On update
    triggeredBy: [Scene.Update.Post]
    defaultArgs: {mode: hook}
tasks:
  - name: Echo
    defaultArgs: {mode: echo, keep: default, override: default, number: 5, flag: yes, empty: null}
  - name: Logs
    defaultArgs: {mode: logs}
  - name: Stdout
    defaultArgs: {mode: stdout}
  - name: Sleep
    defaultArgs: {mode: sleep}
  - name: Grandchild
    defaultArgs: {mode: grandchild}
  - name: Overflow
    defaultArgs: {mode: overflow}
  - name: With exec args
    execArgs: ["--flag", "{pluginDir}/x"]
    defaultArgs: {mode: echo}
  - name: No read
    execArgs: [noread]
"""


@pytest.fixture(scope="module")
def stash():
    with FakeStash() as server:
        yield server


@pytest.fixture
def out(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    return folder


def make_plugin(root: Path, folder: str, plugin_id: str, yml: str = PROBE_YML, script: str = PROBE) -> Path:
    plugin_dir = root / folder
    plugin_dir.mkdir(parents=True, exist_ok=True)
    (plugin_dir / f"{plugin_id}.yml").write_text(yml, encoding="utf-8")
    (plugin_dir / "probe.py").write_text(script, encoding="utf-8")
    return plugin_dir


@pytest.fixture
def probe_host(tmp_path, stash, out):
    plugins = tmp_path / "plugins"
    make_plugin(plugins / "community", "Probe", "Probe")
    with StashHost(plugins, stash, env={"PROBE_OUT": str(out)}) as host:
        yield host


def records(out: Path) -> list:
    return [json.loads(p.read_text()) for p in sorted(out.iterdir())]


def stdin_of(out: Path, index: int = -1) -> dict:
    return json.loads(records(out)[index]["stdin"])


# -- Go JSON ----------------------------------------------------------------------------------

def example_connection() -> dict:
    return json.loads((EXAMPLES / "example_hook_stdin.json").read_text())["server_connection"]


def test_go_json_of_the_example_hook_is_byte_identical():
    update = GoStruct((key, None) for key in SCENE_UPDATE_KEYS)
    update.update(id="45", title="New title", tag_ids=["21", "22"])
    context = GoStruct(id=45, type="Scene.Update.Post", input=update, inputFields=["title", "id", "tag_ids"])
    conn = example_connection()
    conn_struct = GoStruct((k, GoStruct(v) if isinstance(v, dict) else v) for k, v in conn.items())
    encoded = go_json(GoStruct(server_connection=conn_struct, args={"mode": "hook", "hookContext": context}))
    assert encoded == (EXAMPLES / "example_hook_stdin.json").read_bytes()


def test_go_json_of_the_example_task_is_byte_identical():
    conn = example_connection()
    conn_struct = GoStruct((k, GoStruct(v) if isinstance(v, dict) else v) for k, v in conn.items())
    encoded = go_json(GoStruct(server_connection=conn_struct, args={"mode": "sync_all"}))
    assert encoded == (EXAMPLES / "example_task_stdin.json").read_bytes()


@pytest.mark.parametrize("value, expected", [
    ({"b": 1, "a": 2, "B": 3}, b'{"B":3,"a":2,"b":1}'),
    ("<a&b>\u2028\u2029", b'"\\u003ca\\u0026b\\u003e\\u2028\\u2029"'),
    ("\b\f\n\r\t\x01\x1f\"\\", b'"\\b\\f\\n\\r\\t\\u0001\\u001f\\"\\\\"'),
    ("caf\u00e9 \u65e5\u672c", "\"caf\u00e9 \u65e5\u672c\"".encode()),
    ([10.0, 0.5, 1e-7, 1e21, 1e20, -0.0, True, None], b"[10,0.5,1e-7,1e+21,100000000000000000000,-0,true,null]"),
])
def test_go_json_encoding_rules(value, expected):
    assert go_json(value) == expected


# -- manifests: PyYAML nodes decoded as go-yaml v2 decodes them -------------------------------

def protocol_manifest() -> str:
    text = PROTOCOL.read_text(encoding="utf-8")
    section = text[text.index("### 2.5"):]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("texts, tag", [
    (["", "~", "null", "Null", "NULL"], "!!null"),
    (["y", "Y", "yes", "No", "n", "on", "OFF", "true", "False"], "!!bool"),
    (["0", "17", "-3", "017", "0x1F", "0o17", "0b101", "1_000", "+5"], "!!int"),
    (["1.5", ".5", "-1e3", "1.", "08", ".inf", "-.Inf", ".NaN"], "!!float"),
    (["2024-01-02", "2024-1-2T10:04:05Z", "2024-01-02 10:04:05.5"], "!!timestamp"),
    (["0.1.0", "yes!", "python x.py", "1.2.3", "2024-01-02T10:04:05", "-", ".", "1e", "0x", "<"], "!!str"),
    (["<<"], "!!merge"),
])
def test_plain_scalars_resolve_like_go_yaml_v2(texts, tag):
    assert {text: go_yaml_tag(text) for text in texts} == {text: tag for text in texts}


# -- strict manifests -------------------------------------------------------------------------

def write_yml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "Plugin.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def test_protocol_manifest_loads_with_string_default_args(tmp_path):
    config = load_manifest(write_yml(tmp_path, protocol_manifest()))
    assert config["interface"] == "raw" and config["exec"] == ["python", "{pluginDir}/PlexSync.py"]
    assert [t["defaultArgs"] for t in config["tasks"]] == [{"mode": "full"}, {"mode": "recent"}]
    assert config["settings"]["batchSize"]["type"] == "NUMBER"


def test_scalars_become_their_literal_text(tmp_path):
    config = load_manifest(write_yml(tmp_path, """\
        version: 1.10
        exec: [python]
        tasks:
          - name: T
            defaultArgs: {n: 5, b: yes, z: null, f: 1.50}
        settings:
          s: {displayName: S}
        """))
    assert config["version"] == "1.10"
    assert config["tasks"][0]["defaultArgs"] == {"n": "5", "b": "yes", "z": "", "f": "1.50"}
    assert config["settings"]["s"]["type"] == "STRING"  # default
    assert config["interface"] == "raw"


@pytest.mark.parametrize("text, message", [
    ("id: x\n", "field id not found in type plugin.Config"),
    ("requires: [a]\n", "field requires not found in type plugin.Config"),
    ("tasks:\n  - name: T\n    mode: full\n", "field mode not found in type plugin.OperationConfig"),
    ("hooks:\n  - name: H\n    triggers: [a]\n", "field triggers not found in type plugin.HookConfig"),
    ("settings:\n  a: {type: STRING, default: x}\n", "field default not found in type plugin.SettingConfig"),
    ("ui:\n  settings: {}\n", "field settings not found in type plugin.UIConfig"),
    ("ui:\n  csp: {img-src: [x]}\n", "field img-src not found in type plugin.PluginCSP"),
    ("settings:\n  a: {type: string}\n", "invalid setting type string"),
    ("interface: python\n", "invalid interface type python"),
    ("exec: python x.py\n", "line 1: cannot unmarshal !!str `python ...` into []string"),
    ("exec: yes\n", "line 1: cannot unmarshal !!bool `yes` into []string"),
    ("exec: y\n", "line 1: cannot unmarshal !!bool `y` into []string"),
    ("tasks: 017\n", "line 1: cannot unmarshal !!int `017` into []plugin.OperationConfig"),
    ("ui: 2024-01-02\n", "line 1: cannot unmarshal !!timestamp `2024-01-02` into plugin.UIConfig"),
    ("settings: [a]\n", "line 1: cannot unmarshal !!seq into map[string]plugin.SettingConfig"),
    ("execArgs: [x]\n", "field execArgs not found"),
    ("name: [a]\n", "cannot unmarshal !!seq into string"),
    ("name: a\nexec: [x]\nname: b\n", "line 3: field name already set in type plugin.Config"),
    ("tasks:\n  - name: T\n    defaultArgs:\n      mode: a\n      mode: b\n", 'line 5: key "mode" already set in map'),
    ("settings:\n  a: {type: STRING}\n  a: {type: NUMBER}\n", 'line 3: key "a" already set in map'),
    ("name: a\n  b: c\n", "yaml: line 2: mapping values are not allowed here"),
    ("name: a\n\tb: c\n", "yaml: line 2: found character '\\t' that cannot start any token"),
    ("name: 'open\n", "yaml: line 2: found unexpected end of stream"),
    ("name: *nope\n", "yaml: line 1: found undefined alias 'nope'"),
    ("ui: &x {csp: *x}\n", "yaml: line 1: anchor value contains itself"),
])
def test_strict_loading_rejects_what_stash_rejects(tmp_path, text, message):
    path = write_yml(tmp_path, text)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert path in str(caught.value) and message in str(caught.value)


def test_all_unmarshal_errors_are_reported_together_with_their_lines(tmp_path):
    path = write_yml(tmp_path, "name: [a]\nid: x\ntasks:\n  - name: T\n    mode: full\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert str(caught.value) == (f"{path}: yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into string\n"
                                 "  line 2: field id not found in type plugin.Config\n"
                                 "  line 5: field mode not found in type plugin.OperationConfig")


def test_anchors_aliases_and_merge_keys_work_as_in_go_yaml(tmp_path):
    config = load_manifest(write_yml(tmp_path, """\
        name: Merged
        exec: &cmd [python, "{pluginDir}/x.py"]
        tasks:
          - &base {name: A, description: shared, defaultArgs: {mode: a}}
          - <<: *base
            name: B
        hooks:
          - name: H
            execArgs: *cmd
            triggeredBy: [Scene.Update.Post]
        """))
    assert [(t["name"], t["description"], t["defaultArgs"]) for t in config["tasks"]] == [
        ("A", "shared", {"mode": "a"}), ("B", "shared", {"mode": "a"})]
    assert config["hooks"][0]["execArgs"] == ["python", "{pluginDir}/x.py"]


def test_only_the_first_document_is_read(tmp_path):
    config = load_manifest(write_yml(tmp_path, "name: First\n---\nid: not read\n"))
    assert config["name"] == "First"


def test_an_empty_manifest_gives_the_zero_config(tmp_path):
    config = load_manifest(write_yml(tmp_path, "# nothing\n"))
    assert config["name"] == "" and config["interface"] == "raw" and config["tasks"] == []


def test_discovery_walks_yml_only_in_lexical_order_following_symlinks(tmp_path, stash):
    plugins = tmp_path / "plugins"
    make_plugin(plugins, "b", "Beta")
    make_plugin(plugins, "a/inner", "Alpha")
    (plugins / "a" / "ignored.yaml").write_text("id: not loaded\n")
    (plugins / "c.yml").write_text("name: Top\n")
    elsewhere = make_plugin(tmp_path / "elsewhere", "linked", "Linked")
    os.symlink(elsewhere, plugins / "d")
    host = StashHost(plugins, stash)
    assert list(host.plugins) == ["Alpha", "Beta", "c", "Linked"]
    assert host.plugins["Linked"].dir == str(plugins / "d")


def test_duplicate_ids_are_rejected_case_insensitively(tmp_path, stash):
    plugins = tmp_path / "plugins"
    make_plugin(plugins, "one", "Probe")
    make_plugin(plugins, "two", "probe")
    with pytest.raises(ManifestError, match="already exists"):
        StashHost(plugins, stash)
    host = StashHost(plugins, stash, strict=False)
    assert list(host.plugins) == ["Probe"] and len(host.load_errors) == 1


def test_a_broken_manifest_is_skipped_when_not_strict(tmp_path, stash):
    plugins = tmp_path / "plugins"
    make_plugin(plugins, "good", "Good")
    (plugins / "bad.yml").write_text("id: nope\n")
    host = StashHost(plugins, stash, strict=False)
    assert list(host.plugins) == ["Good"]
    assert "field id not found" in str(host.load_errors[0])


# -- spawning -------------------------------------------------------------------------------------

def test_python_plugins_get_pythonpath_and_a_cwd_that_is_not_the_plugin_dir(tmp_path, stash, out):
    plugins = tmp_path / "plugins"
    plugin_dir = make_plugin(plugins / "community", "Probe", "Probe")
    host = StashHost(plugins, stash, python=sys.executable, env={"PROBE_OUT": str(out), "PYTHONPATH": "/x"})
    result = host.run_task("Probe", "Echo")
    assert result.error is None and result.output == "ok:echo"
    rec = records(out)[-1]
    assert rec["pythonpath"] == f"/x{os.pathsep}{plugins / 'community'}"
    assert rec["cwd"] == os.path.realpath(host.cwd) and rec["cwd"] != str(plugin_dir)
    assert rec["argv"][0] == str(plugin_dir / "probe.py")
    assert result.argv[0] == sys.executable


def test_pythonpath_is_only_the_parent_when_unset(tmp_path, stash, out, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    plugins = tmp_path / "plugins"
    make_plugin(plugins, "Probe", "Probe")
    StashHost(plugins, stash, env={"PROBE_OUT": str(out)}).run_task("Probe", "Echo")
    assert records(out)[-1]["pythonpath"] == str(plugins)


def test_exec_args_are_appended_with_plugin_dir_substituted(probe_host, out):
    probe_host.run_task("Probe", "With exec args")
    plugin_dir = probe_host.plugins["Probe"].dir
    assert records(out)[-1]["argv"] == [f"{plugin_dir}/probe.py", "--flag", f"{plugin_dir}/x"]


def test_task_args_are_args_map_plus_default_args_with_explicit_winning(probe_host, out, stash):
    probe_host.run_task("Probe", "Echo", {"override": "mine", "extra": [1, {"z": 1, "a": 2}]})
    sent = stdin_of(out)
    assert sent["args"] == {"mode": "echo", "keep": "default", "override": "mine", "number": "5", "flag": "yes",
                            "empty": "", "extra": [1, {"a": 2, "z": 1}]}
    raw = records(out)[-1]["stdin"]
    assert raw.index('"empty"') < raw.index('"extra"') < raw.index('"flag"')  # map keys sorted
    assert sent["server_connection"]["Port"] == stash.port
    assert sent["server_connection"]["PluginDir"] == probe_host.plugins["Probe"].dir


def test_run_task_by_mode_and_run_operation(probe_host, out):
    assert probe_host.run_task_by_mode("Probe", "logs").output == "ok:logs"
    probe_host.run_operation("Probe", {"mode": "echo"})
    assert stdin_of(out)["args"] == {"mode": "echo"}
    with pytest.raises(HostError):
        probe_host.run_task_by_mode("Probe", "nope")
    with pytest.raises(HostError):
        probe_host.run_task("Probe", "Nope")
    probe_host.set_enabled("Probe", False)
    with pytest.raises(HostError, match="disabled"):
        probe_host.run_task("Probe", "Echo")


def test_a_plugin_that_never_reads_stdin_cannot_deadlock_the_host(probe_host):
    result = probe_host.run_task("Probe", "No read", {"big": "x" * 2_000_000}, timeout=20)
    assert result.output == "did not read stdin" and result.error is None and not result.timed_out


# -- stdout -------------------------------------------------------------------------------------

@pytest.mark.parametrize("stdout, output, error", [
    ('{"output": {"a": 1}}', {"a": 1}, None),
    ('\n  {"error": "boom"}\n', None, "boom"),
    ('{"Error": "x", "OUTPUT": 1}', 1, "x"),
    ('{"error": "first", "error": "second"}', None, "second"),
    ('{"output": 1, "Output": 2}', 2, None),
    ("null", None, None),
    ('{"other": 1}', None, None),
    ('{"error": null, "output": "o"}', "o", None),
    ("", "", None),
    ("log text\n", "log text\n", None),
    ('{"output": 1}{"output": 2}', '{"output": 1}{"output": 2}', None),
    ('"just a string"', '"just a string"', None),
    ("[1, 2]", "[1, 2]", None),
    ('{"error": 5}', '{"error": 5}', None),
    ('{"output": NaN}', '{"output": NaN}', None),
])
def test_stdout_decoding_rules(stdout, output, error):
    assert decode_plugin_output(stdout) == (output, error)


def test_non_json_stdout_and_exit_status_become_output_and_error(probe_host):
    result = probe_host.run_task("Probe", "Stdout", {"stdout": "hello\n", "code": 1})
    assert (result.output, result.error, result.returncode) == ("hello\n", "exit status 1", 1)
    result = probe_host.run_task("Probe", "Stdout", {"stdout": '{"error": "own message"}', "code": 3})
    assert (result.output, result.error) == (None, "own message")
    result = probe_host.run_task("Probe", "Stdout", {"stdout": '{"output": "fine"}', "code": 0})
    assert (result.output, result.error, result.stdout) == ("fine", None, '{"output": "fine"}')


# -- stderr ------------------------------------------------------------------------------------

def test_stderr_levels_progress_and_unprefixed_lines(probe_host):
    result = probe_host.run_task("Probe", "Logs")
    assert result.logs == [
        ("trace", "trace msg"), ("debug", "debug msg"), ("info", "info msg"), ("warning", "warning msg"),
        ("error", "error msg"), ("error", "plain line"), ("error", "\x01i\x02"), ("error", "\x01x\x02unknown level"),
        ("error", "Error parsing progress value 'half': strconv.ParseFloat: parsing \"half\": invalid syntax"),
        ("error", "  spaced  "), ("info", "last, no newline"),
    ]
    assert result.progress == [0.25, 1.0, 0.0]
    assert result.lines("info") == ["info msg", "last, no newline"]


@pytest.mark.parametrize("err_log, expected", [("info", ("info", "plain line")), ("none", None),
                                               ("bogus", ("error", "plain line"))])
def test_err_log_sets_the_level_of_unprefixed_lines(tmp_path, stash, err_log, expected):
    plugins = tmp_path / "plugins"
    make_plugin(plugins, "Probe", "Probe", PROBE_YML.replace("interface: raw", f"interface: raw\nerrLog: {err_log}"))
    result = StashHost(plugins, stash).run_task("Probe", "Logs")
    plain = [entry for entry in result.logs if entry[1] == "plain line"]
    assert plain == ([expected] if expected else [])


def test_a_stderr_line_over_64k_stops_stderr_processing(probe_host, out):
    result = probe_host.run_task("Probe", "Overflow", timeout=20)
    assert result.stderr_overflow is True
    assert result.logs == [("info", "before")]
    assert [r["broke"] for r in records(out) if "broke" in r] == [True]  # later writes hit a closed pipe
    assert result.output == "ok:overflow"


# -- process control --------------------------------------------------------------------------------

def test_stop_is_sigkill_and_reads_signal_killed(probe_host):
    running = probe_host.start_task("Probe", "Sleep")
    assert running.wait_for_progress(0.5, timeout=10)
    assert running.wait_for_log("sleeping", timeout=10)
    running.kill()
    result = running.wait(timeout=10)
    assert (result.error, result.returncode) == ("signal: killed", -9)
    assert result.progress == [0.5]


def test_timeout_kills_the_plugin(probe_host):
    result = probe_host.run_task("Probe", "Sleep", timeout=0.5)
    assert result.timed_out and result.error == "signal: killed"
    assert result.duration < 5


def test_a_grandchild_holding_stdout_keeps_the_host_waiting(probe_host):
    result = probe_host.run_task("Probe", "Grandchild", timeout=20)
    assert result.output == "ok:grandchild"
    assert result.duration >= 0.5


def test_a_missing_executable_fails_to_start(tmp_path, stash):
    plugins = tmp_path / "plugins"
    make_plugin(plugins, "Broken", "Broken", "exec: [./does-not-exist]\ntasks: [{name: T}]\n")
    result = StashHost(plugins, stash).run_task("Broken", "T")
    assert result.started is False and "error running plugin" in result.error


# -- hooks and mutations -----------------------------------------------------------------------

def hook_yml(triggers: str, mode: str = "hook") -> str:
    return f"""\
name: Hooked
exec: [python, "{{pluginDir}}/probe.py"]
hooks:
  - name: First
    triggeredBy: {triggers}
    defaultArgs: {{mode: {mode}}}
"""


@pytest.fixture
def hook_world(tmp_path, out):
    with FakeStash() as stash:
        plugins = tmp_path / "plugins"
        make_plugin(plugins, "A", "A", hook_yml("[Scene.Update.Post, Scene.Update.Post]"))
        make_plugin(plugins, "B", "B", hook_yml("[Scene.Create.Post, Scene.Update.Post, Scene.Destroy.Post]"))
        make_plugin(plugins, "C", "C", hook_yml("[Scene.Update.Post]"))
        host = StashHost(plugins, stash, env={"PROBE_OUT": str(out)}, disabled={"C"})
        yield stash, host


def test_hooks_run_sequentially_in_walk_then_yaml_order(hook_world, out):
    stash, host = hook_world
    sid = stash.add_scene(title="x")
    results = host.fire_hooks("Scene.Update.Post", sid)
    assert [r.plugin_id for r in results] == ["A", "A", "B"]  # A lists the trigger twice; C is disabled
    recs = sorted(records(out), key=lambda r: r["start"])
    assert [Path(r["argv"][0]).parent.name for r in recs] == ["A", "A", "B"]
    for earlier, later in zip(recs, recs[1:]):
        assert later["start"] >= earlier["end"]
    assert host.fire_hooks("Scene.Merge.Post", sid) == []


def test_scene_update_fires_a_full_scene_update_input(hook_world, out):
    stash, host = hook_world
    sid = stash.add_scene(title="old")
    tag = stash.add_tag("t")
    results = host.scene_update(sid, title="new", tag_ids=[tag])
    assert len(results) == 3 and all(r.error is None for r in results)
    assert stash.scene(sid)["title"] == "new" and stash.scene(sid)["tags"][0]["id"] == str(tag)
    context = stdin_of(out)["args"]["hookContext"]
    assert list(context) == ["id", "type", "input", "inputFields"]
    assert context["id"] == sid and context["type"] == "Scene.Update.Post"
    assert list(context["input"]) == list(SCENE_UPDATE_KEYS) and len(SCENE_UPDATE_KEYS) == 24
    assert context["input"]["tag_ids"] == [str(tag)] and context["input"]["id"] == str(sid)
    assert context["inputFields"] == ["title", "tag_ids", "id"]
    assert stdin_of(out)["args"]["mode"] == "hook"


def test_scene_update_stdin_is_byte_identical_to_stash(tmp_path, out):
    with FakeStash() as stash:
        plugins = tmp_path / "plugins" / "community"
        plugin_dir = make_plugin(plugins, "PlexSync", "PlexSync", hook_yml("[Scene.Update.Post]"))
        host = StashHost(tmp_path / "plugins", stash, env={"PROBE_OUT": str(out)})
        sid = stash.add_scene(title="old")
        t1, t2 = stash.add_tag("a"), stash.add_tag("b")
        host.scene_update(sid, title="New title", tag_ids=[t1, t2], input_fields=["title", "id", "tag_ids"])
        expected = (EXAMPLES / "example_hook_stdin.json").read_text(encoding="utf-8")
        for old, new in [('"Port":9999', f'"Port":{stash.port}'),
                         (example_connection()["SessionCookie"]["Value"], stash.session_cookie),
                         ('"Dir":"/root/.stash",', f'"Dir":"{stash.config_dir}",'),
                         ("/root/.stash/plugins/community/PlexSync", str(plugin_dir)),
                         ('"id":45', f'"id":{sid}'), ('"id":"45"', f'"id":"{sid}"'),
                         ('["21","22"]', f'["{t1}","{t2}"]')]:
            expected = expected.replace(old, new)
        assert records(out)[-1]["stdin"] == expected


def test_bulk_update_fires_one_hook_per_scene(hook_world, out):
    stash, host = hook_world
    a, b = stash.add_scene(title="a"), stash.add_scene(title="b")
    tag = stash.add_tag("t")
    results = host.bulk_scene_update([a, b], tag_ids_add=[tag])
    assert len(results) == 6
    contexts = [stdin_of(out, i)["args"]["hookContext"] for i in range(6)]
    assert [c["id"] for c in contexts] == [a, a, a, b, b, b]
    assert contexts[0]["input"] == {"ids": [str(a), str(b)], "tag_ids": {"ids": [str(tag)], "mode": "ADD"}}
    assert contexts[0]["inputFields"] == ["ids", "tag_ids"]
    assert [t["name"] for t in stash.scene(b)["tags"]] == ["t"]


def test_create_and_destroy_hooks(hook_world, out):
    stash, host = hook_world
    sid, results = host.scene_create(title="new", files=[("/data/videos/clip.mp4", 5)])
    assert [r.plugin_id for r in results] == ["B"]
    raw = records(out)[-1]["stdin"]
    assert f'"hookContext":{{"id":{sid},"type":"Scene.Create.Post","input":null}}' in raw
    host.scene_destroy(sid, delete_file=True)
    context = stdin_of(out)["args"]["hookContext"]
    assert context["type"] == "Scene.Destroy.Post" and "inputFields" not in context
    assert list(context["input"]) == ["id", "delete_file", "delete_generated", "checksum", "oshash", "path"]
    assert context["input"]["path"] == "/data/videos/clip.mp4" and context["input"]["delete_file"] is True
    assert stash.scene(sid) is None


def test_a_hook_that_cannot_start_skips_the_remaining_hooks(tmp_path, stash, out):
    plugins = tmp_path / "plugins"
    make_plugin(plugins, "A", "A", "exec: [./missing]\nhooks: [{name: H, triggeredBy: [Scene.Update.Post]}]\n")
    make_plugin(plugins, "B", "B", hook_yml("[Scene.Update.Post]"))
    results = StashHost(plugins, stash, env={"PROBE_OUT": str(out)}).fire_hooks("Scene.Update.Post", 1)
    assert [(r.plugin_id, r.started) for r in results] == [("A", False)]
    assert records(out) == []


def test_hook_context_omits_a_zero_id_and_empty_input_fields(probe_host, out):
    started = time.monotonic()
    probe_host.fire_hooks("Scene.Update.Post", 0, None, [])
    assert '"hookContext":{"type":"Scene.Update.Post","input":null}' in records(out)[-1]["stdin"]
    assert time.monotonic() - started < 10
