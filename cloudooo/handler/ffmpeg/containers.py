"""What ffmpeg can produce: one row per target container, as data.

Each row says which muxer writes the container, which encoders fill it and
which demuxer name ``ffprobe`` reports for the result (used to check the
output).  Encoder options favour speed over size: a conversion server must
answer within its timeout, and these settings keep a few seconds of video
well under a second.
"""

import collections

Container = collections.namedtuple("Container", (
    "extension",      # lower-case extension, no dot
    "mimetype",
    "title",
    "muxer",          # ffmpeg -f name for writing
    "demuxer",        # one of the names ffprobe's format_name lists
    "video_codec",    # None: an audio-only container
    "video_args",     # options for the video encoder
    "audio_codec",
    "audio_args",     # options for the audio encoder
    "muxer_args",     # options for the muxer
    "tags_in_streams",  # Ogg keeps tags per stream, not per file
))

# x264, MPEG-4 and VP9 at 4:2:0 need even frame sizes; scaling down by at
# most one pixel is invisible and avoids failing on odd-sized sources.
EVEN_SIZE = ("-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-pix_fmt", "yuv420p")
X264 = ("-preset", "veryfast", "-crf", "23") + EVEN_SIZE
VP9 = ("-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
       "-crf", "33", "-b:v", "0") + EVEN_SIZE
THEORA = ("-q:v", "6") + EVEN_SIZE
MPEG4 = ("-q:v", "5") + EVEN_SIZE
MPEG2 = ("-q:v", "5") + EVEN_SIZE
AAC = ("-b:a", "128k")
VORBIS = ("-q:a", "4")
OPUS = ("-b:a", "96k")
MP3 = ("-q:a", "4")
MP2 = ("-b:a", "192k")
NONE = ()

CONTAINERS = (
    # video containers
    Container("ogv", "video/ogg", "Ogg Theora video", "ogg", "ogg",
              "libtheora", THEORA, "libvorbis", VORBIS, NONE, True),
    Container("webm", "video/webm", "WebM video (VP9, Opus)", "webm", "webm",
              "libvpx-vp9", VP9, "libopus", OPUS, NONE, False),
    Container("mp4", "video/mp4", "MPEG-4 video (H.264, AAC)", "mp4", "mp4",
              "libx264", X264, "aac", AAC, ("-movflags", "+faststart"),
              False),
    Container("mkv", "video/x-matroska", "Matroska video (H.264, Vorbis)",
              "matroska", "matroska", "libx264", X264, "libvorbis", VORBIS,
              NONE, False),
    Container("mov", "video/quicktime", "QuickTime video (H.264, AAC)",
              "mov", "mov", "libx264", X264, "aac", AAC,
              ("-movflags", "+faststart"), False),
    Container("avi", "video/x-msvideo", "AVI video (MPEG-4, MP3)", "avi",
              "avi", "mpeg4", MPEG4, "libmp3lame", MP3, NONE, False),
    Container("mpeg", "video/mpeg", "MPEG-2 program stream", "mpeg", "mpeg",
              "mpeg2video", MPEG2, "mp2", MP2, NONE, False),
    # audio containers: a video source loses its pictures (-vn)
    Container("ogg", "audio/ogg", "Ogg Vorbis audio", "ogg", "ogg",
              None, NONE, "libvorbis", VORBIS, NONE, True),
    Container("opus", "audio/opus", "Opus audio", "opus", "ogg",
              None, NONE, "libopus", OPUS, NONE, True),
    Container("mp3", "audio/mpeg", "MP3 audio", "mp3", "mp3",
              None, NONE, "libmp3lame", MP3, NONE, False),
    Container("m4a", "audio/mp4", "MPEG-4 audio (AAC)", "ipod", "m4a",
              None, NONE, "aac", AAC, ("-movflags", "+faststart"), False),
    Container("flac", "audio/flac", "FLAC lossless audio", "flac", "flac",
              None, NONE, "flac", NONE, NONE, False),
    Container("wav", "audio/x-wav", "WAV audio (PCM)", "wav", "wav",
              None, NONE, "pcm_s16le", NONE, NONE, False),
)

CONTAINER_BY_EXTENSION = {row.extension: row for row in CONTAINERS}

# Other names clients use for the same containers (source side only: for
# set_metadata, which must rewrite a file in its own container).
ALIASES = {"oga": "ogg", "mpg": "mpeg", "m4v": "mp4"}

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
    """The row for an extension (aliases allowed), or None."""
    extension = (extension or "").lower().lstrip(".")
    return CONTAINER_BY_EXTENSION.get(ALIASES.get(extension, extension))


def is_video(container):
    return container.video_codec is not None
