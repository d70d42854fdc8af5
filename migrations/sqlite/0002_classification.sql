-- 0002_classification: what classification jobs need beyond language
-- modelling. All columns are NULL for rows written before this version
-- (and for causal LM jobs), which the daemon reads as "not known".

-- JSON label summary of a classification upload (ada_data_labels:
-- {"kind","num_labels","labels"}), so job creation can check that a
-- validation file's labels fit the training file's without reading either.
ALTER TABLE files ADD COLUMN labels TEXT;

-- The task the plan resolved: 'causal_lm' or 'classification'.
ALTER TABLE jobs ADD COLUMN task TEXT;

-- JSON, classification jobs only: {"num_labels","train_examples",
-- "valid_examples"} once planned; the result's label map and truncation
-- counts added when the job succeeds. Returned as the job's
-- "classification" object.
ALTER TABLE jobs ADD COLUMN classification TEXT;
