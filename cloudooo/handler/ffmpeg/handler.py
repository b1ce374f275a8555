"""Audio and video conversion, metadata reading and tagging with ffmpeg.

Every run goes through the handler's workspace (``handler/workspace.py``:
a private folder, the sandbox) with ``settings.ffmpeg_timeout``
(``settings.tool_timeout`` for ffprobe).
Inputs are opened only by the demuxers in ``containers.ALLOWED_DEMUXERS``.

Metadata keys follow upstream cloudooo: ffprobe's names with
``str.capitalize()`` applied (``encoder`` -> ``Encoder``, ``bit_rate`` ->
``Bit_rate``).  ``zip`` and ``refresh`` are ignored: a media conversion
yields exactly one file and has nothing to refresh.
"""

import json

from cloudooo.errors import ConversionError, InvalidRequest, UnsupportedFormat
from cloudooo.formats import mimetype_for_extension
from cloudooo.handler.base import Handler
from cloudooo.handler.ffmpeg.containers import (
    ALLOWED_DEMUXERS, CONTAINERS, find_container, is_video)

COMMON_INPUT_ARGS = ("-format_whitelist", ",".join(ALLOWED_DEMUXERS))
# Warnings kept in stderr: NOTHING_ENCODED is one.
FFMPEG = ("ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel",
          "warning") + COMMON_INPUT_ARGS
FFPROBE = ("ffprobe", "-v", "error", "-hide_banner") + COMMON_INPUT_ARGS

# Keys computed from ffprobe's numbers rather than read from tags: they
# describe the file and cannot be written back by set_metadata.
COMPUTED_KEYS = frozenset((
    "Duration", "Bit_rate", "Format_name", "Nb_streams",
    "Video_codec", "Width", "Height", "Frame_rate", "Audio_codec",
    "Sample_rate", "Channels", "MIMEType", "Data"))

# What flatten_probe reads from the first stream of each kind: its codec's
# key, then (key, ffprobe's field, type) for its numbers.
STREAM_FIELDS = (
    ("video", "Video_codec", (("Width", "width", int),
                              ("Height", "height", int))),
    ("audio", "Audio_codec", (("Sample_rate", "sample_rate", int),
                              ("Channels", "channels", int))),
)

# ffmpeg exits 0 when a damaged input yields no frame at all; this warning
# is the only sign, and an empty container is not a conversion.
NOTHING_ENCODED = "Output file is empty, nothing was encoded"


class FFmpegHandler(Handler):
    """Converts between the containers of ``containers.CONTAINERS``."""

    name = "ffmpeg"
    # Documents come and go as files: a big video never sits in memory.
    accepts_spooled_documents = True
    required_programs = ("ffmpeg", "ffprobe")
    install_hint = "ffmpeg"

    def convert(self, data, source_format, destination_format, zip=False,
                refresh=False, conversion_kw=None):
        target = find_container(destination_format)
        if target is None:
            raise UnsupportedFormat(
                "ffmpeg cannot produce %r; it produces: %s"
                % (destination_format, ", ".join(
                    row.extension for row in CONTAINERS)))
        with self.workspace() as work:
            source = work.write_input(data, source_format)
            output = work.file("output." + target.extension)
            argv = list(FFMPEG) + ["-i", "file:" + source]
            argv += encoding_args(target)
            argv += ["-f", target.muxer, "file:" + output]
            result = work.run(argv, self.settings.ffmpeg_timeout)
            stderr = result.stderr.decode("utf-8", "replace")
            if NOTHING_ENCODED in stderr:
                raise ConversionError(
                    "ffmpeg decoded nothing from the %s document: %s"
                    % (source_format, NOTHING_ENCODED))
            self._check_output(work, output, target)
            return work.output(output)

    def get_metadata(self, data, source_format, base_document=False):
        with self.workspace() as work:
            source = work.write_input(data, source_format)
            metadata = flatten_probe(self._probe(work, source))
            # The document itself is its base document.
            base = work.output(source) if base_document else None
        metadata["MIMEType"] = (mimetype_for_extension(source_format)
                                or "application/octet-stream")
        if base_document:
            metadata["Data"] = base
        return metadata

    def set_metadata(self, data, source_format, metadata):
        """Write ``metadata`` as container tags, copying the streams.

        Keys are written lower-cased (ffmpeg's convention, read back
        capitalised); an empty value removes the tag.  Computed keys
        (``Duration``, ``Width``, ``MIMEType``...) are skipped, so the dict
        from get_metadata can be sent back edited.  A container that keeps
        none of the tags asked for (MPEG-PS, MPEG-TS, ADTS, 3GP) is refused
        rather than returned untagged.
        """
        container = find_container(source_format)
        if container is None:
            raise UnsupportedFormat(
                "ffmpeg cannot write tags into %r documents" % source_format)
        tags = tag_arguments(metadata, container)
        with self.workspace() as work:
            source = work.write_input(data, source_format)
            output = work.file("output." + container.extension)
            argv = list(FFMPEG) + ["-i", "file:" + source, "-map", "0",
                                   "-c", "copy", "-map_metadata", "0"]
            argv += tags
            argv += ["-f", container.muxer, "file:" + output]
            work.run(argv, self.settings.ffmpeg_timeout)
            probe = self._check_output(work, output, container)
            wanted = written_tag_keys(metadata)
            if wanted and not wanted & tag_keys(probe):
                raise UnsupportedFormat(
                    "%s documents cannot hold these metadata tags (ffmpeg's "
                    "%s muxer drops them): %s" % (
                        container.extension, container.muxer,
                        ", ".join(sorted(wanted))))
            return work.output(output)

    def allowed_conversion_formats(self, source_mimetype):
        # One pair per mimetype: a second extension of the same file type
        # (mpg, m4v) adds nothing a client could ask for by mimetype.
        pairs = {}
        for row in targets_for_mimetype(source_mimetype):
            pairs.setdefault(row.mimetype, row.title)
        return list(pairs.items())

    def allowed_extensions(self, source=None, document_type=None):
        return [(row.extension, row.title) for row in targets_for_mimetype(
            mimetype_for_extension(source or ""))]

    def _probe(self, work, filename):
        argv = list(FFPROBE) + ["-print_format", "json", "-show_format",
                                "-show_streams", "file:" + filename]
        result = work.run(argv)
        try:
            return json.loads(result.stdout.decode("utf-8", "replace"))
        except ValueError:
            raise ConversionError("ffprobe gave unreadable output")

    def _check_output(self, work, output, container):
        """Refuse an empty or mislabelled result rather than return it;
        returns ffprobe's view of it."""
        work.check_output(output, "ffmpeg", container.extension + " document")
        probe = self._probe(work, output)
        names = probe.get("format", {}).get("format_name", "").split(",")
        if container.demuxer not in names:
            raise ConversionError(
                "ffmpeg's output is %r, not %s"
                % (",".join(names), container.extension))
        if not probe.get("streams"):
            raise ConversionError("ffmpeg's %s output holds no stream"
                                  % container.extension)
        return probe


