-- Recorded video: one row per fragmented-MP4 segment file on disk (the
-- files are the truth; the recorder re-indexes a file this table lacks and
-- drops rows whose file is gone when it starts).
CREATE TABLE recordings (
    id          bigserial PRIMARY KEY,
    camera_id   text NOT NULL,
    start_time  timestamptz NOT NULL,                  -- decode time of the first picture (a keyframe)
    end_time    timestamptz NOT NULL,                  -- after the last picture's duration
    path        text NOT NULL UNIQUE,                  -- relative to the recordings directory
    bytes       bigint NOT NULL,
    codec       text NOT NULL,                         -- H264, H265
    width       integer NOT NULL,
    height      integer NOT NULL,
    init_size   integer NOT NULL,                      -- bytes of ftyp+moov at the file's start
    frames      integer NOT NULL,
    recovered   boolean NOT NULL DEFAULT false,        -- salvaged from an unfinished file after a crash
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (end_time >= start_time)
);
CREATE INDEX recordings_camera_time ON recordings (camera_id, start_time);
CREATE INDEX recordings_start ON recordings (start_time);
