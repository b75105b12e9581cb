-- Schema version 3: picture inspection (inspect/).  Each check of a
-- camera's picture is a row; the newest check of each camera, with the
-- luma plane the next check compares against, and the camera's reference
-- picture are one row each.  Checks older than the camera's oldest footage
-- are pruned with it.

-- One check of one camera's picture.
CREATE TABLE inspection (
	id INTEGER PRIMARY KEY,
	camera TEXT NOT NULL,
	checked_us INTEGER NOT NULL,    -- when the check ran (wall clock, us UTC)
	frame_us INTEGER,               -- wall time of the keyframe inspected; NULL: none
	state TEXT NOT NULL CHECK (state IN
		('ok', 'black', 'frozen', 'covered', 'blurred', 'moved', 'unknown')),
	reason TEXT NOT NULL DEFAULT '',-- what the check saw, or why it failed
	mean REAL,                      -- luma mean
	spread REAL,                    -- luma standard deviation
	detail_ratio REAL,              -- edge energy against the reference; NULL: no reference
	match REAL,                     -- edge correlation with the reference; NULL: no reference
	changed_blocks INTEGER,         -- blocks changed since the previous check; NULL: none
	clock_offset_us INTEGER,        -- the camera's clock minus the recorder's at the check,
	                                -- from its RTCP sender reports; NULL: none known
	thumbnail BLOB                  -- JPEG, kept where the state changed; NULL otherwise
) STRICT;
CREATE INDEX inspection_camera ON inspection (camera, checked_us);

-- The newest check of each camera, and what the next one needs.
CREATE TABLE inspection_latest (
	camera TEXT PRIMARY KEY,
	checked_us INTEGER NOT NULL,
	frame_us INTEGER,               -- as in inspection
	frame_key TEXT NOT NULL DEFAULT '', -- names the keyframe (segment and offset)
	state TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	healthy_since_us INTEGER,       -- start of the current run of healthy checks; NULL: none
	plane BLOB,                     -- the keyframe's downscaled luma plane
	thumbnail BLOB                  -- its JPEG
) STRICT;

-- The picture a camera's view is judged against.
CREATE TABLE inspection_reference (
	camera TEXT PRIMARY KEY,
	taken_us INTEGER NOT NULL,
	taken_by TEXT NOT NULL,         -- 'operator' (vigil inspect accept) or 'automatic'
	plane BLOB NOT NULL,            -- downscaled luma plane
	thumbnail BLOB                  -- its JPEG
) STRICT;
