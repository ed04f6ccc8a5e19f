-- Supervision sessions: meetings and inspections at project sites that
-- supervisors attend remotely, with their remarks. Changes go to audit_log.
CREATE TABLE supervision_sessions (
    id          text PRIMARY KEY,
    site_id     text NOT NULL,
    title       text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('meeting', 'inspection')),
    cameras     text[] NOT NULL DEFAULT '{}',
    zone_camera text NOT NULL DEFAULT '',              -- the camera whose picture holds the meeting zone
    zone        jsonb,                                 -- [[x, y], ...] in that camera's pixels
    starts_at   timestamptz NOT NULL,                  -- scheduled
    ends_at     timestamptz NOT NULL,
    invited     text[] NOT NULL DEFAULT '{}',          -- user names
    state       text NOT NULL DEFAULT 'scheduled' CHECK (state IN ('scheduled', 'live', 'ended')),
    started_at  timestamptz,
    ended_at    timestamptz,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX supervision_sessions_starts ON supervision_sessions (starts_at DESC);
CREATE INDEX supervision_sessions_open ON supervision_sessions (starts_at) WHERE state <> 'ended';

CREATE TABLE session_remarks (
    id          bigserial PRIMARY KEY,
    session_id  text NOT NULL REFERENCES supervision_sessions (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,                  -- the moment of the session it is about
    author      text NOT NULL,
    body        text NOT NULL,
    camera_id   text NOT NULL DEFAULT '',
    snapshot    bytea,                                 -- a JPEG of camera_id at "at", when asked for
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_remarks_session_at ON session_remarks (session_id, at);
