-- 0005_leases: several daemons on one queue, and the Idempotency-Key of
-- job creation (migrations/sqlite/0005 has the part SQLite's one daemon
-- needs: the epoch, output_dir and the keys).

-- A running job's lease: the daemon holding it (daemons.id) and until
-- when, by the database's clock (no two hosts' clocks are compared). The
-- holder's heartbeat renews it; once it expired, any daemon puts the job
-- back in the queue (its run died with its daemon: a crash) and a claim
-- takes it again. lease_epoch is bumped by every claim: a run names its
-- epoch in each write, and writes of another epoch, or to a job no longer
-- running, are refused (fencing), so a daemon that lost its lease cannot
-- touch the job any more.
ALTER TABLE jobs ADD COLUMN lease_epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_owner text;
ALTER TABLE jobs ADD COLUMN lease_expires_at timestamptz;

-- Where the result of a succeeded job is, under data/jobs/<id>/: each run
-- writes into a directory of its own, run-<epoch>, so that a run which
-- lost its lease cannot overwrite its successor's files; NULL is the
-- directory itself (a job of an SQLite database moved here).
ALTER TABLE jobs ADD COLUMN output_dir text;

-- The sweep for expired leases, and a daemon's renewal of its own.
CREATE INDEX jobs_by_lease ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_by_owner ON jobs (lease_owner) WHERE status = 'running';

-- The daemons sharing the database: each upserts its row at start and
-- renews expires_at with its heartbeat; rows long expired are deleted.
CREATE TABLE daemons (
	id           text        PRIMARY KEY,
	host         text        NOT NULL,
	pid          bigint      NOT NULL,
	address      text        NOT NULL DEFAULT '',
	version      text        NOT NULL DEFAULT '',
	workers      bigint      NOT NULL DEFAULT 0,
	started_at   timestamptz NOT NULL,
	heartbeat_at timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL
);

-- A retried POST /v1/fine_tuning/jobs with the same Idempotency-Key
-- returns the job the first one created (see migrations/sqlite/0005).
CREATE TABLE idempotency_keys (
	key          text   PRIMARY KEY,
	request_hash text   NOT NULL,
	job_id       text   NOT NULL,
	created_at   bigint NOT NULL
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