def encoding_args(target):
    """Stream selection and encoder options for one target container."""
    # Only the first audio and video streams: subtitle, data and attachment
    # streams rarely fit the target container and would fail the muxer.
    args = []
    if is_video(target):
        args += ["-map", "0:v:0?", "-c:v", target.video_codec]
        args += target.video_args
    else:
        args += ["-vn"]
    args += ["-map", "0:a:0?", "-c:a", target.audio_codec]
    args += target.audio_args
    args += ["-sn", "-dn"]
    args += target.muxer_args
    return args


def tag_arguments(metadata, container):
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata must be a dict")
    args = []
    for key, value in sorted(metadata.items()):
        if key in COMPUTED_KEYS:
            continue
        key = str(key).strip().lower()
        if not key or "=" in key or any(ord(c) < 32 for c in key):
            raise InvalidRequest("invalid metadata key %r" % key)
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(item) for item in value)
        elif isinstance(value, dict):
            raise InvalidRequest("metadata %r: a dict cannot be a tag"
                                 % key)
        tag = "%s=%s" % (key, value)
        args += ["-metadata", tag]
        if container.tags_in_streams:
            # The Ogg muxer lets a stream's old tag win over the new
            # file-wide one, so the streams are tagged as well.
            args += ["-metadata:s", tag]
    return args


def written_tag_keys(metadata):
    """The tag names set_metadata writes with a value (not removals)."""
    return {str(key).strip().lower() for key, value in metadata.items()
            if key not in COMPUTED_KEYS and value not in ("", None, [], ())}


def tag_keys(probe):
    """Every tag name ffprobe found, in the container or a stream."""
    keys = set((probe.get("format") or {}).get("tags") or {})
    for stream in probe.get("streams") or []:
        keys.update(stream.get("tags") or {})
    return {key.lower() for key in keys}


def targets_for_mimetype(mimetype):
    """Video sources may go to any container; audio ones to audio only."""
    if mimetype.startswith("video/") or mimetype == "application/ogg":
        return list(CONTAINERS)
    if mimetype.startswith("audio/"):
        return [row for row in CONTAINERS if not is_video(row)]
    return []


def flatten_probe(probe):
    """ffprobe's JSON as one flat dict of XML-RPC-safe values.

    Tags come first from the streams (the first stream holding a key wins),
    then from the container, which overrides them; computed values override
    tags of the same name (Matroska stores a DURATION tag per stream).
    """
    metadata = {}
    streams = probe.get("streams") or []
    for stream in streams:
        for key, value in (stream.get("tags") or {}).items():
            metadata.setdefault(key.capitalize(), str(value))
    container = probe.get("format") or {}
    for key, value in (container.get("tags") or {}).items():
        metadata[key.capitalize()] = str(value)

    put_number(metadata, "Duration", container.get("duration"), float)
    put_number(metadata, "Bit_rate", container.get("bit_rate"), int)
    put_number(metadata, "Nb_streams", container.get("nb_streams"), int)
    if container.get("format_name"):
        metadata["Format_name"] = str(container["format_name"])
    for codec_type, codec_key, fields in STREAM_FIELDS:
        stream = first_stream(streams, codec_type)
        if not stream:
            continue
        metadata[codec_key] = str(stream.get("codec_name", ""))
        for key, field, kind in fields:
            put_number(metadata, key, stream.get(field), kind)
        if codec_type == "video" and \
                stream.get("avg_frame_rate") not in (None, "0/0"):
            metadata["Frame_rate"] = str(stream["avg_frame_rate"])
    return metadata


def first_stream(streams, codec_type):
    for stream in streams:
        # A cover picture in an audio file is a "video" stream flagged
        # attached_pic; it does not make the file a video.
        if stream.get("codec_type") == codec_type and not (
                stream.get("disposition") or {}).get("attached_pic"):
            return stream
    return None


def put_number(metadata, key, value, kind):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return
    # XML-RPC integers are 32-bit; a larger one would break the response.
    if kind is int and not -2 ** 31 <= number < 2 ** 31:
        number = float(number)
    metadata[key] = number

