-- Ticket database, schema version 4: the checker as a witness of each
-- recorder's audit chains.  A chain cut short, or rewritten from some entry
-- on, is whole by itself; only a head noted off the recorder shows it.
-- Each camera's health carries the newest entry of its chain, and the
-- checker keeps what it heard: the row heard last goes up with the chain
-- for an hour, then a new row begins, so one row an hour (one a day after
-- a week) stays as a checkpoint; a head behind the last one heard, or the
-- same entry with another hash, begins a row of its own and leaves the one
-- it contradicts as it was, kept for good.  `vigil tickets heads` prints them for
-- `vigil verify --heads`.
CREATE TABLE chain_witness (
	id INTEGER PRIMARY KEY,
	recorder TEXT NOT NULL,
	camera TEXT NOT NULL,
	seq INTEGER NOT NULL CHECK (seq >= 1),  -- the entry heard
	hash TEXT NOT NULL,                     -- its hash, as the recorder said
	first_heard_us INTEGER NOT NULL,        -- when this row began
	heard_us INTEGER NOT NULL,              -- when its head was last heard
	contradicted INTEGER NOT NULL DEFAULT 0 -- 1: a later head went behind it
	                                        -- or changed its hash; never thinned
) STRICT;
CREATE INDEX chain_witness_camera ON chain_witness (recorder, camera, heard_us);
