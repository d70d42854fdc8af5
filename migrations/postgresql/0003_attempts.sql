-- 0003_attempts: how often a job was started, and how often its run died
-- with its daemon (as migrations/sqlite/0003), so that a job which kills
-- daemons is failed after --max-attempts such ends.

-- Runs started: incremented by the claim, in its transaction.
ALTER TABLE jobs ADD COLUMN attempts bigint NOT NULL DEFAULT 0;

-- Runs that ended with their daemon dying (here: whose lease expired).
ALTER TABLE jobs ADD COLUMN crashes bigint NOT NULL DEFAULT 0;
