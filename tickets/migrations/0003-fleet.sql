-- Ticket database, schema version 3: several recorders, one view.  Every
-- recorder the checker has heard of, with what its inventory says (the
-- cameras it records, its version, its console), so the checker keeps a
-- picture of the whole fleet from MQTT alone and never reads a recorder's
-- catalog; and, on each fault episode, the root cause holding its ticket
-- back (a site's link down, a recorder offline).

-- One row per recorder heard on the broker, kept when it goes quiet (a
-- recorder is forgotten only when its retained status is cleared).
CREATE TABLE recorder (
	recorder TEXT PRIMARY KEY,       -- [recorder] id
	site TEXT NOT NULL DEFAULT '',   -- the site, as it last said
	version TEXT NOT NULL DEFAULT '',-- vigil's version on it ('' before its inventory)
	console_url TEXT NOT NULL DEFAULT '', -- its console/API ([recorder] console_url), '' when none
	inventory_us INTEGER,            -- when its inventory last arrived; NULL: never
	first_seen_us INTEGER NOT NULL,  -- when the checker first heard of it
	last_seen_us INTEGER NOT NULL    -- the last message from it (saved every few seconds)
) STRICT;

-- The cameras of each recorder's last inventory (replaced whole each time).
CREATE TABLE recorder_camera (
	recorder TEXT NOT NULL REFERENCES recorder(recorder) ON DELETE CASCADE,
	camera TEXT NOT NULL,
	site TEXT NOT NULL DEFAULT '',
	location TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (recorder, camera)
) STRICT;

-- The ticket of the root cause (site-unreachable, recorder-offline) that
-- holds this episode's own ticket back; NULL when nothing does.
ALTER TABLE fault ADD COLUMN held_by INTEGER REFERENCES ticket(id);
