"""What ffmpeg can produce: one row per target container, as data.

Each row says which muxer writes the container, which encoders fill it and
which demuxer name ``ffprobe`` reports for the result (used to check the
output).  Encoder options favour speed over size: a conversion server must
answer within its timeout, and these settings keep a few seconds of video
well under a second.
"""

import collections

from cloudooo.formats import mimetype_for_extension


class Container(collections.namedtuple("Container", (
        "extension",      # lower-case extension, no dot
        "title",
        "muxer",          # ffmpeg -f name for writing
        "demuxer",        # one of the names ffprobe's format_name lists
        "video_codec",    # None: an audio-only container
        "video_args",     # options for the video encoder
        "audio_codec",
        "audio_args",     # options for the audio encoder
        "muxer_args",     # options for the muxer
        "tags_in_streams",  # Ogg keeps tags per stream, not per file
))):
    __slots__ = ()

    @property
    def mimetype(self):
        """From cloudooo.formats, the one table of mimetypes."""
        return mimetype_for_extension(self.extension)


# x264, MPEG-4 and VP9 at 4:2:0 need even frame sizes; scaling down by at
# most one pixel is invisible and avoids failing on odd-sized sources.
EVEN_SIZE = ("-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-pix_fmt", "yuv420p")
X264 = ("-preset", "veryfast", "-crf", "23") + EVEN_SIZE
VP9 = ("-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
       "-crf", "33", "-b:v", "0") + EVEN_SIZE
THEORA = ("-q:v", "6") + EVEN_SIZE
MPEG4 = ("-q:v", "5") + EVEN_SIZE
MPEG2 = ("-q:v", "5") + EVEN_SIZE
WMV2 = ("-q:v", "5") + EVEN_SIZE
AAC = ("-b:a", "128k")
VORBIS = ("-q:a", "4")
OPUS = ("-b:a", "96k")
MP3 = ("-q:a", "4")
# Encoders that cannot take every sample rate get one they can.  Most
# encoders declare their rates and ffmpeg resamples to the nearest one by
# itself; these two do not, or not well enough:
# - mp2 at 192 kbit/s needs an MPEG-1 rate (32, 44.1, 48 kHz): left alone,
#   a 11025 Hz source is resampled to 22050 Hz and the encoder refuses
#   ("bitrate 192 is not allowed in mp2");
# - wmav2 declares no rates and refuses anything above 48 kHz, and more
#   than two channels.
MP2 = ("-b:a", "192k", "-ar", "44100")
WMA2 = ("-b:a", "128k", "-ar", "44100", "-ac", "2")
NONE = ()
FASTSTART = ("-movflags", "+faststart")
# A video container with ffmpeg's H.264 and AAC, the usual pair.
H264_AAC = dict(video_codec="libx264", video_args=X264, audio_codec="aac",
                audio_args=AAC)


def container(extension, title, muxer, demuxer=None, muxer_args=NONE,
              tags_in_streams=False, video_codec=None, video_args=NONE,
              audio_codec=None, audio_args=NONE):
    """One row; the demuxer is the muxer's name unless told."""
    return Container(extension, title, muxer, demuxer or muxer, video_codec,
                     video_args, audio_codec, audio_args, muxer_args,
                     tags_in_streams)


def audio_container(extension, title, muxer, codec, codec_args=NONE,
                    **options):
    return container(extension, title, muxer, audio_codec=codec,
                     audio_args=codec_args, **options)


_MPEG = container("mpeg", "MPEG-2 program stream", "mpeg",
                  video_codec="mpeg2video", video_args=MPEG2,
                  audio_codec="mp2", audio_args=MP2)
_MP4 = container("mp4", "MPEG-4 video (H.264, AAC)", "mp4",
                 muxer_args=FASTSTART, **H264_AAC)
_ASF = container("asf", "Advanced Systems Format video (WMV 8, WMA 2)",
                 "asf", video_codec="wmv2", video_args=WMV2,
                 audio_codec="wmav2", audio_args=WMA2)

