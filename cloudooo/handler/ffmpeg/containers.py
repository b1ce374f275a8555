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

_MPEG = Container("mpeg", "video/mpeg", "MPEG-2 program stream", "mpeg",
                  "mpeg", "mpeg2video", MPEG2, "mp2", MP2, NONE, False)
_MP4 = Container("mp4", "video/mp4", "MPEG-4 video (H.264, AAC)", "mp4",
                 "mp4", "libx264", X264, "aac", AAC, FASTSTART, False)
_ASF = Container("asf", "video/x-ms-asf",
                 "Advanced Systems Format video (WMV 8, WMA 2)", "asf",
                 "asf", "wmv2", WMV2, "wmav2", WMA2, NONE, False)

CONTAINERS = (
    # video containers
    Container("ogv", "video/ogg", "Ogg Theora video", "ogg", "ogg",
              "libtheora", THEORA, "libvorbis", VORBIS, NONE, True),
    Container("webm", "video/webm", "WebM video (VP9, Opus)", "webm", "webm",
              "libvpx-vp9", VP9, "libopus", OPUS, NONE, False),
    _MP4,
    # The same MP4 file under Apple's extension.
    _MP4._replace(extension="m4v", title="MPEG-4 video, .m4v (H.264, AAC)"),
    Container("mkv", "video/x-matroska", "Matroska video (H.264, Vorbis)",
              "matroska", "matroska", "libx264", X264, "libvorbis", VORBIS,
              NONE, False),
    Container("mov", "video/quicktime", "QuickTime video (H.264, AAC)",
              "mov", "mov", "libx264", X264, "aac", AAC, FASTSTART, False),
    Container("3gp", "video/3gpp", "3GPP video (H.264, AAC)", "3gp", "3gp",
              "libx264", X264, "aac", AAC, FASTSTART, False),
    Container("avi", "video/x-msvideo", "AVI video (MPEG-4, MP3)", "avi",
              "avi", "mpeg4", MPEG4, "libmp3lame", MP3, NONE, False),
    Container("flv", "video/x-flv", "Flash video (H.264, AAC)", "flv", "flv",
              "libx264", X264, "aac", AAC, NONE, False),
    _MPEG,
    # The same program stream under its short extension.
    _MPEG._replace(extension="mpg", title="MPEG-2 program stream, .mpg"),
    Container("ts", "video/mp2t", "MPEG transport stream (H.264, AAC)",
              "mpegts", "mpegts", "libx264", X264, "aac", AAC, NONE, False),
    _ASF._replace(extension="wmv", mimetype="video/x-ms-wmv",
                  title="Windows Media video (WMV 8, WMA 2)"),
    _ASF,
    # audio containers: a video source loses its pictures (-vn)
    Container("ogg", "audio/ogg", "Ogg Vorbis audio", "ogg", "ogg",
              None, NONE, "libvorbis", VORBIS, NONE, True),
    Container("opus", "audio/opus", "Opus audio", "opus", "ogg",
              None, NONE, "libopus", OPUS, NONE, True),
    Container("mp3", "audio/mpeg", "MP3 audio", "mp3", "mp3",
              None, NONE, "libmp3lame", MP3, NONE, False),
    Container("m4a", "audio/mp4", "MPEG-4 audio (AAC)", "ipod", "m4a",
              None, NONE, "aac", AAC, FASTSTART, False),
    Container("aac", "audio/aac", "AAC audio (ADTS)", "adts", "aac",
              None, NONE, "aac", AAC, NONE, False),
    Container("flac", "audio/flac", "FLAC lossless audio", "flac", "flac",
              None, NONE, "flac", NONE, NONE, False),
    Container("wav", "audio/x-wav", "WAV audio (PCM)", "wav", "wav",
              None, NONE, "pcm_s16le", NONE, NONE, False),
    Container("wma", "audio/x-ms-wma", "Windows Media audio (WMA 2)", "asf",
              "asf", None, NONE, "wmav2", WMA2, NONE, False),
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
    """The row for an extension (aliases allowed), or None."""
    extension = (extension or "").lower().lstrip(".")
    return CONTAINER_BY_EXTENSION.get(ALIASES.get(extension, extension))


def is_video(container):
    return container.video_codec is not None
