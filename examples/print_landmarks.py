#!/usr/bin/env python3
"""Print the landmarks steadyface attaches to each frame, one steadyface.landmarks/1 JSON object
per line (docs/landmarks.schema.json; `landmarkpublish` writes the same lines from a pipeline).

    GST_PLUGIN_PATH=target/release python3 examples/print_landmarks.py VIDEO [--max-frames N]

Reads the `SteadyFaceLandmarks` custom meta from every buffer leaving `facelandmarks` (see the
README, "Metadata"). Needs PyGObject with GStreamer (Debian: python3-gi python3-gst-1.0).
"""
import argparse
import json
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

META_NAME = "SteadyFaceLandmarks"
SCHEMA = "steadyface.landmarks/1"


def landmarks_of(buffer, frame):
    """The buffer's SteadyFaceLandmarks meta as a steadyface.landmarks/1 object
    (docs/landmarks.schema.json, the same object `landmarkpublish` and `steadyface track` write),
    or None without the meta."""
    meta = buffer.get_custom_meta(META_NAME)
    if meta is None:
        return None
    s = meta.get_structure()
    faces = []
    for face in s.get_value("faces"):
        flat = list(face.get_value("points"))
        faces.append({
            "track_id": face.get_value("track-id"),
            "box": [face.get_value(k) for k in ("x", "y", "width", "height")],
            "score": face.get_value("score"),
            "points": [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)],
            "confidence": list(face.get_value("confidence")),
            "new_track": face.get_value("new-track"),
            "stabilized": face.get_value("stabilized"),
        })
    pts = buffer.pts
    return {"schema": SCHEMA, "frame": frame,
            "timestamp": None if pts == Gst.CLOCK_TIME_NONE else pts,
            "width": s.get_value("width"), "height": s.get_value("height"),
            "scheme": s.get_value("scheme"), "faces": faces}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    ap.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = all)")
    args = ap.parse_args()

    Gst.init(None)
    if Gst.ElementFactory.find("facelandmarks") is None:
        sys.exit("facelandmarks not found: set GST_PLUGIN_PATH to the folder of libgststeadyface.so "
                 "(target/release) or install the plugin (see README)")
    pipeline = Gst.parse_launch(
        "filesrc name=src ! decodebin ! videoconvert ! facelandmarks ! fakesink name=sink sync=false")
    pipeline.get_by_name("src").set_property("location", args.video)
    frame = 0

    def on_buffer(pad, info):
        nonlocal frame
        if args.max_frames and frame >= args.max_frames:
            return Gst.PadProbeReturn.DROP
        record = landmarks_of(info.get_buffer(), frame)
        if record is not None:
            print(json.dumps(record, separators=(",", ":")), flush=True)
        frame += 1
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_buffer)
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    eos_sent = False
    while True:
        msg = bus.timed_pop_filtered(50 * Gst.MSECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is not None:
            break
        if args.max_frames and frame >= args.max_frames and not eos_sent:
            pipeline.send_event(Gst.Event.new_eos())
            eos_sent = True
    pipeline.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        sys.exit(f"error from {msg.src.get_name()}: {err.message}\n{debug}")


if __name__ == "__main__":
    main()
