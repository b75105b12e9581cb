-- Schema version 2: legal holds, per-camera totals, per-day statistics and
-- deletion counts, so the retention report over 100 cameras x 90 days reads
-- a few thousand small rows instead of millions of segments.

-- A legal hold: footage of one camera in [start_us, end_us) that must not be
-- deleted, whatever its age, until the hold is released.
CREATE TABLE hold (
	id INTEGER PRIMARY KEY,
	camera TEXT NOT NULL,
	start_us INTEGER NOT NULL,
	end_us INTEGER NOT NULL CHECK (end_us > start_us),
	reason TEXT NOT NULL,           -- why (case number, request), for the auditor
	placed_us INTEGER NOT NULL,     -- when it was placed
	released_us INTEGER,            -- when it was released; NULL while in force
	release_reason TEXT
) STRICT;
CREATE INDEX hold_camera ON hold (camera, start_us);

-- Totals per camera, kept by the catalog as segments are finished and deleted.
ALTER TABLE camera ADD COLUMN live_bytes INTEGER NOT NULL DEFAULT 0;    -- bytes of footage on disk
ALTER TABLE camera ADD COLUMN live_segments INTEGER NOT NULL DEFAULT 0; -- segments on disk
ALTER TABLE camera ADD COLUMN first_footage_us INTEGER;                 -- start of its first segment ever

UPDATE camera SET
	live_bytes = (SELECT coalesce(sum(bytes), 0) FROM segment s
		      WHERE s.camera = camera.id AND s.state IN ('complete', 'recovered')),
	live_segments = (SELECT count(*) FROM segment s
			 WHERE s.camera = camera.id AND s.state IN ('complete', 'recovered')),
	first_footage_us = (SELECT min(start_us) FROM segment s WHERE s.camera = camera.id);

-- Recorded time and bytes per camera and UTC day (day = days since 1970-01-01),
-- as recorded: deleting footage later does not change the history.
CREATE TABLE day_stat (
	camera TEXT NOT NULL,
	day INTEGER NOT NULL,
	recorded_us INTEGER NOT NULL,   -- footage time that fell on this day
	bytes INTEGER NOT NULL,         -- bytes of the segments that started this day
	segments INTEGER NOT NULL,      -- segments that started this day
	PRIMARY KEY (camera, day)
) STRICT, WITHOUT ROWID;

INSERT INTO day_stat (camera, day, recorded_us, bytes, segments)
	SELECT camera, start_us / 86400000000, sum(end_us - start_us), sum(bytes), count(*)
	FROM segment WHERE end_us IS NOT NULL AND state <> 'writing'
	GROUP BY camera, start_us / 86400000000;

-- Deletions per camera, UTC day of the deletion, and reason.
CREATE TABLE deletion_stat (
	camera TEXT NOT NULL,
	day INTEGER NOT NULL,
	reason TEXT NOT NULL,           -- expired, space, space-below-floor
	segments INTEGER NOT NULL,
	bytes INTEGER NOT NULL,
	PRIMARY KEY (camera, day, reason)
) STRICT, WITHOUT ROWID;

-- the footage still on disk, by camera and age: the sweeper and the reports
-- ask for the oldest live segment, which must not mean stepping over every
-- tombstone of a year of deletions
CREATE INDEX segment_live ON segment (camera, start_us) WHERE state IN ('complete', 'recovered');

-- verify joins segments to their audit entries
CREATE INDEX audit_segment ON audit (segment_id) WHERE segment_id IS NOT NULL;
