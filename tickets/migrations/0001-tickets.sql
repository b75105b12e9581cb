-- Ticket database, schema version 1: tickets, their events, the webhook
-- outbox, and the checker's own state (faults it is timing, what it last
-- saw of each recorder and camera), so a restarted checker neither loses a
-- ticket nor opens a duplicate.
--
-- This is its own SQLite file ([checker] database, default
-- STORAGE/tickets.db), separate from the footage catalog.  Every time is an
-- integer count of microseconds since the Unix epoch, UTC, on the checker's
-- clock.  Text enumerations are checked here so no writer can store a value
-- the code does not know.

-- Small facts about this database (key/value).  'instance' is a random id
-- made once, at creation: it prefixes every idempotency key, so two ticket
-- databases never produce the same key.  'mqtt_cursor' is the newest event
-- the checker has published on MQTT.
CREATE TABLE meta (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('instance', lower(hex(randomblob(8))));

-- One row per maintenance ticket.  A ticket is one fault episode of one
-- thing (a camera, or a whole recorder): it opens after the grace period,
-- its level only ever escalates (4 = least severe, 1 = major), and it
-- resolves once the fault has stayed clear for the hold-down time.
CREATE TABLE ticket (
	id INTEGER PRIMARY KEY,         -- the ticket number technicians quote
	kind TEXT NOT NULL CHECK (kind IN
		('camera-down', 'camera-degraded', 'recorder-offline', 'storage-error',
		 'retention-at-risk')),
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
-- at most one ticket that is not resolved per fault: the database itself
-- refuses a duplicate, whatever a checker restart does
CREATE UNIQUE INDEX ticket_one_open ON ticket (kind, recorder, camera)
	WHERE state != 'resolved';
CREATE INDEX ticket_opened ON ticket (opened_us);
CREATE INDEX ticket_resolved ON ticket (resolved_us);

-- What happened to each ticket, in order.  Every event has an idempotency
-- key ('vigil-' instance '-' event id) that travels with it to every sink,
-- so a receiver can drop a retry it has already seen.
CREATE TABLE ticket_event (
	id INTEGER PRIMARY KEY,
	ticket_id INTEGER NOT NULL REFERENCES ticket(id),
	kind TEXT NOT NULL CHECK (kind IN
		('opened', 'escalated', 'acknowledged', 'resolved', 'reopened')),
	at_us INTEGER NOT NULL,         -- when it happened
	level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 4), -- the ticket's level after it
	actor TEXT NOT NULL,            -- 'checker' or the person who acted
	note TEXT NOT NULL DEFAULT '',  -- free text (why it escalated, an ack note ...)
	idempotency_key TEXT NOT NULL UNIQUE
) STRICT;
CREATE INDEX ticket_event_ticket ON ticket_event (ticket_id, id);

-- The webhook's durable outbox: one row per event to deliver, written in
-- the same transaction as the event, removed from the queue (delivered_us
-- set) only after the receiver accepted it.  Rows of one ticket are
-- delivered in order, so an update never overtakes the creation it needs.
CREATE TABLE outbox (
	id INTEGER PRIMARY KEY,
	event_id INTEGER NOT NULL UNIQUE REFERENCES ticket_event(id),
	ticket_id INTEGER NOT NULL REFERENCES ticket(id),
	format TEXT NOT NULL CHECK (format IN ('json', 'glpi', 'zammad', 'redmine')),
	created_us INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,   -- delivery attempts so far
	last_attempt_us INTEGER,               -- when the last one started
	inflight INTEGER NOT NULL DEFAULT 0,   -- 1 while a creation request is under way:
	                                       -- found set at start, the creation may have
	                                       -- happened, so the sender looks before it creates
	last_error TEXT NOT NULL DEFAULT '',   -- why the last attempt failed
	delivered_us INTEGER,                  -- NULL while pending
	outcome TEXT CHECK (outcome IN ('delivered', 'skipped')) -- skipped: nothing to update
) STRICT;
CREATE INDEX outbox_pending ON outbox (ticket_id, id) WHERE delivered_us IS NULL;

-- The faults the checker is timing: one row per fault episode (kind +
-- recorder + camera), from the first faulty observation until the fault has
-- been clear for the hold-down time.  A ticket is linked once it opens.
CREATE TABLE fault (
	kind TEXT NOT NULL CHECK (kind IN
		('camera-down', 'camera-degraded', 'recorder-offline', 'storage-error',
		 'retention-at-risk')),
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

-- What the checker last saw of each recorder (camera '') and camera: the
-- state, written when it changes, and for recorders the last health payload
-- (disk, forecast ...), which the inspection report quotes.
CREATE TABLE observed (
	recorder TEXT NOT NULL,
	camera TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL,            -- a camera state, or 'online'/'offline'
	site TEXT NOT NULL DEFAULT '',
	location TEXT NOT NULL DEFAULT '',
	since_us INTEGER,               -- when the state began, as far as known
	updated_us INTEGER NOT NULL,    -- when this row was written
	payload TEXT,                   -- recorders: the last health payload (JSON)
	PRIMARY KEY (recorder, camera)
) STRICT;