CONTAINERS = (
    # video containers
    container("ogv", "Ogg Theora video", "ogg", tags_in_streams=True,
              video_codec="libtheora", video_args=THEORA,
              audio_codec="libvorbis", audio_args=VORBIS),
    container("webm", "WebM video (VP9, Opus)", "webm",
              video_codec="libvpx-vp9", video_args=VP9,
              audio_codec="libopus", audio_args=OPUS),
    _MP4,
    # The same MP4 file under Apple's extension.
    _MP4._replace(extension="m4v", title="MPEG-4 video, .m4v (H.264, AAC)"),
    container("mkv", "Matroska video (H.264, Vorbis)", "matroska",
              video_codec="libx264", video_args=X264,
              audio_codec="libvorbis", audio_args=VORBIS),
    container("mov", "QuickTime video (H.264, AAC)", "mov",
              muxer_args=FASTSTART, **H264_AAC),
    container("3gp", "3GPP video (H.264, AAC)", "3gp", muxer_args=FASTSTART,
              **H264_AAC),
    container("avi", "AVI video (MPEG-4, MP3)", "avi", video_codec="mpeg4",
              video_args=MPEG4, audio_codec="libmp3lame", audio_args=MP3),
    container("flv", "Flash video (H.264, AAC)", "flv", **H264_AAC),
    _MPEG,
    # The same program stream under its short extension.
    _MPEG._replace(extension="mpg", title="MPEG-2 program stream, .mpg"),
    container("ts", "MPEG transport stream (H.264, AAC)", "mpegts",
              **H264_AAC),
    _ASF._replace(extension="wmv",
                  title="Windows Media video (WMV 8, WMA 2)"),
    _ASF,
    # audio containers: a video source loses its pictures (-vn)
    audio_container("ogg", "Ogg Vorbis audio", "ogg", "libvorbis", VORBIS,
                    tags_in_streams=True),
    audio_container("opus", "Opus audio", "opus", "libopus", OPUS,
                    demuxer="ogg", tags_in_streams=True),
    audio_container("mp3", "MP3 audio", "mp3", "libmp3lame", MP3),
    audio_container("m4a", "MPEG-4 audio (AAC)", "ipod", "aac", AAC,
                    demuxer="m4a", muxer_args=FASTSTART),
    audio_container("aac", "AAC audio (ADTS)", "adts", "aac", AAC,
                    demuxer="aac"),
    audio_container("flac", "FLAC lossless audio", "flac", "flac"),
    audio_container("wav", "WAV audio (PCM)", "wav", "pcm_s16le"),
    audio_container("wma", "Windows Media audio (WMA 2)", "asf", "wmav2",
                    WMA2),
)

CONTAINER_BY_EXTENSION = {row.extension: row for row in CONTAINERS}

# Other names clients use for the same containers (source side only: for
# set_metadata, which must rewrite a file in its own container).
ALIASES = {"oga": "ogg"}

# Demuxers ffmpeg may open.  Anything else is refused before it is parsed:
# playlist demuxers (hls, concat) would follow paths and URLs written in the
# document, and exotic demuxers are where parser bugs live.
ALLOWED_DEMUXERS = (
    "ogg", "matroska", "webm", "mov", "mp4", "m4a", "3gp", "avi", "mpeg",
    "mpegts", "mpegvideo", "mp3", "aac", "flac", "wav", "flv", "asf", "aiff",
    "au", "caf", "amr", "ac3", "dts", "truehd", "mjpeg", "h264", "hevc",
    "m4v", "w64", "wv", "ape", "tta", "mpc", "mpc8",
)


def find_container(extension):
    """The row for an extension (normalized; aliases allowed), or None."""
    return CONTAINER_BY_EXTENSION.get(ALIASES.get(extension, extension))


def is_video(container):
    return container.video_codec is not None
