-- Ticket database, schema version 2: the kinds of fault grow by the root
-- causes of a site (site-unreachable: a site's link to the central broker
-- is down) and by what picture inspection finds (picture-black,
-- picture-frozen, picture-covered, view-moved, camera-clock).  SQLite
-- cannot change a CHECK constraint in place, so the two tables that name
-- kinds are rebuilt, rows and indexes kept; the migration runs with
-- foreign keys off and is checked against them before it commits.

CREATE TABLE ticket_v2 (
	id INTEGER PRIMARY KEY,         -- the ticket number technicians quote
	kind TEXT NOT NULL CHECK (kind IN
		('camera-down', 'camera-degraded', 'recorder-offline', 'storage-error',
		 'retention-at-risk', 'site-unreachable', 'picture-black', 'picture-frozen',
		 'picture-covered', 'view-moved', 'camera-clock')),
	recorder TEXT NOT NULL,         -- [recorder] id of the recorder concerned
	camera TEXT NOT NULL DEFAULT '',-- camera id; '' for a recorder-wide fault
	site TEXT NOT NULL DEFAULT '',  -- the site, as the recorder reported it
	location TEXT NOT NULL DEFAULT '', -- the camera's location, as reported
	level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 4), -- current (= highest) level
	state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
	fault_start_us INTEGER NOT NULL,-- when the fault began
	fault_end_us INTEGER,           -- when it cleared for good; NULL while it lasts
	opened_us INTEGER NOT NULL,     -- when the ticket was opened
	escalated_us INTEGER,           -- the last escalation; NULL: never escalated
	acknowledged_us INTEGER,        -- first acknowledgement; NULL: not yet
	acknowledged_by TEXT,           -- who acknowledged it
	resolved_us INTEGER,            -- NULL while open
	resolved_by TEXT,               -- 'checker' (the fault cleared) or a person
	detail TEXT NOT NULL DEFAULT '',-- what was last seen (redacted error, fps ...)
	external_id TEXT,               -- the ticket's id in GLPI/Zammad/Redmine, once created
	external_system TEXT            -- which of those holds external_id
) STRICT;
INSERT INTO ticket_v2 SELECT * FROM ticket;
DROP TABLE ticket;
ALTER TABLE ticket_v2 RENAME TO ticket;
CREATE UNIQUE INDEX ticket_one_open ON ticket (kind, recorder, camera)
	WHERE state != 'resolved';
CREATE INDEX ticket_opened ON ticket (opened_us);
CREATE INDEX ticket_resolved ON ticket (resolved_us);

CREATE TABLE fault_v2 (
	kind TEXT NOT NULL CHECK (kind IN
		('camera-down', 'camera-degraded', 'recorder-offline', 'storage-error',
		 'retention-at-risk', 'site-unreachable', 'picture-black', 'picture-frozen',
		 'picture-covered', 'view-moved', 'camera-clock')),
	recorder TEXT NOT NULL,
	camera TEXT NOT NULL DEFAULT '',
	active INTEGER NOT NULL,        -- 1: the last observation says faulty
	start_us INTEGER NOT NULL,      -- start of the episode
	clear_since_us INTEGER,         -- when it last turned clear; NULL while faulty
	ticket_id INTEGER REFERENCES ticket(id), -- the episode's ticket, once opened
	operator_resolved_us INTEGER,   -- a person resolved the ticket while the fault lasted
	level INTEGER,                  -- the ticket's level as the checker knows it
	site TEXT NOT NULL DEFAULT '',
	location TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '',-- what was last seen
	PRIMARY KEY (kind, recorder, camera)
) STRICT;
INSERT INTO fault_v2 SELECT * FROM fault;
DROP TABLE fault;
ALTER TABLE fault_v2 RENAME TO fault;
