"""Audio and video conversion, metadata reading and tagging with ffmpeg.

Every run goes through ``run_command`` with ``settings.ffmpeg_timeout``
(``settings.tool_timeout`` for ffprobe), inside a private temporary directory
under ``settings.tmp_path`` that is removed afterwards, failures included.
Inputs are opened only by the demuxers in ``containers.ALLOWED_DEMUXERS``.

Metadata keys follow upstream cloudooo: ffprobe's names with
``str.capitalize()`` applied (``encoder`` -> ``Encoder``, ``bit_rate`` ->
``Bit_rate``).  ``zip`` and ``refresh`` are ignored: a media conversion
yields exactly one file and has nothing to refresh.
"""

import json
import logging
import os
import re

from cloudooo.errors import ConversionError, InvalidRequest, UnsupportedFormat
from cloudooo.formats import mimetype_for_extension
from cloudooo.handler.base import Handler
from cloudooo.handler.ffmpeg.containers import (
    ALLOWED_DEMUXERS, CONTAINERS, find_container, is_video)
from cloudooo.util import child_environment, temporary_directory

logger = logging.getLogger(__name__)

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

# ffmpeg exits 0 when a damaged input yields no frame at all; this warning
# is the only sign, and an empty container is not a conversion.
NOTHING_ENCODED = "Output file is empty, nothing was encoded"

SAFE_EXTENSION = re.compile(r"^[a-z0-9]{1,10}$")


class FFmpegHandler(Handler):
    """Converts between the containers of ``containers.CONTAINERS``."""

    name = "ffmpeg"

    def convert(self, data, source_format, destination_format, zip=False,
                refresh=False, conversion_kw=None):
        check_data(data)
        target = find_container(destination_format)
        if target is None:
            raise UnsupportedFormat(
                "ffmpeg cannot produce %r; it produces: %s"
                % (destination_format, ", ".join(
                    row.extension for row in CONTAINERS)))
        with temporary_directory(self.settings.tmp_path) as path:
            source = write_input(path, data, source_format)
            output = os.path.join(path, "output." + target.extension)
            argv = list(FFMPEG) + ["-i", "file:" + source]
            argv += encoding_args(target)
            argv += ["-f", target.muxer, "file:" + output]
            result = self._run(argv, path, self.settings.ffmpeg_timeout)
            stderr = result.stderr.decode("utf-8", "replace")
            if NOTHING_ENCODED in stderr:
                raise ConversionError(
                    "ffmpeg decoded nothing from the %s document: %s"
                    % (source_format, NOTHING_ENCODED))
            self._check_output(output, target, path)
            with open(output, "rb") as stream:
                return stream.read()

    def get_metadata(self, data, source_format, base_document=False):
        check_data(data)
        with temporary_directory(self.settings.tmp_path) as path:
            source = write_input(path, data, source_format)
            probe = self._probe(source, path)
        metadata = flatten_probe(probe)
        metadata["MIMEType"] = (mimetype_for_extension(source_format or "")
                                or "application/octet-stream")
        if base_document:
            metadata["Data"] = data
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
        check_data(data)
        container = find_container(source_format)
        if container is None:
            raise UnsupportedFormat(
                "ffmpeg cannot write tags into %r documents" % source_format)
        tags = tag_arguments(metadata, container)
        with temporary_directory(self.settings.tmp_path) as path:
            source = write_input(path, data, source_format)
            output = os.path.join(path, "output." + container.extension)
            argv = list(FFMPEG) + ["-i", "file:" + source, "-map", "0",
                                   "-c", "copy", "-map_metadata", "0"]
            argv += tags
            argv += ["-f", container.muxer, "file:" + output]
            self._run(argv, path, self.settings.ffmpeg_timeout)
            probe = self._check_output(output, container, path)
            wanted = written_tag_keys(metadata)
            if wanted and not wanted & tag_keys(probe):
                raise UnsupportedFormat(
                    "%s documents cannot hold these metadata tags (ffmpeg's "
                    "%s muxer drops them): %s" % (
                        container.extension, container.muxer,
                        ", ".join(sorted(wanted))))
            with open(output, "rb") as stream:
                return stream.read()

    def allowed_conversion_formats(self, source_mimetype):
        # One pair per mimetype: a second extension of the same file type
        # (mpg, m4v) adds nothing a client could ask for by mimetype.
        pairs = {}
        for row in targets_for_mimetype(source_mimetype):
            pairs.setdefault(row.mimetype, row.title)
        return list(pairs.items())

    def allowed_extensions(self, source_extension=None, document_type=None):
        return [(row.extension, row.title) for row in targets_for_mimetype(
            mimetype_for_extension(source_extension or ""))]

    def _probe(self, filename, path):
        argv = list(FFPROBE) + ["-print_format", "json", "-show_format",
                                "-show_streams", "file:" + filename]
        result = self._run(argv, path, self.settings.tool_timeout)
        try:
            return json.loads(result.stdout.decode("utf-8", "replace"))
        except ValueError:
            raise ConversionError("ffprobe gave unreadable output")

    def _check_output(self, output, container, path):
        """Refuse an empty or mislabelled result rather than return it;
        returns ffprobe's view of it."""
        if not os.path.exists(output) or os.path.getsize(output) == 0:
            raise ConversionError("ffmpeg wrote an empty %s document"
                                  % container.extension)
        probe = self._probe(output, path)
        names = probe.get("format", {}).get("format_name", "").split(",")
        if container.demuxer not in names:
            raise ConversionError(
                "ffmpeg's output is %r, not %s"
                % (",".join(names), container.extension))
        if not probe.get("streams"):
            raise ConversionError("ffmpeg's %s output holds no stream"
                                  % container.extension)
        return probe

    def _run(self, argv, path, timeout):
        """run_tool with our environment, in the request's directory."""
        logger.debug("running %s", argv)
        return self.run_tool(argv, timeout,
                             child_environment(self.settings.env), path)


def check_data(data):
    if not data:
        raise InvalidRequest("the document is empty")


def write_input(path, data, source_format):
    extension = (source_format or "").lower().lstrip(".")
    name = "input." + extension if SAFE_EXTENSION.match(extension) \
        else "input"
    filename = os.path.join(path, name)
    with open(filename, "wb") as stream:
        stream.write(data)
    return filename


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


def targets_for_mimetype(source_mimetype):
    """Video sources may go to any container; audio ones to audio only."""
    mimetype = (source_mimetype or "").split(";")[0].strip().lower()
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
    video = first_stream(streams, "video")
    if video:
        metadata["Video_codec"] = str(video.get("codec_name", ""))
        put_number(metadata, "Width", video.get("width"), int)
        put_number(metadata, "Height", video.get("height"), int)
        if video.get("avg_frame_rate") not in (None, "0/0"):
            metadata["Frame_rate"] = str(video["avg_frame_rate"])
    audio = first_stream(streams, "audio")
    if audio:
        metadata["Audio_codec"] = str(audio.get("codec_name", ""))
        put_number(metadata, "Sample_rate", audio.get("sample_rate"), int)
        put_number(metadata, "Channels", audio.get("channels"), int)
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

