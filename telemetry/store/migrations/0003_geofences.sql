-- Geofences created through the API (those in the configuration file live
-- there). The polygon is kept as GeoJSON, as the API gave it, and as a
-- PostGIS geometry for spatial queries.
CREATE TABLE geofences (
    id         text PRIMARY KEY,
    site_id    text,
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('keep-out', 'keep-in', 'restricted')),
    polygon    jsonb NOT NULL,                          -- GeoJSON Polygon geometry
    geom       geometry(Polygon, 4326) NOT NULL,
    dwell_s    real NOT NULL DEFAULT 0,                 -- seconds; 0: no dwell events
    classes    text[] NOT NULL DEFAULT '{}',            -- tracked classes concerned; empty: all
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX geofences_geom ON geofences USING gist (geom);
