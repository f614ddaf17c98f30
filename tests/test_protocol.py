import json

import pytest

from plexsync.errors import BadInput
from plexsync.protocol import ServerConnection, encode_result, parse_input



def test_parse_input_reads_connection_and_args():
    data = json.dumps({"server_connection": {"Scheme": "http", "Host": "0.0.0.0", "Port": 9999,
                                             "SessionCookie": {"Name": "session", "Value": "abc"},
                                             "Dir": "/root/.stash", "PluginDir": "/p"},
                       "args": {"mode": "status"}}).encode()
    plugin_input = parse_input(data)
    assert plugin_input.connection.base_url == "http://127.0.0.1:9999"
    assert plugin_input.connection.session_cookie == "abc"
    assert plugin_input.connection.plugin_dir == "/p"
    assert plugin_input.mode == "status"


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object, got list"),
    (b'{"server_connection": {}}', "no 'args' object"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"server_connection": {"Port": "x"}, "args": {}}', "Port must be a number"),
])
def test_bad_input_is_one_clear_line(data, message):
    with pytest.raises(BadInput) as caught:
        parse_input(data)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("host, expected", [
    ("0.0.0.0", "http://127.0.0.1:9999"), ("", "http://127.0.0.1:9999"), ("::", "http://[::1]:9999"),
    ("fe80::1", "http://[fe80::1]:9999"), ("stash.lan", "http://stash.lan:9999"),
])
def test_bind_address_is_mapped_to_a_connectable_host(host, expected):
    assert ServerConnection(host=host).base_url == expected


def test_result_is_one_ascii_json_object():
    text = encode_result(output={"title": "Ünïcode \u202e"})
    assert json.loads(text) == {"output": {"title": "Ünïcode \u202e"}}
    assert text.isascii()
    assert json.loads(encode_result(error="boom")) == {"error": "boom"}
