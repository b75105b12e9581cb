-- Schema version 1: cameras, segments, gaps, coalesced runs, the audit chain.
--
-- Every time is an integer count of microseconds since the Unix epoch, UTC.
-- Text enumerations are checked here so that no writer, ours or a person
-- with the sqlite3 shell, can store a state the code does not know.

-- One row per camera the catalog has ever recorded.
CREATE TABLE camera (
	id TEXT PRIMARY KEY,            -- the [camera ID] of the config
	created_us INTEGER NOT NULL     -- when this catalog first saw it
) STRICT;

-- One row per segment file, from the moment its name is chosen until long
-- after the file is gone (a deleted segment keeps its row as a tombstone
-- with the reason, so a report can count deletions).
CREATE TABLE segment (
	id INTEGER PRIMARY KEY,         -- also in the file name: HHMMSS-<id>.mp4
	camera TEXT NOT NULL REFERENCES camera(id),
	path TEXT NOT NULL UNIQUE,      -- relative to the [storage] path
	state TEXT NOT NULL CHECK (state IN
		('writing', 'complete', 'recovered', 'deleting', 'deleted')),
	start_us INTEGER NOT NULL,      -- wall time of the first frame
	end_us INTEGER,                 -- wall time just past the last frame; NULL while writing
	duration_us INTEGER,            -- media duration, from the stream's own timestamps
	bytes INTEGER,                  -- file size
	frames INTEGER,                 -- video frames
	keyframes INTEGER,              -- video keyframes
	sha256 TEXT,                    -- hex SHA-256 of the whole file
	codec TEXT NOT NULL DEFAULT '', -- video codec, e.g. h264
	width INTEGER NOT NULL DEFAULT 0,
	height INTEGER NOT NULL DEFAULT 0,
	has_audio INTEGER NOT NULL DEFAULT 0,
	deleted_us INTEGER,             -- when the file was removed (deleting/deleted)
	delete_reason TEXT              -- why it was removed
) STRICT;
CREATE INDEX segment_camera_start ON segment (camera, start_us);
-- the rows start-up recovery must look at, kept tiny by the WHERE
CREATE INDEX segment_unfinished ON segment (state) WHERE state IN ('writing', 'deleting');

-- A time when a camera has no footage, and why.
CREATE TABLE gap (
	id INTEGER PRIMARY KEY,
	camera TEXT NOT NULL REFERENCES camera(id),
	start_us INTEGER NOT NULL,      -- end of the last frame before the gap
	end_us INTEGER,                 -- first frame after it; NULL while it lasts
	reason TEXT NOT NULL CHECK (reason IN
		('camera-unreachable', 'stream-stalled', 'stream-error', 'recorder-down',
		 'storage-error', 'storage-full', 'recovered-partial')),
	detail TEXT NOT NULL DEFAULT '' -- what was seen, for people
) STRICT;
CREATE INDEX gap_camera_start ON gap (camera, start_us);

-- Coalesced recorded time: consecutive segments of one camera with no hole
-- between them form one run, so a continuity question over 90 days reads a
-- handful of rows instead of 130,000 segments.  Maintained by the catalog
-- whenever a segment is finished or deleted.
CREATE TABLE run (
	id INTEGER PRIMARY KEY,
	camera TEXT NOT NULL REFERENCES camera(id),
	start_us INTEGER NOT NULL,
	end_us INTEGER NOT NULL,
	segments INTEGER NOT NULL       -- how many live segments it covers
) STRICT;
CREATE INDEX run_camera_start ON run (camera, start_us);

-- The append-only audit chain, one chain per camera.  Each entry carries the
-- hash of the camera's previous entry, so an edited entry, a removed entry
-- or a segment row that no longer matches its entry is detectable.
CREATE TABLE audit (
	id INTEGER PRIMARY KEY,
	camera TEXT NOT NULL,
	seq INTEGER NOT NULL,           -- 1, 2, 3 ... within the camera
	at_us INTEGER NOT NULL,         -- when the event was recorded
	kind TEXT NOT NULL CHECK (kind IN
		('segment-added', 'segment-deleted', 'gap', 'recovery',
		 'hold-placed', 'hold-released')),
	segment_id INTEGER,             -- the segment concerned, if any
	detail TEXT NOT NULL,           -- canonical description (see catalog/audit.c)
	prev_hash TEXT NOT NULL,        -- hash of entry seq-1, 64 zeros for seq 1
	hash TEXT NOT NULL,             -- SHA-256 over this entry and prev_hash
	UNIQUE (camera, seq)
) STRICT;

-- Small facts about this catalog and its recorder (key/value).
CREATE TABLE meta (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
