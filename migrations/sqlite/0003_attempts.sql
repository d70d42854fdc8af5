-- 0003_attempts: how often a job was started, and how often the daemon
-- died while it ran, so that a job which kills the daemon (out of memory)
-- is failed after --max-attempts such ends instead of being re-queued at
-- every start forever. Both are 0 for rows written before this version.

-- Runs started: incremented by the claim, in the same transaction that
-- marks the job running, so it is on disk before the run begins.
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

-- Runs that ended with the daemon dying: a job the daemon finds still
-- running when it starts.
ALTER TABLE jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
