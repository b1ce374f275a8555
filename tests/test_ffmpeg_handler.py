"""FFmpegHandler against the real ffmpeg and ffprobe."""

import subprocess
import xmlrpc.client

import pytest

from cloudooo.errors import (
    ConversionError, ConversionTimeout, InvalidRequest, UnsupportedFormat)
from cloudooo.handler.ffmpeg.containers import CONTAINERS, find_container
from cloudooo.handler.ffmpeg.handler import COMMON_INPUT_ARGS, FFmpegHandler
from tests.media_fixtures import (
    FIXTURE_TITLE, corpus_bytes, empty_wav, ffprobe, ffprobe_json, leftovers,
    make_settings, odd_sized_video, ogg_audio, ogg_audio_96k_stereo,
    ogv_flac_mono_11025, ogv_video)

VIDEO_TARGETS = [row for row in CONTAINERS if row.video_codec]
AUDIO_TARGETS = [row for row in CONTAINERS if not row.video_codec]
# Encoder name -> codec name ffprobe reports.
CODEC_NAMES = {"libtheora": "theora", "libvorbis": "vorbis",
               "libvpx-vp9": "vp9", "libopus": "opus", "libx264": "h264",
               "libmp3lame": "mp3"}
# What the first bytes of each container must be, checked beside ffprobe's
# opinion: (offset, bytes).
MAGIC = {
    "avi": [(0, b"RIFF"), (8, b"AVI ")],
    "wav": [(0, b"RIFF"), (8, b"WAVE")],
    "flv": [(0, b"FLV")],
    "mpeg": [(0, b"\x00\x00\x01\xba")],  # MPEG program stream pack header
    "mpg": [(0, b"\x00\x00\x01\xba")],
    "mkv": [(0, b"\x1a\x45\xdf\xa3")],   # EBML
    "webm": [(0, b"\x1a\x45\xdf\xa3")],
    "mp4": [(4, b"ftyp")],
    "m4v": [(4, b"ftyp")],
    "mov": [(4, b"ftyp")],
    "3gp": [(4, b"ftyp3gp")],
    "m4a": [(4, b"ftyp")],
    "ts": [(0, b"\x47"), (188, b"\x47")],  # one sync byte per 188-byte packet
    "asf": [(0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")],  # ASF header GUID
    "wmv": [(0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")],
    "wma": [(0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")],
    "ogv": [(0, b"OggS")],
    "ogg": [(0, b"OggS")],
    "opus": [(0, b"OggS")],
    "flac": [(0, b"fLaC")],
}


def codec(encoder):
    return CODEC_NAMES.get(encoder, encoder)


@pytest.fixture
def handler(settings):
    yield FFmpegHandler(settings)
    assert leftovers(settings) == [], "temporary files left behind"


def assert_magic(extension, output):
    for offset, magic in MAGIC.get(extension, ()):
        assert output[offset:offset + len(magic)] == magic, (
            extension, output[:16])


# The source is Theora + FLAC, mono at 11025 Hz: every target must cope with
# a rate its encoder may not support (mp2, wmav2).
@pytest.mark.parametrize("target", VIDEO_TARGETS,
                         ids=[row.extension for row in VIDEO_TARGETS])
def test_video_to_video_container(handler, target):
    output = handler.convert(ogv_flac_mono_11025(), "ogv", target.extension)
    names, streams = ffprobe(output)
    assert target.demuxer in names
    assert streams == ["video:" + codec(target.video_codec),
                       "audio:" + codec(target.audio_codec)]
    assert_magic(target.extension, output)


@pytest.mark.parametrize("target", AUDIO_TARGETS,
                         ids=[row.extension for row in AUDIO_TARGETS])
def test_video_to_audio_container_drops_video(handler, target):
    output = handler.convert(ogv_flac_mono_11025(), "ogv", target.extension)
    names, streams = ffprobe(output)
    assert target.demuxer in names
    assert streams == ["audio:" + codec(target.audio_codec)]
    assert_magic(target.extension, output)


@pytest.mark.parametrize("target", AUDIO_TARGETS,
                         ids=[row.extension for row in AUDIO_TARGETS])
def test_audio_to_audio_container(handler, target):
    # 96 kHz stereo: above what mp2 and wmav2 accept.
    output = handler.convert(ogg_audio_96k_stereo(), "ogg", target.extension)
    names, streams = ffprobe(output)
    assert target.demuxer in names
    assert streams == ["audio:" + codec(target.audio_codec)]
    assert_magic(target.extension, output)


def test_mono_11025_hz_video_to_mpeg_is_resampled_for_mp2(handler):
    # Without -ar 44100, ffmpeg picks 22050 Hz for mp2, where 192 kbit/s is
    # not allowed ("bitrate 192 is not allowed in mp2").
    output = handler.convert(ogv_flac_mono_11025(), "ogv", "mpeg")
    probe = ffprobe_json(output)
    assert "mpeg" in probe["format"]["format_name"].split(",")
    audio = [stream for stream in probe["streams"]
             if stream["codec_type"] == "audio"]
    assert [(stream["codec_name"], stream["sample_rate"])
            for stream in audio] == [("mp2", "44100")]


def test_every_listed_extension_is_a_target():
    # Listed => convertible: the parametrized conversions above run over
    # CONTAINERS, so the lists must not offer anything else.
    handler = FFmpegHandler(None)
    video_list = [extension for extension, _ in
                  handler.allowed_extensions("ogv")]
    assert sorted(video_list) == sorted(row.extension for row in CONTAINERS)
    assert len(set(video_list)) == len(video_list)
    audio_list = [extension for extension, _ in
                  handler.allowed_extensions("ogg")]
    assert sorted(audio_list) == sorted(row.extension
                                        for row in AUDIO_TARGETS)
    for extension in ("avi", "flv", "mkv", "mp4", "mpeg", "webm", "mpg",
                      "m4v", "3gp", "wmv", "asf", "ts"):
        assert extension in video_list, extension
    for extension in ("mp3", "wav", "aac", "wma"):
        assert extension in audio_list, extension


def test_audio_source(handler):
    names, streams = ffprobe(handler.convert(ogg_audio(), "ogg", "mp3"))
    assert names == ["mp3"]
    assert streams == ["audio:mp3"]


def test_audio_source_into_video_container_keeps_audio_only(handler):
    names, streams = ffprobe(handler.convert(ogg_audio(), "ogg", "webm"))
    assert "webm" in names
    assert streams == ["audio:opus"]


def test_odd_frame_size_is_made_even(handler):
    output = handler.convert(odd_sized_video(), "mkv", "mp4")
    metadata = handler.get_metadata(output, "mp4")
    assert (metadata["Width"], metadata["Height"]) == (160, 120)


def test_get_metadata(handler):
    metadata = handler.get_metadata(ogv_video(), "ogv")
    assert metadata["Title"] == FIXTURE_TITLE
    assert metadata["MIMEType"] == "video/ogg"
    assert metadata["Width"] == 160 and metadata["Height"] == 120
    assert metadata["Video_codec"] == "theora"
    assert metadata["Audio_codec"] == "vorbis"
    assert metadata["Duration"] == pytest.approx(1.0, abs=0.2)
    assert isinstance(metadata["Bit_rate"], int)
    assert "Data" not in metadata
    # Must survive the XML-RPC marshaller: no None, no 64-bit integers.
    xmlrpc.client.dumps((metadata,), allow_none=False)


def test_get_metadata_base_document(handler):
    data = ogv_video()
    assert handler.get_metadata(data, "ogv", base_document=True)["Data"] \
        == data


def test_set_metadata_round_trip_without_reencoding(handler):
    data = ogv_video()
    metadata = handler.get_metadata(data, "ogv")
    metadata.update(Title="New title", Artist=["Ann", "Bob"], Duration=99)
    tagged = handler.set_metadata(data, "ogv", metadata)
    assert ffprobe(tagged) == ffprobe(data)
    found = handler.get_metadata(tagged, "ogv")
    assert found["Title"] == "New title"
    assert found["Artist"] == "Ann, Bob"
    assert found["Duration"] == pytest.approx(1.0, abs=0.2)


def test_set_metadata_mp4(handler):
    mp4 = handler.convert(ogv_video(), "ogv", "mp4")
    tagged = handler.set_metadata(mp4, "mp4", {"Title": "In MP4"})
    assert handler.get_metadata(tagged, "mp4")["Title"] == "In MP4"
    assert ffprobe(tagged)[1] == ["video:h264", "audio:aac"]


@pytest.mark.parametrize("extension", ["mpeg", "ts", "aac", "3gp"])
def test_set_metadata_refuses_a_container_that_drops_tags(handler,
                                                          extension):
    if find_container(extension).video_codec:
        data = handler.convert(ogv_video(), "ogv", extension)
    else:
        data = handler.convert(ogg_audio(), "ogg", extension)
    with pytest.raises(UnsupportedFormat,
                       match="cannot hold these metadata tags.*: title$"):
        handler.set_metadata(data, extension, {"Title": "Lost"})


def test_set_metadata_refuses_bad_key(handler):
    with pytest.raises(InvalidRequest):
        handler.set_metadata(ogv_video(), "ogv", {"a=b": "c"})


def test_set_metadata_unknown_container(handler):
    with pytest.raises(UnsupportedFormat):
        handler.set_metadata(ogv_video(), "xyz", {"Title": "x"})


def test_impossible_target(handler):
    with pytest.raises(UnsupportedFormat, match="xyz"):
        handler.convert(ogv_video(), "ogv", "xyz")


@pytest.mark.parametrize("call", ["convert", "get_metadata", "set_metadata"])
def test_not_a_video(handler, settings, call):
    with pytest.raises(ConversionError) as raised:
        run(handler, call, b"no video in here\n" * 100, "ogv")
    message = str(raised.value)
    assert "Invalid data found when processing input" in message
    assert settings.tmp_path not in message


def test_input_without_samples_is_not_a_conversion(handler):
    # ffmpeg exits 0 here, leaving an mp3 that ffprobe cannot read.
    with pytest.raises(ConversionError, match="nothing was encoded"):
        handler.convert(empty_wav(), "wav", "mp3")


def test_truncated_video(handler):
    data = ogv_video()
    with pytest.raises(ConversionError):
        handler.convert(data[:len(data) // 2], "ogv", "mp4")


PLAYLIST = (b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\n"
            b"file:///etc/passwd\n#EXT-X-ENDLIST\n")


def test_playlist_disguised_as_video_is_not_followed(handler):
    with pytest.raises(ConversionError):
        handler.convert(PLAYLIST, "ogv", "mp4")


def test_playlist_demuxer_is_refused_by_the_whitelist(tmp_path):
    # run_command keeps only the last stderr line ("Invalid argument"), so
    # the reason is checked on ffprobe itself, with the handler's options.
    document = tmp_path / "playlist.ogv"
    document.write_bytes(PLAYLIST)
    result = subprocess.run(["ffprobe", "-v", "error"]
                            + list(COMMON_INPUT_ARGS) + [str(document)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "[hls @" in result.stderr
    assert "Format not on whitelist" in result.stderr


def test_timeout_kills_ffmpeg(tmp_path):
    settings = make_settings(tmp_path, ffmpeg_timeout=0.001)
    with pytest.raises(ConversionTimeout):
        FFmpegHandler(settings).convert(ogv_video(), "ogv", "webm")
    assert leftovers(settings) == []


def test_allowed_formats_of_video(handler):
    pairs = handler.allowed_conversion_formats("video/ogg")
    assert len(pairs) == len(dict(pairs)), "one pair per mimetype"
    formats = dict(pairs)
    assert formats["video/mpeg"] == "MPEG-2 program stream"
    assert formats["video/mp4"] == "MPEG-4 video (H.264, AAC)"
    assert formats["video/webm"] == "WebM video (VP9, Opus)"
    assert "audio/mpeg" in formats and "audio/flac" in formats
    extensions = dict(handler.allowed_extensions("ogv"))
    assert {"webm", "mp4", "mp3", "wav"} <= set(extensions)


def test_allowed_formats_of_audio_are_audio_only(handler):
    mimetypes = [m for m, _ in handler.allowed_conversion_formats(
        "audio/ogg")]
    assert "audio/mpeg" in mimetypes
    assert not [m for m in mimetypes if m.startswith("video/")]
    assert "mp4" not in dict(handler.allowed_extensions("ogg"))
    assert handler.allowed_conversion_formats("image/png") == []


def test_container_table_agrees_with_formats_and_ffmpeg():
    encoders = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"],
                              capture_output=True, text=True,
                              check=True).stdout.split()
    for row in CONTAINERS:
        # Derived from cloudooo.formats: every container must be in it.
        assert row.mimetype.split("/")[0] in ("audio", "video"), row
        for encoder in (row.video_codec, row.audio_codec):
            assert encoder is None or encoder in encoders, encoder
    assert find_container("mpg").muxer == "mpeg"
    assert find_container("oga").extension == "ogg"


# Corpus documents: real files nobody here made.

def test_corpus_ogv_metadata(handler):
    metadata = handler.get_metadata(corpus_bytes("test.ogv"), "ogv")
    assert metadata["Encoder"] == "Lavf52.64.2"
    assert (metadata["Width"], metadata["Height"]) == (640, 352)
    assert metadata["Audio_codec"] == "flac"


def test_corpus_ogv_to_webm(handler):
    names, streams = ffprobe(handler.convert(corpus_bytes("test.ogv"),
                                             "ogv", "webm"))
    assert "webm" in names
    assert streams == ["video:vp9", "audio:opus"]


def test_corpus_ogg_to_wav(handler):
    names, streams = ffprobe(handler.convert(corpus_bytes("test.ogg"),
                                             "ogg", "wav"))
    assert names == ["wav"]
    assert streams == ["audio:pcm_s16le"]


def test_corpus_ogv_set_metadata(handler):
    data = corpus_bytes("test.ogv")
    tagged = handler.set_metadata(data, "ogv", {"Title": "Corpus title"})
    assert handler.get_metadata(tagged, "ogv")["Title"] == "Corpus title"
    assert ffprobe(tagged)[1] == ["video:theora", "audio:flac"]


def run(handler, call, data, source_format):
    if call == "convert":
        return handler.convert(data, source_format, "mp4")
    if call == "get_metadata":
        return handler.get_metadata(data, source_format)
    return handler.set_metadata(data, source_format, {"Title": "x"})
