-- 0001_initial: files, jobs, their events and checkpoints.
--
-- Ids are the API's opaque strings. Rows that lists page through carry an
-- INTEGER PRIMARY KEY (seq) giving creation order, so paging is a range
-- scan and "newest first" is a descending one. JSON columns hold objects
-- the API returns as they are (method, metrics, error); the daemon never
-- queries inside them.

CREATE TABLE files (
	seq          INTEGER PRIMARY KEY,
	id           TEXT    NOT NULL UNIQUE,
	filename     TEXT    NOT NULL,          -- as the client named it; never a path
	purpose      TEXT    NOT NULL,
	bytes        INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	line_count   INTEGER NOT NULL,
	record_count INTEGER NOT NULL,
	format       TEXT    NOT NULL,          -- "jsonl"
	shape        TEXT    NOT NULL,          -- "text", "prompt_completion", ...
	storage      TEXT    NOT NULL UNIQUE    -- random internal name under data-dir/files/
);

CREATE TABLE jobs (
	seq              INTEGER PRIMARY KEY,   -- creation order = claim order
	id               TEXT    NOT NULL UNIQUE,
	model            TEXT    NOT NULL,
	training_file    TEXT    NOT NULL,
	validation_file  TEXT,
	seed             INTEGER NOT NULL,
	suffix           TEXT,
	method           TEXT    NOT NULL,      -- JSON, defaults filled in
	hyperparameters  TEXT    NOT NULL,      -- JSON, "auto" resolved once planned
	status           TEXT    NOT NULL CHECK (status IN ('validating_files', 'queued',
				'running', 'succeeded', 'failed', 'cancelled')),
	created_at       INTEGER NOT NULL,
	started_at       INTEGER,
	finished_at      INTEGER,
	error            TEXT,                  -- JSON {code, message, param}
	fine_tuned_model TEXT,
	cancel_requested INTEGER NOT NULL DEFAULT 0,
	-- the plan, known once validated
	total_steps      INTEGER,
	steps_per_epoch  INTEGER,
	n_epochs         INTEGER,
	budget_initial   INTEGER,
	budget_target    INTEGER,
	-- progress, updated with every metrics event
	step             INTEGER NOT NULL DEFAULT 0,
	epoch            REAL    NOT NULL DEFAULT 0,
	tokens_per_second REAL,
	trained_tokens   INTEGER NOT NULL DEFAULT 0,
	estimated_finish INTEGER,
	budget_current   INTEGER,
	metrics          TEXT,                  -- JSON, the latest values
	last_event       INTEGER NOT NULL DEFAULT 0   -- seq of the job's newest event
);

CREATE INDEX jobs_by_status ON jobs (status, seq);

-- Events are numbered per job from 1; the number is the SSE id.
CREATE TABLE events (
	job_id     TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	level      TEXT    NOT NULL,
	type       TEXT    NOT NULL CHECK (type IN ('message', 'metrics')),
	message    TEXT    NOT NULL,
	data       TEXT,                        -- JSON object or NULL
	PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- The ranks endpoint reads the rank events of one job without the rest.
CREATE INDEX events_ranks ON events (job_id, seq) WHERE message = 'ranks';

CREATE TABLE checkpoints (
	job_id     TEXT    NOT NULL,
	step       INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	metrics    TEXT    NOT NULL,            -- JSON
	PRIMARY KEY (job_id, step)
) WITHOUT ROWID;
