-- 0005_leases: fencing of a job's runs, where its result is, and the
-- Idempotency-Key of job creation. (PostgreSQL's 0005 adds what several
-- daemons sharing a database need besides: lease owners and expiries, the
-- daemons table. SQLite has one daemon per database, whose runs are
-- fenced by the same epochs.)

-- Bumped by every claim. A run names the epoch it was claimed with in
-- each of its writes (events, progress, checkpoints, outcome), and a write
-- of another epoch, or to a job no longer running, is refused. 0 for rows
-- written before this version (never claimed since).
ALTER TABLE jobs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;

-- Where the result of a succeeded job is, under data/jobs/<id>/: NULL is
-- the directory itself (every SQLite job); "run-N" a run's own directory.
ALTER TABLE jobs ADD COLUMN output_dir TEXT;

-- A retried POST /v1/fine_tuning/jobs with the same Idempotency-Key
-- returns the job the first one created. request_hash fingerprints the
-- request's body, so a key reused for another request is refused. Keys
-- are forgotten after the daemon's --idempotency-ttl.
CREATE TABLE idempotency_keys (
	key          TEXT    PRIMARY KEY,
	request_hash TEXT    NOT NULL,
	job_id       TEXT    NOT NULL,
	created_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
