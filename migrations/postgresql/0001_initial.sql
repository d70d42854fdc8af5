-- 0001_initial: files, jobs, their events and checkpoints (PostgreSQL).
--
-- The same schema as migrations/sqlite/0001_initial.sql in PostgreSQL's
-- types. Ids are the API's opaque strings. Rows that lists page through
-- carry a bigserial seq giving creation order, so paging is a range scan
-- and "newest first" a descending one. JSON columns hold objects the API
-- returns as they are, as text: the daemon never queries inside them.
-- Times are unix seconds, as the daemon writes them.

CREATE TABLE files (
	seq          bigserial PRIMARY KEY,
	id           text   NOT NULL UNIQUE,
	filename     text   NOT NULL,           -- as the client named it; never a path
	purpose      text   NOT NULL,
	bytes        bigint NOT NULL,
	created_at   bigint NOT NULL,
	line_count   bigint NOT NULL,
	record_count bigint NOT NULL,
	format       text   NOT NULL,           -- "jsonl"
	shape        text   NOT NULL,           -- "text", "prompt_completion", ...
	storage      text   NOT NULL UNIQUE     -- random internal name under data-dir/files/
);

CREATE TABLE jobs (
	seq              bigserial PRIMARY KEY, -- creation order = claim order
	id               text   NOT NULL UNIQUE,
	model            text   NOT NULL,
	training_file    text   NOT NULL,
	validation_file  text,
	seed             bigint NOT NULL,
	suffix           text,
	method           text   NOT NULL,       -- JSON, defaults filled in
	hyperparameters  text   NOT NULL,       -- JSON, "auto" resolved once planned
	status           text   NOT NULL CHECK (status IN ('validating_files', 'queued',
				'running', 'succeeded', 'failed', 'cancelled')),
	created_at       bigint NOT NULL,
	started_at       bigint,
	finished_at      bigint,
	error            text,                  -- JSON {code, message, param}
	fine_tuned_model text,
	cancel_requested integer NOT NULL DEFAULT 0,
	-- the plan, known once validated
	total_steps      bigint,
	steps_per_epoch  bigint,
	n_epochs         bigint,
	budget_initial   bigint,
	budget_target    bigint,
	-- progress, updated with every metrics event
	step             bigint NOT NULL DEFAULT 0,
	epoch            double precision NOT NULL DEFAULT 0,
	tokens_per_second double precision,
	trained_tokens   bigint NOT NULL DEFAULT 0,
	estimated_finish bigint,
	budget_current   bigint,
	metrics          text,                  -- JSON, the latest values
	last_event       bigint NOT NULL DEFAULT 0   -- seq of the job's newest event
);

CREATE INDEX jobs_by_status ON jobs (status, seq);

-- Events are numbered per job from 1; the number is the SSE id.
CREATE TABLE events (
	job_id     text   NOT NULL,
	seq        bigint NOT NULL,
	created_at bigint NOT NULL,
	level      text   NOT NULL,
	type       text   NOT NULL CHECK (type IN ('message', 'metrics')),
	message    text   NOT NULL,
	data       text,                        -- JSON object or NULL
	PRIMARY KEY (job_id, seq)
);

-- The ranks endpoint reads the rank events of one job without the rest.
CREATE INDEX events_ranks ON events (job_id, seq) WHERE message = 'ranks';

CREATE TABLE checkpoints (
	job_id     text   NOT NULL,
	step       bigint NOT NULL,
	created_at bigint NOT NULL,
	metrics    text   NOT NULL,             -- JSON
	PRIMARY KEY (job_id, step)
);
