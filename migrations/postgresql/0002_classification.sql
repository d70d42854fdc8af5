-- 0002_classification: what classification jobs need beyond language
-- modelling (as migrations/sqlite/0002). All columns are NULL for rows
-- written before this version (and for causal LM jobs), which the daemon
-- reads as "not known".

-- JSON label summary of a classification upload (ada_data_labels).
ALTER TABLE files ADD COLUMN labels text;

-- The task the plan resolved: 'causal_lm' or 'classification'.
ALTER TABLE jobs ADD COLUMN task text;

-- JSON, classification jobs only: labels and counts once planned, the
-- result's label map and truncation counts once succeeded.
ALTER TABLE jobs ADD COLUMN classification text;
