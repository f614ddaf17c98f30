import pytest

from plexsync.paths import PathMapper, basename, dirname, file_key, within
from plexsync.settings import PathRule


@pytest.mark.parametrize("rules, stash_path, plex_path", [
    ([("/data/videos", "/media/videos")], "/data/videos/a/b.mp4", "/media/videos/a/b.mp4"),
    ([("/data", "/m"), ("/data/videos", "/v")], "/data/videos/x.mp4", "/v/x.mp4"),
    ([("/data/videos", "/media")], "/data/videos2/x.mp4", "/data/videos2/x.mp4"),
    ([("D:\\Videos", "/mnt/videos")], "d:\\videos\\Sub\\x.mp4", "/mnt/videos/Sub/x.mp4"),
    ([("/data", "E:\\Media")], "/data/sub/x.mp4", "E:\\Media\\sub\\x.mp4"),
    ([("\\\\nas\\share", "/share")], "\\\\NAS\\Share\\x.mkv", "/share/x.mkv"),
    ([], "/same/path.mp4", "/same/path.mp4"),
])
def test_path_map_longest_prefix_wins_across_styles(rules, stash_path, plex_path):
    mapper = PathMapper([PathRule(s, p) for s, p in rules])
    assert mapper.to_plex(stash_path) == plex_path


def test_windows_paths_compare_case_insensitively_posix_paths_do_not():
    assert file_key("C:\\Videos\\A.mp4") == file_key("c:/videos/a.mp4")
    assert file_key("/Videos/A.mp4") != file_key("/videos/a.mp4")


def test_path_helpers():
    assert basename("C:\\x\\y.mp4") == "y.mp4" and basename("/x/y.mp4") == "y.mp4"
    assert dirname("/x/y/z.mp4") == "/x/y" and dirname("C:\\x\\z.mp4") == "C:\\x"
    assert within("/media/movies/a.mp4", ["/media/movies"]) and not within("/media/moviesX/a.mp4", ["/media/movies"])
