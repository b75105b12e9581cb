-- The web database of vigil serve: who may log in, their sessions and API
-- tokens, the login attempts that rate limiting counts, and the access log.
CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
	password_hash TEXT NOT NULL,	-- argon2id encoded string
	cameras TEXT NOT NULL DEFAULT '',	-- comma-separated ids; '' means all
	language TEXT NOT NULL DEFAULT '',
	created_us INTEGER NOT NULL
);

-- A session is known by the SHA-256 of its cookie value, so the file alone
-- does not let anyone log in.
CREATE TABLE sessions (
	token_hash TEXT PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	csrf TEXT NOT NULL,
	addr TEXT NOT NULL,
	created_us INTEGER NOT NULL,
	expires_us INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE tokens (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	label TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	created_us INTEGER NOT NULL
);

CREATE TABLE login_attempts (
	id INTEGER PRIMARY KEY,
	user_name TEXT NOT NULL,
	addr TEXT NOT NULL,
	at_us INTEGER NOT NULL,
	ok INTEGER NOT NULL
);
CREATE INDEX login_attempts_user ON login_attempts(user_name, at_us);
CREATE INDEX login_attempts_addr ON login_attempts(addr, at_us);

-- Append-only: row n carries the hash of row n-1 (hash of the first row's
-- predecessor is 64 zeros); vigil verify recomputes the chain.
CREATE TABLE access_log (
	id INTEGER PRIMARY KEY,
	at_us INTEGER NOT NULL,
	user_name TEXT NOT NULL,
	addr TEXT NOT NULL,
	action TEXT NOT NULL,
	camera TEXT,
	from_us INTEGER,
	to_us INTEGER,
	detail TEXT NOT NULL DEFAULT '',
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL
);
CREATE INDEX access_log_time ON access_log(at_us);
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
